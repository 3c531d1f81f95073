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
try {
  await build({ quiet: true });
} catch (error) {
  // tsc has printed its errors already: one line, as bin/livecomponents.js says it, not a stack trace.
  const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
  process.stderr.write(`npm start: the build failed (${why}); see the errors above\n`);
  process.exit(1);
}
const child = spawn(process.execPath, [join(root, 'dist/examples/demo/main.js')], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
