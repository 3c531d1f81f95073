/**
 * Security events with the OWASP Logging Vocabulary names. Stages get a `SecurityEventSink`
 * injected; the pino-backed implementation lives in `security-logger.ts`.
 */
import type { RequestInfo } from '../pipeline/types.js';

export const SECURITY_EVENTS = [
  'malicious_csrf',
  'excess_rate_limit_exceeded',
  'crypt_decrypt_fail',
  'authz_fail',
  'malicious_cors',
  'authn_login_success',
  'authn_login_fail',
  'authn_login_fail_max',
  'authn_token_created',
  'authn_token_revoked',
  'authn_token_reuse',
  'authn_password_change',
  'authn_password_change_fail',
  'user_created',
  'session_created',
  'session_logout',
  'session_use_after_expire',
] as const;

export type SecurityEventName = (typeof SECURITY_EVENTS)[number];

export type SecurityLevel = 'INFO' | 'WARN' | 'CRITICAL';

/**
 * Which events the security logger may summarise under a flood (security-logger.ts, `floodLimit`):
 * `summarised` ones write their first lines per client and window, then one summary line with the
 * count; `every` ones are always written. A `Record` over every name, so a new event cannot be
 * added without deciding here. Observers (`onEvent`, the metrics counters) see every event either way.
 *
 * - `summarised`: refusals any client can cause at will, with no credential, as fast as it can send
 *   (a bad CSRF token, a rate limit, a tampered state, a foreign origin, a wrong password): one line
 *   per request is the log-flooding the OWASP Logging Cheat Sheet warns of, and the first lines plus
 *   the count say all the rest would.
 * - `every`: the audit trail — each records a change of who can act, made with a credential or by
 *   the operator (a sign-in, a token issued or revoked, a password changed, an account made, a
 *   sign-out). Each comes with a database write of its own, so its lines grow no faster than the
 *   database, and an investigation needs each one. `authn_token_reuse` (CRITICAL) is a stolen-token
 *   indicator naming one token family: every one must reach the operator.
 */
export const EVENT_LINES: { readonly [E in SecurityEventName]: 'summarised' | 'every' } = {
  malicious_csrf: 'summarised',
  excess_rate_limit_exceeded: 'summarised',
  crypt_decrypt_fail: 'summarised',
  authz_fail: 'summarised',
  malicious_cors: 'summarised',
  authn_login_fail: 'summarised',
  authn_login_fail_max: 'summarised',
  authn_password_change_fail: 'summarised',
  session_use_after_expire: 'summarised',
  authn_login_success: 'every',
  authn_token_created: 'every',
  authn_token_revoked: 'every',
  authn_token_reuse: 'every',
  authn_password_change: 'every',
  user_created: 'every',
  session_created: 'every',
  session_logout: 'every',
};

export interface SecurityEvent {
  event: SecurityEventName;
  level: SecurityLevel;
  /** A sentence for humans. Never a token, cookie, password or key. */
  description: string;
  request?: (Pick<RequestInfo, 'ip' | 'method' | 'url' | 'headers'> & { readonly requestId?: string }) | undefined;
  /**
   * `false`: written to the security log as usual, but left out of the metrics' event counters
   * (`createMetrics().countSecurityEvent`). For an event that happens, or not, depending on whether
   * an email has an account, in a flow whose answer must not tell (forgot-password, PROTOCOL §4):
   * the log is the operator's own, while `/metrics` is read by dashboards shared widely, and a
   * counter that moved for an existing account only would tell anyone who can read it.
   * @default true
   */
  counted?: boolean;
}

export interface SecurityEventSink {
  emit(event: SecurityEvent): void;
}

/** Collects events in memory: for tests. */
export function memorySecurityEvents(): SecurityEventSink & { events: SecurityEvent[] } {
  const events: SecurityEvent[] = [];
  return { events, emit: (e) => void events.push(e) };
}
