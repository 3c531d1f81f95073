#!/usr/bin/env node
// The `livecomponents` command: runs the compiled CLI in dist/. In a source checkout (where
// scripts/build.mjs exists) it first builds dist/ when dist/ is missing or older than the sources,
// so `npx livecomponents doctor` works on a fresh clone right after `npm install`, with no
// postinstall step, and never runs stale code. An installed package ships dist/ and skips this.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/cli/index.js');
const buildScript = join(root, 'scripts/build.mjs');
// scripts/build.mjs (`npm run build`, `npm start`, or here) writes it after a build that succeeded
// and removes it when one starts: missing, or older than a source, means dist/ may be stale.
const stamp = join(root, 'dist/.build-stamp');
const SOURCE_DIRS = ['src', 'examples', 'client'];

/** The newest modification time of the files that go into dist/ (tests excluded). */
function newestSource(dir) {
  let newest = 0;
  for (const item of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (!item.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (!existsSync(entry)) return true;
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  return SOURCE_DIRS.some((dir) => existsSync(join(root, dir)) && newestSource(join(root, dir)) > built);
}

if (existsSync(buildScript) && needsBuild()) {
  process.stderr.write('livecomponents: building dist/ from the sources (npm run build)...\n');
  try {
    const { build } = await import(pathToFileURL(buildScript).href);
    // stdout belongs to the command (`keygen >> app.env`, `doctor --json`): compiler errors go to stderr.
    await build({ quiet: true, diagnosticsToStderr: true });
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    process.stderr.write(`livecomponents: the build failed (${why}); run \`npm run build\` to see why\n`);
    if (!existsSync(entry)) process.exit(1);
    process.stderr.write('livecomponents: running the dist/ that exists, which may be out of date\n');
  }
}
if (!existsSync(entry)) {
  process.stderr.write('livecomponents: dist/src/cli/index.js is missing; run `npm run build` first\n');
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
