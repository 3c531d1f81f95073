#!/usr/bin/env node
// Instructions per action, exactly: the bench's own servers (bench/server.mjs, `bare` and
// `framework:memory`) run under `valgrind --tool=callgrind`, driven over real HTTP on loopback by
// this process (not measured), one request at a time on one keep-alive connection, so a run does the
// same work every time. A run's total counts start-up and the sessions' page views too; the
// difference between a run of N and one of 2N actions, divided by N, is the cost of one action alone.
// Wall-clock noise (other processes on the machine) does not change instruction counts.
//
//   node bench/instructions.mjs [mode ...]     modes: bare, framework:memory (both by default)
//   LC_INSTR_N=2000 (N; runs N and 2N)  LC_INSTR_OUT=/tmp/lc-instr (callgrind.out files, perf maps)
//
// Runs take minutes (valgrind: ~50× slower; the framework's run of 4000 actions, ~5 min). Between
// actions 2000 and 4000 V8 still optimises (`--trace-opt`: ~60 functions, none after ~6000): with
// N=2000 a third of the framework's count is that compiling; LC_INSTR_N=4000 measures warm servers.
// For a before/after comparison both sides warm up alike, so N=2000 compares them too. Per function:
//   node bench/callgrind-names.mjs $OUT/callgrind.framework-memory.{N,2N} N
//
// Needs valgrind and a built dist/ (`npm run build`). Function names for JIT code: the server runs
// with --perf-basic-prof --interpreted-frames-native-stack, and /tmp/perf-<pid>.map resolves the
// addresses callgrind reports (bench/callgrind-names.mjs).
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const N = Number(process.env.LC_INSTR_N ?? 2000);
const OUT = process.env.LC_INSTR_OUT ?? '/tmp/lc-instr';
const SESSIONS = 64;
const modes = process.argv.length > 2 ? process.argv.slice(2) : ['bare', 'framework:memory'];
const ACTION_BODY = JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} });
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
const env = {
  ...process.env,
  // Fixed keys: the same bytes are sealed in every run.
  BENCH_STATE_KEY: Buffer.alloc(32, 7).toString('base64'),
  BENCH_SESSION_SECRET: Buffer.alloc(32, 9).toString('base64'),
  // Valgrind slows the server ~50×: its start-up stalls the loop past the default shedding bound (1 s).
  BENCH_MAX_EVENT_LOOP_DELAY_MS: String(2 ** 31 - 1),
};
mkdirSync(OUT, { recursive: true });
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function start(mode, extraEnv, callgrindOut) {
  const execArgv = ['--perf-basic-prof', '--interpreted-frames-native-stack'];
  const options = { env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };
  if (callgrindOut) {
    // fork() runs execPath with execArgv before the script: valgrind, its options, then node.
    options.execPath = 'valgrind';
    options.execArgv = ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${callgrindOut}`, '--quiet', process.execPath, ...execArgv];
  } else options.execArgv = execArgv;
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./server.mjs', import.meta.url), [mode], options);
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
}

function send(port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, raw: res.rawHeaders, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function openSessions(port) {
  const sessions = [];
  for (let i = 0; i < SESSIONS; i++) {
    const res = await send(port, 'GET', '/', {});
    const cookie = [res.headers['set-cookie'] ?? []].flat().map((c) => c.split(';')[0]).join('; ');
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(res.text)?.[1];
    if (!token) throw new Error(`no csrf token on the page: ${res.status} ${res.text.slice(0, 300)}`);
    sessions.push({ cookie, 'x-csrf-token': token });
  }
  return sessions;
}

/** Idempotency keys of one length from a counter: the same bytes in every run (randomUUID's are). */
let keyCounter = 0;
const idempotencyKey = () => randomUUID().slice(0, 24) + String(keyCounter++).padStart(12, '0');

async function actions(port, sessions, n) {
  for (let i = 0; i < n; i++) {
    const session = sessions[i % sessions.length];
    const res = await send(port, 'POST', '/api/livecomponents/action', { 'content-type': 'application/json', ...session, 'idempotency-key': idempotencyKey() }, ACTION_BODY);
    if (res.status !== 200) throw new Error(`action ${i}: status ${res.status} ${res.text.slice(0, 200)}`);
  }
}

function stop(child) {
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.disconnect(); // bench/server.mjs exits on disconnect; callgrind writes its file then
  });
}

/** Sessions (request headers) and one recorded answer of the framework, for the bare server (as bench/run.mjs). */
async function record() {
  const { child, port } = await start('framework:memory', {});
  try {
    const sessions = await openSessions(port);
    const res = await send(port, 'POST', '/api/livecomponents/action', { 'content-type': 'application/json', ...sessions[0], 'idempotency-key': randomUUID() }, ACTION_BODY);
    const headers = {};
    for (let i = 0; i < res.raw.length; i += 2) if (!TRANSPORT_HEADERS.has(res.raw[i].toLowerCase())) headers[res.raw[i].toLowerCase()] = res.raw[i + 1];
    return { sessions, recorded: { body: JSON.parse(res.text), headers } };
  } finally {
    await stop(child);
  }
}

function totalInstructions(file) {
  const m = /^summary:\s+(\d+)/m.exec(readFileSync(file, 'utf8')) ?? /^totals:\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
  return Number(m[1]);
}

const recording = modes.includes('bare') ? await record() : null;
const results = {};
for (const mode of modes) {
  const tag = mode.replace(':', '-');
  const totals = [];
  for (const n of [N, 2 * N]) {
    const file = `${OUT}/callgrind.${tag}.${n}`;
    const extraEnv = mode === 'bare' ? { BENCH_RECORDED: JSON.stringify(recording.recorded) } : {};
    const { child, port } = await start(mode, extraEnv, file);
    const sessions = mode === 'bare' ? recording.sessions : await openSessions(port);
    await actions(port, sessions, n);
    agent.destroy();
    await stop(child);
    totals.push(totalInstructions(file));
    console.error(`${mode} N=${n}: ${totals.at(-1)} instructions (pid ${child.pid}: /tmp/perf-${child.pid}.map, ${file})`);
  }
  results[mode] = (totals[1] - totals[0]) / N;
  console.log(`${mode.padEnd(20)} ${results[mode].toFixed(0)} instructions/action`);
}
if (results.bare && results['framework:memory']) console.log(`ratio framework/bare   ${(results['framework:memory'] / results.bare).toFixed(2)}×`);
