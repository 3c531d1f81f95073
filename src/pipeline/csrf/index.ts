/**
 * The CSRF stage (PROTOCOL §3, first in the pipeline): refuses cross-site requests by
 * `Sec-Fetch-Site` and `Origin`, then requires a token bound to the session (header
 * `X-CSRF-Token`, else body field `_csrf_token`). Every refusal answers 403 `CSRF_TOKEN_INVALID`
 * with the same generic message, and logs one `malicious_csrf` event naming the check that failed —
 * except a genuine token of a session that no longer exists (strict mode, below), which logs
 * `session_use_after_expire` as the prefetch stage does in the default mode.
 */
import { LiveError } from '../../core/errors.js';
import { HEADERS } from '../../core/wire.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { Session } from '../../session/types.js';
import { fail, type ActionContext, type Outcome, type Stage } from '../types.js';
import { checkSource, trustedOrigins } from './origins.js';
import type { CsrfService } from './service.js';

export { createCsrfService, MIN_SECRET_BYTES } from './service.js';
export type { CsrfCheck, CsrfRotation, CsrfService, CsrfServiceOptions } from './service.js';
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
  /** Receives one `malicious_csrf` (or `session_use_after_expire`) event per refusal. */
  events: SecurityEventSink;
  /**
   * Whether the session is still stored (one store read). Asked only when a token of this session's
   * secret is `spent`: in strict mode a token lives in a slot for `tokenTtlMs` (2 h) while a session
   * lives a day, so a tab back after its session expired has its slot gone too — and this stage runs
   * before the prefetch stage could see the session is gone. Never asked on the success path.
   * @default every session counts as stored (every `spent` token is `malicious_csrf`)
   */
  sessionStored?: (session: Session) => Promise<boolean>;
}

type Reason = 'cross-site' | 'origin' | 'missing' | 'ambiguous' | 'invalid';

/** Event descriptions: which check failed, never request data or token text. */
const DESCRIPTIONS: Readonly<Record<Reason, string>> = {
  'cross-site': 'CSRF: action refused, Sec-Fetch-Site is cross-site',
  origin: 'CSRF: action refused, Origin header is not a trusted origin',
  missing: 'CSRF: action refused, no CSRF token',
  ambiguous: 'CSRF: action refused, several CSRF token headers',
  invalid: 'CSRF: action refused, CSRF token invalid, expired, used or from another session',
};

/**
 * @example
 * const stage = createCsrfStage({ csrf, origins: { appOrigin: 'https://app.example.com', allowed: [] }, events });
 */
export function createCsrfStage(options: CsrfStageOptions): Stage {
  const { csrf, events, sessionStored } = options;
  const trusted = trustedOrigins(options.origins.appOrigin, options.origins.allowed ?? []);
  // The origins this app trusts are configuration, not request data: naming them tells a developer
  // who opened the app at http://localhost:3000 while it trusts http://127.0.0.1:3000 what to change.
  const listed = [...trusted];
  const descriptions: Readonly<Record<Reason, string>> = {
    ...DESCRIPTIONS,
    origin: `${DESCRIPTIONS.origin} (trusted: ${listed.slice(0, 3).join(', ')}${listed.length > 3 ? ` and ${listed.length - 3} more` : ''})`,
  };

  function refuse(ctx: ActionContext, reason: Reason): Outcome {
    events.emit({ event: 'malicious_csrf', level: 'WARN', description: descriptions[reason], request: ctx.request });
    return fail(new LiveError('CSRF_TOKEN_INVALID'));
  }

  return {
    name: 'csrf',
    async run(ctx, next) {
      const source = checkSource(ctx.request.headers, trusted);
      if (source !== null) return refuse(ctx, source);
      const header = ctx.request.headers[HEADERS.csrfToken];
      if (Array.isArray(header)) return refuse(ctx, 'ambiguous');
      const token = header ?? ctx.body.csrfToken;
      if (token === undefined || token === '') return refuse(ctx, 'missing');
      const check = await csrf.check(ctx.session, token);
      if (check === 'spent' && sessionStored !== undefined && !(await sessionStored(ctx.session))) {
        // A user back at an old tab, not an attack: the same event and answer as the prefetch stage's.
        events.emit({ event: 'session_use_after_expire', level: 'INFO', description: 'Action for an unknown or expired session', request: ctx.request });
        return fail(new LiveError('CSRF_TOKEN_INVALID'));
      }
      if (check !== 'valid') return refuse(ctx, 'invalid');
      ctx.csrfVerified = true;
      return next(ctx);
    },
  };
}
