import { describe, expect, it } from 'vitest';
import { jsonString } from '../core/json.js';
import { serializeActionBody } from './action-json.js';

describe('serializeActionBody', () => {
  const html = '<div data-lc-id="counter:main"><button data-lc-action="decrement">−</button>\n<output>1</output></div>';

  it('writes the text JSON.stringify writes, for every body the route sends', () => {
    const bodies: unknown[] = [
      { html, state: { count: 1 }, csrf_token: 'v1.abc' },
      { html, state: { count: 1, nested: { a: [1, 'two', null] } }, csrf_token: 'v1.abc', idempotency: { key: 'k "1"', cached: false, ttl: 3600, created_at: '2026-01-15T10:30:00Z' } },
      { html: '', state: {}, csrf_token: '' },
      { html, state: { skipped: undefined, n: Number.NaN }, csrf_token: undefined, extra: () => 1 },
      { error: 'Invalid security token.', code: 'CSRF_TOKEN_INVALID', request_id: 'r-1' },
      { error: 'x', code: 'VALIDATION_FAILED', request_id: 'r', errors: { name: ['Required'] } },
      { 2: 'integer keys first', html, a: 1 },
      { html: 42 },
      null,
      'text',
      [1, 2],
    ];
    for (const body of bodies) expect(serializeActionBody(body)).toBe(JSON.stringify(body));
  });

  it('gives the same text when the HTML was already encoded for the idempotency record', () => {
    jsonString(html);
    const body = { html, state: { count: 2 }, csrf_token: 'v1.x' };
    expect(serializeActionBody(body)).toBe(JSON.stringify(body));
  });

  it('defers to toJSON like JSON.stringify', () => {
    const body = { html, toJSON: () => ({ replaced: true }) };
    expect(serializeActionBody(body)).toBe(JSON.stringify(body));
  });
});
