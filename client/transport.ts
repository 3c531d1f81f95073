/**
 * Sending one action invocation (PROTOCOL §3): JSON body, CSRF token from the page, one
 * Idempotency-Key per invocation reused by every retry, fresh CSRF token taken from each answer.
 * Only network failures are retried; an HTTP answer, whatever its status, is final.
 */
import { BODY, HEADERS, ROUTES, type ActionSuccessBody, type ErrorBody } from '../src/core/wire.js';

/** Error codes the runtime produces itself (the server's codes are in PROTOCOL §3). */
export const CLIENT_CODES = {
  /** The request never got an answer, even after the retries. */
  network: 'NETWORK_ERROR',
  /** The answer was not the JSON PROTOCOL §3 describes (a proxy's HTML error page, say). */
  invalidResponse: 'INVALID_RESPONSE',
} as const;

/** An error as the runtime reports it: the server's error fields plus the HTTP status (0: no answer). */
export type ActionError = { status: number } & Pick<ErrorBody, 'code' | 'error'> &
  Partial<Pick<ErrorBody, 'request_id' | 'retry_after' | 'errors' | 'limit' | 'window'>>;

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
  csrf: { get(): string; set(token: string): void };
  /** Waits before each retry after a network failure; its length is the number of retries. @default [300, 1000] */
  retryDelays?: readonly number[];
}

export interface Transport {
  send(componentId: string, action: string, params: Record<string, unknown>): Promise<SendResult>;
}

type Body = Record<string, unknown>;

export function createTransport(deps: TransportDeps): Transport {
  const delays = deps.retryDelays ?? [300, 1000];

  async function send(componentId: string, action: string, params: Record<string, unknown>): Promise<SendResult> {
    const key = deps.newKey();
    const payload = JSON.stringify({ [BODY.componentId]: componentId, [BODY.action]: action, [BODY.params]: params });
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      let text: string;
      try {
        response = await deps.fetch(ROUTES.action, {
          method: 'POST',
          credentials: 'same-origin',
          headers: {
            'content-type': 'application/json',
            [HEADERS.csrfToken]: deps.csrf.get(),
            [HEADERS.idempotencyKey]: key,
          },
          body: payload,
        });
        text = await response.text();
      } catch (cause) {
        const delay = delays[attempt];
        if (delay === undefined) return networkError(cause);
        await deps.sleep(delay);
        continue;
      }
      return readAnswer(response, text);
    }
  }

  function readAnswer(response: Response, text: string): SendResult {
    let body: Body | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Body;
    } catch {
      // not JSON: reported below
    }
    if (typeof body?.csrf_token === 'string') deps.csrf.set(body.csrf_token);
    const status = response.status;
    if (body !== null && status === 200 && typeof body.html === 'string') return { type: 'ok', body: body as unknown as ActionSuccessBody };
    if (body === null || typeof body.code !== 'string' || status < 400) {
      return failure(status, CLIENT_CODES.invalidResponse, `Unexpected answer from the server (HTTP ${status}).`);
    }
    const error: ActionError = { status, code: body.code, error: String(body.error ?? '') };
    for (const field of ERROR_FIELDS) if (body[field] !== undefined) Object.assign(error, { [field]: body[field] });
    if (error.retry_after === undefined && response.headers.has(HEADERS.retryAfter)) {
      const seconds = Number(response.headers.get(HEADERS.retryAfter));
      if (Number.isFinite(seconds)) error.retry_after = seconds;
    }
    return { type: 'error', error };
  }

  return { send };
}

function networkError(cause: unknown): SendResult {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return failure(0, CLIENT_CODES.network, `The server could not be reached (${reason}).`);
}

function failure(status: number, code: string, error: string): SendResult {
  return { type: 'error', error: { status, code, error } };
}

/** A random UUID v4: `crypto.randomUUID` where available (secure contexts), else built from `getRandomValues`. */
export function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
