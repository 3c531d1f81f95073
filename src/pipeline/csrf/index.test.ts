import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { isLiveError } from '../../core/errors.js';
import { memorySecurityEvents } from '../../ops/security-events.js';
import type { Session } from '../../session/types.js';
import { createMemoryStore } from '../../store/memory/index.js';
import { ok, type ActionContext, type Outcome } from '../types.js';
import { createCsrfService, createCsrfStage, type CsrfService } from './index.js';

const APP = 'https://app.example.com';
const EXTRA = 'https://admin.example.com';

function newSession(): Session {
  const id = randomBytes(16).toString('base64url');
  return { id, key: createHash('sha256').update(id).digest('base64url'), userId: null, createdAt: 0 };
}

function setup(csrf: CsrfService = createCsrfService({ secret: Buffer.alloc(32, 3) })) {
  const events = memorySecurityEvents();
  // Configured values are normalised at start-up: case, default port and a bare trailing slash.
  const stage = createCsrfStage({ csrf, events, origins: { appOrigin: APP, allowed: ['HTTPS://Admin.Example.com:443/'] } });
  const next = vi.fn((_ctx: ActionContext): Promise<Outcome> => Promise.resolve(ok({ html: '<p>ok</p>', state: {} })));
  const session = newSession();
  function context(headers: Record<string, string | string[] | undefined>, bodyToken?: string, who: Session = session): ActionContext {
    const request = { requestId: 'r1', ip: '203.0.113.9', method: 'POST', url: '/api/livecomponents/action', headers };
    const body = { componentId: 'counter:main', action: 'increment', params: {}, csrfToken: bodyToken, idempotencyKey: undefined };
    return { request, body, session: who, headers: {} } as unknown as ActionContext;
  }
  return { csrf, events, stage, next, session, context };
}

type Setup = ReturnType<typeof setup>;

async function expectRefused(s: Setup, ctx: ActionContext, token?: string): Promise<void> {
  const outcome = await s.stage.run(ctx, s.next);
  expect(outcome.type).toBe('error');
  const error = outcome.type === 'error' ? outcome.error : undefined;
  expect(isLiveError(error) && error.code).toBe('CSRF_TOKEN_INVALID');
  expect(error?.statusCode).toBe(403);
  expect(s.next).toHaveBeenCalledTimes(0);
  expect(s.events.events).toHaveLength(1);
  const [event] = s.events.events;
  expect(event).toMatchObject({ event: 'malicious_csrf', level: 'WARN' });
  expect(event?.request).toBe(ctx.request);
  if (token) expect(event?.description).not.toContain(token.slice(3, 20));
}

async function expectPassed(s: Setup, ctx: ActionContext): Promise<void> {
  const outcome = await s.stage.run(ctx, s.next);
  expect(outcome.type).toBe('ok');
  expect(s.next).toHaveBeenCalledTimes(1);
  expect(s.next).toHaveBeenCalledWith(ctx);
  expect(s.events.events).toHaveLength(0);
}

describe('csrf stage: token', () => {
  it("is named 'csrf'", () => {
    expect(setup().stage.name).toBe('csrf');
  });

  it('passes a valid token in the X-CSRF-Token header', async () => {
    const s = setup();
    await expectPassed(s, s.context({ 'x-csrf-token': await s.csrf.issue(s.session) }));
  });

  it('passes a valid token in the body field when no header is sent', async () => {
    const s = setup();
    await expectPassed(s, s.context({}, await s.csrf.issue(s.session)));
  });

  it('refuses a missing token', async () => {
    const s = setup();
    await expectRefused(s, s.context({}));
  });

  it('refuses an empty token', async () => {
    const s = setup();
    await expectRefused(s, s.context({ 'x-csrf-token': '' }));
  });

  it('refuses a wrong token', async () => {
    const s = setup();
    await expectRefused(s, s.context({ 'x-csrf-token': 'v1.invalid_token' }));
  });

  it("refuses another session's token", async () => {
    const s = setup();
    const token = await s.csrf.issue(newSession());
    await expectRefused(s, s.context({ 'x-csrf-token': token }), token);
  });

  it('uses the header over the body: a wrong header with a valid body token is refused', async () => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ 'x-csrf-token': 'v1.nope' }, token));
  });

  it('refuses repeated token headers even when both are valid', async () => {
    const s = setup();
    const [a, b] = [await s.csrf.issue(s.session), await s.csrf.issue(s.session)];
    await expectRefused(s, s.context({ 'x-csrf-token': [a, b] }));
  });

  it("in 'per-action' mode passes a token once, then refuses it", async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const s = setup(createCsrfService({ secret: Buffer.alloc(32, 3), rotation: 'per-action', store }));
    const token = await s.csrf.issue(s.session);
    await expectPassed(s, s.context({ 'x-csrf-token': token }));
    s.next.mockClear();
    await expectRefused(s, s.context({ 'x-csrf-token': token }), token);
    await store.close();
  });
});

describe("csrf stage: a spent token of a session that is gone ('per-action')", () => {
  function strictSetup(stored: boolean) {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const csrf = createCsrfService({ secret: Buffer.alloc(32, 3), rotation: 'per-action', store });
    const events = memorySecurityEvents();
    const asked: Session[] = [];
    const sessionStored = (session: Session) => (asked.push(session), Promise.resolve(stored));
    const stage = createCsrfStage({ csrf, events, origins: { appOrigin: APP }, sessionStored });
    const s = { ...setup(csrf), events, stage };
    return { s, store, asked };
  }

  it('logs session_use_after_expire (INFO), not malicious_csrf, and still answers 403 CSRF_TOKEN_INVALID', async () => {
    const { s, store, asked } = strictSetup(false);
    const token = await s.csrf.issue(s.session);
    expect(await s.csrf.verify(s.session, token)).toBe(true); // its slot is gone, as after 2 h
    const outcome = await s.stage.run(s.context({ 'x-csrf-token': token }), s.next);
    expect(outcome.type === 'error' && outcome.error.code).toBe('CSRF_TOKEN_INVALID');
    expect(s.next).not.toHaveBeenCalled();
    expect(s.events.events).toEqual([expect.objectContaining({ event: 'session_use_after_expire', level: 'INFO' })]);
    expect(asked).toEqual([s.session]);
    await store.close();
  });

  it("asks nothing for a valid token, nor for a forged or other session's one (malicious_csrf)", async () => {
    const { s, store, asked } = strictSetup(false);
    await expectPassed(s, s.context({ 'x-csrf-token': await s.csrf.issue(s.session) }));
    s.next.mockClear();
    await expectRefused(s, s.context({ 'x-csrf-token': await s.csrf.issue(newSession()) }));
    expect(asked).toEqual([]);
    await store.close();
  });

  it('logs malicious_csrf for a spent token while the session is still stored (a replay)', async () => {
    const { s, store, asked } = strictSetup(true);
    const token = await s.csrf.issue(s.session);
    expect(await s.csrf.verify(s.session, token)).toBe(true);
    await expectRefused(s, s.context({ 'x-csrf-token': token }), token);
    expect(asked).toHaveLength(1);
    await store.close();
  });
});

describe('csrf stage: request source', () => {
  // Node joins a repeated header into one value with ", ".
  it.each(['cross-site', 'Cross-Site', ' cross-site ', 'same-origin, cross-site', 'cross-site,none'])('refuses Sec-Fetch-Site %j even with a valid token', async (site) => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ 'sec-fetch-site': site, 'x-csrf-token': token }), token);
  });

  it.each(['same-origin', 'same-site', 'none', undefined])('passes Sec-Fetch-Site %j with a valid token', async (site) => {
    const s = setup();
    await expectPassed(s, s.context({ 'sec-fetch-site': site, 'x-csrf-token': await s.csrf.issue(s.session) }));
  });

  it.each([
    'null',
    'https://app.example.com.evil.com',
    'https://evil-app.example.com',
    'https://evilapp.example.com',
    'https://app.example.com/',
    'http://app.example.com',
    'https://app.example.com:8443',
    'https://app.example.com:443',
    'https://APP.example.com',
    'https://app.example.co',
    'https://app.example.com, https://evil.com',
    'https://evil.com',
    '',
    '*',
  ])('refuses Origin %j even with a valid token', async (origin) => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ origin, 'x-csrf-token': token }), token);
  });

  it('names the trusted origins (configuration, not request data) in the event, never the origin received', async () => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ origin: 'http://localhost:3000', 'x-csrf-token': token }), token);
    expect(s.events.events[0]?.description).toBe(
      `CSRF: action refused, Origin header is not a trusted origin (trusted: ${APP}, https://admin.example.com)`,
    );
  });

  it('refuses repeated Origin headers', async () => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ origin: [APP, APP], 'x-csrf-token': token }), token);
  });

  it('passes the app origin and a configured extra origin (normalised at start-up) with a valid token', async () => {
    for (const origin of [APP, EXTRA]) {
      const s = setup();
      await expectPassed(s, s.context({ origin, 'sec-fetch-site': 'same-site', 'x-csrf-token': await s.csrf.issue(s.session) }));
    }
  });

  it('passes no Origin header with a valid token (older browsers, API clients)', async () => {
    const s = setup();
    await expectPassed(s, s.context({ 'x-csrf-token': await s.csrf.issue(s.session) }));
  });

  it('still requires the token from a trusted origin', async () => {
    const s = setup();
    await expectRefused(s, s.context({ origin: APP, 'sec-fetch-site': 'same-origin' }));
  });

  it('ignores the Host header: a request naming the attacker as host is judged by the configured origin', async () => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ host: 'evil.com', origin: 'https://evil.com', 'x-csrf-token': token }), token);
  });

  it('logs which check failed, with distinct descriptions', async () => {
    const descriptions = new Set<string>();
    const s1 = setup();
    const token = await s1.csrf.issue(s1.session);
    const cases: Record<string, string | undefined>[] = [
      { 'sec-fetch-site': 'cross-site', 'x-csrf-token': token },
      { origin: 'null', 'x-csrf-token': token },
      {},
      { 'x-csrf-token': 'v1.nope' },
    ];
    for (const headers of cases) {
      const s = setup();
      await s.stage.run(s.context(headers), s.next);
      descriptions.add(s.events.events[0]?.description ?? '');
    }
    expect(descriptions.size).toBe(4);
  });
});

describe('csrf stage: configured origins', () => {
  const csrf = createCsrfService({ secret: Buffer.alloc(32, 3) });
  const events = memorySecurityEvents();

  it.each(['*', 'null', 'app.example.com', 'https://app.example.com/path', 'https://app.example.com?x=1', 'ftp://app.example.com', 'https://user@app.example.com', 'not a url'])(
    'refuses to start with the origin %j',
    (bad) => {
      expect(() => createCsrfStage({ csrf, events, origins: { appOrigin: APP, allowed: [bad] } })).toThrow(TypeError);
      expect(() => createCsrfStage({ csrf, events, origins: { appOrigin: bad, allowed: [] } })).toThrow(TypeError);
    },
  );
});
