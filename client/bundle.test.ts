/**
 * The browser bundle as shipped (dist/client/livecomponents.js, which the global setup builds): its
 * gzip size within the budget the issue sets, idiomorph's head merging trimmed out of it
 * (scripts/bundle-client.mjs, `IDIOMORPH_EDITS`), and of the wire names only those the runtime
 * uses (`inlineWireNames`).
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GZIP_BUDGET } from '../scripts/bundle-client.mjs';
import { ATTR, HEADERS, ROUTES } from '../src/core/wire.js';

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

  it('carries the wire names the runtime uses, written in as strings, and none of the others', () => {
    // Used: each attribute (in its selectors too), the action route, the headers sent and read.
    for (const name of [...Object.values(ATTR), `[${ATTR.id}]`, ROUTES.action, HEADERS.csrfToken, HEADERS.idempotencyKey, HEADERS.retryAfter]) {
      expect(bundle.includes(`"${name}"`) || bundle.includes(`\`${name}`), name).toBe(true);
    }
    // The server's own: not shipped (they came with the whole objects, ~200 B gzipped).
    for (const name of [ROUTES.clientScript, HEADERS.idempotentReplayed, HEADERS.requestId, HEADERS.rateLimitRemaining, HEADERS.rateLimitPolicy]) {
      expect(bundle.includes(name), name).toBe(false);
    }
  });
});
