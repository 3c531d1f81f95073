#!/usr/bin/env node
// Seal + open of a 1 KiB JSON state with the compiled sealer (dist/, built by `npm run bench`).
// `node bench/seal.mjs` prints one line; `bench/run.mjs` calls `benchSeal()` for the number.
// The number is CPU time (user + system) of this process per pair, the median of 5 rounds: on the
// shared machines, wall-clock time also counts the time spent waiting for a core. Wall clock is
// printed next to it; on an idle machine the two agree.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const SEAL_MODULE = new URL('../dist/src/pipeline/state/seal.js', import.meta.url);
const TARGET_US = 5;
const ROUNDS = 5;

/** A JSON object of exactly `bytes` bytes, shaped like component state. */
function jsonOf(bytes) {
  const base = { count: 42, user: 'ada@example.com', items: [1, 2, 3], note: '' };
  const text = JSON.stringify(base);
  return JSON.stringify({ ...base, note: 'n'.repeat(bytes - text.length) });
}

/**
 * Times `pairs` seal + open round trips (after a warm-up) and returns CPU microseconds per pair.
 * @param {{ pairs?: number, bytes?: number }} [options]
 * @returns {Promise<number>}
 */
export async function benchSeal(options = {}) {
  return (await measureSeal(options)).cpu;
}

/**
 * @param {{ pairs?: number, bytes?: number }} [options]
 * @returns {Promise<{ cpu: number, wall: number }>} median µs per pair over the rounds
 */
export async function measureSeal({ pairs = 200_000, bytes = 1024 } = {}) {
  let mod;
  try {
    mod = await import(SEAL_MODULE.href);
  } catch (error) {
    throw new Error(`cannot load ${fileURLToPath(SEAL_MODULE)} (run \`npm run build\` first): ${error.message}`, { cause: error });
  }
  const { createKeyRing, createSealer, parseStateKeys } = mod;
  const sealer = createSealer({ keyRing: createKeyRing(parseStateKeys(randomBytes(32).toString('base64'))) });
  const binding = { sessionKey: randomBytes(32).toString('base64url'), componentId: 'counter:main' };
  const state = jsonOf(bytes);
  if (Buffer.byteLength(state) !== bytes) throw new Error(`state is ${Buffer.byteLength(state)} bytes, not ${bytes}`);

  const round = (n) => {
    let failures = 0;
    for (let i = 0; i < n; i++) {
      const opened = sealer.open(sealer.seal(state, binding), binding);
      if (!opened.ok || opened.plaintext.length !== state.length) failures++;
    }
    if (failures > 0) throw new Error(`${failures} of ${n} round trips failed`);
  };
  round(Math.min(20_000, pairs)); // warm-up: let the JIT settle
  const perRound = Math.ceil(pairs / ROUNDS);
  const cpu = [];
  const wall = [];
  for (let r = 0; r < ROUNDS; r++) {
    const startCpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    round(perRound);
    wall.push(Number(process.hrtime.bigint() - start) / 1000 / perRound);
    const used = process.cpuUsage(startCpu);
    cpu.push((used.user + used.system) / perRound);
  }
  return { cpu: median(cpu), wall: median(wall) };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { cpu, wall } = await measureSeal();
  // `--json`: for bench/run.mjs, which measures in a process of its own (not after its load rows).
  if (process.argv.includes('--json')) console.log(JSON.stringify({ cpu, wall }));
  else console.log(`seal+open 1 KiB: ${cpu.toFixed(2)} µs/pair (target <= ${TARGET_US} µs) [CPU time; wall clock ${wall.toFixed(2)} µs]`);
}
