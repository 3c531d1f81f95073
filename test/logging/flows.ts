/**
 * User journeys for the e2e redaction test. Each flow says which security events it causes; the
 * test runs them all on one app and then searches the logs for every secret that went by.
 * Adding a journey (sign-in, password reset…) is one entry in `FLOWS`.
 */
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { SecurityEventName } from '../../src/ops/security-events.js';
import { CARELESS_ROUTE, type LoggedApp } from './logged-app.js';

export interface Flow {
  name: string;
  /** Security events this flow makes the app log, by name. */
  events: Partial<Record<SecurityEventName, number>>;
  run(ctx: LoggedApp): Promise<void>;
}

/** A random secret of this run, registered so the test looks for it. */
export function secret(ctx: LoggedApp, label: string): string {
  const value = `${label}-${randomBytes(12).toString('base64url')}`;
  ctx.secrets.add(value);
  return value;
}

interface Browser {
  cookie: string;
  token: string;
  action(component: string, action: string, params?: object, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

/** Opens a page like a browser and keeps its session cookie and latest CSRF token. */
async function browse(ctx: LoggedApp, path: string): Promise<Browser> {
  const page = await ctx.request({ method: 'GET', url: path });
  expect(page.statusCode).toBe(200);
  const setCookie = page.headers['set-cookie'];
  const b: Browser = {
    cookie: String(Array.isArray(setCookie) ? setCookie[0] : setCookie).split(';')[0] as string,
    token: /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] as string,
    async action(component, action, params = {}, headers = {}) {
      const res = await ctx.request({
        method: 'POST',
        url: '/api/livecomponents/action',
        headers: { 'content-type': 'application/json', cookie: b.cookie, 'x-csrf-token': b.token, ...headers },
        payload: JSON.stringify({ component_id: component, action, params }),
      });
      const fresh = (res.json() as { csrf_token?: string }).csrf_token;
      if (fresh) b.token = fresh;
      return res;
    },
  };
  return b;
}

const pageAndCounter: Flow = {
  name: 'a page, then actions with the CSRF header and with the body field',
  events: {},
  async run(ctx) {
    const b = await browse(ctx, '/');
    expect((await b.action('counter:main', 'increment')).statusCode).toBe(200);
    expect((await b.action('counter:main', 'increment')).statusCode).toBe(200);
    const viaBody = await ctx.request({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: b.cookie },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'decrement', params: {}, _csrf_token: b.token }),
    });
    expect(viaBody.json()).toMatchObject({ state: { count: 1 } });
  },
};

const idempotentOrders: Flow = {
  name: 'idempotent orders: first call, replay, key reused with other params',
  events: {},
  async run(ctx) {
    const b = await browse(ctx, '/orders');
    const key = { 'idempotency-key': `order-${randomBytes(6).toString('hex')}` };
    expect((await b.action('order:main', 'createOrder', { item: 'tea' }, key)).statusCode).toBe(200);
    expect((await b.action('order:main', 'createOrder', { item: 'tea' }, key)).headers['idempotent-replayed']).toBe('true');
    expect((await b.action('order:main', 'createOrder', { item: 'cake' }, key)).statusCode).toBe(422);
  },
};

const csrfRefusals: Flow = {
  name: 'CSRF refusals: another session’s token, and a cross-site origin (403: one malicious_csrf each, the CORS layer leaves actions to the CSRF stage)',
  events: { malicious_csrf: 2 },
  async run(ctx) {
    const victim = await browse(ctx, '/');
    const attacker = await browse(ctx, '/');
    const stolen = await ctx.request({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: victim.cookie, 'x-csrf-token': attacker.token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    expect(stolen.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    const crossSite = await victim.action('counter:main', 'increment', {}, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(crossSite.statusCode).toBe(403);
  },
};

const paymentLimit: Flow = {
  name: 'payments up to the rate limit (429), a validation error (400)',
  events: { excess_rate_limit_exceeded: 1 },
  async run(ctx) {
    ctx.secrets.add('tok_demo_sensitive_4242'); // the payment component's sensitive state field
    const b = await browse(ctx, '/payment');
    const negative = await b.action('payment:main', 'processPayment', { amount: -5 }, { 'idempotency-key': 'pay-neg' });
    expect(negative.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push((await b.action('payment:main', 'processPayment', { amount: 10 }, { 'idempotency-key': `pay-${i}` })).statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 200, 429]);
  },
};

const credentialsInRequests: Flow = {
  name: 'credentials where request logs look: query string, Authorization header, action params',
  events: {},
  async run(ctx) {
    const token = secret(ctx, 'query-token');
    const password = secret(ctx, 'query-password');
    const page = await ctx.request({
      method: 'GET',
      url: `/?token=${token}&password=${password}&page=2`,
      headers: { authorization: `Bearer ${secret(ctx, 'bearer')}` },
    });
    expect(page.statusCode).toBe(200);
    const b = await browse(ctx, '/orders');
    const res = await b.action('order:main', 'createOrder', { item: 'x', password: secret(ctx, 'param-password'), token: secret(ctx, 'param-token') });
    expect(res.statusCode).toBe(200);
  },
};

const carelessLogging: Flow = {
  name: 'a route that logs the whole request (headers, cookies, body)',
  events: {},
  async run(ctx) {
    const b = await browse(ctx, '/');
    const basic = Buffer.from(`admin:${secret(ctx, 'basic')}`).toString('base64');
    ctx.secrets.add(basic);
    const res = await ctx.request({
      method: 'POST',
      url: CARELESS_ROUTE,
      headers: {
        cookie: b.cookie,
        'x-csrf-token': b.token,
        authorization: `Basic ${basic}`,
        'content-type': 'application/json',
      },
      payload: JSON.stringify({ email: 'a@example.com', password: secret(ctx, 'body-password'), refresh_token: secret(ctx, 'body-refresh') }),
    });
    expect(res.statusCode).toBe(200);
  },
};

export const FLOWS: readonly Flow[] = [pageAndCounter, idempotentOrders, csrfRefusals, paymentLimit, credentialsInRequests, carelessLogging];
