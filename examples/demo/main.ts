/** Entry point of `npm start`: the reference app on PORT/HOST (PROTOCOL §1). */
import type { Logger } from 'pino';

/** 128 + the signal's number: what a shell reports for a process a signal ended. */
const EXIT_BY_SIGNAL = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof EXIT_BY_SIGNAL;
const STOP_SIGNALS = Object.keys(EXIT_BY_SIGNAL) as StopSignal[];

/** Longest wait for the app to close its stores after a failed start-up, before exiting anyway. */
const CLOSE_ON_FAILURE_MS = 5_000;

/** The app's logger once made: the start-up handler says why the process ended on it. */
let startupLogger: Logger | undefined;

/**
 * SIGTERM/SIGINT before the app listens: exit at once with 128 + the signal's number. Installed
 * first, before any module of the app loads (the imports below are dynamic for that: loading them
 * takes 0.5–1.5 s), because a process that is PID 1 — `CMD ["node", …]` without an init, in Docker
 * or Kubernetes — is not ended by a signal it has no handler for: the kernel drops it, and a pod
 * scaled down while starting sat out its whole grace period and died by SIGKILL (137).
 * Nothing is served yet, so nothing needs draining; and nothing is left half done: PostgreSQL runs
 * all pending migrations in one transaction under a session advisory lock (Kysely's migrator), and
 * the server rolls that transaction back and frees the lock when the connection drops with the
 * process; SQLite's migrator runs no transaction, but each statement is atomic (the driver is
 * synchronous, so this handler runs between two statements), a migration is recorded only after
 * it completed, and ours are re-runnable (`ifNotExists`): the next start runs the unrecorded one
 * again (src/sql/migrate.ts). Removed just before installGracefulShutdown takes over.
 */
function exitDuringStartup(signal: StopSignal): void {
  // Written synchronously to stdout (the default destination); an asynchronous one may lose it.
  startupLogger?.warn({ signal }, `shutdown: ${signal} during start-up, exiting at once`);
  process.exit(EXIT_BY_SIGNAL[signal]);
}
for (const signal of STOP_SIGNALS) process.on(signal, exitDuringStartup);

async function main(): Promise<void> {
  const [{ loadConfig, ConfigError }, { createLifecycleState }, { closeLogger, createLogger }, { installGracefulShutdown }, { createDemoApp }, { listenRefusal }, { startupWarnings }, { runFileChecks }, { withDeadline }] = await Promise.all([
    import('../../src/ops/config.js'),
    import('../../src/ops/health/index.js'),
    import('../../src/ops/logging/index.js'),
    import('../../src/ops/shutdown/index.js'),
    import('./app.js'),
    import('../../src/ops/config-listen.js'),
    import('../../src/ops/config-rules.js'),
    import('../../src/cli/doctor-files.js'),
    import('../../src/core/deadline.js'),
  ]);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const lifecycle = createLifecycleState();
  // LOG_FORMAT (pretty in development, json in production), LOG_DESTINATION, LOG_LEVEL.
  const logger = createLogger({ format: config.LOG_FORMAT, destination: config.LOG_DESTINATION, level: config.LOG_LEVEL });
  startupLogger = logger;
  // What `livecomponents doctor` reports as FAIL but does not stop a start: said once, in the same words.
  for (const { check, message } of startupWarnings(config)) logger.warn({ check }, `configuration: ${message} (doctor: FAIL ${check})`);
  /** Once made: closed when start-up fails after, so its SQLite files are closed (no -wal/-shm left). */
  let app: Awaited<ReturnType<typeof createDemoApp>> | undefined;
  try {
    app = await createDemoApp({ config, loggerInstance: logger, lifecycle });
    // The files it now has open, as `doctor --connect` judges them (a database file other users may
    // read in production, a disk nearly full): a FAIL there is a warning here, in the same words.
    // Without opening its SQLite files: closing one would drop SQLite's locks (databaseOpenHere).
    for (const check of runFileChecks(config, { databaseOpenHere: true })) for (const problem of check.problems) logger.warn({ check: check.name }, `files: ${problem} (doctor: FAIL ${check.name})`);
    for (const signal of STOP_SIGNALS) process.removeListener(signal, exitDuringStartup);
    // SIGTERM/SIGINT: readiness 503, drain, finish in-flight requests, close stores, exit 0.
    // The logger closes last, after "shutdown: complete", so buffered and batched lines are delivered;
    // within the grace period like the rest, so a log collector that never answers cannot hold the
    // exit (an OTLP close may wait for a POST in flight, then for a last one).
    installGracefulShutdown(app, { state: lifecycle, flushLogs: () => closeLogger(logger) });
    await app.listen({ port: config.PORT, host: config.HOST });
    // Fastify's "Server listening at" names the address bound (0.0.0.0, ::1…), which is not always one
    // the app trusts: a page opened at another origin has every action refused (403). This is the one
    // it trusts, its appOrigin (APP_URL's origin, else http://HOST:PORT).
    logger.info(`open ${config.appOrigin}`);
  } catch (error) {
    // A port in use, a database that does not answer: one line in the app's format and destination
    // (a log collector sees why the process ended), then exit 1. HOST, PORT or METRICS_PORT that
    // cannot be listened on is said in the words of `doctor --connect`'s listen check, naming the
    // variable; Node's own error (`getaddrinfo ENOTFOUND …`, a stack) named none.
    // Other errors keep their stack (in `err`), but the line itself says why: `start-up failed:
    // <message>` (it said only "start-up failed", the reason down in the error's fields).
    const refusal = listenRefusal(error, config);
    if (refusal === undefined) logger.fatal({ err: error }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`);
    else logger.fatal(`start-up failed: ${refusal}`);
    // The app made before listen failed holds the database and the store open: close them (the
    // SQLite WAL is checkpointed and its -wal/-shm removed), within a bound, so nothing can hold the exit.
    if (app !== undefined) await withDeadline(app.close(), CLOSE_ON_FAILURE_MS, (ms) => new Error(`closing took over ${ms} ms`)).catch(() => undefined);
    await closeLogger(logger).finally(() => process.exit(1));
  }
}

void main();
