#!/usr/bin/env node
// `npm start`: builds (incrementally, so a fresh clone needs nothing else) and serves the reference app.
// package.json runs it as `exec node scripts/start.mjs`: npm hands the script to `sh -c` and forwards
// SIGTERM/SIGINT to that shell only; dash does not exec the last command by itself, so without `exec`
// the signal killed the shell and left this process and the app running, orphaned, on their port.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from './build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const EXIT_BY_SIGNAL = { SIGINT: 130, SIGTERM: 143 };
// Installed before the build: a signal then stops tsc (left running, it kept writing dist/ under the
// next start) and ends here with 128 + its number; once the app runs, it is passed on to the app.
const stopping = new AbortController();
/** @type {import('node:child_process').ChildProcess | undefined} */
let child;
/** @type {'SIGINT' | 'SIGTERM' | undefined} */
let stoppedBy;
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(signal, () => {
    if (child) return void child.kill(signal);
    stoppedBy ??= signal;
    stopping.abort();
  });
}
try {
  await build({ quiet: true, signal: stopping.signal });
} catch (error) {
  if (stoppedBy) process.exit(EXIT_BY_SIGNAL[stoppedBy]);
  // tsc has printed its errors already: one line, as bin/livecomponents.js says it, not a stack trace.
  const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
  process.stderr.write(`npm start: the build failed (${why}); see the errors above\n`);
  process.exit(1);
}
if (stoppedBy) process.exit(EXIT_BY_SIGNAL[stoppedBy]);
child = spawn(process.execPath, [join(root, 'dist/examples/demo/main.js')], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
