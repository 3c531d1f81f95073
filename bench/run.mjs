#!/usr/bin/env node
// `npm run bench`: the reference app's action route vs a bare Fastify route answering the same JSON,
// both driven by autocannon in one run, plus the browser bundle size and seal/open cost.
// Targets are ratios within one run (the machines are shared and noisy), never absolute numbers.
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import autocannon from 'autocannon';

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const env = {
  ...process.env,
  BENCH_STATE_KEY: randomBytes(32).toString('base64'),
  BENCH_SESSION_SECRET: randomBytes(32).toString('base64'),
};

function start(mode) {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./server.mjs', import.meta.url), [mode], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve({ child, url: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
}

/** A session cookie and CSRF token from the counter page, as a browser would get them. */
async function openSession(url) {
  const res = await fetch(`${url}/`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(await res.text())?.[1];
  if (!token) throw new Error('no csrf token on the page');
  return { cookie, token };
}

/**
 * Sessions the load is spread over, round robin. Actions on one component instance of one session
 * run one at a time (src/runtime/one-at-a-time.ts), as a browser sends them; real traffic comes from
 * many sessions, so the bench does too, with more sessions than connections.
 */
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 64);

/** Seconds of load before each measured run, not counted: both servers are measured warm (JIT done). */
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);

function load(url, sessions, duration = DURATION) {
  let next = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/api/livecomponents/action`,
        method: 'POST',
        connections: CONNECTIONS,
        duration,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
        // A fresh idempotency key per request, as the browser runtime sends one per invocation.
        requests: [
          {
            setupRequest: (req) => {
              const session = sessions[next++ % sessions.length];
              return { ...req, headers: { ...req.headers, ...session, 'idempotency-key': randomUUID() } };
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
  });
}

async function measure(mode) {
  const { child, url } = await start(mode);
  try {
    const sessions = [];
    for (let i = 0; i < (mode === 'bare' ? 1 : SESSIONS); i++) {
      sessions.push(mode === 'bare' ? {} : await openSession(url).then((s) => ({ cookie: s.cookie, 'x-csrf-token': s.token })));
    }
    if (WARMUP > 0) await load(url, sessions, WARMUP);
    const before = await stats(child);
    const r = await load(url, sessions);
    const bad = r.non2xx + r.errors + r.timeouts;
    if (bad > 0) throw new Error(`${mode}: ${bad} failed requests of ${r.requests.total}`);
    const after = await stats(child);
    const requests = r.requests.total;
    return { rps: r.requests.average, p99: r.latency.p99, roundTripsPerAction: (after.roundTrips - before.roundTrips) / requests };
  } finally {
    child.kill();
  }
}

function stats(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });
}

/** A bench-owned redis-server on a free port, or null when it is not installed. */
async function startRedis() {
  const { spawn, spawnSync } = await import('node:child_process');
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) return null;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const ping = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    if (ping.stdout?.trim() === 'PONG') return { url: `redis://127.0.0.1:${port}`, stop: () => proc.kill('SIGKILL') };
  }
  proc.kill('SIGKILL');
  return null;
}

const row = (name, value) => console.log(`${name.padEnd(44)} ${value}`);

const redis = await startRedis();
if (redis) env.BENCH_REDIS_URL = redis.url;
const bare = await measure('bare');
const action = await measure('action');
const sqlite = await measure('action-sqlite');
const onRedis = redis ? await measure('action-redis') : null;
redis?.stop();
console.log(`\nLiveComponents bench (${DURATION}s each after ${WARMUP}s of warm-up, ${CONNECTIONS} connections, ${SESSIONS} sessions, Node ${process.version})\n`);
row('bare Fastify (same JSON)', `${bare.rps.toFixed(0)} req/s, p99 ${bare.p99} ms`);
row('action, full pipeline, memory store', `${action.rps.toFixed(0)} req/s, p99 ${action.p99} ms`);
row('ratio action / bare (target >= 0.6)', (action.rps / bare.rps).toFixed(3));
row('action, full pipeline, SQLite (default)', `${sqlite.rps.toFixed(0)} req/s, p99 ${sqlite.p99} ms`);
row('ratio SQLite / bare (target >= 0.4)', (sqlite.rps / bare.rps).toFixed(3));
if (onRedis) {
  row('action, full pipeline, Redis', `${onRedis.rps.toFixed(0)} req/s, p99 ${onRedis.p99} ms`);
  row('ratio Redis / bare (target >= 0.35)', (onRedis.rps / bare.rps).toFixed(3));
  row('Redis round trips per action (target <= 2)', onRedis.roundTripsPerAction.toFixed(2));
} else {
  row('action on Redis', 'not measured: redis-server is not installed');
}

const bundle = readFileSync(new URL('../dist/client/livecomponents.js', import.meta.url));
row('client bundle (target <= 8 KB gzip)', `${bundle.length} B raw, ${gzipSync(bundle, { level: 9 }).length} B gzip`);

try {
  const { benchSeal } = await import('./seal.mjs');
  row('seal + open 1 KiB (target <= 5 µs)', `${(await benchSeal()).toFixed(2)} µs/pair`);
} catch (error) {
  row('seal + open 1 KiB', `not measured: ${error.message}`);
}
