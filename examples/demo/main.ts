/** Entry point of `npm start`: the reference app on PORT/HOST (PROTOCOL §1). */
import { loadConfig, ConfigError } from '../../src/ops/config.js';
import { createLifecycleState } from '../../src/ops/health/index.js';
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
  const app = await createDemoApp({ config, logger: true, lifecycle });
  // SIGTERM/SIGINT: readiness 503, drain, finish in-flight requests, close stores, exit 0.
  installGracefulShutdown(app, { state: lifecycle });
  await app.listen({ port: config.PORT, host: config.HOST });
}

void main();
