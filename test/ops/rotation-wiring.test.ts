/**
 * The reference app reads the rotation variables from its configuration (not only process.env):
 * HEALTH_TOKEN_PREVIOUS and METRICS_TOKEN_PREVIOUS are accepted beside their tokens, and
 * LC_SESSION_SECRET_FALLBACKS verifies a page of the old secret. Wrong tokens stay 401, one
 * authz_fail each.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { demoApp, openClient } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
const apps: Demo[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((d) => d.app.close()));
});
const hex = (): string => randomBytes(32).toString('hex');

describe('rotation variables in the reference app', () => {
  it('METRICS_TOKEN_PREVIOUS and HEALTH_TOKEN_PREVIOUS are accepted beside their tokens; a wrong token is 401 with one authz_fail', async () => {
    const [metricsNew, metricsOld, healthNew, healthOld] = [hex(), hex(), hex(), hex()];
    const demo = await demoApp({ METRICS_TOKEN: metricsNew, METRICS_TOKEN_PREVIOUS: metricsOld, HEALTH_TOKEN: healthNew, HEALTH_TOKEN_PREVIOUS: healthOld });
    apps.push(demo);
    const get = async (url: string, token: string) => (await demo.app.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode;
    expect([await get('/metrics', metricsNew), await get('/metrics', metricsOld), await get('/metrics', hex())]).toEqual([200, 200, 401]);
    expect([await get('/health', healthNew), await get('/health', healthOld), await get('/health', hex())]).toEqual([200, 200, 401]);
    expect(demo.events.events.filter((e) => e.event === 'authz_fail')).toHaveLength(2);
    // Each request let in by a previous token counted once, under its own name (this scrape sends the current token).
    const scrape = (await demo.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${metricsNew}` } })).body;
    expect(scrape).toContain('livecomponents_secret_fallback_used_total{secret="metrics_token"} 1\n');
    expect(scrape).toContain('livecomponents_secret_fallback_used_total{secret="health_token"} 1\n');
  });

  it('exposes how many older values each secret still has configured (livecomponents_secret_fallbacks_configured)', async () => {
    const key = (): string => randomBytes(32).toString('base64');
    const metricsToken = hex();
    const rotating = await demoApp({
      LC_STATE_KEYS: [key(), key(), key()].join(','),
      LC_SESSION_SECRET: key(),
      LC_SESSION_SECRET_FALLBACKS: [key(), key()].join(','),
      HEALTH_TOKEN: hex(),
      HEALTH_TOKEN_PREVIOUS: hex(),
      METRICS_TOKEN: metricsToken,
      METRICS_TOKEN_PREVIOUS: hex(),
    });
    apps.push(rotating);
    const configured = (scrape: string) => [...scrape.matchAll(/^livecomponents_secret_fallbacks_configured\{secret="([a-z_]+)"\} (\d+)$/gm)].map((m) => `${m[1]}=${m[2]}`).sort();
    const scrape = (await rotating.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${metricsToken}` } })).body;
    expect(configured(scrape)).toEqual(['health_token=1', 'metrics_token=1', 'session_secret=2', 'state_key=2']);
    const settled = await demoApp({ LC_STATE_KEYS: key() });
    apps.push(settled);
    expect(configured((await settled.app.inject({ url: '/metrics' })).body)).toEqual(['health_token=0', 'metrics_token=0', 'session_secret=0', 'state_key=0']);
  });

  it('LC_SESSION_SECRET_FALLBACKS from the configuration verifies a page of the old secret', async () => {
    const [stateKeys, oldSecret] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    const old = await demoApp({ LC_STATE_KEYS: stateKeys, LC_SESSION_SECRET: oldSecret });
    apps.push(old);
    const client = await openClient(old.app);
    // Another instance on its own store would not know the session: same store through the framework option.
    const rotated = await demoApp({ LC_STATE_KEYS: stateKeys, LC_SESSION_SECRET_FALLBACKS: oldSecret }, { store: (old.app.livecomponents.runtime.store) });
    apps.push(rotated);
    const res = await rotated.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    expect(res.statusCode).toBe(200);
    // Counted by the rotated instance, the one whose fallback let the token in.
    const scrape = (await rotated.app.inject({ url: '/metrics' })).body;
    expect(scrape).toContain('livecomponents_secret_fallback_used_total{secret="session_secret"} 1\n');
    expect(scrape).toContain('livecomponents_secret_fallback_used_total{secret="state_key"} 0\n');
  });
});
