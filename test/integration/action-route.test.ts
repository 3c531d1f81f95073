import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoApp } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
let demo: Demo;

beforeAll(async () => {
  demo = await demoApp();
});
afterAll(async () => {
  await demo.app.close();
});

function expectErrorShape(body: Record<string, unknown>, code: string): void {
  expect(body.code).toBe(code);
  expect(typeof body.error).toBe('string');
  expect(typeof body.request_id).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/at \w+ \(|node_modules|\.ts:\d+/);
}

describe('pages', () => {
  it('serves the counter page with the csrf meta tag, the component root, the script and a session cookie', async () => {
    const res = await demo.app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<meta name="csrf-token" content="v1\.[A-Za-z0-9_-]+">/);
    expect(res.body).toContain('<div data-lc-id="counter:main">');
    expect(res.body).toContain('<script type="module" src="/livecomponents/client.js"></script>');
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^lc_session=[A-Za-z0-9_-]{22};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure');
  });

  it('serves /orders and /payment with their components; the payment page never shows the sensitive field', async () => {
    const orders = await demo.app.inject({ url: '/orders' });
    expect(orders.body).toContain('data-lc-id="order:main"');
    const payment = await demo.app.inject({ url: '/payment' });
    expect(payment.body).toContain('data-lc-id="payment:main"');
    expect(payment.body).toContain('<output data-balance>1000</output>');
    expect(payment.body).not.toContain('tok_demo_sensitive');
  });

  it('keeps the session on later visits (no new cookie) and shows the current state', async () => {
    const c = await demo.client('/');
    await c.action('counter:main', 'increment');
    const again = await demo.app.inject({ url: '/', headers: { cookie: c.cookie } });
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.body).toContain('<output data-count aria-live="polite">1</output>');
  });

  it('serves the browser runtime with caching headers and answers 304 to a matching ETag', async () => {
    const res = await demo.app.inject({ url: '/livecomponents/client.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=300, must-revalidate');
    const etag = String(res.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await demo.app.inject({ url: '/livecomponents/client.js', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const res = await demo.app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expectErrorShape(res.json(), 'NOT_FOUND');
  });
});

describe('POST /api/livecomponents/action', () => {
  it('runs an action and answers html, public state and a fresh csrf token', async () => {
    const c = await demo.client('/');
    const before = c.token;
    const res = await c.action('counter:main', 'increment');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['csrf_token', 'html', 'state']);
    expect(body.state).toEqual({ count: 1 });
    expect(body.html).toMatch(/^<div data-lc-id="counter:main">/);
    expect(body.html).toContain('<output data-count aria-live="polite">1</output>');
    expect(body.csrf_token).not.toBe(before);
    const down = await c.action('counter:main', 'decrement');
    expect(down.json().state).toEqual({ count: 0 });
  });

  it('keeps instances per session: counter:main of one session is not another session’s', async () => {
    const a = await demo.client('/');
    const b = await demo.client('/');
    await a.action('counter:main', 'increment');
    await a.action('counter:main', 'increment');
    const res = await b.action('counter:main', 'increment');
    expect(res.json().state).toEqual({ count: 1 });
  });

  it('echoes a sane X-Request-Id and uses it as request_id', async () => {
    const c = await demo.client('/');
    const res = await c.action('counter:nope', 'increment', {}, { headers: { 'x-request-id': 'req-123' } });
    expect(res.headers['x-request-id']).toBe('req-123');
    expect(res.json().request_id).toBe('req-123');
    const hostile = await c.action('counter:nope', 'increment', {}, { headers: { 'x-request-id': 'a\u0000b<script>' } });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('404 COMPONENT_NOT_FOUND for unknown names, malformed ids and instances never mounted in this session', async () => {
    const c = await demo.client('/');
    for (const id of ['nope:main', 'counter', 'counter:', ':main', 'counter:a b', 'COUNTER:main', 'counter:other']) {
      const res = await c.action(id, 'increment');
      expect(res.statusCode, id).toBe(404);
      expectErrorShape(res.json(), 'COMPONENT_NOT_FOUND');
    }
    // order:main exists, but this session only visited the counter page.
    const order = await c.action('order:main', 'createOrder', { item: 'tea' });
    expect(order.statusCode).toBe(404);
    expectErrorShape(order.json(), 'COMPONENT_NOT_FOUND');
  });

  it('checks CSRF before the names: an unknown name with a bad token or from another site is 403 and one malicious_csrf event', async () => {
    const c = await demo.client('/');
    const other = await demo.client('/');
    const cases: [string, string, Record<string, string>][] = [
      ['nope:main', 'increment', { 'x-csrf-token': 'v1.forged' }],
      ['counter:main', 'nope', { 'x-csrf-token': other.token }],
      ['counter:main', 'nope', { origin: 'https://evil.example' }],
      ['nope:main', 'nope', { 'sec-fetch-site': 'cross-site' }],
      ['counter:main', 'constructor', { 'x-csrf-token': '' }],
    ];
    for (const [id, name, headers] of cases) {
      demo.events.events.length = 0;
      const res = await c.action(id, name, {}, { headers });
      expect(res.statusCode, `${id} ${name}`).toBe(403);
      expectErrorShape(res.json(), 'CSRF_TOKEN_INVALID');
      expect(demo.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    }
    // The same names with the session's own token: the names are what is wrong.
    expect((await c.action('nope:main', 'increment')).json().code).toBe('COMPONENT_NOT_FOUND');
    expect((await c.action('counter:main', 'nope')).json().code).toBe('ACTION_NOT_FOUND');
  });

  it('404 ACTION_NOT_FOUND for everything that is not a declared action', async () => {
    const c = await demo.client('/');
    for (const name of ['render', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'initialState', 'run', 'increment ', 'INCREMENT']) {
      const res = await c.action('counter:main', name);
      expect(res.statusCode, name).toBe(404);
      expectErrorShape(res.json(), 'ACTION_NOT_FOUND');
    }
  });

  it('400 VALIDATION_FAILED with field errors, and nothing changes', async () => {
    const c = await demo.client('/orders');
    const res = await c.action('order:main', 'createOrder', { item: '' });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expectErrorShape(body, 'VALIDATION_FAILED');
    expect(body.errors).toEqual({ item: ['Enter an item.'] });
    const missing = await c.action('order:main', 'createOrder', {});
    expect(Object.keys(missing.json().errors)).toEqual(['item']);
    const ok = await c.action('order:main', 'createOrder', { item: 'tea' });
    expect(ok.json().state).toEqual({ orders: 1 });
  });

  it('state-dependent validation from the action: a payment above the balance', async () => {
    const c = await demo.client('/payment');
    const res = await c.action('payment:main', 'processPayment', { amount: 1001 });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual({ amount: ['The amount exceeds the balance.'] });
    const ok = await c.action('payment:main', 'processPayment', { amount: 250 });
    expect(ok.json().state).toEqual({ balance: 750 });
    expect(ok.body).not.toContain('tok_demo_sensitive');
  });

  it('a payment amount must be a JSON number: true, [7], "0x10", " 3 " and "1e1" are refused, not charged', async () => {
    // Limited to 5 per 5 minutes per signed-out client (its IP): a refusal by validation still counts.
    const c = await demo.client('/payment', '203.0.113.40');
    for (const [i, amount] of [true, [7], '0x10', ' 3 ', '1e1'].entries()) {
      const res = await (await demo.client('/payment', `203.0.113.${41 + i}`)).action('payment:main', 'processPayment', { amount });
      expect(res.statusCode, JSON.stringify(amount)).toBe(400);
      expect(Object.keys(res.json().errors), JSON.stringify(amount)).toEqual(['amount']);
    }
    expect((await c.action('payment:main', 'processPayment', { amount: 3 })).json().state).toEqual({ balance: 997 });
  });

  /** Sends `payload` as the action body, as it is (no JSON encoding), with `c`'s cookie and token. */
  const sendRaw = (c: { cookie: string; token: string }, payload: string) =>
    demo.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: c.cookie, 'x-csrf-token': c.token },
      payload,
    });

  it('400 INVALID_REQUEST for malformed JSON and wrong shapes', async () => {
    const c = await demo.client('/');
    const send = (payload: string) => sendRaw(c, payload);
    const cases = [
      '{"component_id": "counter:main", ',
      '',
      '[]',
      '"text"',
      'null',
      '{"action":"increment"}',
      '{"component_id":"counter:main"}',
      '{"component_id":5,"action":"increment"}',
      '{"component_id":"counter:main","action":["increment"]}',
      '{"component_id":"counter:main","action":"increment","params":[1,2]}',
      '{"component_id":"counter:main","action":"increment","params":"x"}',
      '{"component_id":"counter:main","action":"increment","_csrf_token":42}',
    ];
    for (const payload of cases) {
      const res = await send(payload);
      expect(res.statusCode, payload).toBe(400);
      expectErrorShape(res.json(), 'INVALID_REQUEST');
    }
  });

  it('refuses prototype-polluting and deeply nested bodies with 400, never 500', async () => {
    const c = await demo.client('/');
    const send = (payload: string) => sendRaw(c, payload);
    const proto = await send('{"component_id":"counter:main","action":"increment","params":{"__proto__":{"polluted":true}}}');
    expect(proto.statusCode).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const ctor = await send('{"component_id":"counter:main","action":"increment","params":{"constructor":{"prototype":{"x":1}}}}');
    expect(ctor.statusCode).toBe(400);
    const deep = `{"component_id":"counter:main","action":"increment","params":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const res = await send(deep);
    expect(res.statusCode).toBe(400);
    expectErrorShape(res.json(), 'INVALID_REQUEST');
    const veryDeep = `{"component_id":"counter:main","action":"increment","params":{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
    expect((await send(veryDeep)).statusCode).toBe(400);
  });

  it('415 for bodies that are not JSON, 413 over 1 MiB', async () => {
    const c = await demo.client('/');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await demo.app.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        headers: { 'content-type': type, cookie: c.cookie, 'x-csrf-token': c.token },
        payload: 'component_id=counter:main&action=increment',
      });
      expect(res.statusCode, type).toBe(415);
      expectErrorShape(res.json(), 'UNSUPPORTED_MEDIA_TYPE');
    }
    const big = await c.action('order:main', 'createOrder', { item: 'x'.repeat(1_100_000) });
    expect(big.statusCode).toBe(413);
    expectErrorShape(big.json(), 'PAYLOAD_TOO_LARGE');
  });

  it('405 for other methods on the action route', async () => {
    const res = await demo.app.inject({ method: 'GET', url: '/api/livecomponents/action' });
    expect([404, 405]).toContain(res.statusCode);
    expect(res.json().code).toMatch(/NOT_FOUND|METHOD_NOT_ALLOWED/);
  });
});
