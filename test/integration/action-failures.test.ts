/**
 * Actions that fail on the server's side, and bodies and URLs the server cannot read, over HTTP:
 * - an exception from a component answers 500 `INTERNAL_ERROR` whatever it carries (an outside
 *   library's error with a `statusCode` of its own says nothing about this request), and is logged
 *   at error level with its stack;
 * - a failure after the CSRF check still hands the page a fresh token (strict mode has used up the
 *   one it sent) and the rate-limit headers; a request whose token did not verify gets no token;
 * - bodies that are not UTF-8 JSON and URLs the router cannot decode get PROTOCOL's error shape.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { serverOptions } from '../../src/http/server-options.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { openClient, testRuntime, type TestClient } from '../helpers/demo.js';

/** An error as payment SDKs and HTTP clients throw them: with a status of the call they made. */
class DeclinedError extends Error {
  readonly statusCode = 402;
  readonly code = 'card_declined';
}

const flaky = defineComponent({
  name: 'flaky',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: {
    bump: { run: (s: { n: number }) => ({ n: s.n + 1 }) },
    declined: {
      run: (): { n: number } => {
        throw new DeclinedError('Your card was declined (acct_secret_123)');
      },
    },
    notFound: {
      run: (): { n: number } => {
        throw Object.assign(new Error('upstream said 404'), { statusCode: 404 });
      },
    },
    hang: { run: () => new Promise<{ n: number }>(() => undefined) },
  },
  render: (s) => html`<p>${s.n}</p>`,
});

/** A list that only grows: each `add` keeps 100,000 more bytes (é: two UTF-8 bytes each). */
const hoard = defineComponent({
  name: 'hoard',
  initialState: { items: [] as string[] },
  publicState: [],
  actions: { add: { run: (s) => ({ items: [...s.items, '\u00e9'.repeat(50_000)] }) } },
  render: (s) => html`<p>${s.items.length}</p>`,
});

interface LogLine {
  level: number;
  msg: string;
  code?: string;
  err?: { message: string; stack: string; type: string };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** What `run` wrote to standard output (kept from the terminal), and its result. */
async function stdoutDuring<T>(run: () => Promise<T>): Promise<{ written: string[]; res: T }> {
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    return { written, res: await run() };
  } finally {
    spy.mockRestore();
  }
}

async function start(framework: Partial<LiveComponentsOptions> = {}, fastifyLogger: boolean | 'silent' = true) {
  const logs: LogLine[] = [];
  const events = memorySecurityEvents();
  const level = fastifyLogger === 'silent' ? 'silent' : 'info';
  app = Fastify(fastifyLogger !== false ? serverOptions({ logger: { level, stream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) } } }) : {});
  const runtime = await testRuntime([flaky, hoard], createMemoryStore(), { events, ...framework });
  await app.register(livecomponents, { runtime });
  const server = app;
  server.get('/', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    const body = html`${[await view.mount('flaky:main'), await view.mount('hoard:main')]}`;
    return reply.type('text/html').send(view.document({ title: 't', body }));
  });
  await server.ready();
  return { app: server, logs, events, client: (): Promise<TestClient> => openClient(server, '/') };
}

describe('an action that throws', () => {
  it('answers 500 INTERNAL_ERROR for an error carrying a statusCode of its own, with no detail, and logs it with its stack', async () => {
    const { client, logs } = await start();
    const c = await client();
    for (const action of ['declined', 'notFound']) {
      const res = await c.action('flaky:main', action);
      expect(res.statusCode).toBe(500);
      const body = res.json<Record<string, unknown>>();
      expect(body.code).toBe('INTERNAL_ERROR');
      expect(body.error).toBe('Something went wrong on our side.');
      expect(res.body).not.toContain('declined');
      expect(res.body).not.toContain('upstream');
    }
    const failures = logs.filter((l) => l.msg === 'request failed');
    expect(failures.map((l) => [l.level, l.code, l.err?.message])).toEqual([
      [50, 'INTERNAL_ERROR', 'Your card was declined (acct_secret_123)'],
      [50, 'INTERNAL_ERROR', 'upstream said 404'],
    ]);
    expect(failures[0]?.err?.type).toBe('DeclinedError');
    expect(failures[0]?.err?.stack).toContain('action-failures.test.ts');
    expect(logs.filter((l) => l.msg === 'request refused')).toEqual([]);
  });

  it("is logged on standard output when the app's Fastify logger is off (Fastify's default), with its stack and request id", async () => {
    const { client } = await start({}, false);
    const c = await client();
    const { written, res } = await stdoutDuring(() => c.action('flaky:main', 'declined'));
    expect(res.statusCode).toBe(500);
    const failures = written.map((line) => JSON.parse(line) as LogLine & { request_id: string }).filter((l) => l.msg === 'request failed');
    expect(failures.map((l) => [l.level, l.code, l.err?.message, l.request_id])).toEqual([
      [50, 'INTERNAL_ERROR', 'Your card was declined (acct_secret_123)', res.json<{ request_id: string }>().request_id],
    ]);
    expect(failures[0]?.err?.stack).toContain('action-failures.test.ts');
  });

  it("writes nothing when the app set its logger to silent (the app's choice; pino's disabled levels are named noop too)", async () => {
    const { client } = await start({}, 'silent');
    const c = await client();
    const { written, res } = await stdoutDuring(() => c.action('flaky:main', 'declined'));
    expect(res.statusCode).toBe(500);
    expect(written.filter((line) => line.includes('request failed'))).toEqual([]);
  });

  it('carries the rate-limit headers and a fresh token that works for the next action (per-session tokens)', async () => {
    const { client } = await start();
    const c = await client();
    const res = await c.action('flaky:main', 'declined');
    expect(res.statusCode).toBe(500);
    expect(res.headers['x-ratelimit-limit']).toBe('60');
    expect(res.headers['x-ratelimit-remaining']).toBe('59');
    const token = res.json<{ csrf_token?: string }>().csrf_token;
    expect(token).toMatch(/^v1\./);
    c.token = token as string;
    const next = await c.action('flaky:main', 'bump');
    expect([next.statusCode, next.json<{ state: unknown }>().state]).toEqual([200, { n: 1 }]);
  });
});

describe("failures in strict mode (csrf rotation 'per-action': each token is used once)", () => {
  it('a 500 and an action past its time limit hand the page a fresh token, so the next click works, without a CSRF alarm', async () => {
    const { client, events } = await start({ csrf: { rotation: 'per-action' }, actionTimeoutMs: 100 });
    const c = await client();
    for (const action of ['declined', 'hang']) {
      const res = await c.action('flaky:main', action);
      expect(res.statusCode).toBe(500);
      const token = res.json<{ csrf_token?: string }>().csrf_token;
      expect(typeof token).toBe('string');
      c.token = token as string;
    }
    const next = await c.action('flaky:main', 'bump');
    expect([next.statusCode, next.json<{ state: unknown }>().state]).toEqual([200, { n: 1 }]);
    expect(events.events.filter((e) => e.event === 'malicious_csrf')).toEqual([]);
  });

  it('the used token stays used: sending it again after the 500 is refused', async () => {
    const { client, events } = await start({ csrf: { rotation: 'per-action' } });
    const c = await client();
    const used = c.token;
    expect((await c.action('flaky:main', 'declined')).statusCode).toBe(500);
    c.token = used;
    const again = await c.action('flaky:main', 'bump');
    expect([again.statusCode, again.json<{ code: string }>().code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
    expect(again.json<{ csrf_token?: string }>().csrf_token).toBeUndefined();
    expect(events.events.filter((e) => e.event === 'malicious_csrf')).toHaveLength(1);
  });

  it('a request whose token did not verify gets no token, even when its action would fail', async () => {
    const { client } = await start({ csrf: { rotation: 'per-action' } });
    const c = await client();
    const res = await c.action('flaky:main', 'declined', {}, { headers: { 'x-csrf-token': 'v1.forged' } });
    expect(res.statusCode).toBe(403);
    expect(res.json<{ csrf_token?: string }>().csrf_token).toBeUndefined();
  });
});

describe('maxStateBytes', () => {
  it('an action whose state would pass the limit answers 500, logged with the size; the state before it stays, its key is released', async () => {
    const { app: server, client, logs } = await start({ maxStateBytes: 250_000 });
    const c = await client();
    for (const expected of ['<p>1</p>', '<p>2</p>']) expect(String((await c.action('hoard:main', 'add')).json<{ html: string }>().html)).toContain(expected);
    const over = await c.action('hoard:main', 'add', {}, { headers: { 'idempotency-key': 'grow-3' } });
    expect([over.statusCode, over.json<{ code: string }>().code]).toEqual([500, 'INTERNAL_ERROR']);
    expect(logs.filter((l) => l.msg === 'request failed').map((l) => l.err?.message)).toEqual([
      'The state of hoard:main would be 300020 bytes, over maxStateBytes (250000): not stored',
    ]);
    c.token = over.json<{ csrf_token: string }>().csrf_token;
    // Not cached: the same key runs again (and fails again), the stored state still has two items.
    const again = await c.action('hoard:main', 'add', {}, { headers: { 'idempotency-key': 'grow-3' } });
    expect(again.statusCode).toBe(500);
    const page = await server.inject({ url: '/', headers: { cookie: c.cookie } });
    expect(page.body).toContain('<div data-lc-id="hoard:main"><p>2</p></div>');
  });

  it('is checked at start-up', async () => {
    for (const maxStateBytes of [0, -1, 1.5]) await expect(start({ maxStateBytes })).rejects.toThrow(/maxStateBytes must be a positive integer/);
  });
});

describe('bodies that are not UTF-8 JSON', () => {
  const latin1 = Buffer.from('{"component_id":"flaky:main","action":"bump","params":{"note":"caf\xe9"}}', 'latin1');

  it('400 INVALID_REQUEST for bytes that are not UTF-8; nothing runs', async () => {
    const { app: server, client } = await start();
    const c = await client();
    const res = await server.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: c.cookie, 'x-csrf-token': c.token },
      payload: latin1,
    });
    expect([res.statusCode, res.json<{ code: string; error: string }>().code, res.json<{ error: string }>().error]).toEqual([
      400,
      'INVALID_REQUEST',
      'The body is not valid UTF-8.',
    ]);
    expect((await c.action('flaky:main', 'bump')).json<{ state: unknown }>().state).toEqual({ n: 1 });
  });

  it('415 for a declared charset other than UTF-8; utf-8 in any spelling is read', async () => {
    const { app: server, client } = await start();
    const c = await client();
    const post = (contentType: string) =>
      server.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        headers: { 'content-type': contentType, cookie: c.cookie, 'x-csrf-token': c.token },
        payload: JSON.stringify({ component_id: 'flaky:main', action: 'bump', params: {} }),
      });
    for (const contentType of ['application/json; charset=latin1', 'application/json;charset="UTF-16"', 'application/json; charset=']) {
      const res = await post(contentType);
      expect([contentType, res.statusCode, res.json<{ code: string }>().code]).toEqual([contentType, 415, 'UNSUPPORTED_MEDIA_TYPE']);
    }
    const codes = [];
    for (const contentType of ['application/json; charset=utf-8', 'application/json;charset="UTF-8"', 'Application/JSON; Charset=UTF8']) {
      codes.push((await post(contentType)).statusCode);
    }
    expect(codes).toEqual([200, 200, 200]);
  });
});

describe('URLs the router cannot decode', () => {
  it('answer 400 INVALID_REQUEST in the error shape with the request id, not Fastify’s own', async () => {
    const { app: server } = await start();
    for (const url of ['/%', '/api/livecomponents/%E0%A4%A']) {
      const res = await server.inject({ method: 'GET', url, headers: { 'x-request-id': 'req-bad-url' } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: 'The request is malformed.', code: 'INVALID_REQUEST', request_id: 'req-bad-url' });
      expect(res.headers['x-request-id']).toBe('req-bad-url');
    }
  });
});
