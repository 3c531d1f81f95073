/**
 * A `REDIS_URL` whose scheme does not match the server. `rediss://` to a Redis without TLS: the
 * server waits for the end of a command that never comes, and the store's log, its readiness reason
 * and `doctor --connect` said only `connect ETIMEDOUT` / "timed out". `redis://` to a Redis that takes
 * only TLS: a reset (`read ECONNRESET`). Each now says which scheme to try.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REDIS_AVAILABLE, sleep, startRedis, useRedisServer, type RedisServer } from '../../../test/redis/server.js';
import { runDoctorConnected } from '../../cli/doctor.js';
import { schemeHint } from './connection.js';
import { createRedisStore } from './index.js';

const NO_TLS = 'the server did not answer TLS: if it does not use TLS, use redis:// instead of rediss:// in REDIS_URL';
const ONLY_TLS = 'the server closed the connection before answering: if it takes only TLS, use rediss:// instead of redis:// in REDIS_URL';

/** An error as ioredis reports it. */
function failure(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('schemeHint', () => {
  it('rediss:// still handshaking: a timeout, a reset or an OpenSSL record error get the hint, as does a deadline of the caller', () => {
    expect(schemeHint(true, 'connecting', failure('connect ETIMEDOUT', 'ETIMEDOUT'))).toBe(NO_TLS);
    expect(schemeHint(true, 'connecting', failure('Client network socket disconnected before secure TLS connection was established', 'ECONNRESET'))).toBe(NO_TLS);
    expect(schemeHint(true, 'connecting', failure('write EPROTO …:error:0A00010B:SSL routines:ssl3_get_record:wrong version number', 'EPROTO'))).toBe(NO_TLS);
    expect(schemeHint(true, 'connecting')).toBe(NO_TLS);
  });

  it('rediss:// refused outright, or by a TLS server (a certificate), or once ready: no hint', () => {
    expect(schemeHint(true, 'connecting', failure('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'))).toBeUndefined();
    expect(schemeHint(true, 'connecting', failure('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'))).toBeUndefined();
    expect(schemeHint(true, 'ready', failure('read ECONNRESET', 'ECONNRESET'))).toBeUndefined();
  });

  it('redis:// reset after connecting, before ready: the hint the other way; a reset once ready is an outage', () => {
    expect(schemeHint(false, 'connect', failure('read ECONNRESET', 'ECONNRESET'))).toBe(ONLY_TLS);
    expect(schemeHint(false, 'connect', failure('write EPIPE', 'EPIPE'))).toBe(ONLY_TLS);
    expect(schemeHint(false, 'ready', failure('read ECONNRESET', 'ECONNRESET'))).toBeUndefined();
    expect(schemeHint(false, 'connecting', failure('connect ETIMEDOUT', 'ETIMEDOUT'))).toBeUndefined();
  });
});

describe.skipIf(!REDIS_AVAILABLE)('rediss:// to a Redis without TLS', () => {
  const redis = useRedisServer();

  it('the store reports the hint with the timeout, and its calls carry it (was: "connect ETIMEDOUT" alone)', async () => {
    const errors: string[] = [];
    // A short command timeout: the connect timeout is four of them (at least 1 s).
    const store = createRedisStore({ url: `rediss://127.0.0.1:${redis.server.port}`, commandTimeoutMs: 250, onConnectionError: (e) => errors.push(e.message) });
    try {
      // A liveness bound, not a timing assertion.
      for (let i = 0; i < 1_000 && errors.length === 0; i++) await sleep(10);
      expect(errors[0]).toBe(`connect ETIMEDOUT (${NO_TLS})`);
      await expect(store.get('k')).rejects.toThrow(NO_TLS);
    } finally {
      await store.close();
    }
  });

  it('doctor --connect adds the hint to its redis-server line (was: "connecting timed out after 500 ms")', async () => {
    const report = await runDoctorConnected({ REDIS_URL: `rediss://127.0.0.1:${redis.server.port}`, DATABASE_URL: 'sqlite::memory:' }, { timeoutMs: 500 });
    expect(report.lines.filter((l) => l.includes('redis-server'))).toEqual([`FAIL redis-server: REDIS_URL: Redis did not answer (connecting timed out after 500 ms): ${NO_TLS}`]);
  });
});

/** A self-signed certificate for a TLS Redis needs openssl. */
const OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
if (REDIS_AVAILABLE && !OPENSSL) console.warn('scheme-hint.test.ts: SKIPPED redis:// to a TLS-only port: openssl not found');

describe.skipIf(!REDIS_AVAILABLE || !OPENSSL)('redis:// to a port of Redis that takes only TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-redis-tls-'));
  let server: RedisServer;
  let tlsPort: number;
  beforeAll(async () => {
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    tlsPort = await freePort();
    // Its plain port answers the helper's PING; the test talks to the TLS one.
    server = await startRedis(undefined, ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-auth-clients', 'no']);
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('doctor --connect adds the hint the other way (was: "read ECONNRESET" alone)', async () => {
    const report = await runDoctorConnected({ REDIS_URL: `redis://127.0.0.1:${tlsPort}`, DATABASE_URL: 'sqlite::memory:' }, { timeoutMs: 2_000 });
    const line = report.lines.find((l) => l.includes('redis-server'));
    expect(line).toMatch(/^FAIL redis-server: REDIS_URL: Redis did not answer \((read|write) ECONNRESET\): /);
    expect(line?.endsWith(ONLY_TLS)).toBe(true);
  });
});
