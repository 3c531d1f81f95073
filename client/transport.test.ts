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

/**
 * A transport whose fetch answers from `answers` in turn (an Error is a network failure, a promise an
 * answer that takes its time). `strict`: single-use tokens, each refresh taking the next of `pageTokens`.
 */
function setup(
  answers: Array<Response | Error | Promise<Response>>,
  onSleep: (setToken: (t: string) => void) => void = () => {},
  strict?: { pageTokens: string[] },
) {
  const sent: Sent[] = [];
  const slept: number[] = [];
  let token = 'page-token';
  let keys = 0;
  let refreshes = 0;
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
    csrf: {
      get: () => token,
      set: (t) => void (token = t),
      singleUse: strict !== undefined,
      refresh: async () => {
        refreshes++;
        token = strict?.pageTokens.shift() ?? token;
      },
    },
  };
  return { transport: createTransport(deps), sent, slept, token: () => token, refreshes: () => refreshes };
}

const headerOf = (s: Sent, name: string) => (s.init.headers as Record<string, string>)[name];
/** A promise and the function that resolves it. */
function held<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

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
    expect(t.refreshes()).toBe(0);
  });

  it('gives each attempt a deadline (30 s by default): one that passes counts as a network failure', async () => {
    const timeout = vi.spyOn(AbortSignal, 'timeout');
    try {
      const t = setup([json(200, ok)]);
      await t.transport.send('counter:main', 'increment', {});
      expect(timeout).toHaveBeenCalledWith(30_000);
      expect(t.sent[0]?.init.signal).toBeInstanceOf(AbortSignal);
    } finally {
      timeout.mockRestore();
    }
  });

  it('retries a stalled answer with the same key, and reports NETWORK_ERROR saying it timed out', async () => {
    const sent: RequestInit[] = [];
    /** Never answers; fails when the attempt's signal aborts. */
    const stalled = (_url: unknown, init?: RequestInit) => {
      sent.push(init ?? {});
      return new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    };
    const slept: number[] = [];
    const transport = createTransport({
      fetch: stalled,
      sleep: async (ms) => void slept.push(ms),
      newKey: () => 'key-1',
      csrf: { get: () => 'token', set: () => {} },
      attemptTimeoutMs: 20,
    });
    const result = await transport.send('counter:main', 'increment', {});
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((init) => (init.headers as Record<string, string>)[HEADERS.idempotencyKey]))).toEqual(new Set(['key-1']));
    expect(slept).toEqual([300, 1000]);
    expect(result).toEqual({
      type: 'error',
      error: { status: 0, code: CLIENT_CODES.network, error: 'The request timed out: no answer within 0.02 s. The request may have been carried out.', outcomeUnknown: true },
    });
  });

  it('strict mode: sends one invocation at a time, page-wide, each with the token the answer before it brought', async () => {
    const first = held<Response>();
    const t = setup([first.promise, json(200, { ...ok, csrf_token: 'second' }), json(200, ok)], undefined, { pageTokens: [] });
    const a = t.transport.send('counter:main', 'increment', {});
    const b = t.transport.send('order:main', 'createOrder', { item: 'tea' });
    await settle();
    expect(t.sent).toHaveLength(1);
    first.resolve(json(500, { error: 'Failed.', code: 'INTERNAL_ERROR', request_id: 'r', csrf_token: 'after-500' }));
    expect(await a).toMatchObject({ type: 'error', error: { status: 500, code: 'INTERNAL_ERROR' } });
    expect((await b).type).toBe('ok');
    await t.transport.send('counter:main', 'increment', {});
    expect(t.sent.map((s) => headerOf(s, HEADERS.csrfToken))).toEqual(['page-token', 'after-500', 'second']);
  });

  it('strict mode: after an answer without a token (403 CSRF_TOKEN_INVALID), the next action in line takes one from the page', async () => {
    const first = held<Response>();
    const t = setup([first.promise, json(200, ok)], undefined, { pageTokens: ['page-after-403'] });
    const a = t.transport.send('counter:main', 'increment', {});
    const b = t.transport.send('order:main', 'createOrder', { item: 'tea' });
    await settle();
    first.resolve(json(403, { error: 'Invalid security token.', code: 'CSRF_TOKEN_INVALID', request_id: 'r' }));
    expect(await a).toMatchObject({ type: 'error', error: { status: 403, code: 'CSRF_TOKEN_INVALID' } });
    expect((await b).type).toBe('ok');
    expect(t.refreshes()).toBe(1);
    expect(t.sent.map((s) => headerOf(s, HEADERS.csrfToken))).toEqual(['page-token', 'page-after-403']);
  });

  it('per-session mode: invocations of different components are in flight at the same time', async () => {
    const first = held<Response>();
    const t = setup([first.promise, json(200, ok)]);
    const a = t.transport.send('counter:main', 'increment', {});
    const b = t.transport.send('order:main', 'createOrder', { item: 'tea' });
    await settle();
    expect(t.sent).toHaveLength(2);
    first.resolve(json(200, ok));
    expect([(await a).type, (await b).type]).toEqual(['ok', 'ok']);
  });

  it('strict mode: takes a fresh token from the page before each retry after a network failure, same key', async () => {
    const t = setup([new TypeError('Failed to fetch'), new TypeError('Failed to fetch'), json(200, ok)], undefined, { pageTokens: ['page-1', 'page-2'] });
    const result = await t.transport.send('payment:main', 'processPayment', { amount: 1 });
    expect(result.type).toBe('ok');
    expect(t.refreshes()).toBe(2);
    expect(t.sent.map((s) => headerOf(s, HEADERS.csrfToken))).toEqual(['page-token', 'page-1', 'page-2']);
    expect(new Set(t.sent.map((s) => headerOf(s, HEADERS.idempotencyKey)))).toEqual(new Set(['key-1']));
    // An invocation that failed for good does not hold up the next one.
    const u = setup([new TypeError('a'), new TypeError('b'), new TypeError('c'), json(200, ok)], undefined, { pageTokens: [] });
    expect(await u.transport.send('counter:main', 'increment', {})).toMatchObject({ type: 'error', error: { code: CLIENT_CODES.network } });
    expect((await u.transport.send('counter:main', 'increment', {})).type).toBe('ok');
  });

  it('strict mode: a page fetch for a token that fails is not repeated by the same invocation; the next one, its token spent, fetches one before it is sent', async () => {
    const pageTokens: string[] = [];
    const t = setup([new TypeError('a'), new TypeError('b'), new TypeError('c'), json(200, ok)], undefined, { pageTokens });
    expect(await t.transport.send('payment:main', 'processPayment', { amount: 3 })).toMatchObject({ type: 'error', error: { code: CLIENT_CODES.network } });
    // Once before the first retry, in vain: not before the second, nor after the final answer.
    expect(t.refreshes()).toBe(1);
    // Back online: the page gives a token, taken before the next invocation goes out.
    pageTokens.push('page-online');
    expect((await t.transport.send('payment:main', 'processPayment', { amount: 4 })).type).toBe('ok');
    expect(t.refreshes()).toBe(2);
    expect(t.sent.map((s) => headerOf(s, HEADERS.csrfToken))).toEqual(['page-token', 'page-token', 'page-token', 'page-online']);
  });

  it('strict mode: a token the last answer brought is sent without a page fetch', async () => {
    const t = setup([json(200, { ...ok, csrf_token: 'next' }), json(200, ok)], undefined, { pageTokens: ['unused'] });
    await t.transport.send('counter:main', 'increment', {});
    await t.transport.send('counter:main', 'increment', {});
    expect(t.refreshes()).toBe(0);
    expect(t.sent.map((s) => headerOf(s, HEADERS.csrfToken))).toEqual(['page-token', 'next']);
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

  it('resends for ~32 s while the key is in use (past the server action limit and claim), then reports 409; never resends other 409s', async () => {
    const inUse = () => json(409, { error: 'In use.', code: 'IDEMPOTENCY_KEY_IN_USE', request_id: 'r' });
    const t = setup([...Array.from({ length: 19 }, inUse), json(200, ok)]);
    const result = await t.transport.send('payment:main', 'processPayment', { amount: 1 });
    expect(t.sent).toHaveLength(19);
    expect(t.slept).toEqual([250, 500, 1000, ...Array.from({ length: 15 }, () => 2000)]);
    // Longer than the server's default idempotency claim (30 s) and action limit (10 s): a running first
    // attempt is waited for (it was ~4 s, so a 6 s action got an error and, from a second click, a second run).
    expect(t.slept.reduce((sum, ms) => sum + ms, 0)).toBeGreaterThan(30_000);
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

  it('ignores a Retry-After that is neither whole seconds nor an HTTP date (-30, 1.5, 0x10, 1e3, empty)', async () => {
    const refusal = (retryAfter: string) => json(503, { error: 'Busy.', code: 'SERVICE_UNAVAILABLE', request_id: 'r' }, { 'retry-after': retryAfter });
    const values = ['-30', '1.5', '0x10', '1e3', '', ' ', ' 12 '];
    const t = setup(values.map(refusal));
    const seen: unknown[] = [];
    for (const _ of values) {
      const result = await t.transport.send('counter:main', 'increment', {});
      seen.push(result.type === 'error' ? result.error.retry_after : 'ok');
    }
    expect(seen).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, 12]);
  });

  it('takes retry_after from a Retry-After HTTP date (a proxy may send one): seconds from now, rounded up, never below 0', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.parse('2026-01-15T10:30:00.400Z'));
      const refusal = (retryAfter: string) => json(503, { error: 'Busy.', code: 'SERVICE_UNAVAILABLE', request_id: 'r' }, { 'retry-after': retryAfter });
      const t = setup([refusal('Thu, 15 Jan 2026 10:31:30 GMT'), refusal('Thu, 15 Jan 2026 10:00:00 GMT'), refusal('soon')]);
      expect(await t.transport.send('counter:main', 'increment', {})).toMatchObject({ type: 'error', error: { retry_after: 90 } });
      expect(await t.transport.send('counter:main', 'increment', {})).toMatchObject({ type: 'error', error: { retry_after: 0 } });
      const unreadable = await t.transport.send('counter:main', 'increment', {});
      expect(unreadable.type === 'error' && 'retry_after' in unreadable.error).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("takes retry_after from the Retry-After header of a proxy's 429 or 503 page that is not JSON (INVALID_RESPONSE); not of its other pages", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.parse('2026-01-15T10:30:00.400Z'));
      const page = (status: number, retryAfter: string) => new Response('<h1>Slow down</h1>', { status, headers: { 'content-type': 'text/html', 'retry-after': retryAfter } });
      const t = setup([page(429, '7'), page(503, 'Thu, 15 Jan 2026 10:31:30 GMT'), page(502, '7'), page(404, '7'), page(429, '1.5')]);
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await t.transport.send('counter:main', 'increment', {}));
      const invalid = (status: number) => ({ status, code: CLIENT_CODES.invalidResponse, error: `Unexpected answer from the server (HTTP ${status}).` });
      const mayHaveRun = (status: number) => ({ ...invalid(status), error: `${invalid(status).error} The request may have been carried out.`, outcomeUnknown: true });
      expect(results).toEqual([
        { type: 'error', error: { ...invalid(429), retry_after: 7 } },
        { type: 'error', error: { ...mayHaveRun(503), retry_after: 90 } },
        { type: 'error', error: mayHaveRun(502) },
        { type: 'error', error: invalid(404) },
        { type: 'error', error: invalid(429) },
      ]);
      expect(t.sent).toHaveLength(5);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an answer lost, then the retry refused before the key could be replayed (CSRF, rate limit, store down): the action may have run', async () => {
    const refusals = [
      [403, { error: 'Invalid security token.', code: 'CSRF_TOKEN_INVALID', request_id: 'r' }],
      [429, { error: 'Too many requests. Please wait and try again.', code: 'RATE_LIMIT_EXCEEDED', request_id: 'r', retry_after: 60, limit: 5, window: 300 }],
      [503, { error: 'Service unavailable.', code: 'SERVICE_UNAVAILABLE', request_id: 'r' }],
    ] as const;
    for (const [status, body] of refusals) {
      const t = setup([new TypeError('Failed to fetch'), json(status, body)]);
      const result = await t.transport.send('payment:main', 'processPayment', { amount: 10 });
      expect(t.sent.map((s) => headerOf(s, HEADERS.idempotencyKey))).toEqual(['key-1', 'key-1']);
      const { error: _message, ...fields } = body;
      expect(result, body.code).toEqual({
        type: 'error',
        error: { status, ...fields, outcomeUnknown: true, error: expect.stringContaining('may have been carried out') as unknown as string },
      });
      // The same refusal of a first attempt: nothing can have run.
      const first = await setup([json(status, body)]).transport.send('payment:main', 'processPayment', { amount: 10 });
      expect(first, body.code).toEqual({ type: 'error', error: { status, ...body } });
    }
    // A refusal that comes after the idempotency check (a replay would have answered) says what it says.
    const later = setup([new TypeError('Failed to fetch'), json(422, { error: 'Reused.', code: 'IDEMPOTENCY_KEY_REUSED', request_id: 'r' })]);
    expect(await later.transport.send('payment:main', 'processPayment', { amount: 10 })).toEqual({
      type: 'error',
      error: { status: 422, code: 'IDEMPOTENCY_KEY_REUSED', error: 'Reused.', request_id: 'r' },
    });
  });

  it('every attempt without an answer (network failures): NETWORK_ERROR marked outcomeUnknown, since each was sent and may have run', async () => {
    const t = setup([new TypeError('Failed to fetch'), new TypeError('Failed to fetch'), new TypeError('Failed to fetch')]);
    const result = await t.transport.send('payment:main', 'processPayment', { amount: 10 });
    expect(t.sent.map((s) => headerOf(s, HEADERS.idempotencyKey))).toEqual(['key-1', 'key-1', 'key-1']);
    expect(result).toEqual({
      type: 'error',
      error: { status: 0, code: CLIENT_CODES.network, error: 'The server could not be reached (Failed to fetch). The request may have been carried out.', outcomeUnknown: true },
    });
  });

  it("a proxy's 5xx that is not the app's answer, on a first attempt (504 Gateway Timeout: the app may still run it): INVALID_RESPONSE marked outcomeUnknown, not retried", async () => {
    const answers = [
      new Response('<html><body><h1>504 Gateway Time-out</h1></body></html>', { status: 504, headers: { 'content-type': 'text/html' } }),
      // JSON, but not the app's (no code): an API gateway's own error.
      json(502, { message: 'Internal server error' }),
    ];
    for (const answer of answers) {
      const t = setup([answer, json(200, ok)]);
      const result = await t.transport.send('payment:main', 'processPayment', { amount: 10 });
      expect(t.sent).toHaveLength(1);
      expect(result).toEqual({
        type: 'error',
        error: { status: answer.status, code: CLIENT_CODES.invalidResponse, error: `Unexpected answer from the server (HTTP ${answer.status}). The request may have been carried out.`, outcomeUnknown: true },
      });
    }
  });

  it("an answer lost, then the retry answered by a page that is not the app's (502 empty, a 4xx page): outcomeUnknown", async () => {
    for (const answer of [new Response('', { status: 502 }), new Response('<h1>Forbidden</h1>', { status: 403, headers: { 'content-type': 'text/html' } })]) {
      const t = setup([new TypeError('Failed to fetch'), answer]);
      const result = await t.transport.send('payment:main', 'processPayment', { amount: 10 });
      expect(t.sent.map((s) => headerOf(s, HEADERS.idempotencyKey))).toEqual(['key-1', 'key-1']);
      expect(result).toEqual({
        type: 'error',
        error: { status: answer.status, code: CLIENT_CODES.invalidResponse, error: `Unexpected answer from the server (HTTP ${answer.status}). The request may have been carried out.`, outcomeUnknown: true },
      });
    }
  });

  it("not outcomeUnknown: the app's own JSON errors on a first attempt (429, 503, 500), nor a 4xx page that is not the app's (404 HTML)", async () => {
    const refusals = [
      json(429, { error: 'Too many requests.', code: 'RATE_LIMIT_EXCEEDED', request_id: 'r', retry_after: 60 }),
      json(503, { error: 'Service unavailable.', code: 'SERVICE_UNAVAILABLE', request_id: 'r' }),
      json(500, { error: 'Internal error.', code: 'INTERNAL_ERROR', request_id: 'r' }),
    ];
    for (const answer of refusals) {
      const result = await setup([answer]).transport.send('payment:main', 'processPayment', { amount: 10 });
      expect(result.type === 'error' && result.error.status).toBe(answer.status);
      expect(result.type === 'error' && 'outcomeUnknown' in result.error).toBe(false);
      expect(result.type === 'error' && result.error.error).not.toContain('may have been carried out');
    }
    const notFound = setup([new Response('<h1>Not Found</h1>', { status: 404, headers: { 'content-type': 'text/html' } })]);
    expect(await notFound.transport.send('payment:main', 'processPayment', { amount: 10 })).toEqual({
      type: 'error',
      error: { status: 404, code: CLIENT_CODES.invalidResponse, error: 'Unexpected answer from the server (HTTP 404).' },
    });
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
