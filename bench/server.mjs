// A server for the bench, in its own process so the load generator does not share its event loop.
// argv[2] is the mode:
// - `bare`: plain Fastify answering the action response recorded from the framework
//   (BENCH_RECORDED: its JSON body and headers), so both sides send the same bytes;
// - `framework:<store>`: Fastify + the livecomponents plugin + the counter, nothing else: the
//   pipeline the targets are about (session, CSRF, rate limit, idempotency, validation,
//   sealed state, store, render);
// - `app:<store>`: the reference app (`npm start`), which adds CORS, metrics and the auth module.
// `<store>` is `memory`, `sqlite` (the embedded default, a file in a temporary folder) or `redis`
// (BENCH_REDIS_URL).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';

const [kind, storeName] = process.argv[2].split(':');
let app;
let roundTrips = 0;
let closeBackends = async () => {};

if (kind === 'bare') {
  const recorded = JSON.parse(process.env.BENCH_RECORDED);
  app = Fastify();
  // An object, not the recorded text: Fastify serialises it, as the framework serialises its answer.
  app.post('/api/livecomponents/action', (_request, reply) => reply.headers(recorded.headers).send(recorded.body));
} else {
  const { createMemoryStore, createRedisStore, openBackends, createLiveComponents, livecomponents, serverOptions } = await import(
    '../dist/src/index.js'
  );
  const dir = mkdtempSync(join(tmpdir(), 'lc-bench-'));
  const databaseUrl = `sqlite:${join(dir, 'bench.db')}`;
  // The full pipeline runs; only the budget is raised so the bench measures cost, not refusals.
  const rateLimit = { limit: 1_000_000_000, windowSeconds: 60 };
  let store;
  if (storeName === 'memory') store = createMemoryStore();
  else if (storeName === 'redis') store = createRedisStore({ url: process.env.BENCH_REDIS_URL, onRoundTrip: () => roundTrips++ });
  else if (storeName !== 'sqlite') throw new Error(`unknown store "${storeName}"`);

  if (kind === 'framework') {
    const { counter } = await import('../dist/examples/demo/components/counter.js');
    if (store === undefined) {
      const backends = await openBackends({ databaseUrl });
      store = backends.store;
      closeBackends = () => backends.close();
    }
    const runtime = await createLiveComponents({
      components: [counter],
      store,
      appOrigin: 'http://127.0.0.1',
      stateKeys: process.env.BENCH_STATE_KEY,
      sessionSecret: process.env.BENCH_SESSION_SECRET,
      rateLimit,
      events: { emit() {} },
    });
    // BENCH_MAX_EVENT_LOOP_DELAY_MS: bench/instructions.mjs runs this server under valgrind, ~50× slower,
    // where the default bound (1 s) would shed requests; the monitor still runs, only its bound is raised.
    const maxEventLoopDelayMs = process.env.BENCH_MAX_EVENT_LOOP_DELAY_MS;
    app = Fastify(serverOptions(maxEventLoopDelayMs ? { maxEventLoopDelayMs: Number(maxEventLoopDelayMs) } : {}));
    await app.register(livecomponents, { runtime });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html; charset=utf-8').send(view.document({ title: 'bench', body: await view.mount('counter:main') }));
    });
  } else if (kind === 'app') {
    const { createDemoApp } = await import('../dist/examples/demo/app.js');
    const { loadConfig } = await import('../dist/src/ops/config.js');
    const config = loadConfig({
      NODE_ENV: 'development',
      LC_STATE_KEYS: process.env.BENCH_STATE_KEY,
      LC_SESSION_SECRET: process.env.BENCH_SESSION_SECRET,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'error',
    });
    app = await createDemoApp({ config, framework: { rateLimit, ...(store ? { store } : {}) } });
  } else {
    throw new Error(`unknown bench mode "${process.argv[2]}"`);
  }
}
app.addHook('onClose', () => closeBackends());
await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ port: app.server.address().port });
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ roundTrips });
});
process.on('disconnect', () => process.exit(0));
// An exit, not death by the signal: `node --cpu-prof bench/run.mjs` (the servers inherit the flag) writes their profiles.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
