#!/usr/bin/env node
// `npm run build`: compiles the server (tsc, incremental) into dist/, copies the reference app's
// static files and the worker threads' entry files, bundles the browser runtime (esbuild) and writes its declarations (the `types` of
// `livecomponents/client`). `--clean` (npm's `prepack`, so a package
// is built from the sources alone) starts from an empty dist/: tsc never deletes an output whose
// source went away or left the build, and the package ships every file under dist/.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleClient, emitClientTypes } from './bundle-client.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const BUILD_CONFIG = join(root, 'tsconfig.build.json');
/**
 * Exists only while dist/ is the output of a build that succeeded: removed when a build starts,
 * written when it ends well, dated (mtime) when that build started. bin/livecomponents.js trusts
 * dist/ only when this is newer than every source, so a source saved while the build ran (tsc may
 * have read it before the edit) counts as newer and is built next time. (tsc's build info cannot
 * serve: a failed `--noEmitOnError` run refreshes it.)
 */
export const BUILD_STAMP = join(root, 'dist/.build-stamp');

/** Entry files of worker threads (`new Worker(new URL('./x.mjs', import.meta.url))`): copied as they are. */
export const WORKER_FILES = ['src/store/sqlite/checkpoint-worker.mjs'];

/**
 * Where tsc keeps its incremental state (`tsBuildInfoFile` of tsconfig.build.json): outside dist/
 * (node_modules/.cache/), so the package never ships it with this machine's paths in it.
 */
function buildInfoFile() {
  const ts = require('typescript');
  const { config, error } = ts.readConfigFile(BUILD_CONFIG, ts.sys.readFile);
  if (error) return undefined; // tsc reports it
  return ts.getTsBuildInfoEmitOutputFilePath(ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, BUILD_CONFIG).options);
}

/**
 * @param {{ quiet?: boolean, diagnosticsToStderr?: boolean, clean?: boolean }} options - `quiet`: no
 *   "dist/ ready" line; `diagnosticsToStderr`: tsc's errors go to stderr, for callers whose stdout is
 *   the output of a command (`livecomponents keygen >> app.env`, `doctor --json`); `clean`: empty
 *   dist/ first and build everything.
 * @param {AbortSignal} [options.signal] - aborted, it stops tsc (`npm start` or bin/livecomponents.js
 *   stopped during their build: a tsc left running kept writing dist/ under the next start) and the
 *   build rejects.
 */
export async function build({ quiet = false, diagnosticsToStderr = false, clean = false, signal } = {}) {
  // Before anything reads a source: what the build takes in is at most this recent (BUILD_STAMP).
  const started = new Date();
  // Without the stamp of a good build (never built, dist/ deleted, or the last build failed) tsc
  // starts over: it believes its build info over dist/, and with dist/ gone it would emit nothing.
  const info = buildInfoFile();
  if (info !== undefined && (clean || !existsSync(BUILD_STAMP))) rmSync(info, { force: true });
  if (clean) rmSync(join(root, 'dist'), { recursive: true, force: true });
  rmSync(BUILD_STAMP, { force: true });
  // --noEmitOnError: a failed build leaves dist/ as it was (bin/livecomponents.js then runs that one, and says so).
  await run(process.execPath, [tsc, '-p', BUILD_CONFIG, '--noEmitOnError'], {
    stdio: ['inherit', diagnosticsToStderr ? 2 : 'inherit', 'inherit'],
    cwd: root,
    signal,
  });
  cpSync(join(root, 'examples/demo/public'), join(root, 'dist/examples/demo/public'), { recursive: true });
  // Worker threads' entry files: plain JavaScript that Node loads by URL, from the sources as from dist/.
  for (const file of WORKER_FILES) cpSync(join(root, file), join(root, 'dist', file));
  const bundle = await bundleClient();
  emitClientTypes();
  writeFileSync(BUILD_STAMP, `${started.toISOString()}\n`);
  utimesSync(BUILD_STAMP, started, started);
  if (!quiet) console.log(`build: dist/ ready; client bundle ${bundle.bytes} B (${bundle.gzipBytes} B gzip)`);
}

/** A command of the build (tsc) that ran and failed: it has printed its own errors. */
export class BuildCommandError extends Error {
  name = 'BuildCommandError';
}

/** Runs a command to its end, asynchronously so a signal handler can stop it; rejects unless it exits 0. */
function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, options);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new BuildCommandError(`Command failed: ${[command, ...args].join(' ')} (${signal ?? `exit code ${code}`})`));
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build({ clean: process.argv.includes('--clean') });
