import { describe, expect, it } from 'vitest';
import { CENSOR, censorLine, closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { capture } from './capture.js';

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
    ['a form body', 'email=a@b.c&password=hunter2', `email=a@b.c&password=${CENSOR}`],
    ['a CSRF token', `token ${CSRF} refused`, `token v1.${CENSOR} refused`],
    ['a bearer credential', 'got Bearer abcdefgh12345678 from client', `got Bearer ${CENSOR} from client`],
    ['a JWT', `jwt ${JWT} expired`, `jwt ${CENSOR} expired`],
  ])('censors %s inside free text', (_name, msg, expected) => {
    const out = JSON.parse(censorLine(JSON.stringify({ level: 30, msg }))) as { msg: string };
    expect(out.msg).toBe(expected);
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
});
