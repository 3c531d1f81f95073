import { webcrypto } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HEADERS, ROUTES } from '../src/core/wire.js';
import { CLIENT_CODES, createTransport, randomKey, type TransportDeps } from './transport.js';

interface Sent {
  url: string;
  init: RequestInit;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A transport whose fetch answers from `answers` in turn (an Error is a network failure). */
function setup(answers: Array<Response | Error>, onSleep: (setToken: (t: string) => void) => void = () => {}) {
  const sent: Sent[] = [];
  const slept: number[] = [];
  let token = 'page-token';
  let keys = 0;
  const deps: TransportDeps = {
    fetch: async (url, init) => {
      sent.push({ url: String(url), init: init ?? {} });
      const next = answers.shift();
      if (next === undefined) throw new Error('no more answers');
      if (next instanceof Error) throw next;
      return next;
    },
    sleep: async (ms) => {
      slept.push(ms);
      onSleep((t) => void (token = t));
    },
    newKey: () => `key-${++keys}`,
    csrf: { get: () => token, set: (t) => void (token = t) },
  };
  return { transport: createTransport(deps), sent, slept, token: () => token };
}

const ok = { html: '<div data-lc-id="counter:main">1</div>', state: { count: 1 }, csrf_token: 'fresh' };

describe('transport', () => {
  it('posts JSON with the CSRF token and an idempotency key, and takes the fresh token', async () => {
    const t = setup([json(200, ok)]);
    const result = await t.transport.send('counter:main', 'increment', { by: 2 });
    expect(result).toEqual({ type: 'ok', body: ok });
    expect(t.sent).toHaveLength(1);
    const [{ url, init }] = t.sent as [Sent];
    expect(url).toBe(ROUTES.action);
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('same-origin');
    expect(init.headers).toEqual({ 'content-type': 'application/json', [HEADERS.csrfToken]: 'page-token', [HEADERS.idempotencyKey]: 'key-1' });
    expect(JSON.parse(String(init.body))).toEqual({ component_id: 'counter:main', action: 'increment', params: { by: 2 } });
    expect(t.token()).toBe('fresh');
  });

  it('uses a new key for each invocation', async () => {
    const t = setup([json(200, ok), json(200, ok)]);
    await t.transport.send('counter:main', 'increment', {});
    await t.transport.send('counter:main', 'increment', {});
    const keys = t.sent.map((s) => (s.init.headers as Record<string, string>)[HEADERS.idempotencyKey]);
    expect(keys).toEqual(['key-1', 'key-2']);
  });

  it('retries a network failure twice with backoff, reusing the same key', async () => {
    const t = setup([new TypeError('Failed to fetch'), new TypeError('Failed to fetch'), json(200, ok)]);
    const result = await t.transport.send('order:main', 'createOrder', { item: 'tea' });
    expect(result.type).toBe('ok');
    expect(t.slept).toEqual([300, 1000]);
    const keys = t.sent.map((s) => (s.init.headers as Record<string, string>)[HEADERS.idempotencyKey]);
    expect(keys).toEqual(['key-1', 'key-1', 'key-1']);
    expect(new Set(t.sent.map((s) => s.init.body)).size).toBe(1);
  });

  it("sends the page's current CSRF token on a retry", async () => {
    // Another component's answer may have replaced the token while this one waited to retry.
    const t = setup([new TypeError('Failed to fetch'), json(200, ok)], (setToken) => setToken('newer'));
    await t.transport.send('counter:main', 'increment', {});
    const tokens = t.sent.map((s) => (s.init.headers as Record<string, string>)[HEADERS.csrfToken]);
    expect(tokens).toEqual(['page-token', 'newer']);
  });

  it('reports NETWORK_ERROR (status 0) after three failed attempts', async () => {
    const t = setup([new TypeError('a'), new TypeError('b'), new TypeError('c'), json(200, ok)]);
    const result = await t.transport.send('counter:main', 'increment', {});
    expect(t.sent).toHaveLength(3);
    expect(result).toMatchObject({ type: 'error', error: { status: 0, code: CLIENT_CODES.network } });
  });

  it('does not retry HTTP errors and passes the error fields on, without the csrf token', async () => {
    const body = { error: 'Too many requests.', code: 'RATE_LIMIT_EXCEEDED', request_id: 'r1', retry_after: 12, limit: 5, window: 300, csrf_token: 'fresh2' };
    const t = setup([json(429, body, { 'retry-after': '12' })]);
    const result = await t.transport.send('payment:main', 'processPayment', { amount: 1 });
    expect(t.sent).toHaveLength(1);
    expect(result).toEqual({
      type: 'error',
      error: { status: 429, code: 'RATE_LIMIT_EXCEEDED', error: 'Too many requests.', request_id: 'r1', retry_after: 12, limit: 5, window: 300 },
    });
    expect(t.token()).toBe('fresh2');
  });

  it('resends the same key while the server answers 409 IDEMPOTENCY_KEY_IN_USE, and gets the first attempt\'s result', async () => {
    // The first attempt's answer is lost; the retry reaches another instance while it still runs.
    const inUse = () => json(409, { error: 'In use.', code: 'IDEMPOTENCY_KEY_IN_USE', request_id: 'r', csrf_token: 'after-409' });
    const replay = { ...ok, idempotency: { key: 'key-1', cached: true, ttl: 3599, created_at: '2026-01-15T10:30:00Z' } };
    const t = setup([new TypeError('Failed to fetch'), inUse(), inUse(), json(200, replay)]);
    const result = await t.transport.send('payment:main', 'processPayment', { amount: 1 });
    expect(result).toEqual({ type: 'ok', body: replay });
    expect(t.slept).toEqual([300, 250, 500]);
    const keys = t.sent.map((s) => (s.init.headers as Record<string, string>)[HEADERS.idempotencyKey]);
    expect(keys).toEqual(['key-1', 'key-1', 'key-1', 'key-1']);
    // Each 409 handed over a fresh token, and the next attempt sent it.
    expect((t.sent[3]?.init.headers as Record<string, string>)[HEADERS.csrfToken]).toBe('after-409');
  });

  it('reports 409 IDEMPOTENCY_KEY_IN_USE after four resends, and never resends other 409s', async () => {
    const inUse = () => json(409, { error: 'In use.', code: 'IDEMPOTENCY_KEY_IN_USE', request_id: 'r' });
    const t = setup([inUse(), inUse(), inUse(), inUse(), inUse(), json(200, ok)]);
    const result = await t.transport.send('payment:main', 'processPayment', { amount: 1 });
    expect(t.sent).toHaveLength(5);
    expect(t.slept).toEqual([250, 500, 1000, 2000]);
    expect(result).toMatchObject({ type: 'error', error: { status: 409, code: 'IDEMPOTENCY_KEY_IN_USE' } });
    const stale = setup([json(409, { error: 'Reload.', code: 'STATE_INVALID', request_id: 'r' }), json(200, ok)]);
    expect(await stale.transport.send('counter:main', 'increment', {})).toMatchObject({ type: 'error', error: { code: 'STATE_INVALID' } });
    expect([stale.sent.length, stale.slept]).toEqual([1, []]);
  });

  it('takes retry_after from the Retry-After header when the body lacks it', async () => {
    const t = setup([json(429, { error: 'Slow down.', code: 'RATE_LIMIT_EXCEEDED', request_id: 'r' }, { 'retry-after': '7' })]);
    const result = await t.transport.send('counter:main', 'increment', {});
    expect(result).toMatchObject({ type: 'error', error: { retry_after: 7 } });
  });

  it('passes validation errors on', async () => {
    const errors = { item: ['Enter an item.'] };
    const t = setup([json(400, { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r', errors })]);
    const result = await t.transport.send('order:main', 'createOrder', { item: '' });
    expect(result).toMatchObject({ type: 'error', error: { status: 400, code: 'VALIDATION_FAILED', errors } });
  });

  it('reports INVALID_RESPONSE for an answer that is not the protocol JSON', async () => {
    const t = setup([new Response('<h1>Bad gateway</h1>', { status: 502 }), json(200, { state: {} })]);
    expect(await t.transport.send('counter:main', 'increment', {})).toMatchObject({
      type: 'error',
      error: { status: 502, code: CLIENT_CODES.invalidResponse },
    });
    expect(await t.transport.send('counter:main', 'increment', {})).toMatchObject({
      type: 'error',
      error: { status: 200, code: CLIENT_CODES.invalidResponse },
    });
    expect(t.sent).toHaveLength(2);
  });
});

describe('randomKey', () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  afterEach(() => void vi.unstubAllGlobals());

  it('returns distinct UUID v4 strings', () => {
    const a = randomKey();
    expect(a).toMatch(UUID_V4);
    expect(randomKey()).not.toBe(a);
  });

  it('builds a UUID v4 from getRandomValues where randomUUID is missing (plain-HTTP pages)', () => {
    vi.stubGlobal('crypto', { getRandomValues: <T extends Uint8Array>(a: T) => webcrypto.getRandomValues(a) });
    const keys = Array.from({ length: 50 }, () => randomKey());
    for (const key of keys) expect(key).toMatch(UUID_V4);
    expect(new Set(keys).size).toBe(50);
  });
});
