#!/usr/bin/env node
// `npm run build`: compiles the server (tsc, incremental) into dist/, copies the reference app's
// static files, and bundles the browser runtime (esbuild).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleClient } from './bundle-client.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
/**
 * Exists only while dist/ is the output of a build that succeeded: removed when a build starts,
 * written when it ends well. bin/livecomponents.js trusts dist/ only when this is newer than every
 * source. (tsc's own dist/.tsbuildinfo cannot serve: a failed `--noEmitOnError` run refreshes it.)
 */
export const BUILD_STAMP = join(root, 'dist/.build-stamp');

/**
 * @param {{ quiet?: boolean, diagnosticsToStderr?: boolean }} options - `quiet`: no "dist/ ready"
 *   line; `diagnosticsToStderr`: tsc's errors go to stderr, for callers whose stdout is the output
 *   of a command (`livecomponents keygen >> app.env`, `doctor --json`).
 */
export async function build({ quiet = false, diagnosticsToStderr = false } = {}) {
  rmSync(BUILD_STAMP, { force: true });
  // --noEmitOnError: a failed build leaves dist/ as it was (bin/livecomponents.js then runs that one, and says so).
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--noEmitOnError'], {
    stdio: ['inherit', diagnosticsToStderr ? 2 : 'inherit', 'inherit'],
    cwd: root,
  });
  cpSync(join(root, 'examples/demo/public'), join(root, 'dist/examples/demo/public'), { recursive: true });
  const bundle = await bundleClient();
  writeFileSync(BUILD_STAMP, `${new Date().toISOString()}\n`);
  if (!quiet) console.log(`build: dist/ ready; client bundle ${bundle.bytes} B (${bundle.gzipBytes} B gzip)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
