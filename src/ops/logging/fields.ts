/**
 * Names of the log fields other tools match on (dashboards, alert rules, collectors' parsers).
 * Change one only together with docs/logging.md and whatever queries it.
 */
export const LOG_FIELDS = {
  /** Every line logged while serving a request (Fastify's request logger binding). */
  requestId: 'request_id',
  /** The message. */
  message: 'msg',
  /** ISO 8601 UTC time of the line. */
  time: 'time',
  /** pino's numeric level: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
  level: 'level',
} as const;
