/**
 * Development without LC_STATE_KEYS keeps its state key in <dataDir>/state-keys/LC_STATE_KEYS. When
 * that file is deleted or replaced (or a fresh clone runs against an old store), no stored state
 * opens: each page shows its component afresh and the first action on it answers 409 STATE_INVALID
 * (PROTOCOL §3), logged as crypt_decrypt_fail (unknown_key), the words of a key rotation rolling out.
 * The developer is told once per process that the state key changed; the client's answer and
 * production's log stay as they were.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { html } from '../core/html.js';
import { livecomponents } from '../http/plugin.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createMemoryStore } from '../store/memory/index.js';
import type { Store } from '../store/types.js';
import { openClient, tinyCounter } from '../../test/helpers/demo.js';
import { createLiveComponents, type LiveComponentsOptions } from './setup.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A process of the app: the counter on `counter:main` and `counter:side` at `/`, its warnings and events kept. */
async function start(store: Store, options: Partial<LiveComponentsOptions>) {
  const warnings: string[] = [];
  const events = memorySecurityEvents();
  const runtime = await createLiveComponents({
    components: [tinyCounter],
    store,
    appOrigin: 'http://localhost:3000',
    sessionSecret: SECRET,
    events,
    warn: (message) => warnings.push(message),
    ...options,
  });
  const app = Fastify();
  apps.push(app);
  await app.register(livecomponents, { runtime });
  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    return reply.type('text/html').send(view.document({ title: 't', body: html`${await view.mount('counter:main')}${await view.mount('counter:side')}` }));
  });
  await app.ready();
  return { app, warnings, events };
}

const SECRET = randomBytes(32).toString('base64');
const HINT = /state key changed/;

describe('stored state after the development state key changed', () => {
  it('answers 409 STATE_INVALID as always, and logs once that the development key changed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-dev-key-'));
    const store = createMemoryStore();
    const before = await start(store, { dataDir, production: false });
    const client = await openClient(before.app);
    expect((await client.action('counter:main', 'inc')).statusCode).toBe(200);
    expect((await client.action('counter:side', 'inc')).statusCode).toBe(200);
    expect(before.warnings.filter((w) => HINT.test(w))).toEqual([]);

    // The developer deletes the key file; the next start generates another.
    rmSync(join(dataDir, 'state-keys', 'LC_STATE_KEYS'));
    const after = await start(store, { dataDir, production: false });
    const page = await after.app.inject({ url: '/', headers: { cookie: client.cookie } });
    expect(page.statusCode).toBe(200);
    const act = (componentId: string) =>
      after.app.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
        payload: JSON.stringify({ component_id: componentId, action: 'inc', params: {} }),
      });
    const refused = await act('counter:main');
    // PROTOCOL §3's answer, word for word: nothing of the cause reaches the client.
    expect([refused.statusCode, refused.json()]).toEqual([
      409,
      { error: 'The component state could not be verified. Reload the component.', code: 'STATE_INVALID', request_id: expect.any(String), csrf_token: expect.any(String) },
    ]);
    expect((await act('counter:side')).statusCode).toBe(409);
    expect(after.events.events.filter((e) => e.event === 'crypt_decrypt_fail')).toHaveLength(4);
    const hints = after.warnings.filter((w) => HINT.test(w));
    expect(hints).toEqual([expect.stringContaining(join(dataDir, 'state-keys', 'LC_STATE_KEYS'))]);
    expect(hints[0]).not.toContain(SECRET);
    // The security events say what they said before: the hint is a line of its own.
    expect(after.events.events.map((e) => e.description)).toEqual([
      'Stored state of counter:main failed verification (unknown_key); shown afresh, kept for the instances that have its key',
      'Stored state of counter:side failed verification (unknown_key); shown afresh, kept for the instances that have its key',
      'Stored state of counter:main failed verification (unknown_key); discarded',
      'Stored state of counter:side failed verification (unknown_key); discarded',
    ]);
  });

  it('says nothing more in production: the same answer and events, no hint', async () => {
    const store = createMemoryStore();
    const [oldKey, newKey] = [0, 1].map(() => randomBytes(32).toString('base64')) as [string, string];
    const before = await start(store, { stateKeys: oldKey, production: true });
    const client = await openClient(before.app);
    expect((await client.action('counter:main', 'inc')).statusCode).toBe(200);
    const after = await start(store, { stateKeys: newKey, production: true });
    expect((await after.app.inject({ url: '/', headers: { cookie: client.cookie } })).statusCode).toBe(200);
    const refused = await after.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {} }),
    });
    expect([refused.statusCode, refused.json()]).toEqual([
      409,
      { error: 'The component state could not be verified. Reload the component.', code: 'STATE_INVALID', request_id: expect.any(String), csrf_token: expect.any(String) },
    ]);
    expect(after.events.events.map((e) => e.description)).toEqual([
      'Stored state of counter:main failed verification (unknown_key); shown afresh, kept for the instances that have its key',
      'Stored state of counter:side failed verification (unknown_key); shown afresh, kept for the instances that have its key',
      'Stored state of counter:main failed verification (unknown_key); discarded',
    ]);
    expect(after.warnings).toEqual([]);
  });
});
