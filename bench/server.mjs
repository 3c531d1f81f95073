// A server for the bench, in its own process so the load generator does not share its event loop.
// argv[2]: `bare` (plain Fastify answering a recorded action response) or `action` (the reference app).
import Fastify from 'fastify';

const mode = process.argv[2];
const RESPONSE = {
  html: '<div data-lc-id="counter:main"><div class="counter"><button type="button" class="btn" data-lc-action="decrement">−</button><output data-count>1</output><button type="button" class="btn" data-lc-action="increment">+</button></div></div>',
  state: { count: 1 },
  csrf_token: 'v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  idempotency: { key: '6a1f3c52-1f0b-4a0e-9d43-2b8c1c8e9f10', cached: false, ttl: 3600, created_at: '2026-01-15T10:30:00Z' },
};

let app;
if (mode === 'bare') {
  app = Fastify();
  app.post('/api/livecomponents/action', async () => RESPONSE);
} else {
  const { createDemoApp } = await import('../dist/examples/demo/app.js');
  const { loadConfig } = await import('../dist/src/ops/config.js');
  const { createMemoryStore } = await import('../dist/src/store/memory/index.js');
  const config = loadConfig({ ...process.env, NODE_ENV: 'development', LC_STATE_KEYS: process.env.BENCH_STATE_KEY, LC_SESSION_SECRET: process.env.BENCH_SESSION_SECRET });
  // The full pipeline runs; only the budget is raised so the bench measures cost, not refusals.
  app = await createDemoApp({ config, framework: { store: createMemoryStore(), rateLimit: { limit: 1_000_000_000, windowSeconds: 60 } } });
}
await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ port: app.server.address().port });
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
