/**
 * `@fastify/etag` registered app-wide beside the plugin: it tags every string answer, pages and
 * actions included, and answers 304 to any method whose `If-None-Match` matches (a POST's too). Every page
 * and action answer carries a freshly masked CSRF token (and an error its request id), so a tag never
 * matches twice: no 304, the full answer. The runtime's script keeps its own ETag and 304.
 */
import etag from '@fastify/etag';
import { afterEach, expect, it } from 'vitest';
import { appsToClose, ecosystemApp, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

const start = async () =>
  apps.track(
    await ecosystemApp({
      before: (app) => app.register(etag),
      after: (app) => void app.post('/constant', async () => 'the same every time'),
    }),
  );

it("what it does to any method: an app's POST answering the same text, sent back its ETag, is a 304", async () => {
  const app = await start();
  const first = await app.inject({ method: 'POST', url: '/constant' });
  const again = await app.inject({ method: 'POST', url: '/constant', headers: { 'if-none-match': first.headers.etag as string } });
  expect([first.statusCode, again.statusCode, again.body]).toEqual([200, 304, '']);
});

it('a page sent back its ETag: 200 with a new page (a new token), not 304', async () => {
  const app = await start();
  const client = await openClient(app);
  const first = await app.inject({ url: '/', headers: { cookie: client.cookie } });
  const again = await app.inject({ url: '/', headers: { cookie: client.cookie, 'if-none-match': first.headers.etag as string } });
  expect([first.statusCode, again.statusCode, again.headers['cache-control']]).toEqual([200, 200, 'no-store']);
  expect(again.headers.etag).not.toBe(first.headers.etag);
});

it('an action replayed with its idempotency key and the first answer’s ETag: 200 with the replay, not 304', async () => {
  const app = await start();
  const client = await openClient(app);
  const first = await client.action('counter:main', 'inc', {}, { headers: { 'idempotency-key': 'k-1' } });
  const replay = await client.action('counter:main', 'inc', {}, { headers: { 'idempotency-key': 'k-1', 'if-none-match': first.headers.etag as string } });
  expect([first.statusCode, replay.statusCode, replay.headers['idempotent-replayed']]).toEqual([200, 200, 'true']);
  expect(replay.json<{ state: unknown }>().state).toEqual({ n: 1 });
});

it("an error answer sent back its ETag: the same error again (a new request id), not 304", async () => {
  const app = await start();
  const bad = { method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json' }, payload: '{' } as const;
  const first = await app.inject(bad);
  const again = await app.inject({ ...bad, headers: { ...bad.headers, 'if-none-match': first.headers.etag as string } });
  expect([first.statusCode, again.statusCode, again.json<{ code: string }>().code]).toEqual([400, 400, 'INVALID_REQUEST']);
});

it("the runtime's script keeps our ETag, and its 304", async () => {
  const app = await start();
  const script = await app.inject({ url: '/livecomponents/client.js' });
  expect(script.headers.etag).toMatch(/^"[\w-]{27}"$/);
  const again = await app.inject({ url: '/livecomponents/client.js', headers: { 'if-none-match': script.headers.etag as string } });
  expect([again.statusCode, again.headers.etag, again.body]).toEqual([304, script.headers.etag, '']);
});
