/**
 * `Authorization: Bearer <token>` checks for the operations endpoints (HEALTH_TOKEN, METRICS_TOKEN).
 * Both sides are hashed before the constant-time compare, so neither the content nor the length of
 * the configured token leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
// For the type of `app.livecomponents` (the plugin's decoration) read below.
import type {} from '../../http/plugin.js';
import { requestInfo } from '../../http/request-info.js';
import type { SecurityEventSink } from '../security-events.js';
import { guardOptionalObserver, type ObserverFailureReport } from '../observer-guard.js';

export type BearerResult = 'absent' | 'valid' | 'invalid';

/**
 * A checker for the configured token and, while it changes, the one it replaces (`previous`:
 * `HEALTH_TOKEN_PREVIOUS`, `METRICS_TOKEN_PREVIOUS`): either is `valid`. Hashed once at start-up;
 * the presented token is hashed once and compared with every accepted one, each compare
 * constant-time and none skipped, so the time tells neither which one matched nor whether there
 * are two. `onPrevious` is told each time `previous` alone let a request in (the secret-fallback
 * counter: when it stays flat, the old token can go), after both compares. An observer: its throw or
 * rejected promise is caught and handed to `failure.report` (at most one a minute, `guardObserver`), never the
 * request's answer.
 * @example const check = bearerChecker(process.env.METRICS_TOKEN!, process.env.METRICS_TOKEN_PREVIOUS, () => metrics.countSecretFallback('metrics_token'));
 */
export function bearerChecker(
  token: string,
  previous?: string | undefined,
  onPrevious?: (() => unknown) | undefined,
  failure: { hookName: string; report?: ObserverFailureReport | undefined } = { hookName: 'onPrevious' },
): (authorization: string | undefined) => BearerResult {
  const told = guardOptionalObserver(failure.hookName, onPrevious, { report: failure.report });
  const current = sha256(token);
  const prior = previous === undefined ? null : sha256(previous);
  return (authorization) => {
    if (authorization === undefined || authorization === '') return 'absent';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match === null) return 'invalid';
    const presented = sha256(match[1] as string);
    const isCurrent = timingSafeEqual(presented, current);
    if (prior === null) return isCurrent ? 'valid' : 'invalid';
    // Both compares run whatever the first found. The tokens differ (`optionalPreviousToken`), so
    // at most one matches.
    const isPrevious = timingSafeEqual(presented, prior);
    if (isPrevious && !isCurrent) told?.();
    return isCurrent || isPrevious ? 'valid' : 'invalid';
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The setting a token comes from: named in the event, never its value (a previous token is named by its current one). */
export type TokenVariable = 'HEALTH_TOKEN' | 'METRICS_TOKEN';

/**
 * Logs one `authz_fail` (WARN) per request refused for its bearer token. Without it a token guess
 * left no trace but a 401 in the request counter: these routes are request-logged only at warn
 * level. OWASP's vocabulary has no event for a wrong API token; `authz_fail` is its "attempt to
 * access a resource which was unauthorized". Not `authn_login_fail`: that one counts toward the
 * failed sign-in alert (credential stuffing), which an uptime checker still sending an old token
 * every 10 s would set off.
 *
 * `events` defaults to the sink of the `livecomponents` plugin registered on `app`, looked up at
 * each refusal so the plugin may be registered after these routes.
 */
export function tokenRefusalReporter(
  app: FastifyInstance,
  events: SecurityEventSink | undefined,
  variable: TokenVariable,
): (request: FastifyRequest, verdict: Exclude<BearerResult, 'valid'>) => void {
  const report = authzFailReporter(app, events);
  return (request, verdict) => {
    const why = verdict === 'absent' ? 'no bearer token' : 'wrong or malformed bearer token';
    report(request, `${variable} check refused the request: ${why}`);
  };
}

/**
 * Logs one `authz_fail` (WARN) with `description` for a request an operations route refused (a
 * token, a `Host`), to `events` or else the `livecomponents` plugin's sink, looked up at each refusal.
 */
export function authzFailReporter(app: FastifyInstance, events: SecurityEventSink | undefined): (request: FastifyRequest, description: string) => void {
  return (request, description) => {
    (events ?? pluginEventsOf(app))?.emit({ event: 'authz_fail', level: 'WARN', description, request: requestInfo(request) });
  };
}

/** The security-event sink of the `livecomponents` plugin registered on `app`, if any. */
function pluginEventsOf(app: FastifyInstance): SecurityEventSink | undefined {
  return app.hasDecorator('livecomponents') ? app.livecomponents.runtime.events : undefined;
}
