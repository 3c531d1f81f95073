/**
 * Sending one action invocation (PROTOCOL §3): JSON body, CSRF token from the page, one
 * Idempotency-Key per invocation reused by every retry, fresh CSRF token taken from each answer.
 * Network failures are retried; so is 409 `IDEMPOTENCY_KEY_IN_USE`, which can only mean that an
 * earlier attempt of this same invocation (its answer lost, the retry sent to another instance) is
 * still running: resending the key after it finishes gets its result (`cached: true`) instead of an
 * error the user would answer with a second click — a new key, the action twice. Any other HTTP
 * answer is final. Each attempt has a deadline; one that passes counts as a network failure.
 *
 * Strict CSRF mode (single-use tokens, the page's meta tag marked `data-lc-single-use`): two requests
 * must never carry the same token, so invocations go out one at a time, page-wide, each holding the
 * token from its first attempt until its final answer brings the next one. A retry after a network
 * failure first takes a fresh token from the page: the first attempt may have used its token up, and
 * with an unused one the same key gets the first attempt's result (`cached: true`) instead of a 403.
 * A page's token that was sent and not replaced since (no answer, or one without a token: the session
 * changed; a failed page fetch) counts as spent: the next invocation takes one from the page before it
 * is sent — once the network is back, say. Every action of the page waits in that line, so every step
 * has a deadline (an attempt 30 s, a page fetch 10 s: reload.ts) and an invocation fetches the page for
 * a token in vain at most once, its later retries going with the token it has: behind a stalled page
 * fetch the next action waits one deadline, not one per retry plus one after the final answer.
 *
 * An attempt without an answer may have run the action. When a later attempt of the same invocation is
 * then refused by a check the server makes before it looks the key up (CSRF, rate limit, a store down:
 * PROTOCOL §3's order), the replay that would have told never happened: the error is marked
 * `outcomeUnknown` and says the request may have been carried out (the component reloads it). So is
 * `NETWORK_ERROR` (every attempt was sent, none answered), and `INVALID_RESPONSE` when the answer is
 * not the app's and either a 5xx (a proxy's 502/504: the app may have run it, or still be running it)
 * or the answer to a retry. The app's own JSON refusals of a first attempt, and 4xx pages of a first
 * attempt, are not marked.
 */
import { BODY, HEADERS, ROUTES, type ActionSuccessBody, type ErrorBody } from '../src/core/wire.js';

/** Error codes the runtime produces itself (the server's codes are in PROTOCOL §3). */
export const CLIENT_CODES = {
  /** The request never got an answer, even after the retries; the action may have run (`outcomeUnknown`). */
  network: 'NETWORK_ERROR',
  /** The answer was not the JSON PROTOCOL §3 describes (a proxy's HTML error page, say); a 5xx may have run it (`outcomeUnknown`). */
  invalidResponse: 'INVALID_RESPONSE',
  /** The answer came but could not be morphed into the page (a CSP refusing the HTML, say); the action may have run. */
  renderFailed: 'RENDER_FAILED',
} as const;

/**
 * An error as the runtime reports it: the server's error fields plus the HTTP status (0: no answer).
 * `outcomeUnknown`: the action may have run — no attempt got the app's answer (`NETWORK_ERROR`; a
 * proxy's 5xx or a retry's `INVALID_RESPONSE`), or an earlier attempt got none and this refusal came
 * before the server could replay it (the code and fields stay the server's).
 */
export type ActionError = { status: number; outcomeUnknown?: true } & Pick<ErrorBody, 'code' | 'error'> &
  Partial<Pick<ErrorBody, 'request_id' | 'retry_after' | 'errors' | 'limit' | 'window'>>;

/** Refusals decided before the idempotency check (PROTOCOL §3: CSRF → rate limit → idempotency; a store down). */
const BEFORE_REPLAY: readonly string[] = ['CSRF_TOKEN_INVALID', 'RATE_LIMIT_EXCEEDED', 'SERVICE_UNAVAILABLE'];

/** Optional error fields passed on as they are (never `csrf_token`: that one updates the page). */
const ERROR_FIELDS = ['request_id', 'retry_after', 'errors', 'limit', 'window'] as const;

/** Expected outcomes are values: the server's success body, or an error. */
export type SendResult = { type: 'ok'; body: ActionSuccessBody } | { type: 'error'; error: ActionError };

export interface TransportDeps {
  fetch: typeof fetch;
  /** Resolves after `ms` milliseconds (injected so tests control time). */
  sleep(ms: number): Promise<void>;
  /** A fresh idempotency key (a UUID). */
  newKey(): string;
  /** Reads and replaces the page's CSRF token. */
  csrf: {
    get(): string;
    set(token: string): void;
    /** Strict mode: each token works once (the meta tag has `data-lc-single-use`). @default false */
    singleUse?: boolean;
    /** Strict mode: puts a fresh token from the page in place (before a retry after a network failure, or a send with a spent token); never rejects. */
    refresh?(): Promise<void>;
  };
  /** Waits before each retry after a network failure; its length is the number of retries. @default [300, 1000] */
  retryDelays?: readonly number[];
  /**
   * Waits before each resend after 409 `IDEMPOTENCY_KEY_IN_USE`; its length is the number of resends.
   * @default 250, 500, 1000, then 2000 ms apart up to ~32 s in all: past the server's default action
   * limit (10 s) and idempotency claim (30 s), so a slow first attempt is waited for, not given up on
   */
  inUseDelays?: readonly number[];
  /** How long one attempt may wait for its whole answer before it counts as a network failure. @default 30_000 */
  attemptTimeoutMs?: number;
}

/** The server's code for a key whose first request is still running. */
const KEY_IN_USE = 'IDEMPOTENCY_KEY_IN_USE';

/**
 * Resends while a key is in use: 0.25, 0.5 and 1 s, then every 2 s until ~32 s have passed. A first
 * attempt may run up to the server's action limit (10 s by default) after waiting for its instance;
 * giving up earlier (it was ~4 s) showed the user an error for an action still running, and the
 * natural answer, a second click, is a new key: the action twice.
 */
const IN_USE_DELAYS: readonly number[] = [250, 500, 1000, ...Array<number>(15).fill(2000)];

export interface Transport {
  send(componentId: string, action: string, params: Record<string, unknown>): Promise<SendResult>;
}

type Body = Record<string, unknown>;

export function createTransport(deps: TransportDeps): Transport {
  const delays = deps.retryDelays ?? [300, 1000];
  const inUseDelays = deps.inUseDelays ?? IN_USE_DELAYS;
  const timeoutMs = deps.attemptTimeoutMs ?? 30_000;
  /** Strict mode: settles when the invocation sent last has its final answer. */
  let queue: Promise<unknown> = Promise.resolve();
  /** The token sent last: while the page's is still that one, no answer or page has brought a fresh one. */
  let spent: string | undefined;

  /** Strict mode: takes a token from the page when the page's is spent; whether it has an unspent one now. */
  async function renew(): Promise<boolean> {
    if (deps.csrf.get() === spent) await deps.csrf.refresh?.();
    return deps.csrf.get() !== spent;
  }

  function send(componentId: string, action: string, params: Record<string, unknown>): Promise<SendResult> {
    if (!deps.csrf.singleUse) return sendNow(componentId, action, params);
    // The token left by an answer without one (a CSRF refusal: the session changed; no answer at all) may
    // be spent. Sent anyway when the page cannot be fetched: an attempt that never reached the server left it unused.
    const result = queue.then(async () => sendNow(componentId, action, params, await renew()));
    // Even a send that throws (a bug) must not hold up the ones after it.
    queue = result.catch(() => undefined);
    return result;
  }

  /** `renewing`: a retry takes a token from the page first (strict mode, no such page fetch failed yet). */
  async function sendNow(componentId: string, action: string, params: Record<string, unknown>, renewing = false): Promise<SendResult> {
    const key = deps.newKey();
    const payload = JSON.stringify({ [BODY.componentId]: componentId, [BODY.action]: action, [BODY.params]: params });
    let failures = 0;
    let inUse = 0;
    for (;;) {
      let response: Response;
      let text: string;
      try {
        response = await deps.fetch(ROUTES.action, {
          method: 'POST',
          credentials: 'same-origin',
          headers: {
            'content-type': 'application/json',
            [HEADERS.csrfToken]: (spent = deps.csrf.get()),
            [HEADERS.idempotencyKey]: key,
          },
          body: payload,
          // Covers reading the body too: a stalled answer ends here instead of leaving the component busy.
          signal: AbortSignal.timeout(timeoutMs),
        });
        text = await response.text();
      } catch (cause) {
        const delay = delays[failures++];
        // Each attempt was sent and may have run: none of them came back to say.
        if (delay === undefined) return networkError(cause, timeoutMs);
        await deps.sleep(delay);
        // One page fetch in vain is enough: the actions in line behind this one wait for no second.
        if (renewing) renewing = await renew();
        continue;
      }
      const result = readAnswer(response, text);
      const wait = result.type === 'error' && result.error.code === KEY_IN_USE ? inUseDelays[inUse++] : undefined;
      if (wait !== undefined) {
        await deps.sleep(wait);
        continue;
      }
      if (failures > 0 && result.type === 'error' && BEFORE_REPLAY.includes(result.error.code)) {
        result.error.outcomeUnknown = true;
        result.error.error = `Its answer was lost and the retry was refused.${MAY_HAVE_RUN}`;
      } else if (result.type === 'error' && result.error.code === CLIENT_CODES.invalidResponse && (failures > 0 || result.error.status >= 500)) {
        // Not the app's answer: a proxy's 502/504 (the app may have run it, or still be running it), or one
        // standing in for the replay a retry would have brought.
        result.error.outcomeUnknown = true;
        result.error.error += MAY_HAVE_RUN;
      }
      return result;
    }
  }

  function readAnswer(response: Response, text: string): SendResult {
    let body: Body | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Body;
    } catch {
      // not JSON: reported below
    }
    if (typeof body?.csrf_token === 'string') deps.csrf.set(body.csrf_token);
    const status = response.status;
    if (body && status === 200 && typeof body.html === 'string') return { type: 'ok', body: body as unknown as ActionSuccessBody };
    // Whole seconds (RFC 9110: 1*DIGIT; not `-30`, `1.5` or `0x10`), or an HTTP date, which opens with a
    // day name (a proxy may send one): the seconds from now, rounded up. Anything else is ignored
    // (Date.parse alone would read `1.5` as a date in 2001).
    const header = response.headers.get(HEADERS.retryAfter)?.trim() ?? '';
    const seconds = /^\d+$/.test(header) ? Number(header) : Math.ceil((Date.parse(/^[A-Za-z]{3}/.test(header) ? header : '') - Date.now()) / 1000);
    /** The app's own refusal (PROTOCOL §3), else a page that is not the app's answer (a proxy's, say). */
    const app = typeof body?.code === 'string' && status >= 400 ? body : null;
    const error: ActionError = app
      ? { status, code: app.code as string, error: String(app.error ?? '') }
      : { status, code: CLIENT_CODES.invalidResponse, error: `Unexpected answer from the server (HTTP ${status}).` };
    if (app) for (const field of ERROR_FIELDS) if (app[field] !== undefined) (error as Body)[field] = app[field];
    // The header counts on a page that is not the app's too (a proxy's 429 or 503), read before its body is judged.
    if (error.retry_after === undefined && Number.isFinite(seconds) && (app || status === 429 || status === 503)) error.retry_after = Math.max(0, seconds);
    return { type: 'error', error };
  }

  return { send };
}

/** Added to the message of a `NETWORK_ERROR` or `INVALID_RESPONSE` marked `outcomeUnknown`. */
const MAY_HAVE_RUN = ' The request may have been carried out.';

/** What went wrong, as `cause` (an Error, or anything thrown) says it. */
export const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

/** No attempt got an answer; each was sent, so the action may have run (`outcomeUnknown`). */
function networkError(cause: unknown, timeoutMs: number): SendResult {
  const reason = reasonOf(cause);
  const message = cause instanceof Error && cause.name === 'TimeoutError'
    ? `The request timed out: no answer within ${timeoutMs / 1000} s.`
    : `The server could not be reached (${reason}).`;
  return { type: 'error', error: { status: 0, code: CLIENT_CODES.network, error: message + MAY_HAVE_RUN, outcomeUnknown: true } };
}

/** A random UUID v4: `crypto.randomUUID` where available (secure contexts), else built from `getRandomValues`. */
export function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  // Two hex digits a byte, a dash before bytes 4, 6, 8 and 10: 8-4-4-4-12.
  return Array.from(b, (x, i) => (i > 3 && i < 11 && !(i & 1) ? '-' : '') + (x + 256).toString(16).slice(1)).join('');
}
