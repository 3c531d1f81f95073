#!/usr/bin/env node
// Bundles the browser runtime (client/index.ts) with esbuild into one minified ESM file, and
// reports its size: `node scripts/bundle-client.mjs`. Budget: 8 KB gzipped.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Gzipped size budget of the bundle, in bytes. */
export const GZIP_BUDGET = 8 * 1024;

/**
 * @param {{ outfile?: string }} [options]
 * @returns {Promise<{ outfile: string, bytes: number, gzipBytes: number }>}
 */
export async function bundleClient({ outfile = join(root, 'dist/client/livecomponents.js') } = {}) {
  const result = await build({
    entryPoints: [join(root, 'client/index.ts')],
    bundle: true,
    format: 'esm',
    minify: true,
    target: 'es2020',
    platform: 'browser',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, code);
  return { outfile, bytes: code.byteLength, gzipBytes: gzipSync(code, { level: 9 }).byteLength };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outfile, bytes, gzipBytes } = await bundleClient();
  console.log(`client bundle: ${outfile}\n  ${bytes} B raw, ${gzipBytes} B gzip (budget ${GZIP_BUDGET} B)`);
  if (gzipBytes > GZIP_BUDGET) {
    console.error('client bundle is over its gzip budget');
    process.exitCode = 1;
  }
}
