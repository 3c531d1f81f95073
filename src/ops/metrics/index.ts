/**
 * Prometheus metrics (PROTOCOL §5): prom-client's default process metrics plus HTTP, action,
 * security-event, auth and secret-fallback counters, the clock-skew and configured-fallback gauges, in a registry of the app's own — never prom-client's global
 * one, so several apps in one process (tests create many) never share or clash on metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CODES } from '../../core/errors.js';
import type { SecurityEvent } from '../security-events.js';
import { SECURITY_EVENTS } from '../security-events.js';
import type { ActionReport } from '../../runtime/index.js';
import { InvalidOptionError } from '../health/options-error.js';
import type { ClockService } from '../clock-skew/index.js';
import { METRIC_NAMES, OTHER_METHOD, SECRET_FALLBACKS, UNKNOWN_OUTCOME, UNMATCHED_ROUTE, type SecretFallback } from './names.js';
import { statusCodeLabel } from './status-code.js';

export { CLIENT_CLOSED_REQUEST, METRIC_NAMES, METRICS_ROUTE, SECRET_FALLBACKS, UNMATCHED_ROUTE, type SecretFallback } from './names.js';
export { registerHttpMetrics } from './http.js';
export { registerMetricsRoute, type MetricsRouteOptions, type MetricsServer } from './route.js';

export interface MetricsOptions {
  /** Put before every metric name, default metrics included (e.g. `myapp_`). @default '' */
  prefix?: string;
  /** The registry to fill. @default a new `Registry` for this app */
  registry?: Registry;
  /** Also collect prom-client's default metrics (CPU, memory, event loop lag, GC…). @default true */
  defaultMetrics?: boolean;
  /**
   * Reads the running total of log records the log destination dropped, for
   * `livecomponents_log_records_dropped_total`: `() => droppedLogRecords(logger)`. Security events
   * are log lines, so an alert on this counter is how a lost audit trail shows. Without it the
   * counter stays at 0.
   * @default none
   */
  droppedLogRecords?: () => number;
}

export interface Metrics {
  readonly registry: Registry;
  /** The `Content-Type` of `render()`'s text. */
  readonly contentType: string;
  /** For the runtime's `onActionDone` option. Bound: pass it as it is. */
  observeAction(report: ActionReport): void;
  /**
   * For the security logger's `onEvent` option. Bound: pass it as it is. An event with
   * `counted: false` is left out (see `SecurityEvent.counted`), as are unknown names.
   */
  countSecurityEvent(event: SecurityEvent): void;
  /**
   * One finished HTTP request (`route` is the template, `null` when no route matched). A status
   * Node's `STATUS_CODES` names, and 499, keeps its value; any other is counted under its class,
   * `4xx` for a 420; no status at all as `other` (`statusCodeLabel`). The same for `countUnroutedRequest`.
   */
  observeHttp(method: string, route: string | null, statusCode: number, seconds: number): void;
  /**
   * One request refused before routing (`method` `null` when Node's parser refused it): counted with
   * route `unmatched`, not timed — Node tells no start time for these.
   */
  countUnroutedRequest(method: string | null, statusCode: number): void;
  /** One connection closed on arrival: the server held its `maxConnections` (`serverOptions`). */
  countDroppedConnection(): void;
  /** A request shed by `serverOptions()`'s load shedding (503 before routing). */
  countShedRequest(): void;
  /** The last clock reading of a shared service, in seconds (positive: this machine ahead): the clock-skew monitor's `onSkew`. Bound. */
  observeClockSkew(service: ClockService, seconds: number): void;
  /**
   * One request let in only by the older value of a secret being rotated (`SECRET_FALLBACKS`): the
   * runtime's `onSecretFallback` option, `registerHealth`'s `onPreviousToken` (`() =>
   * metrics.countSecretFallback('health_token')`); `registerMetricsRoute` counts its own. Bound.
   */
  countSecretFallback(secret: SecretFallback): void;
  /**
   * How many older values of `secret` this instance accepts beside the current one, for
   * `livecomponents_secret_fallbacks_configured`: set once at start-up from the settings
   * (`session_secret`: `LC_SESSION_SECRET_FALLBACKS`' length; `state_key`: the keys of `LC_STATE_KEYS`
   * after the first; `health_token`: 1 with `HEALTH_TOKEN_PREVIOUS`); `registerMetricsRoute` sets
   * `metrics_token` itself. Every series starts at 0. Bound.
   * @throws {InvalidOptionError} for an unknown secret or a count that is not a non-negative integer
   */
  setSecretFallbacksConfigured(secret: SecretFallback, count: number): void;
  /** The exposition text. */
  render(): Promise<string>;
}

const WHERE = 'createMetrics';
const PREFIX_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const KNOWN_EVENTS = new Set<string>(SECURITY_EVENTS);
const AUTHN_EVENTS = SECURITY_EVENTS.filter((e) => e.startsWith('authn_'));

/** A standard method as it is; anything else (or none known) as `OTHER`. */
function methodLabel(method: string | null): string {
  return method !== null && METHODS.has(method) ? method : OTHER_METHOD;
}

/**
 * @example
 * const metrics = createMetrics();
 * const runtime = await createLiveComponents({ ..., onActionDone: metrics.observeAction });
 * registerHttpMetrics(app, metrics);
 * await registerMetricsRoute(app, { metrics, token: process.env.METRICS_TOKEN });
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) {
    throw new InvalidOptionError(WHERE, `prefix must match [a-zA-Z_:][a-zA-Z0-9_:]* (got ${JSON.stringify(prefix)})`);
  }
  if (options.registry !== undefined && !(options.registry instanceof Registry)) {
    throw new InvalidOptionError(WHERE, 'registry must be a prom-client Registry');
  }
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix });
    // prom-client names these three gauges `*_total`, which Prometheus reserves for counters
    // (`promtool check metrics` refuses them). They only sum the per-type `nodejs_active_*` gauges
    // that stay: `sum(nodejs_active_handles)` gives the same number.
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(prefix + name);
  }
  const registers = [registry];

  const httpLabels = ['method', 'route', 'status_code'] as const;
  const httpDuration = new Histogram({
    name: prefix + METRIC_NAMES.httpRequestDuration,
    help: 'Time to answer an HTTP request, by method, route template and status code.',
    labelNames: httpLabels,
    registers,
  });
  const httpRequests = new Counter({
    name: prefix + METRIC_NAMES.httpRequests,
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: httpLabels,
    registers,
  });
  const actionLabels = ['component', 'action', 'outcome'] as const;
  const actions = new Counter({
    name: prefix + METRIC_NAMES.actions,
    help: 'Component actions that reached a known action, by outcome (ok or the error code).',
    labelNames: actionLabels,
    registers,
  });
  const actionDuration = new Histogram({
    name: prefix + METRIC_NAMES.actionDuration,
    help: 'Time through the security pipeline and the action, by outcome.',
    labelNames: actionLabels,
    registers,
  });
  const securityEvents = new Counter({
    name: prefix + METRIC_NAMES.securityEvents,
    help: 'Security events logged, by OWASP Logging Vocabulary name.',
    labelNames: ['event'] as const,
    registers,
  });
  const authEvents = new Counter({
    name: prefix + METRIC_NAMES.authEvents,
    help: 'Authentication events (authn_*): sign-ins, failures, tokens created, revoked and reused.',
    labelNames: ['event'] as const,
    registers,
  });
  const readDropped = options.droppedLogRecords;
  if (readDropped !== undefined && typeof readDropped !== 'function') throw new InvalidOptionError(WHERE, 'droppedLogRecords must be a function');
  let droppedSeen = 0;
  new Counter({
    name: prefix + METRIC_NAMES.logRecordsDropped,
    help: 'Log records the log destination could not deliver (file unwritable, syslog or OTLP queue full, batch refused).',
    registers,
    // Read at scrape time: the logger exists before the metrics and knows nothing of them.
    collect() {
      const total = readDropped?.() ?? 0;
      if (total > droppedSeen) this.inc(total - droppedSeen);
      droppedSeen = Math.max(droppedSeen, total);
    },
  });
  const connectionsDropped = new Counter({
    name: prefix + METRIC_NAMES.connectionsDropped,
    help: 'Connections closed on arrival because the server already held its maxConnections, or their client address its maxConnectionsPerAddress.',
    registers,
  });
  const requestsShed = new Counter({
    name: prefix + METRIC_NAMES.requestsShed,
    help: 'Requests answered 503 SERVICE_UNAVAILABLE with Retry-After before routing, because the event loop lagged past maxEventLoopDelayMs.',
    registers,
  });
  // No sample until a service's clock was read: a 0 would claim clocks that agree.
  const clockSkew = new Gauge({
    name: prefix + METRIC_NAMES.clockSkew,
    help: "This machine's clock minus a shared service's (redis, postgresql), in seconds, at the last check (every 5 minutes): positive when this machine is ahead.",
    labelNames: ['service'] as const,
    registers,
  });
  const secretFallbackUsed = new Counter({
    name: prefix + METRIC_NAMES.secretFallbackUsed,
    help: 'Requests let in only by the older value of a secret being rotated (LC_SESSION_SECRET_FALLBACKS, an older key of LC_STATE_KEYS, METRICS_TOKEN_PREVIOUS, HEALTH_TOKEN_PREVIOUS), by secret: once flat, the older value can be dropped.',
    labelNames: ['secret'] as const,
    registers,
  });
  const fallbacksConfigured = new Gauge({
    name: prefix + METRIC_NAMES.secretFallbacksConfigured,
    help: 'Older values of a secret this instance still accepts beside the current one (LC_SESSION_SECRET_FALLBACKS, LC_STATE_KEYS after the first, METRICS_TOKEN_PREVIOUS, HEALTH_TOKEN_PREVIOUS), set at start-up, by secret: above 0 with no use for days, a rotation was left unfinished.',
    labelNames: ['secret'] as const,
    registers,
  });
  for (const secret of SECRET_FALLBACKS) fallbacksConfigured.set({ secret }, 0);
  // Every known event starts at 0, so rate() and alerts work from the first scrape instead of
  // only after the first occurrence.
  for (const event of SECURITY_EVENTS) securityEvents.inc({ event }, 0);
  for (const event of AUTHN_EVENTS) authEvents.inc({ event }, 0);
  // The same for the fallbacks, whose 0 is the answer a rotation waits for. Their children are bound
  // here, once: counting one is a property read and an add, with no label object built.
  const fallbackChildren = new Map<string, ReturnType<typeof secretFallbackUsed.labels>>(SECRET_FALLBACKS.map((secret) => [secret, secretFallbackUsed.labels({ secret })]));
  for (const child of fallbackChildren.values()) child.inc(0);

  return {
    registry,
    contentType: registry.contentType,
    observeAction(report) {
      const outcome = report.outcome === 'ok' || Object.hasOwn(ERROR_CODES, report.outcome) ? report.outcome : UNKNOWN_OUTCOME;
      const labels = { component: report.component, action: report.action, outcome };
      actions.inc(labels);
      actionDuration.observe(labels, report.durationMs / 1000);
    },
    countSecurityEvent(e) {
      // The sink is typed, but a plain-JS caller could pass anything: unknown names never become labels.
      if (!KNOWN_EVENTS.has(e.event)) return;
      // Logged, not counted (`SecurityEvent.counted`): an event only an existing account can cause,
      // where the answer is the same for every email. Its count would be an account-enumeration
      // oracle for anyone reading /metrics or a dashboard; both branches now count the same (nothing),
      // and the outward outcome stays visible in `http_requests_total` (its status is one for all).
      if (e.counted === false) return;
      securityEvents.inc({ event: e.event });
      if (e.event.startsWith('authn_')) authEvents.inc({ event: e.event });
    },
    observeHttp(method, route, statusCode, seconds) {
      const labels = { method: methodLabel(method), route: route ?? UNMATCHED_ROUTE, status_code: statusCodeLabel(statusCode) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    countUnroutedRequest(method, statusCode) {
      httpRequests.inc({ method: methodLabel(method), route: UNMATCHED_ROUTE, status_code: statusCodeLabel(statusCode) });
    },
    countDroppedConnection() {
      connectionsDropped.inc();
    },
    countShedRequest() {
      requestsShed.inc();
    },
    observeClockSkew(service, seconds) {
      clockSkew.set({ service }, seconds);
    },
    countSecretFallback(secret) {
      // Typed, but a plain-JS caller could pass anything: unknown names never become labels.
      fallbackChildren.get(secret)?.inc();
    },
    setSecretFallbacksConfigured(secret, count) {
      if (!fallbackChildren.has(secret)) throw new InvalidOptionError('setSecretFallbacksConfigured', `unknown secret ${JSON.stringify(secret)} (one of ${SECRET_FALLBACKS.join(', ')})`);
      if (!Number.isSafeInteger(count) || count < 0) throw new InvalidOptionError('setSecretFallbacksConfigured', `count must be a non-negative integer (got ${String(count)})`);
      fallbacksConfigured.set({ secret }, count);
    },
    render: () => registry.metrics(),
  };
}
