/**
 * Health probes (PROTOCOL §5) with Kubernetes semantics:
 *
 * - `GET /health/live`    — 200 while the event loop runs; no dependency is checked, so a slow
 *                           database never gets a healthy process restarted.
 * - `GET /health/startup` — 200 once start-up is done, else 503.
 * - `GET /health/ready`   — 200 when started, not shutting down, and every check passes within its
 *                           timeout; 503 otherwise (503 from the moment shutdown begins).
 * - `GET /health`         — the full `application/health+json` document, 200 (pass/warn) or 503 (fail).
 *
 * The routes need no session and opt out of rate limiting: a probe must never be refused because a
 * client somewhere exhausted a budget.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { type Clock, systemClock } from '../../core/clock.js';
import { LiveError } from '../../core/errors.js';
import { sendError } from '../../http/error-mapping.js';
import type { SecurityEventSink } from '../security-events.js';
import { bearerChecker, type BearerResult, tokenRefusalReporter } from './bearer.js';
import { type CheckResult, type HealthCheck, prepareChecks, runCheck } from './checks.js';
import { HEALTH_CONTENT_TYPE, type HealthDocument, healthDocument, httpStatusOf } from './document.js';
import type { LifecycleState } from './lifecycle.js';
import { InvalidOptionError, optionalPreviousToken, optionalToken, positiveMs } from './options-error.js';

export { createLifecycleState, type LifecycleState } from './lifecycle.js';
export { storeHealthCheck, sqlHealthCheck, redisHealthCheck, redisEvictionCheck, type HealthCheck, type HealthStatus, type HealthWarning } from './checks.js';
export { HEALTH_CONTENT_TYPE, type HealthDocument, type CheckReading } from './document.js';
export { InvalidOptionError } from './options-error.js';

/** Probe paths (PROTOCOL §5): orchestrators and load balancers are configured with these. */
export const HEALTH_ROUTES = {
  live: '/health/live',
  ready: '/health/ready',
  startup: '/health/startup',
  health: '/health',
} as const;

export interface HealthOptions {
  /** Dependencies checked by `/health/ready` and `/health`, concurrently. */
  checks: readonly HealthCheck[];
  /** Shared with graceful shutdown: `startupDone` and `shuttingDown` drive the probes. */
  state: LifecycleState;
  /**
   * `HEALTH_TOKEN`: callers sending `Authorization: Bearer <token>` see each failing check's
   * internal error text (`output`). A wrong token is answered 401 `INVALID_TOKEN` and logged as an
   * `authz_fail` security event.
   * @default undefined (error text is never shown)
   */
  token?: string | undefined;
  /**
   * `HEALTH_TOKEN_PREVIOUS`: a second token accepted beside `token` while it changes (the probe's
   * configuration follows the app's: the app accepts both, the probe changes, this is dropped).
   * Needs `token`; must differ from it.
   * @default undefined (only `token`)
   */
  previousToken?: string | undefined;
  /**
   * Told each time `previousToken` alone let a request in: wire it to the secret-fallback counter,
   * which tells when the probe has moved to `token` and `previousToken` can go (docs/deployment.md §9).
   * Not called for `token`, nor for a refused token. An observer: a throw or a rejected promise from
   * it is caught and logged on `app.log` (error; the first at once, then at most one line a minute with
   * the count since the last), never the request's answer.
   * @default none
   * @example registerHealth(app, { state, checks, token, previousToken, onPreviousToken: () => metrics.countSecretFallback('health_token') })
   */
  onPreviousToken?: (() => void) | undefined;
  /** Where a refused token is reported. @default the sink of the `livecomponents` plugin on `app`, if any */
  events?: SecurityEventSink | undefined;
  /** How long one check may take before it counts as failed, in ms, at most 2^31 − 1 (a timer's limit). @default 1000 */
  timeoutMs?: number | undefined;
  /** A check that passes but takes longer than this (ms, at most 2^31 − 1) reports `warn`. @default timeoutMs / 2, at least 1 */
  warnMs?: number | undefined;
  /** The document's `version` field. @default omitted */
  version?: string | undefined;
  /** The document's `serviceId` field. @default omitted */
  serviceId?: string | undefined;
  /** Time source for the readings' `time`. @default systemClock */
  clock?: Clock | undefined;
}

const WHERE = 'registerHealth';
const NO_STORE = 'no-store';

/**
 * Adds the four probe routes to `app`.
 * @example
 * const state = createLifecycleState();
 * registerHealth(app, { state, checks: [storeHealthCheck(runtime.store)], token: process.env.HEALTH_TOKEN });
 * app.addHook('onReady', async () => { state.startupDone = true; });
 */
export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  const { state, version, serviceId } = options;
  if (typeof state !== 'object' || state === null) throw new InvalidOptionError(WHERE, 'state must be a LifecycleState');
  const checks = prepareChecks(options.checks);
  const timeoutMs = positiveMs(WHERE, 'timeoutMs', options.timeoutMs ?? 1000);
  const warnMs = positiveMs(WHERE, 'warnMs', options.warnMs ?? Math.max(1, timeoutMs / 2));
  const token = optionalToken(WHERE, 'token', options.token);
  const previousToken = optionalPreviousToken(WHERE, token, options.previousToken);
  if (options.onPreviousToken !== undefined && typeof options.onPreviousToken !== 'function') throw new InvalidOptionError(WHERE, 'onPreviousToken must be a function');
  const checkBearer = token === undefined ? (): BearerResult => 'absent' : bearerChecker(token, previousToken, options.onPreviousToken, {
          hookName: 'onPreviousToken',
          report: (message, error) => app.log.error({ err: error }, message),
        });
  const reportRefusal = tokenRefusalReporter(app, options.events, 'HEALTH_TOKEN');
  const clock = options.clock ?? systemClock;

  // Probes from several kubelets and load balancers at once share one run instead of multiplying
  // the load on the dependencies they are checking.
  let running: Promise<CheckResult[]> | null = null;
  function runAll(): Promise<CheckResult[]> {
    running ??= Promise.all(checks.map((c) => runCheck(c, timeoutMs, warnMs, clock))).finally(() => {
      running = null;
    });
    return running;
  }

  function lifecycleNotes(): string[] {
    if (state.shuttingDown) return ['shutting down'];
    if (!state.startupDone) return ['starting up'];
    return [];
  }

  function send(reply: FastifyReply, doc: HealthDocument): FastifyReply {
    return reply.code(httpStatusOf(doc.status)).header('cache-control', NO_STORE).type(HEALTH_CONTENT_TYPE).send(JSON.stringify(doc));
  }

  /** `null` after answering 401 for a wrong token; else whether `output` may be shown. */
  function callerMaySeeOutput(request: FastifyRequest, reply: FastifyReply): boolean | null {
    const verdict = checkBearer(request.headers.authorization);
    if (verdict !== 'invalid') return verdict === 'valid';
    reportRefusal(request, verdict);
    sendError(new LiveError('INVALID_TOKEN', { headers: { 'www-authenticate': 'Bearer realm="health"' } }), request, reply);
    return null;
  }

  // Every probe, `/health` included: request-logged only at warn level (a kubelet probing every few
  // seconds must not flood the request log), and never rate limited.
  const probe: RouteShorthandOptions = { logLevel: 'warn', config: { rateLimit: false } };

  app.get(HEALTH_ROUTES.live, probe, (_request, reply) => send(reply, { status: 'pass' }));

  app.get(HEALTH_ROUTES.startup, probe, (_request, reply) =>
    send(reply, state.startupDone ? { status: 'pass' } : { status: 'fail', notes: ['starting up'] }),
  );

  app.get(HEALTH_ROUTES.ready, probe, async (request, reply) => {
    const showOutput = callerMaySeeOutput(request, reply);
    if (showOutput === null) return reply;
    const notes = lifecycleNotes();
    // Not serving anyway: answer at once, without touching the dependencies.
    if (notes.length > 0) return send(reply, healthDocument({ results: null, notes, showOutput, version, serviceId }));
    const results = await runAll();
    return send(reply, healthDocument({ results, notes: lifecycleNotes(), showOutput, version, serviceId }));
  });

  app.get(HEALTH_ROUTES.health, probe, async (request, reply) => {
    const showOutput = callerMaySeeOutput(request, reply);
    if (showOutput === null) return reply;
    const results = await runAll();
    return send(reply, healthDocument({ results, notes: lifecycleNotes(), showOutput, version, serviceId }));
  });
}
