import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { isLiveError, LiveError } from '../../core/errors.js';
import { memorySecurityEvents } from '../../ops/security-events.js';
import type { Session } from '../../session/types.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { StoreOp, StoreOpResult } from '../../store/types.js';
import { fail, ok, type ActionContext, type Outcome, type Stage } from '../types.js';
import { createCsrfService, createCsrfStages, type CsrfService, type CsrfStageOptions } from './index.js';

const APP = 'https://app.example.com';
const EXTRA = 'https://admin.example.com';

function newSession(): Session {
  const id = randomBytes(16).toString('base64url');
  return { id, key: createHash('sha256').update(id).digest('base64url'), userId: null, createdAt: 0 };
}

/**
 * The CSRF stages run one after the other with no prefetch between them (strict mode's `spend` then
 * sends its op itself), as one stage for these tests.
 */
function createCsrfStage(options: CsrfStageOptions): Stage {
  const { check, spend } = createCsrfStages(options);
  return { name: check.name, run: (ctx, next) => check.run(ctx, spend === null ? next : (c) => spend.run(c, next)) };
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

  it('says of a missing or empty token its likely cause, the page without the CSRF meta tag (was: "no CSRF token" alone)', async () => {
    for (const headers of [{}, { 'x-csrf-token': '' }]) {
      const s = setup();
      await expectRefused(s, s.context(headers));
      expect(s.events.events[0]?.description).toBe(
        'CSRF: action refused, no CSRF token (does the page lack <meta name="csrf-token">? view.head() and view.document() render it)',
      );
    }
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

describe("csrf stages in strict mode ('per-action'): the check, and the spend in the prefetch's batches", () => {
  /** A memory store that records every call (name and, for batches, the ops). */
  function recordingStore() {
    const inner = createMemoryStore({ sweepIntervalMs: 0 });
    const calls: string[] = [];
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function' || prop === 'close') return value;
        return (...args: unknown[]) => (calls.push(String(prop)), (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    return { store, calls };
  }

  function strictSetup() {
    const { store, calls } = recordingStore();
    const csrf = createCsrfService({ secret: Buffer.alloc(32, 3), rotation: 'per-action', store });
    const events = memorySecurityEvents();
    const { check, spend } = createCsrfStages({ csrf, events, origins: { appOrigin: APP } });
    if (spend === null) throw new Error('test: no spend stage in strict mode');
    const s = setup(csrf);
    return { s, store, calls, check, spend, events };
  }

  /** What the prefetch stage does before `spend` runs: its op in the first batch. */
  async function firstBatch(t: ReturnType<typeof strictSetup>, ctx: ActionContext) {
    const prepared = t.spend.prepare?.(ctx) ?? null;
    ctx.prefetched = new Map<Stage, StoreOpResult>();
    if (prepared !== null) ctx.prefetched.set(t.spend, (await t.store.batch([prepared.op]))[0] as StoreOpResult);
    const deferred: StoreOp[] = [];
    ctx.deferred = deferred;
    return { prepared, deferred };
  }

  /** What the prefetch stage does around `spend`: its op in the first batch, its deferred op in the second. */
  async function throughPrefetch(t: ReturnType<typeof strictSetup>, ctx: ActionContext, next = t.s.next) {
    const { prepared, deferred } = await firstBatch(t, ctx);
    const outcome = await t.spend.run(ctx, next);
    const results = deferred.length === 0 ? [] : await t.store.batch(deferred);
    deferred.forEach((op, i) => ctx.deferredResults?.get(op)?.(ctx, results[i]));
    return { outcome, prepared, deferred };
  }

  it('checks a forged or foreign token without the store, and leaves nothing for the first batch', async () => {
    const t = strictSetup();
    const token = await t.s.csrf.issue(t.s.session);
    const bads = [await t.s.csrf.issue(newSession()), token.slice(0, -2) + (token.endsWith('AA') ? 'BA' : 'AA'), 'v1.forged'];
    t.calls.length = 0;
    for (const bad of bads) {
      const ctx = t.s.context({ 'x-csrf-token': bad });
      const outcome = await t.check.run(ctx, t.s.next);
      expect(outcome.type === 'error' && outcome.error.code).toBe('CSRF_TOKEN_INVALID');
      expect(t.spend.prepare?.(ctx)).toBeNull();
    }
    expect(t.s.next).not.toHaveBeenCalled();
    expect(t.calls).toEqual([]);
    expect(t.events.events.map((e) => e.event)).toEqual(['malicious_csrf', 'malicious_csrf', 'malicious_csrf']);
    await t.store.close();
  });

  it('passes a genuine token on without the store; the spend uses it up with the first batch and queues the next token in the second', async () => {
    const t = strictSetup();
    const token = await t.s.csrf.issue(t.s.session);
    const ctx = t.s.context({ 'x-csrf-token': token });
    t.calls.length = 0;
    const spendNext = vi.fn((c: ActionContext) => throughPrefetch(t, c).then((r) => r.outcome));
    expect((await t.check.run(ctx, spendNext)).type).toBe('ok');
    expect(ctx.csrfVerified).toBe(true);
    expect(t.s.next).toHaveBeenCalledTimes(1);
    // One batch before (the spend), one after (the claim of the freed slot), nothing else…
    expect(t.calls).toEqual(['batch', 'batch']);
    // …and the response's token (on the context: the claim won) works once, and the used one no more.
    const fresh = ctx.csrfToken;
    if (fresh === undefined) throw new Error('test: no token placed');
    expect(await t.s.csrf.check(t.s.session, token)).toBe('spent');
    expect(await t.s.csrf.check(t.s.session, fresh)).toBe('valid');
    expect(await t.s.csrf.check(t.s.session, fresh)).toBe('spent');
    await t.store.close();
  });

  it('refuses a used token from the first batch (malicious_csrf), queueing no token', async () => {
    const t = strictSetup();
    const token = await t.s.csrf.issue(t.s.session);
    expect(await t.s.csrf.verify(t.s.session, token)).toBe(true);
    const ctx = t.s.context({ 'x-csrf-token': token });
    expect((await t.check.run(ctx, t.s.next)).type).toBe('ok'); // the check alone: genuine
    t.s.next.mockClear();
    const { outcome, prepared, deferred } = await throughPrefetch(t, ctx);
    expect(prepared?.op.op).toBe('deleteIfEquals');
    expect(outcome.type === 'error' && outcome.error.code).toBe('CSRF_TOKEN_INVALID');
    expect(t.s.next).not.toHaveBeenCalled();
    expect(ctx.csrfVerified).toBeFalsy();
    expect(deferred).toEqual([]);
    expect(t.events.events).toEqual([expect.objectContaining({ event: 'malicious_csrf', level: 'WARN' })]);
    await t.store.close();
  });

  it('queues the next token for a refused or throwing action too', async () => {
    for (const next of [() => Promise.resolve(fail(new LiveError('VALIDATION_FAILED'))), () => Promise.reject(new Error('boom'))]) {
      const t = strictSetup();
      const ctx = t.s.context({ 'x-csrf-token': await t.s.csrf.issue(t.s.session) });
      await t.check.run(ctx, t.s.next);
      const { deferred } = await firstBatch(t, ctx);
      await t.spend.run(ctx, next).catch(() => undefined);
      expect(ctx.csrfVerified).toBe(true);
      expect(deferred.map((op) => op.op)).toEqual(['claim']);
      await t.store.close();
    }
  });

  it('places the token the full way when the claim of the freed slot lost, or its batch failed', async () => {
    for (const outcome of ['lost', 'failed'] as const) {
      const t = strictSetup();
      const ctx = t.s.context({ 'x-csrf-token': await t.s.csrf.issue(t.s.session) });
      await t.check.run(ctx, t.s.next);
      const { deferred } = await firstBatch(t, ctx);
      await t.spend.run(ctx, t.s.next);
      const [claim] = deferred;
      if (claim?.op !== 'claim') throw new Error('test: no claim queued');
      // Another token of the session took the slot meanwhile (or the batch never answered).
      const other = await t.s.csrf.issue(t.s.session);
      t.calls.length = 0;
      ctx.deferredResults?.get(claim)?.(ctx, outcome === 'lost' ? 'someone-else' : undefined);
      expect(ctx.csrfToken).toBeUndefined();
      const fresh = await t.s.csrf.issue(t.s.session);
      expect(t.calls).toContain('getMany');
      expect(await t.s.csrf.check(t.s.session, fresh)).toBe('valid');
      expect(await t.s.csrf.check(t.s.session, other)).toBe('valid');
      await t.store.close();
    }
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

  // A page under Referrer-Policy: no-referrer (helmet's default) posts with Origin: null; the browser's
  // Sec-Fetch-Site says same-origin, which no page can forge (an opaque origin is cross-site).
  it('passes Origin "null" with Sec-Fetch-Site same-origin and a valid token', async () => {
    const s = setup();
    await expectPassed(s, s.context({ origin: 'null', 'sec-fetch-site': 'same-origin', 'x-csrf-token': await s.csrf.issue(s.session) }));
  });

  it.each(['same-site', 'none', 'Same-Origin', 'same-origin, same-origin', 'same-origin, cross-site', 'cross-site'])(
    'refuses Origin "null" with Sec-Fetch-Site %j even with a valid token',
    async (site) => {
      const s = setup();
      const token = await s.csrf.issue(s.session);
      await expectRefused(s, s.context({ origin: 'null', 'sec-fetch-site': site, 'x-csrf-token': token }), token);
    },
  );

  it('refuses Origin "null" with Sec-Fetch-Site same-origin and a forged or missing token', async () => {
    const s = setup();
    await expectRefused(s, s.context({ origin: 'null', 'sec-fetch-site': 'same-origin', 'x-csrf-token': 'v1.nope' }));
    const t = setup();
    await expectRefused(t, t.context({ origin: 'null', 'sec-fetch-site': 'same-origin' }));
  });

  it('names the trusted origins (configuration, not request data) in the event, never the origin received', async () => {
    const s = setup();
    const token = await s.csrf.issue(s.session);
    await expectRefused(s, s.context({ origin: 'http://localhost:3000', 'x-csrf-token': token }), token);
    expect(s.events.events[0]?.description).toBe(
      `CSRF: action refused, Origin header is not a trusted origin (trusted: ${APP}, https://admin.example.com): open the app at one of these, or set appOrigin/allowedOrigins`,
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
