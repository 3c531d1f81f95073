import { describe, expect, it } from 'vitest';
import { CENSOR, censorLine, closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { capture } from './capture.js';
import { loggedApp } from './logged-app.js';

const CSRF = `v1.${'Ab3_-x'.repeat(14)}ab`; // 86 base64url characters, like a per-session token
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('censorLine (the textual layer)', () => {
  it('censors string values of secret-named keys at any depth, and string arrays', () => {
    const line = JSON.stringify({ a: { b: { c: { refresh_token: 'r-123', Authorization: 'Basic eA==' } } }, stateKeys: ['k1', 'k2'] });
    expect(JSON.parse(censorLine(line))).toEqual({
      a: { b: { c: { refresh_token: CENSOR, Authorization: CENSOR } } },
      stateKeys: [CENSOR],
    });
  });

  it('keeps numbers under secret-like keys, idempotency keys and lines without secrets as they are', () => {
    const line = '{"level":30,"tokens_revoked":3,"idempotency_key":"order-42","headers":{"idempotency-key":"k-1"},"msg":"ok"}\n';
    expect(censorLine(line)).toBe(line);
  });

  it.each([
    ['a session cookie', 'cookie was lc_session=AbCdEfGhIjKlMnOpQrStUv; theme=dark', `cookie was lc_session=${CENSOR}; theme=dark`],
    ['a __Host- cookie', '__Host-lc_session=AbCdEfGhIjKlMnOpQrStUv.dXNlcg', `__Host-lc_session=${CENSOR}`],
    ['a query string', 'GET /reset?token=s3cr3t&next=/home', `GET /reset?token=${CENSOR}&next=/home`],
    ['a query string inside a value', 'next=/reset?token=s3cr3t&x=1', `next=/reset?token=${CENSOR}&x=1`],
    ['a form body', 'email=a@b.c&password=hunter2', `email=a@b.c&password=${CENSOR}`],
    ['a CSRF token', `token ${CSRF} refused`, `token v1.${CENSOR} refused`],
    ['a bearer credential', 'got Bearer abcdefgh12345678 from client', `got Bearer ${CENSOR} from client`],
    ['a JWT', `jwt ${JWT} expired`, `jwt ${CENSOR} expired`],
    ['a URL password', 'request to https://u:pA55:w0rd@db.example/x failed', `request to https://u:${CENSOR}@db.example/x failed`],
    ['a URL password without a user', 'connect to redis://:s3cr3t@redis:6379 failed', `connect to redis://:${CENSOR}@redis:6379 failed`],
    ['nothing in a URL with a port but no password', 'GET https://api.example:8443/a@b?x=1', 'GET https://api.example:8443/a@b?x=1'],
    ['short password names', 'pwd=a1&pass=b2&passcode=c3&passphrase=d4&compass=north', `pwd=${CENSOR}&pass=${CENSOR}&passcode=${CENSOR}&passphrase=${CENSOR}&compass=north`],
  ])('censors %s inside free text', (_name, msg, expected) => {
    const out = JSON.parse(censorLine(JSON.stringify({ level: 30, msg }))) as { msg: string };
    expect(out.msg).toBe(expected);
  });
});

/**
 * Every line an attacker can shape passes through censorLine (the "incoming request" line holds the
 * raw URL). A pattern with polynomial backtracking turned `?token-token-…` into seconds of blocked
 * event loop. 16 KB is about what Node lets through in headers; linear patterns take about a
 * millisecond on it, polynomial ones seconds to minutes. The bound is loose for shared machines.
 */
describe('censorLine on hostile input', () => {
  const KB16 = 16 * 1024;
  const fill = (unit: string, tail = '') => unit.repeat(Math.ceil(KB16 / unit.length)) + tail;

  it.each([
    ['secret words joined by dashes', fill('token-')],
    ['secret words joined by dashes, then =', fill('token-', '=x')],
    ['dashed letters, then =', fill('a-', '=x')],
    ['one long name run', fill('a')],
    ['one long secret-looking name run', fill('tokenpassword_session')],
    ['many pairs', fill('a=')],
    ['many empty secret pairs', fill('token=&')],
    ['JWT starts joined by dashes', fill('eyJ-')],
    ['JWT starts, runs and dots', fill(`${'eyJ-'.repeat(40)}.`)],
    ['CSRF prefixes', fill('v1.')],
    ['URL schemes', fill('a://')],
    ['a URL scheme, then colons', `x://${':'.repeat(KB16)}`],
    ['dotted scheme-like runs', fill('a.', '://u:p')],
    ['Bearer then spaces', `Bearer ${' '.repeat(KB16)}`],
    ['JSON-looking text', fill('"a":["b",')],
  ])('censors %s within 200 ms (linear time)', (_name, hostile) => {
    const line = `${JSON.stringify({ level: 30, req: { url: `/?${hostile}` }, headers: { 'x-any': hostile }, msg: hostile })}\n`;
    const started = performance.now();
    censorLine(line);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('answers and logs (censored) a request whose URL is built to make redaction backtrack', async () => {
    const ctx = await loggedApp();
    try {
      // ~6 KB of secret-looking name that no `=` ends, then a real pair.
      const started = performance.now();
      const res = await ctx.request({ method: 'GET', url: `/?${'token-'.repeat(1000)}&token=s3cr3t-value` });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(res.statusCode).toBeLessThan(500);
    } finally {
      await ctx.close();
    }
    const incoming = ctx.out.records().filter((r) => r['msg'] === 'incoming request');
    expect(incoming.map((r) => (r['req'] as { url: string }).url)).toEqual([`/?${'token-'.repeat(1000)}&token=${CENSOR}`]);
    expect(ctx.out.text()).not.toContain('s3cr3t-value');
  });
});

describe('createLogger redaction (both layers on a real logger)', () => {
  it('censors header, body and nested credential fields and keeps the rest', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out, redact: ['body.card'] });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer zzzzzzzzzz', cookie: 'lc_session=abc', 'x-csrf-token': CSRF, 'idempotency-key': 'k-7' } },
        res: { headers: { 'set-cookie': ['lc_session=abc; HttpOnly'] } },
        body: { email: 'a@b.c', password: 'hunter2', _csrf_token: CSRF, card: '4111111111111111' },
        password: 'top-level',
        user: { token: 'tok', profile: { secret: 'deep' } },
      },
      'signed in',
    );
    await closeLogger(logger);
    const [record, ...rest] = out.records();
    expect(rest).toHaveLength(0);
    expect(record).toMatchObject({
      level: 30,
      name: 'livecomponents',
      msg: 'signed in',
      req: { headers: { authorization: CENSOR, cookie: CENSOR, 'x-csrf-token': CENSOR, 'idempotency-key': 'k-7' } },
      res: { headers: { 'set-cookie': CENSOR } },
      body: { email: 'a@b.c', password: CENSOR, _csrf_token: CENSOR, card: CENSOR },
      password: CENSOR,
      user: { token: CENSOR, profile: { secret: CENSOR } },
    });
    expect(typeof record?.['time']).toBe('string');
  });

  it('censors passwords in URLs (error message and stack, config values, text) and under short key names', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const S = 'S3cr3tValue';
    logger.error({ err: new Error(`request to https://u:${S}@db.example/x failed`) }, 'query failed');
    logger.info({ DATABASE_URL: `postgres://app:${S}@db/app` }, 'config');
    logger.warn(`connect to redis://:${S}@redis:6379 failed`);
    logger.info({ body: { pwd: S, pass: S, passcode: S, passphrase: S, compass: 'north', passenger: 'Ann' } }, 'form');
    await closeLogger(logger);
    expect(out.text()).not.toContain(S);
    const [err, config, text, form] = out.records();
    expect((err?.['err'] as { message: string; stack: string }).message).toBe(`request to https://u:${CENSOR}@db.example/x failed`);
    expect((err?.['err'] as { stack: string }).stack).toContain(`https://u:${CENSOR}@db.example/x`);
    expect(config?.['DATABASE_URL']).toBe(`postgres://app:${CENSOR}@db/app`);
    expect(text?.['msg']).toBe(`connect to redis://:${CENSOR}@redis:6379 failed`);
    expect(form?.['body']).toEqual({ pwd: CENSOR, pass: CENSOR, passcode: CENSOR, passphrase: CENSOR, compass: 'north', passenger: 'Ann' });
  });
});
