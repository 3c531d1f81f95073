/**
 * LiveComponents — server API. The browser runtime is `livecomponents/client`; test helpers are
 * `livecomponents/testing`.
 */
export { defineComponent, publicStateOf } from './core/component.js';
export type {
  ActionDefinition,
  ActionOptions,
  ComponentContext,
  ComponentDefinition,
  ComponentSpec,
  DeepReadonly,
  StateShape,
  User,
} from './core/component.js';
// Types of the runtime's public members (`PageView.session`, `runtime.sessions`, `runtime.csrf`,
// `app.livecomponents.cookie`), so an app can name what it gets.
export type { Session } from './session/types.js';
export type { SessionManager } from './session/index.js';
export type { SessionCookie } from './http/session-cookie.js';
export type { CsrfService } from './pipeline/csrf/service.js';
export { html, unsafeRawHtml, escapeHtml, isSafeHtml, safeUrl, trustedUrl } from './core/html.js';
export type { SafeHtml, HtmlValue, TrustedUrl } from './core/html.js';
export { LiveError, StoreUnavailableError, ActionTimeoutError, ERROR_CODES, isLiveError } from './core/errors.js';
export type { ErrorCode, ErrorFields } from './core/errors.js';
export { systemClock, manualClock } from './core/clock.js';
export type { Clock } from './core/clock.js';
export * as wire from './core/wire.js';
export { createRegistry, parseComponentId } from './core/registry.js';
export { createRuntime } from './runtime/index.js';
export type { LiveRuntime, RuntimeOptions, RuntimeResponse } from './runtime/index.js';
export { createLiveComponents } from './runtime/setup.js';
export type { LiveComponentsOptions } from './runtime/setup.js';
export { livecomponents, ACTION_BODY_LIMIT } from './http/plugin.js';
export { refuseForeignForms, type ForeignFormAnswer } from './http/form-source.js';
export { DEFAULT_PAGE_HEADERS, ACTION_HEADERS } from './http/security-headers.js';
export type { LiveComponentsPluginOptions, LiveComponentsDecorator } from './http/plugin.js';
export type { PageView, ScriptOptions, UnstoredReason } from './http/page.js';
export { serverOptions } from './http/server-options.js';
export { livecomponentsErrorHandler, sendError } from './http/error-mapping.js';
export { notFoundHandler } from './http/not-found.js';
export { useErrorPages, errorPageHandlers, defaultErrorPage, errorHeading, retrySentence, prefersHtml } from './http/error-pages.js';
export type { ErrorPagesOptions, ErrorPageHandlers, ErrorPageRender } from './http/error-pages.js';
export { createMemoryStore } from './store/memory/index.js';
export { createSqliteStore } from './store/sqlite/index.js';
export { createRedisStore, redisClientOf, redisClientOptions, redisClusterOptions, redisSentinelOptions } from './store/redis/index.js';
export { readEvictionRisk, warnOnEvictionRisk } from './store/redis/eviction.js';
export { openBackends } from './runtime/backends.js';
export type { Backends, BackendOptions } from './runtime/backends.js';
export { createDatabase, migrateToLatest } from './sql/index.js';
export type { Store, RateLimitPolicy, RateLimitDecision } from './store/types.js';
export type { SecurityEvent, SecurityEventName, SecurityEventSink } from './ops/security-events.js';
export { loadConfig, ConfigError } from './ops/config.js';
export type { AppConfig, ConfigIssue } from './ops/config.js';
export { registerHealth, createLifecycleState, storeHealthCheck, sqlHealthCheck, redisHealthCheck, redisEvictionCheck, HEALTH_ROUTES, InvalidOptionError } from './ops/health/index.js';
export type { HealthOptions, HealthCheck, HealthStatus, HealthWarning, HealthDocument, LifecycleState } from './ops/health/index.js';
export { createMetrics, registerHttpMetrics, registerMetricsRoute, METRIC_NAMES } from './ops/metrics/index.js';
export type { Metrics, MetricsOptions, MetricsRouteOptions, MetricsServer } from './ops/metrics/index.js';
export { installGracefulShutdown } from './ops/shutdown/index.js';
export { createLogger, closeLogger, beforeLoggerClose, droppedLogRecords, flushLogger, parseLogDestination, parseLogFormat, LogConfigError, REDACT_PATHS, CENSOR, LOG_FIELDS } from './ops/logging/index.js';
export { serializeError } from './ops/logging/error-serializer.js';
export type { CreateLoggerOptions, LogDestination, LogFormat, FileLogOptions, SyslogLogOptions, OtlpLogOptions } from './ops/logging/index.js';
export type { GracefulShutdown, GracefulShutdownOptions } from './ops/shutdown/index.js';
export type { ActionReport } from './runtime/index.js';
export { createSecurityLogger } from './ops/security-logger.js';
export type { SecurityLogger, SecurityLoggerOptions } from './ops/security-logger.js';
export type { FloodLimitOptions } from './ops/log-flood.js';
export { FloodLogController } from './ops/logging/request-lines.js';
export { EVENT_LINES } from './ops/security-events.js';
export {
  registerAuth,
  createAccounts,
  cleanupTokensCommand,
  capturedMailTransport,
  logMailTransport,
  mailTransportFor,
  smtpMailTransport,
  AUTH_LIMITS,
  AUTH_PREFIX,
  REFRESH_COOKIE,
  normaliseEmail,
} from './auth/index.js';
export type { Accounts, Auth, AuthService, MailMessage, MailTransport, RegisterAuthOptions, SmtpOptions } from './auth/index.js';
