/**
 * The CSRF stage (PROTOCOL §3, first in the pipeline): refuses cross-site requests by
 * `Sec-Fetch-Site` and `Origin`, then requires a token bound to the session (header
 * `X-CSRF-Token`, else body field `_csrf_token`). Every refusal answers 403 `CSRF_TOKEN_INVALID`
 * with the same generic message, and logs one `malicious_csrf` event naming the check that failed.
 *
 * Strict mode (`per-action`) adds a second stage, `csrf-spend`, to put first among the prefetch
 * stage's later stages: the `csrf` stage still makes every check that needs no store (a forged or
 * foreign token never reaches the store, and costs no rate-limit step or idempotency claim), and
 * `csrf-spend` uses the token up with an op of the prefetch's first batch, then queues the claim
 * placing the response's token in the batch after the action — no round trip of its own; a claim
 * that won puts that token on the context (`ctx.csrfToken`). What a request needs between these
 * steps (its spend, its claim) stays in its context, so requests sharing one `Session` object never
 * mix them up. A token of a session that is gone meets the prefetch stage's session check first
 * (`session_use_after_expire`); a used one is refused by `csrf-spend`, and the prefetch takes back
 * the claims of the later stages in that batch (a rate-limit step taken stays taken).
 */
import { LiveError } from '../../core/errors.js';
import { listFirst } from '../../core/list-first.js';
import { HEADERS } from '../../core/wire.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import { deferWithResult, fail, takePrefetched, type ActionContext, type DeferredDone, type Next, type Outcome, type Stage } from '../types.js';
import { checkSource, trustedOrigins } from './origins.js';
import type { CsrfClaim, CsrfService, CsrfSpend } from './service.js';

export { createCsrfService, MIN_SECRET_BYTES } from './service.js';
export type { CsrfCheck, CsrfClaim, CsrfRotation, CsrfService, CsrfServiceOptions, CsrfSpend } from './service.js';
export { normaliseOrigin, trustedOrigins } from './origins.js';

export interface CsrfOrigins {
  /**
   * The app's own origin, from configuration (never from the `Host` header).
   * @example 'https://app.example.com'
   */
  appOrigin: string;
  /**
   * Further origins whose pages may call actions, matched exactly after normalising these values.
   * @default []
   * @example ['https://admin.example.com']
   */
  allowed?: readonly string[];
}

export interface CsrfStageOptions {
  csrf: CsrfService;
  origins: CsrfOrigins;
  /** Receives one `malicious_csrf` event per refusal. */
  events: SecurityEventSink;
}

/** The CSRF stages: `check` first in the pipeline; `spend` (strict mode only) first of the prefetch's later stages. */
export interface CsrfStages {
  readonly check: Stage;
  /**
   * Strict mode's single use; in the default mode, while the service has fallback secrets
   * (`fallbackSpends`), where a token of one is counted (`onFallback`) — after the prefetch's session
   * check, so a request whose session is gone counts nothing, as in strict mode; else `null`. The
   * pipeline MUST hold it after `check`: `check` alone passes a genuine strict-mode token on without
   * spending it.
   */
  readonly spend: Stage | null;
  /**
   * The store-free checks of `check` alone, for a request that names no known action: the refusal
   * (its event logged), or `null` when they pass. A genuine strict-mode token is not spent by it —
   * nothing runs for such a request. CSRF is the first check of every action request (PROTOCOL §3),
   * an unknown name included.
   */
  readonly screen: (ctx: CsrfRequest) => Outcome | null;
}

/** What the store-free CSRF checks read of a request. */
export type CsrfRequest = Pick<ActionContext, 'request' | 'body' | 'session'>;

/** What strict mode keeps of one request (`ctx.stageData`, under the spend stage): its genuine token, then the claim of the slot it freed. */
interface Spending {
  readonly spend: CsrfSpend;
  claim: CsrfClaim | null;
}

type Reason = 'cross-site' | 'origin' | 'missing' | 'ambiguous' | 'invalid';

/** Event descriptions: which check failed, never request data or token text. */
const DESCRIPTIONS: Readonly<Record<Reason, string>> = {
  'cross-site': 'CSRF: action refused, Sec-Fetch-Site is cross-site',
  origin: 'CSRF: action refused, Origin header is not a trusted origin',
  // The usual cause when a browser sends none: the page has no meta tag for the browser runtime to read.
  missing: 'CSRF: action refused, no CSRF token (does the page lack <meta name="csrf-token">? view.head() and view.document() render it)',
  ambiguous: 'CSRF: action refused, several CSRF token headers',
  invalid: 'CSRF: action refused, CSRF token invalid, expired, used or from another session',
};

/** Trusted origins named in full in `untrustedOriginAdvice`; the rest are counted. */
const LISTED_ORIGINS = 3;

/**
 * What an "Origin header is not a trusted origin" description ends with: the origins trusted, then
 * what to do. They are configuration, not request data (the origin received is never named): a
 * developer who opened the app at http://localhost:3000 while it trusts http://127.0.0.1:3000 is
 * told what to change. ` (trusted: A, B, C and 2 more): open the app at one of these, or set appOrigin/allowedOrigins`
 */
export function untrustedOriginAdvice(trusted: Iterable<string>): string {
  return ` (trusted: ${listFirst([...trusted], LISTED_ORIGINS)}): open the app at one of these, or set appOrigin/allowedOrigins`;
}

/**
 * @example
 * const { check, spend } = createCsrfStages({ csrf, origins: { appOrigin: 'https://app.example.com', allowed: [] }, events });
 * const prefetch = createPrefetchStage({ store, sessions, events, later: [...(spend ? [spend] : []), rateLimit, …] });
 * const stages = [check, prefetch, ...later];
 */
export function createCsrfStages(options: CsrfStageOptions): CsrfStages {
  const { csrf, events } = options;
  const trusted = trustedOrigins(options.origins.appOrigin, options.origins.allowed ?? []);
  const descriptions: Readonly<Record<Reason, string>> = { ...DESCRIPTIONS, origin: `${DESCRIPTIONS.origin}${untrustedOriginAdvice(trusted)}` };

  function refuse(ctx: CsrfRequest, reason: Reason): Outcome {
    events.emit({ event: 'malicious_csrf', level: 'WARN', description: descriptions[reason], request: ctx.request });
    return fail(new LiveError('CSRF_TOKEN_INVALID'));
  }

  const spendStage: Stage = {
    name: 'csrf-spend',
    prepare: (ctx) => {
      const op = (ctx.stageData?.get(spendStage) as Spending | undefined)?.spend.op;
      // No op: a default-mode token of a fallback secret, nothing to use up (`consume` settles it).
      return op == null ? null : { op };
    },
    // Default mode, a token of the current secret (`check` let it through): straight on, no promise of its own.
    run: (ctx, next) => (csrf.rotation === 'per-session' && ctx.csrfVerified && ctx.stageData?.get(spendStage) === undefined ? next(ctx) : spendRun(ctx, next)),
  };

  /** The response's token: queued with the after-action batch, as a claim of the slot the used token freed. */
  const placed: DeferredDone = (ctx, result) => {
    const spending = ctx.stageData?.get(spendStage) as Spending | undefined;
    const claim = spending?.claim ?? null;
    if (spending === undefined || claim === null) return;
    spending.claim = null;
    const token = csrf.placed(ctx.session, claim, result);
    if (token !== null) ctx.csrfToken = token;
  };

  async function spendRun(ctx: ActionContext, next: Next): Promise<Outcome> {
    const spending = ctx.stageData?.get(spendStage) as Spending | undefined;
    if (spending === undefined) throw new Error('csrf-spend stage: no token opened (the csrf stage must run before it)');
    const { spend } = spending;
    // Without a prefetch (the stage run alone) it sends the op itself.
    const result = takePrefetched(ctx, spendStage);
    const check = result === undefined ? await csrf.consume(ctx.session, spend) : csrf.settle(result === true, spend);
    if (check !== 'valid') return refuse(ctx, 'invalid');
    ctx.csrfVerified = true;
    try {
      return await next(ctx);
    } finally {
      // Refused and failed actions hand out a token too. Without a prefetch, the runtime's `issue` places it.
      const claim = ctx.deferred == null ? null : csrf.issueOp(ctx.session, spend);
      if (claim !== null) {
        spending.claim = claim;
        deferWithResult(ctx, claim.op, placed);
      }
    }
  }

  /** Origin, token presence, HMAC: a refusal, `null` (valid), or a genuine strict-mode token still to spend. */
  function open(ctx: CsrfRequest): Outcome | CsrfSpend | null {
    const source = checkSource(ctx.request.headers, trusted);
    if (source !== null) return refuse(ctx, source);
    const header = ctx.request.headers[HEADERS.csrfToken];
    if (Array.isArray(header)) return refuse(ctx, 'ambiguous');
    const token = header ?? ctx.body.csrfToken;
    if (token === undefined || token === '') return refuse(ctx, 'missing');
    const opened = csrf.open(ctx.session, token);
    if (typeof opened !== 'string') return opened;
    return opened === 'valid' ? null : refuse(ctx, 'invalid');
  }

  const check: Stage = {
    name: 'csrf',
    run(ctx, next) {
      const opened = open(ctx);
      if (opened === null) {
        ctx.csrfVerified = true;
        return next(ctx);
      }
      if ('type' in opened) return Promise.resolve(opened);
      // Strict mode: the token is genuine; `csrf-spend` uses it up with the first batch. Default mode,
      // a token of a fallback secret: `csrf-spend` counts it once the session is found.
      const spending: Spending = { spend: opened, claim: null };
      (ctx.stageData ??= new Map()).set(spendStage, spending);
      return next(ctx);
    },
  };
  const screen = (ctx: CsrfRequest): Outcome | null => {
    const opened = open(ctx);
    return opened !== null && 'type' in opened ? opened : null;
  };
  return { check, spend: csrf.rotation === 'per-action' || csrf.fallbackSpends === true ? spendStage : null, screen };
}
