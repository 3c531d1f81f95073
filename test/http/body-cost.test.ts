/**
 * What a large action body costs before anything checks who sent it. A 1 MiB body of `[[],[],…]` or
 * of an object with 100,000 keys, no cookie, used to be parsed whole (and then walked for its depth),
 * a quarter of a second of event loop per request, before the CSRF stage refused it: the JSON
 * parser's pre-scan now counts values too, and refuses more than 10,000 before parsing.
 *
 * Only names that existed before the bound are imported here, so each test fails on its own on the
 * source without it (test/http/json-body.test.ts checks the scan itself and that the cap is 10,000).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { counter } from '../../examples/demo/components/counter.js';
import { ACTION_BODY_LIMIT, livecomponents } from '../../src/http/plugin.js';
import { callAction, createTestHarness, mountComponent } from '../../src/testing/index.js';
import { demoApp } from '../helpers/demo.js';

const CAP = 10_000;
const TOO_MANY = `The body holds more than ${CAP} values.`;
const TOO_DEEP = 'The body is nested deeper than 32 levels.';
/** The `missing` event: its likely cause, a page without the CSRF meta tag (was: 'CSRF: action refused, no CSRF token'). */
const NO_TOKEN = 'CSRF: action refused, no CSRF token (does the page lack <meta name="csrf-token">? view.head() and view.document() render it)';
const ACTION = '/api/livecomponents/action';
const JSON_TYPE = { 'content-type': 'application/json' };

/**
 * `{"component_id":"counter:main","action":"increment","params":{"list":[0,…]}}` holding `values`
 * values: the body, its three members, `list` and its elements.
 */
const bodyOf = (values: number) => ({ component_id: 'counter:main', action: 'increment', params: { list: new Array<number>(values - 5).fill(0) } });

describe('the action route over HTTP, without a session', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  beforeAll(async () => {
    demo = await demoApp();
  });
  afterAll(() => demo?.app.close());
  afterEach(() => {
    vi.restoreAllMocks();
    demo.events.events.length = 0;
  });

  const post = (payload: string, headers: Record<string, string> = {}) =>
    demo.app.inject({ method: 'POST', url: ACTION, headers: { ...JSON_TYPE, ...headers }, payload });

  it('1 MiB of [[],[],…] and an object of 90,000 keys: 400 INVALID_REQUEST naming the cap, never parsed, no event', async () => {
    const parse = vi.spyOn(secureJson, 'parse');
    const arrays = `{"component_id":"counter:main","action":"increment","params":{"a":[${'[],'.repeat(349_000)}[]]}}`;
    const keys = `{"component_id":"counter:main","action":"increment","params":{${Array.from({ length: 90_000 }, (_, i) => `"k${i}":0`).join(',')}}}`;
    for (const payload of [arrays, keys]) {
      expect(payload.length).toBeGreaterThan(900_000);
      expect(payload.length).toBeLessThanOrEqual(ACTION_BODY_LIMIT);
      const res = await post(payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: TOO_MANY, code: 'INVALID_REQUEST', request_id: res.headers['x-request-id'] });
    }
    expect(parse).not.toHaveBeenCalled();
    expect(demo.events.events).toEqual([]);
  });

  it('one value over the cap is refused unparsed; exactly the cap is parsed and goes on to the CSRF check', async () => {
    const parse = vi.spyOn(secureJson, 'parse');
    const over = await post(JSON.stringify(bodyOf(CAP + 1)));
    expect(over.statusCode).toBe(400);
    expect(over.json()).toMatchObject({ error: TOO_MANY, code: 'INVALID_REQUEST' });
    expect(parse).not.toHaveBeenCalled();

    const at = await post(JSON.stringify(bodyOf(CAP)));
    expect(at.statusCode).toBe(403);
    expect(at.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it('a body nested too deep is still refused unparsed, with its own sentence', async () => {
    const parse = vi.spyOn(secureJson, 'parse');
    const res = await post(`{"component_id":"counter:main","action":"increment","params":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: TOO_DEEP, code: 'INVALID_REQUEST' });
    expect(parse).not.toHaveBeenCalled();
  });

  // Why the route does not refuse a request without a cookie before reading its body: its answer
  // depends on the body. CSRF is checked first (PROTOCOL §3), unknown names included, and the event
  // it logs names what the body holds (`_csrf_token` or none).
  it('a request without a session cookie is answered from its body: 400, or 403 with a reason taken from it', async () => {
    const answers: [number, string, string | undefined][] = [];
    for (const payload of [
      'not json',
      '{"component_id":"nope:main","action":"increment"}',
      '{"component_id":"counter:main","action":"nope"}',
      '{"component_id":"counter:main","action":"increment"}',
      '{"component_id":"counter:main","action":"increment","_csrf_token":"v1.forged"}',
    ]) {
      demo.events.events.length = 0;
      const res = await post(payload);
      expect(demo.events.events.length).toBeLessThanOrEqual(1);
      answers.push([res.statusCode, (res.json() as { code: string }).code, demo.events.events[0]?.description]);
    }
    expect(answers).toEqual([
      [400, 'INVALID_REQUEST', undefined],
      [403, 'CSRF_TOKEN_INVALID', NO_TOKEN],
      [403, 'CSRF_TOKEN_INVALID', NO_TOKEN],
      [403, 'CSRF_TOKEN_INVALID', NO_TOKEN],
      [403, 'CSRF_TOKEN_INVALID', 'CSRF: action refused, CSRF token invalid, expired, used or from another session'],
    ]);
  });
});

describe('the action route over HTTP, with a session', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  beforeAll(async () => {
    demo = await demoApp();
  });
  afterAll(() => demo?.app.close());
  afterEach(() => vi.restoreAllMocks());

  it('exactly the cap runs the action; one more is refused before parsing', async () => {
    const client = await demo.client('/');
    const { params } = bodyOf(CAP);
    const ok = await client.action('counter:main', 'increment', params);
    expect(ok.statusCode).toBe(200);
    const parse = vi.spyOn(secureJson, 'parse');
    const over = await client.action('counter:main', 'increment', bodyOf(CAP + 1).params);
    expect(over.statusCode).toBe(400);
    expect(over.json()).toMatchObject({ error: TOO_MANY, code: 'INVALID_REQUEST' });
    expect(parse).not.toHaveBeenCalled();
  });

  it('commas, brackets and braces inside strings (escaped quotes included) do not count', async () => {
    const client = await demo.client('/');
    const text = ',[{'.repeat(20_000);
    const res = await client.action('counter:main', 'increment', { text, quoted: '",[{\\'.repeat(5_000), key: { [text]: text } });
    expect(res.statusCode).toBe(200);
  });
});

describe('the testing helpers refuse what HTTP refuses', () => {
  it('params over the cap, or nested too deep: the same 400 and sentence as over HTTP', async () => {
    const mounted = await mountComponent(counter);
    await expect(callAction(mounted, 'increment', bodyOf(CAP + 1).params as never)).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: TOO_MANY });
    let deep: unknown = [];
    for (let i = 0; i < 40; i++) deep = [deep];
    await expect(callAction(mounted, 'increment', { deep } as never)).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: TOO_DEEP });
    // Exactly the cap passes, as over HTTP.
    const next = await callAction(mounted, 'increment', bodyOf(CAP).params as never);
    expect(next.state.count).toBe(1);
  });
});

describe('the plugin option actionBodyLimit', () => {
  const apps: FastifyInstance[] = [];
  afterAll(() => Promise.all(apps.map((app) => app.close())));

  async function appWith(options: { actionBodyLimit?: number }, serverBodyLimit?: number): Promise<FastifyInstance> {
    const harness = await createTestHarness([counter]);
    const app = Fastify(serverBodyLimit === undefined ? {} : { bodyLimit: serverBodyLimit });
    apps.push(app);
    await app.register(livecomponents, { runtime: harness.runtime, ...options });
    await app.ready();
    return app;
  }
  /** A body of `bytes` bytes, a few values: one long string. */
  const sized = (bytes: number) => {
    const head = '{"component_id":"counter:main","action":"increment","params":{"s":"';
    return `${head}${'x'.repeat(bytes - head.length - 3)}"}}`;
  };
  const post = (app: FastifyInstance, payload: string) => app.inject({ method: 'POST', url: ACTION, headers: JSON_TYPE, payload });

  it('defaults to 1 MiB (PROTOCOL §3): one byte more answers 413', async () => {
    const app = await appWith({});
    expect((await post(app, sized(ACTION_BODY_LIMIT))).statusCode).toBe(403);
    const over = await post(app, sized(ACTION_BODY_LIMIT + 1));
    expect(over.statusCode).toBe(413);
    expect(over.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('a lower limit answers 413 past it, unparsed', async () => {
    const app = await appWith({ actionBodyLimit: 4096 });
    const parse = vi.spyOn(secureJson, 'parse');
    try {
      expect((await post(app, sized(4096))).statusCode).toBe(403);
      expect(parse).toHaveBeenCalledTimes(1);
      const over = await post(app, sized(4097));
      expect(over.statusCode).toBe(413);
      expect(over.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', request_id: over.headers['x-request-id'] });
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });

  it('a higher one applies to the action route whatever the server-wide bodyLimit; the value cap still holds', async () => {
    const app = await appWith({ actionBodyLimit: 2 * ACTION_BODY_LIMIT }, ACTION_BODY_LIMIT);
    expect((await post(app, sized(2 * ACTION_BODY_LIMIT))).statusCode).toBe(403);
    expect((await post(app, sized(2 * ACTION_BODY_LIMIT + 1))).statusCode).toBe(413);
    const many = await post(app, JSON.stringify(bodyOf(CAP + 1)));
    expect(many.json()).toMatchObject({ error: TOO_MANY, code: 'INVALID_REQUEST' });
  });

  it('refuses anything but a positive integer at registration', async () => {
    for (const actionBodyLimit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1024' as unknown as number]) {
      await expect(appWith({ actionBodyLimit }), String(actionBodyLimit)).rejects.toThrow(/actionBodyLimit must be a positive integer/);
    }
  });
});
