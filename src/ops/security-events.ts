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
