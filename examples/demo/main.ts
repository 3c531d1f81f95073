/** Entry point of `npm start`: the reference app on PORT/HOST (PROTOCOL §1). */
import { loadConfig, ConfigError } from '../../src/ops/config.js';
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
  const app = await createDemoApp({ config, logger: true });
  const close = async (): Promise<void> => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void close());
  process.once('SIGINT', () => void close());
  await app.listen({ port: config.PORT, host: config.HOST });
}

void main();
