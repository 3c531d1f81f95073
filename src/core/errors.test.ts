import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, LiveError, StoreUnavailableError } from './errors.js';

const doc = readFileSync(new URL('../../docs/reference/errors.md', import.meta.url), 'utf8');

describe('error registry', () => {
  it.each(Object.entries(ERROR_CODES))('documents %s with its status in docs/reference/errors.md', (code, { status }) => {
    const row = doc.split('\n').find((line) => line.includes(`| \`${code}\` |`));
    expect(row, `no table row for ${code}`).toBeDefined();
    expect(row?.startsWith(`| ${status} |`)).toBe(true);
  });

  it('documents no code that the registry lacks', () => {
    const documented = [...doc.matchAll(/^\| \d{3} \| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('exposes client-error messages but never server-error messages', () => {
    const client = new LiveError('INVALID_REQUEST', { message: '"action" must be a string.' });
    expect(client.publicMessage).toBe('"action" must be a string.');
    const server = new LiveError('INTERNAL_ERROR', { message: 'ECONNREFUSED 10.0.0.3:5432' });
    expect(server.expose).toBe(false);
    expect(server.publicMessage).toBe(ERROR_CODES.INTERNAL_ERROR.message);
    const store = new StoreUnavailableError('redis timeout after 500 ms');
    expect(store.statusCode).toBe(503);
    expect(store.publicMessage).not.toContain('redis');
  });

  it('keeps a detail message private when asked', () => {
    const e = new LiveError('CSRF_TOKEN_INVALID', { message: 'origin mismatch', expose: false });
    expect(e.publicMessage).toBe(ERROR_CODES.CSRF_TOKEN_INVALID.message);
    expect(e.statusCode).toBe(403);
  });
});

describe('LiveError with a code the registry lacks', () => {
  // An app's own code, inherited names of a plain object, and values a JavaScript caller may pass.
  it.each(['OUT_OF_STOCK', 'constructor', 'toString', '__proto__', 'hasOwnProperty', 'internal_error', ''])('refuses %j with a TypeError naming it and the docs', (code) => {
    expect(() => new LiveError(code as never)).toThrow(
      new TypeError(
        `LiveError: unknown error code ${JSON.stringify(code)}; the codes are those of docs/reference/errors.md (for a business rule of your own, VALIDATION_FAILED with fields: { errors: { field: [message] } })`,
      ),
    );
  });

  it('refuses a code that is not a string', () => {
    expect(() => new LiveError(undefined as never)).toThrow(/^LiveError: unknown error code undefined;/);
    expect(() => new LiveError({ toString: () => 'FORBIDDEN' } as never)).toThrow(/^LiveError: unknown error code \{\};/);
  });
});
