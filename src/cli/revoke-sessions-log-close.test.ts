/**
 * `livecomponents revoke-sessions` keeps listening to SIGINT and SIGTERM until its security event is
 * delivered (found by review R3). The event goes out when the run closes its log: with
 * `LOG_DESTINATION=otlp:…` (batched) that close is the POST itself. The listeners were removed before
 * it, so a second Ctrl-C (or a container's SIGTERM) in that moment killed the process with Node's
 * default, and the event of tokens already revoked was lost — what 2eb8489 set out to prevent. Shown
 * in-process: the collector, receiving the event, finds the run's listeners gone (0) where 1 is due.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { revokeSessions } from './revoke-sessions.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-log-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('SIGINT and SIGTERM are still listened to while the event is posted to the OTLP collector, and not after', async () => {
  const file = join(dir, 'app.db');
  const db = createDatabase(`sqlite:${file}`);
  await migrateToLatest(db);
  await db.destroy();
  const signals = new EventEmitter();
  const seen: { listening: number; event: boolean }[] = [];
  const collector = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push({ listening: signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM'), event: body.includes('authn_token_revoked') });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  try {
    const port = (collector.address() as AddressInfo).port;
    const out: string[] = [];
    const err: string[] = [];
    const code = await revokeSessions(
      { all: true },
      { env: { DATABASE_URL: `sqlite:${file}`, LOG_DESTINATION: `otlp:http://127.0.0.1:${port}` }, out: (l) => out.push(l), err: (l) => err.push(l), signals },
    );
    expect([code, err, out.at(-1)]).toEqual([0, [], 'revoke-sessions: done']);
    expect(seen).toEqual([{ listening: 2, event: true }]);
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
  } finally {
    await new Promise((resolve) => collector.close(resolve));
  }
});
