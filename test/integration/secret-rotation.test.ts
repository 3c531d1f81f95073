/**
 * Rotating LC_SESSION_SECRET over HTTP: reference-app instances sharing one store (as instances
 * share Redis) and the state keys, each with its own session secret setting. A token of a fallback
 * passes and the answer carries a token of the current secret; a secret off the list, another
 * session's token and a replayed strict-mode token are refused with 403 and one `malicious_csrf`
 * each; and the rolling deploy of docs/deployment.md §9 keeps every step's neighbours agreeing,
 * where the one-step order does not.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { demoApp, openClient, testRuntime, tinyCounter, type TestClient } from '../helpers/demo.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
const apps: Demo[] = [];
const servers: FastifyInstance[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((d) => d.app.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const b64 = (): string => randomBytes(32).toString('base64');
const OLD = b64();
const NEW = b64();

/** Instances of one app: one store, one set of state keys. */
function cluster(rotation: 'per-session' | 'per-action' = 'per-session') {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  stores.push(store);
  const stateKeys = b64();
  return async (sessionSecret: string, sessionSecretFallbacks: string[] = []): Promise<Demo> => {
    const demo = await demoApp({ LC_STATE_KEYS: stateKeys }, { store, sessionSecret, sessionSecretFallbacks, csrf: { rotation } });
    apps.push(demo);
    return demo;
  };
}

/** An increment by `client` on `app` with `token` (default: its latest); a 200 answer's token becomes its latest. */
async function increment(app: FastifyInstance, client: TestClient, token = client.token): Promise<LightMyRequestResponse> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/livecomponents/action',
    headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': token },
    payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
  });
  if (res.statusCode === 200) client.token = (res.json() as { csrf_token: string }).csrf_token;
  return res;
}

const csrfRefusals = (demo: Demo): number => demo.events.events.filter((e) => e.event === 'malicious_csrf').length;

describe.each(['per-session', 'per-action'] as const)('LC_SESSION_SECRET_FALLBACKS over HTTP, %s', (rotation) => {
  it("a page of the old secret acts on an instance rotated to [new, old]; its answer's token is of the new secret only", async () => {
    const instance = cluster(rotation);
    const [old, rotated, newOnly] = [await instance(OLD), await instance(NEW, [OLD]), await instance(NEW)];
    const client = await openClient(old.app);
    const pageToken = client.token;
    const first = await increment(rotated.app, client);
    expect([first.statusCode, first.json().state]).toEqual([200, { count: 1 }]);
    const fresh = client.token;
    expect(fresh).not.toBe(pageToken);
    // Of the new secret: the instance that only has the old one refuses it, one with only the new one takes it.
    const refused = await increment(old.app, client, fresh);
    expect([refused.statusCode, refused.json().code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
    expect(csrfRefusals(old)).toBe(1);
    const taken = await increment(newOnly.app, client, fresh);
    expect([taken.statusCode, taken.json().state]).toEqual([200, { count: 2 }]);
    expect([csrfRefusals(rotated), csrfRefusals(newOnly)]).toEqual([0, 0]);
  });

  it('a token of a secret taken off the list is refused: 403, one malicious_csrf, nothing run', async () => {
    const instance = cluster(rotation);
    const [old, newOnly] = [await instance(OLD), await instance(NEW)];
    const client = await openClient(old.app);
    const res = await increment(newOnly.app, client);
    expect([res.statusCode, res.json().code, res.json().csrf_token]).toEqual([403, 'CSRF_TOKEN_INVALID', undefined]);
    expect(newOnly.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    // Nothing ran: the old page's next action, back on its own instance, counts from 0.
    const back = await increment(old.app, client);
    expect([back.statusCode, back.json().state]).toEqual([200, { count: 1 }]);
  });

  it("another session's token of a fallback secret is refused: 403, one malicious_csrf", async () => {
    const instance = cluster(rotation);
    const [old, rotated] = [await instance(OLD), await instance(NEW, [OLD])];
    const [victim, attacker] = [await openClient(old.app), await openClient(old.app)];
    const res = await increment(rotated.app, victim, attacker.token);
    expect([res.statusCode, res.json().code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
    expect(rotated.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
  });
});

describe('LC_SESSION_SECRET_FALLBACKS over HTTP, per-action single use', () => {
  it('a fallback token used once is refused when replayed, on the rotated instance and on the old one: 403, one malicious_csrf each', async () => {
    const instance = cluster('per-action');
    const [old, rotated] = [await instance(OLD), await instance(NEW, [OLD])];
    const client = await openClient(old.app);
    const token = client.token;
    expect((await increment(rotated.app, client, token)).statusCode).toBe(200);
    const again = await increment(rotated.app, client, token);
    const elsewhere = await increment(old.app, client, token);
    expect([again.statusCode, again.json().code, elsewhere.statusCode, elsewhere.json().code]).toEqual([403, 'CSRF_TOKEN_INVALID', 403, 'CSRF_TOKEN_INVALID']);
    expect([csrfRefusals(rotated), csrfRefusals(old)]).toEqual([1, 1]);
    // The action ran once.
    const next = await increment(rotated.app, client);
    expect([next.statusCode, next.json().state]).toEqual([200, { count: 2 }]);
  });
});

describe('rolling a new LC_SESSION_SECRET across two instances (docs/deployment.md §9)', () => {
  /** One page on `a`, then actions alternating a, b, a, b, each with the token the last answer gave. */
  async function alternate(a: Demo, b: Demo): Promise<number[]> {
    const client = await openClient(a.app);
    const statuses: number[] = [];
    for (const demo of [a, b, a, b]) statuses.push((await increment(demo.app, client)).statusCode);
    const pageOnB = await openClient(b.app);
    for (const demo of [a, b]) statuses.push((await increment(demo.app, pageOnB)).statusCode);
    return statuses;
  }

  it('two steps: each step, rolled out one instance at a time, leaves neighbours that take each other’s tokens', async () => {
    for (const rotation of ['per-session', 'per-action'] as const) {
      const instance = cluster(rotation);
      // Start: [old]. Step 1: [old, fallback new] (the new one verifies, nothing signs with it yet).
      // Step 2: [new, fallback old]. Step 3, once pages and sessions of the old secret are gone: [new].
      const settings: [string, string[]][] = [
        [OLD, []],
        [OLD, [NEW]],
        [NEW, [OLD]],
        [NEW, []],
      ];
      for (let step = 1; step < settings.length; step++) {
        const [before, after] = [settings[step - 1], settings[step]] as [[string, string[]], [string, string[]]];
        const [a, b] = [await instance(...after), await instance(...before)];
        expect(await alternate(a, b), `${rotation}, step ${step}, new instance first`).toEqual([200, 200, 200, 200, 200, 200]);
        expect(await alternate(b, a), `${rotation}, step ${step}, old instance first`).toEqual([200, 200, 200, 200, 200, 200]);
        expect([csrfRefusals(a), csrfRefusals(b)]).toEqual([0, 0]);
      }
    }
  });

  it('one step ([new, fallback old] beside [old]) breaks: the old instance refuses every token the new one issued, 403 and one malicious_csrf each', async () => {
    const instance = cluster();
    const [rotated, old] = [await instance(NEW, [OLD]), await instance(OLD)];
    // Its own page's token passes on both; each answer of the rotated instance carries a token the old one refuses.
    expect(await alternate(rotated, old)).toEqual([200, 403, 200, 403, 200, 403]);
    expect([csrfRefusals(rotated), csrfRefusals(old)]).toEqual([0, 3]);
  });
});

describe('form posts (verifyForm) during a rotation', () => {
  /** A bare app on `store`: a page with a form token on GET /, a form handler on POST /form. */
  async function formApp(store: Store, stateKeys: string, sessionSecret: string, sessionSecretFallbacks: string[], rotation: 'per-session' | 'per-action') {
    const events = memorySecurityEvents();
    const runtime = await testRuntime([tinyCounter], store, { stateKeys, sessionSecret, sessionSecretFallbacks, events, csrf: { rotation } });
    const server = Fastify();
    servers.push(server);
    await server.register(livecomponents, { runtime });
    server.get('/', async (request, reply) => {
      const view = await server.livecomponents.view(request, reply);
      return reply.type('text/html').send(`<form><input name="_csrf_token" value="${await view.formToken()}"></form>`);
    });
    server.post('/form', async (request, reply) => {
      const session = await server.livecomponents.verifyForm(request, (request.body as { _csrf_token?: unknown })._csrf_token);
      return reply.code(session === null ? 403 : 204).send();
    });
    await server.ready();
    return { server, events };
  }

  it.each(['per-session', 'per-action'] as const)('%s: a form of the old secret posts to an instance rotated to [new, old]; off the list it is refused, one malicious_csrf', async (rotation) => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    stores.push(store);
    const stateKeys = b64();
    const old = await formApp(store, stateKeys, OLD, [], rotation);
    const rotated = await formApp(store, stateKeys, NEW, [OLD], rotation);
    const newOnly = await formApp(store, stateKeys, NEW, [], rotation);
    const post = async (server: FastifyInstance, cookie: string, token: string) =>
      (await server.inject({ method: 'POST', url: '/form', headers: { cookie, 'content-type': 'application/json' }, payload: JSON.stringify({ _csrf_token: token }) })).statusCode;
    const page = async () => {
      const res = await old.server.inject({ method: 'GET', url: '/' });
      const cookie = String(res.headers['set-cookie']).split(';')[0] as string;
      return { cookie, token: /value="([^"]+)"/.exec(res.body)?.[1] as string };
    };
    const first = await page();
    expect(await post(newOnly.server, first.cookie, first.token)).toBe(403);
    expect(newOnly.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    expect(await post(rotated.server, first.cookie, first.token)).toBe(204);
    expect(rotated.events.events).toEqual([]);
  });
});
