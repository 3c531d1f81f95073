/**
 * The browser bundle as shipped (dist/client/livecomponents.js, which the global setup builds): its
 * gzip size within the budget the issue sets, and idiomorph's head merging trimmed out of it
 * (scripts/bundle-client.mjs, `withoutHeadMerging`).
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GZIP_BUDGET } from '../scripts/bundle-client.mjs';

const bundle = readFileSync(new URL('../dist/client/livecomponents.js', import.meta.url), 'utf8');

describe('client bundle', () => {
  it(`is at most ${GZIP_BUDGET} B gzipped`, () => {
    expect(gzipSync(bundle, { level: 9 }).byteLength).toBeLessThanOrEqual(GZIP_BUDGET);
  });

  it("carries no code of idiomorph's <head> merging (component roots never hold a head)", () => {
    // withHeadBlocking looked the heads up and handleHeadElement loaded their scripts and styles.
    // (Booleans: a failing toContain would print the whole bundle.)
    expect(bundle.includes('querySelector("head")')).toBe(false);
    expect(bundle.includes('"load"')).toBe(false);
    // The morph itself is there.
    expect(bundle.includes('ignoreActiveValue')).toBe(true);
  });
});
