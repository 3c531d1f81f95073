/**
 * Metric and label names, in one module (STYLE §10): dashboards, alert rules and docs/operations.md
 * depend on these strings. Every label value is drawn from a bounded set (route templates, component
 * and action names of the registry, error codes, event names): never a user id or a raw URL.
 */
export const METRIC_NAMES = {
  /** Histogram; labels `method`, `route`, `status_code`. */
  httpRequestDuration: 'http_request_duration_seconds',
  /** Counter; labels `method`, `route`, `status_code`. */
  httpRequests: 'http_requests_total',
  /** Counter; labels `component`, `action`, `outcome` (`ok` or the error code). */
  actions: 'livecomponents_actions_total',
  /** Histogram; labels `component`, `action`, `outcome`. */
  actionDuration: 'livecomponents_action_duration_seconds',
  /**
   * Counter; label `event` (OWASP Logging Vocabulary name). Not the events logged with
   * `counted: false` (a forgot-password's reset token or withheld mail): their count would tell
   * which emails have an account.
   */
  securityEvents: 'livecomponents_security_events_total',
  /** Counter; label `event` (the `authn_*` events), with the same exception. */
  authEvents: 'livecomponents_auth_events_total',
  /** Counter, no labels: log records the destination gave up on (`droppedLogRecords`). */
  logRecordsDropped: 'livecomponents_log_records_dropped_total',
  /** Counter, no labels: connections closed on arrival because the server held `maxConnections`, or their client address held `maxConnectionsPerAddress`. */
  connectionsDropped: 'livecomponents_connections_dropped_total',
  /** Counter, no labels: requests answered 503 at once because the event loop lagged past `maxEventLoopDelayMs` (load shedding). */
  requestsShed: 'livecomponents_requests_shed_total',
  /** Gauge; label `service` (`redis`, `postgresql`): this machine's clock minus the service's, in seconds (positive: ahead), at the last check. */
  clockSkew: 'livecomponents_clock_skew_seconds',
  /**
   * Counter; label `secret` (`SECRET_FALLBACKS`): requests let in only by the value a rotation keeps
   * accepted beside the current one. Flat for long enough, that value can be dropped (docs/deployment.md §9).
   */
  secretFallbackUsed: 'livecomponents_secret_fallback_used_total',
  /**
   * Gauge; label `secret` (`SECRET_FALLBACKS`): how many older values of that secret this instance
   * still accepts (fallback secrets, state keys after the first, a previous token), set at start-up.
   * Above 0 while its uses stay flat for days: a rotation whose last step was never taken.
   */
  secretFallbacksConfigured: 'livecomponents_secret_fallbacks_configured',
} as const;

/**
 * The `secret` label of `livecomponents_secret_fallback_used_total`: which setting's older value let a
 * request in. Named after the setting, never its value or its position in a list.
 * - `session_secret`: a CSRF token verified by `LC_SESSION_SECRET_FALLBACKS` (action route, `verifyForm`);
 * - `state_key`: sealed state opened with a key of `LC_STATE_KEYS` other than the first (re-sealed on its next write);
 * - `metrics_token`: a scrape let in by `METRICS_TOKEN_PREVIOUS`;
 * - `health_token`: a `/health` request let in by `HEALTH_TOKEN_PREVIOUS`.
 */
export const SECRET_FALLBACKS = ['session_secret', 'state_key', 'metrics_token', 'health_token'] as const;
export type SecretFallback = (typeof SECRET_FALLBACKS)[number];

/**
 * The `route` label of requests that matched no route (404s), and of those refused before routing
 * (a URL the router cannot decode, a request Node's parser rejects): never the raw URL.
 */
export const UNMATCHED_ROUTE = 'unmatched';

/** The `status_code` of a request whose client hung up before the answer: nginx's "client closed request". */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * The `status_code` of a status that is no class at all (not an integer from 100 to 999): only a
 * direct `observeHttp` or `countUnroutedRequest` call can pass one, Node sends none. An integer status
 * Node's `STATUS_CODES` does not name (499 aside, which keeps its value) is counted under its class
 * instead, `4xx`, `5xx`… (`6xx` to `9xx` too, set through `reply.raw`): see `statusCodeLabel` (status-code.ts).
 */
export const OTHER_STATUS = 'other';

/** The `method` label for anything outside the standard methods. */
export const OTHER_METHOD = 'OTHER';

/** The `outcome` label of an action that reported something outside the error-code registry. */
export const UNKNOWN_OUTCOME = 'unknown';

/** Path of the scrape endpoint. */
export const METRICS_ROUTE = '/metrics';
