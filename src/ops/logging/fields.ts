/**
 * Names of the log fields other tools match on (dashboards, alert rules, collectors' parsers).
 * Change one only together with docs/logging.md and whatever queries it.
 */
export const LOG_FIELDS = {
  /** Every line logged while serving a request (Fastify's request logger binding). */
  requestId: 'request_id',
  /**
   * The caller's W3C trace context (`traceparent`), on the same lines as `request_id` when the
   * request carried a valid one (src/http/trace-context.ts): the trace id (32 lowercase hex digits),
   * the caller's parent-id (16: the span of the proxy or client that sent the request, since we
   * start none), and the trace flags (2 hex digits, `01` sampled). The names of
   * @opentelemetry/instrumentation-pino; the OTLP strategy moves them into the record's
   * `traceId`, `spanId` and `flags`.
   */
  traceId: 'trace_id',
  spanId: 'span_id',
  traceFlags: 'trace_flags',
  /** The message. */
  message: 'msg',
  /** ISO 8601 UTC time of the line. */
  time: 'time',
  /** pino's numeric level: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
  level: 'level',
  /**
   * On a security event's flood summary (docs/logging.md, Floods): the lines of that event counted
   * and not written in the window, whose (`client`: one client, `suppressed_client` — an IPv4
   * address, or an IPv6 network such as `2001:db8:0:100::/56`; `all_clients`: the clients past the
   * tracked limit, and no `source_ip`), and the window (ISO 8601 with offset, as `datetime`).
   */
  suppressed: 'suppressed',
  suppressedScope: 'suppressed_scope',
  suppressedClient: 'suppressed_client',
  suppressedWindowStart: 'suppressed_window_start',
  suppressedWindowEnd: 'suppressed_window_end',
  /**
   * On the same summary, when the app logs with `createLogger` and Fastify's `logController` is a
   * `FloodLogController`: Fastify's request lines (`incoming request`, `request completed`) of the
   * window's refused requests not written, counted with those of the client's other refusals.
   */
  requestLinesSuppressed: 'request_lines_suppressed',
} as const;
