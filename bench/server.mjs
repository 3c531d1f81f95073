// A server for the bench, in its own process so the load generator does not share its event loop.
// argv[2]: `bare` (plain Fastify answering a recorded action response), or the reference app on a
// store: `action` (memory), `action-sqlite` (the embedded default), `action-redis` (BENCH_REDIS_URL).
import Fastify from 'fastify';

const mode = process.argv[2];
const RESPONSE = {
  html: '<div data-lc-id="counter:main"><div class="counter"><button type="button" class="btn" data-lc-action="decrement">−</button><output data-count>1</output><button type="button" class="btn" data-lc-action="increment">+</button></div></div>',
  state: { count: 1 },
  csrf_token: 'v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  idempotency: { key: '6a1f3c52-1f0b-4a0e-9d43-2b8c1c8e9f10', cached: false, ttl: 3600, created_at: '2026-01-15T10:30:00Z' },
};

let app;
let roundTrips = 0;
if (mode === 'bare') {
  app = Fastify();
  app.post('/api/livecomponents/action', async () => RESPONSE);
} else {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createDemoApp } = await import('../dist/examples/demo/app.js');
  const { loadConfig } = await import('../dist/src/ops/config.js');
  const { createMemoryStore } = await import('../dist/src/store/memory/index.js');
  const { createRedisStore } = await import('../dist/src/store/redis/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'lc-bench-'));
  const config = loadConfig({
    NODE_ENV: 'development',
    LC_STATE_KEYS: process.env.BENCH_STATE_KEY,
    LC_SESSION_SECRET: process.env.BENCH_SESSION_SECRET,
    DATABASE_URL: `sqlite:${join(dir, 'bench.db')}`,
    LOG_LEVEL: 'error',
  });
  let store;
  if (mode === 'action') store = createMemoryStore();
  if (mode === 'action-redis') store = createRedisStore({ url: process.env.BENCH_REDIS_URL, onRoundTrip: () => roundTrips++ });
  // The full pipeline runs; only the budget is raised so the bench measures cost, not refusals.
  const framework = { rateLimit: { limit: 1_000_000_000, windowSeconds: 60 }, ...(store ? { store } : {}) };
  app = await createDemoApp({ config, framework });
}
await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ port: app.server.address().port });
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ roundTrips });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
