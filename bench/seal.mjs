#!/usr/bin/env node
// Seal + open of a 1 KiB JSON state with the compiled sealer (dist/, built by `npm run bench`).
// `node bench/seal.mjs` prints one line; `bench/run.mjs` calls `benchSeal()` for the number.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const SEAL_MODULE = new URL('../dist/src/pipeline/state/seal.js', import.meta.url);
const TARGET_US = 5;

/** A JSON object of exactly `bytes` bytes, shaped like component state. */
function jsonOf(bytes) {
  const base = { count: 42, user: 'ada@example.com', items: [1, 2, 3], note: '' };
  const text = JSON.stringify(base);
  return JSON.stringify({ ...base, note: 'n'.repeat(bytes - text.length) });
}

/**
 * Times `pairs` seal + open round trips (after a warm-up) and returns microseconds per pair.
 * @param {{ pairs?: number, bytes?: number }} [options]
 * @returns {Promise<number>}
 */
export async function benchSeal({ pairs = 200_000, bytes = 1024 } = {}) {
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
  const start = process.hrtime.bigint();
  round(pairs);
  return Number(process.hrtime.bigint() - start) / 1000 / pairs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const us = await benchSeal();
  console.log(`seal+open 1 KiB: ${us.toFixed(2)} µs/pair (target <= ${TARGET_US} µs)`);
}
