#!/usr/bin/env node
// `npm run build`: compiles the server (tsc, incremental) into dist/, copies the reference app's
// static files, and bundles the browser runtime (esbuild).
import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleClient } from './bundle-client.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

export async function build({ quiet = false } = {}) {
  // --noEmitOnError: a failed build leaves dist/ as it was (bin/livecomponents.js then runs that one, and says so).
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--noEmitOnError'], { stdio: 'inherit', cwd: root });
  cpSync(join(root, 'examples/demo/public'), join(root, 'dist/examples/demo/public'), { recursive: true });
  const bundle = await bundleClient();
  if (!quiet) console.log(`build: dist/ ready; client bundle ${bundle.bytes} B (${bundle.gzipBytes} B gzip)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
