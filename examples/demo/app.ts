/**
 * The reference app (`npm start`): the pages and components of PROTOCOL §2 on the framework.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createLiveComponents, html, livecomponents, serverOptions, useErrorPages, type LiveComponentsOptions } from '../../src/index.js';
import { loadSecrets } from '../../src/runtime/setup.js';
import { floodLimitOf, loadConfig, newSessionLimitOf, type AppConfig } from '../../src/ops/config.js';
import { startupCautions } from '../../src/ops/config-rules.js';
import { openBackends, type Backends } from '../../src/runtime/backends.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { createLifecycleState, redisEvictionCheck, registerHealth, sqlHealthCheck, storeHealthCheck, type LifecycleState } from '../../src/ops/health/index.js';
import { redisClientOf } from '../../src/store/redis/index.js';
import { warnOnEvictionRisk } from '../../src/store/redis/eviction.js';
import { createMetrics, registerHttpMetrics, registerMetricsRoute } from '../../src/ops/metrics/index.js';
import { droppedLogRecords } from '../../src/ops/logging/index.js';
import { databaseTimeOf, redisTime, startClockSkewMonitor, type ClockSource } from '../../src/ops/clock-skew/index.js';
import { REVOKE_MARGIN_MS } from '../../src/auth/repository.js';
import { systemClock } from '../../src/core/clock.js';
import { counter } from './components/counter.js';
import { order } from './components/order.js';
import { payment } from './components/payment.js';
import { layout } from './layout.js';
import { registerAssets } from './assets.js';
import { createAccounts, mailTransportFor, registerAuth, type RegisterAuthOptions } from '../../src/auth/index.js';
import { accountPages } from './account.js';
import { errorPage } from './error-page.js';
import { createProfile } from './components/profile.js';
import { parseStateKeys } from '../../src/pipeline/state/keyring.js';

export const demoComponents = [counter, order, payment] as const;

export interface DemoAppOptions {
  /** @default loadConfig(process.env) */
  config?: AppConfig;
  /** Fastify logger setting, used when `loggerInstance` is absent. @default false */
  logger?: boolean;
  /** The app's logger (`createLogger` from src/ops/logging): Fastify, requests and security events write to it. @default none */
  loggerInstance?: FastifyBaseLogger;
  /** Database and store; opened from `config` (DATABASE_URL, REDIS_URL) when absent. Closed with the app. */
  backends?: Backends;
  /** Start-up and shutdown flags, shared with graceful shutdown (main.ts). @default a new state */
  lifecycle?: LifecycleState;
  /** Overrides passed to the framework (store, clock, events…), mainly for tests. */
  framework?: Partial<LiveComponentsOptions>;
  /** Overrides passed to the auth module (mail transport, password parameters, limits…), mainly for tests. */
  auth?: Partial<RegisterAuthOptions>;
}

/**
 * The Content-Security-Policy of every page the reference app serves (components through `view()`,
 * the account pages), fixed at start-up: no nonce, since the runtime's tag has none (PROTOCOL §2) and
 * the app's own script and style are files (public/). Nothing inline runs or applies, so markup
 * slipped into a page (a missed escape) can neither run a script nor restyle the page; each
 * directive is explained in docs/security.md ("The reference app's policy").
 */
export const DEMO_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'self'",
  "form-action 'self'",
].join('; ');

/** The plugin's `pageHeaders`: the policy above over the framework's page headers. */
const DEMO_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-security-policy': DEMO_CONTENT_SECURITY_POLICY });

/** A message logged again only this long after, while Redis keeps failing the same way. */
const REDIS_ERROR_REPEAT_MS = 60_000;

/**
 * Redis connection errors at error level, each message once until the connection has been up again
 * (or, while it keeps failing the same way, once a minute): a reconnect loop retries every second.
 * The errors come from the store, which has already taken the credentials out of them.
 */
export function redisErrorLog(log: Pick<FastifyBaseLogger, 'error' | 'info'>): { report(error: Error): void; connected(): void } {
  const logged = new Map<string, number>();
  return {
    report(error) {
      // Monotonic: with the wall clock, a step back (NTP, a VM resumed) silenced the line for as long.
      const now = performance.now();
      const last = logged.get(error.message);
      if (last !== undefined && now - last < REDIS_ERROR_REPEAT_MS) return;
      logged.set(error.message, now);
      log.error(`Redis connection failed: ${error.message} (the store reconnects by itself; requests that need it answer 503 meanwhile)`);
    },
    connected() {
      if (logged.size === 0) return;
      logged.clear();
      log.info('Redis connected again');
    },
  };
}

/**
 * This machine's clock against the shared services', at start-up (Redis once it is connected) and
 * every 5 minutes: logged when it goes past 1 s or `REVOKE_MARGIN_MS`, and as a gauge. Not a readiness
 * check on purpose: were the database's own clock the wrong one, every instance would see the same
 * skew and all would leave the load balancer at once.
 */
function watchClockSkew(
  app: FastifyInstance,
  { backends, redis, clock, onSkew }: { backends: Backends; redis: ReturnType<typeof redisClientOf>; clock: LiveComponentsOptions['clock']; onSkew: (service: ClockSource['service'], seconds: number) => void },
): void {
  const database = databaseTimeOf(backends.db);
  const sources: ClockSource[] = [...(redis === undefined ? [] : [{ service: 'redis' as const, read: redisTime(redis) }]), ...(database === undefined ? [] : [{ service: 'postgresql' as const, read: database }])];
  if (sources.length === 0) return;
  const now = clock ?? systemClock;
  const monitor = startClockSkewMonitor({ sources, log: app.log, errorOverMs: REVOKE_MARGIN_MS, now: () => now.now(), onSkew });
  // The store connects to Redis in the background: its first reading waits for the connection.
  if (redis !== undefined && redis.status !== 'ready') redis.once('ready', () => void monitor.checkNow());
  app.addHook('onClose', async () => monitor.stop());
}

export async function createDemoApp(options: DemoAppOptions = {}): Promise<FastifyInstance> {
  const config = options.config ?? loadConfig();
  const app = Fastify(
    serverOptions({
      trustProxy: config.TRUST_PROXY,
      logger: options.logger ?? false,
      loggerInstance: options.loggerInstance,
      maxConnections: config.MAX_CONNECTIONS,
      maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
      // Behind a proxy every connection comes from the proxy: a cap per address would cap the proxy.
      // The proxy limits per client instead (deploy/nginx: `limit_conn`).
      maxConnectionsPerAddress: config.BEHIND_PROXY || config.TRUST_PROXY !== false ? 0 : undefined,
    }),
  );
  // First: a route takes the error handler its plugin had when the plugin finished loading, so
  // plugins registered before these lines (CORS's preflight route, the account pages) would answer
  // Fastify's own error shape and FST_ codes instead of PROTOCOL's.
  //
  // A person in a browser gets an HTML page saying what happened (a 429 past NEW_SESSION_LIMIT: how
  // long to wait), with the JSON answer's status and headers; the API and clients that do not ask for
  // HTML get PROTOCOL §3's JSON, as before. The rule (the path, then `Accept`) and why:
  // src/http/error-pages.ts; the page's look: error-page.ts. The page gets the pages' headers (policy).
  useErrorPages(app, { pageHeaders: DEMO_PAGE_HEADERS, render: errorPage });
  // TRUST_PROXY=true lets any client forge X-Forwarded-For for a fresh rate-limit budget; only the
  // doctor said so. Said once here, in its words (config-rules.ts).
  for (const { check, message } of startupCautions(config)) app.log.warn({ check }, message);
  // Why Redis cannot be reached (WRONGPASS, a TLS handshake, a cluster URL on a single Redis…): the
  // store reconnects every second and requests only say "not connected", so it is logged here, once.
  const redisErrors = redisErrorLog(app.log);
  // Keys first: a development key file that cannot serve (or none in production) stops start-up
  // before the database file is created and migrated.
  const secrets = loadSecrets({
    stateKeys: config.LC_STATE_KEYS,
    sessionSecret: config.LC_SESSION_SECRET,
    sessionSecretFallbacks: config.LC_SESSION_SECRET_FALLBACKS,
    production: config.production,
    warn: (message: string) => app.log.warn(message),
    ...options.framework,
  });
  const backends =
    options.backends ??
    (await openBackends({
      databaseUrl: config.DATABASE_URL,
      redisUrl: config.REDIS_URL,
      redisKeyPrefix: config.REDIS_KEY_PREFIX,
      onRedisError: redisErrors.report,
      // Without it a sweep failed silently (another process on the file held the write lock past the
      // busy timeout, a full disk) while expired rows and the WAL grew.
      onSweepError: (err) => app.log.warn({ err }, 'SQLite store: a sweep of expired rows or a WAL checkpoint failed (the next sweep, a minute later, tries again; expired rows read as absent meanwhile)'),
      onSchemaWarning: (message) => app.log.warn(message),
      // The configuration's, not NODE_ENV's: a newer release's database is refused in production's words.
      production: config.production,
    }));
  // onClose hooks run last added first. Each closer is added once what it closes is open (the
  // runtime's, auth's, the metrics server's… in assemble), so closing the app closes the later ones
  // first and the backends last — also when a later step of start-up throws (the metrics port is
  // taken, say): the database, Redis and the store were left open, and the process could not exit.
  app.addHook('onClose', async () => backends.close());
  try {
    await assemble(app, { config, options, backends, secrets, redisErrors });
  } catch (error) {
    await app.close().catch((closing: unknown) => app.log.error({ err: closing }, 'start-up failed, and closing what it had opened failed too'));
    throw error;
  }
  return app;
}

/** What `assemble` builds the app from, made before the backends were opened. */
interface Assembly {
  config: AppConfig;
  options: DemoAppOptions;
  backends: Backends;
  secrets: Pick<LiveComponentsOptions, 'stateKeys' | 'sessionSecret' | 'sessionSecretFallbacks'>;
  redisErrors: ReturnType<typeof redisErrorLog>;
}

/** The app on open backends: the framework, auth, health, metrics and the pages. */
async function assemble(app: FastifyInstance, { config, options, backends, secrets, redisErrors }: Assembly): Promise<void> {
  const lifecycle = options.lifecycle ?? createLifecycleState();
  const logger = options.loggerInstance;
  const metrics = createMetrics({ droppedLogRecords: logger === undefined ? undefined : () => droppedLogRecords(logger) });
  registerHttpMetrics(app, metrics);
  // Older values still accepted (a rotation not finished), for the alert
  // LiveComponentsSecretRotationUnfinished; METRICS_TOKEN_PREVIOUS: registerMetricsRoute sets its own.
  metrics.setSecretFallbacksConfigured('session_secret', secrets.sessionSecretFallbacks?.length ?? 0);
  metrics.setSecretFallbacksConfigured('state_key', secrets.stateKeys === undefined ? 0 : parseStateKeys(secrets.stateKeys).length - 1);
  metrics.setSecretFallbacksConfigured('health_token', config.HEALTH_TOKEN_PREVIOUS === undefined ? 0 : 1);
  redisClientOf(backends.store)?.on('ready', redisErrors.connected);
  const accounts = createAccounts({ db: backends.db, clock: options.framework?.clock });
  const runtime = await createLiveComponents({
    store: backends.store,
    components: [...demoComponents, createProfile(accounts)],
    resolveUser: accounts.resolveUser,
    appOrigin: config.appOrigin,
    allowedOrigins: config.allowedOrigins,
    production: config.production,
    sessionTtlMs: config.SESSION_TTL * 60_000,
    // NEW_SESSION_LIMIT: new sessions per signed-out client per minute (0: off).
    newSessionLimit: newSessionLimitOf(config),
    warn: (message: string) => app.log.warn(message),
    // LOG_FLOOD_LIMIT / LOG_FLOOD_WINDOW_MS: refusal lines (and their request lines) per client and window (0: every line).
    events: createSecurityLogger({ logger: app.log, onEvent: metrics.countSecurityEvent, floodLimit: floodLimitOf(config) }),
    onActionDone: metrics.observeAction,
    // Requests let in only by LC_SESSION_SECRET_FALLBACKS or an older key of LC_STATE_KEYS: once flat, the rotation's last step can be taken.
    onSecretFallback: metrics.countSecretFallback,
    // A store write after a refused action failed, or releases of its locks gave up (they expire by
    // themselves). The errors come from the store, which has already taken the credentials out of them.
    onBackgroundError: (err) => app.log.warn({ err }, 'livecomponents background store work failed (writes after a refused action, or lock and claim releases: those expire by their TTL)'),
    ...options.framework,
    ...secrets,
  });
  // The runtime is the app's to close, before its store: no retry reaches a closed store.
  app.addHook('onClose', async () => {
    runtime.close();
    if (runtime.store !== backends.store) await runtime.store.close();
  });
  await app.register(livecomponents, { runtime, secureCookies: config.secureCookies, pageHeaders: DEMO_PAGE_HEADERS });
  const auth = await registerAuth(app, {
    db: backends.db,
    store: runtime.store,
    events: runtime.events,
    clock: options.framework?.clock,
    mail: mailTransportFor({ production: config.production, smtpUrl: config.SMTP_URL, from: config.MAIL_FROM, logger: app.log }),
    resetUrl: `${config.appOrigin}/reset-password`,
    appOrigin: config.appOrigin,
    allowedOrigins: config.allowedOrigins,
    secureCookies: config.secureCookies,
    accessTokenMinutes: config.SANCTUM_ACCESS_TOKEN_EXPIRATION,
    refreshTokenMinutes: config.SANCTUM_REFRESH_TOKEN_EXPIRATION,
    cleanupIntervalMs: config.TOKEN_CLEANUP_INTERVAL * 60_000,
    onBackgroundError: (err) => app.log.error({ err }, 'auth background task failed'),
    onCleanupError: (err) => app.log.error({ err }, 'token clean-up failed'),
    ...options.auth,
  });
  if (auth.web !== null) await app.register(accountPages, { web: auth.web });
  // Redis that may evict keys forgets idempotency records under memory pressure: say so at once and in /health.
  const redis = redisClientOf(runtime.store);
  if (redis !== undefined) warnOnEvictionRisk(redis, (message) => app.log.warn(message));
  watchClockSkew(app, { backends, redis, clock: options.framework?.clock, onSkew: metrics.observeClockSkew });
  registerHealth(app, {
    state: lifecycle,
    checks: [storeHealthCheck(runtime.store), sqlHealthCheck(backends.db), ...(redis === undefined ? [] : [redisEvictionCheck(redis)])],
    token: config.HEALTH_TOKEN,
    previousToken: config.HEALTH_TOKEN_PREVIOUS,
    onPreviousToken: () => metrics.countSecretFallback('health_token'),
  });
  await registerMetricsRoute(app, { metrics, token: config.METRICS_TOKEN, previousToken: config.METRICS_TOKEN_PREVIOUS, port: config.METRICS_PORT, host: config.HOST, allowedHosts: config.METRICS_ALLOWED_HOSTS });
  app.addHook('onReady', async () => {
    lifecycle.startupDone = true;
  });

  registerAssets(app);

  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const body = html`<section class="card">${await view.mount('counter:main')}</section>
<section class="card">
  <p>A server-driven counter: each click sends an action, the server runs it through the security pipeline
  (CSRF, rate limit, idempotency, validation, sealed state) and answers with fresh HTML that is morphed in.</p>
  <ul class="links"><li><a href="/orders">Orders</a>: idempotent order creation.</li>
  <li><a href="/payment">Payment</a>: strict rate limit, replay-safe payments, a field that never leaves the server.</li></ul>
</section>`;
    return reply.type('text/html; charset=utf-8').send(layout(view, { title: 'Counter', path: '/', body }));
  });

  app.get('/orders', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const body = html`<section class="card">${await view.mount('order:main')}</section>
<p class="muted">Each submission carries an idempotency key: a retried request returns the first result instead of placing a second order.</p>`;
    return reply.type('text/html; charset=utf-8').send(layout(view, { title: 'Orders', path: '/orders', body }));
  });

  app.get('/payment', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const body = html`<section class="card">${await view.mount('payment:main')}</section>
<p class="muted">At most 5 payments per 5 minutes. A double click pays once.</p>`;
    return reply.type('text/html; charset=utf-8').send(layout(view, { title: 'Payment', path: '/payment', body }));
  });
}
