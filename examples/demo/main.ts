/** Entry point of `npm start`: the reference app on PORT/HOST (PROTOCOL §1). */
import { loadConfig, ConfigError } from '../../src/ops/config.js';
import { createLifecycleState } from '../../src/ops/health/index.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { installGracefulShutdown } from '../../src/ops/shutdown/index.js';
import { createDemoApp } from './app.js';

async function main(): Promise<void> {
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
  try {
    const app = await createDemoApp({ config, loggerInstance: logger, lifecycle });
    // SIGTERM/SIGINT: readiness 503, drain, finish in-flight requests, close stores, exit 0.
    // The logger closes last, after "shutdown: complete", so buffered and batched lines are delivered;
    // within the grace period like the rest, so a log collector that never answers cannot hold the
    // exit (an OTLP close may wait for a POST in flight, then for a last one).
    installGracefulShutdown(app, { state: lifecycle, flushLogs: () => closeLogger(logger) });
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (error) {
    // A port in use, a database that does not answer: one line in the app's format and destination
    // (a log collector sees why the process ended), then exit 1.
    logger.fatal({ err: error }, 'start-up failed');
    await closeLogger(logger).finally(() => process.exit(1));
  }
}

void main();
