import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import type { Session } from '../../session/types.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { Store } from '../../store/types.js';
import { createCsrfService, type CsrfService } from './service.js';

const SECRET = Buffer.alloc(32, 7);

/** A session as the session manager makes it: 128 random bits, `key` their SHA-256. */
function newSession(): Session {
  const id = randomBytes(16).toString('base64url');
  return { id, key: createHash('sha256').update(id).digest('base64url'), userId: null, createdAt: 0 };
}

/** Flips one bit of the decoded token bytes and re-encodes it canonically. */
function flipBit(token: string, byteIndex: number, bit = 0): string {
  const raw = Buffer.from(token.slice(3), 'base64url');
  raw[byteIndex] = (raw[byteIndex] as number) ^ (1 << bit);
  return token.slice(0, 3) + raw.toString('base64url');
}

/** Counts store calls and the distinct keys written. */
function countingStore(store: Store): Store & { calls: number; written: Set<string> } {
  const counted = {
    kind: store.kind,
    calls: 0,
    written: new Set<string>(),
    get: (k: string) => (counted.calls++, store.get(k)),
    getMany: (ks: readonly string[]) => (counted.calls++, store.getMany(ks)),
    set: (k: string, v: string, t: number) => (counted.calls++, counted.written.add(k), store.set(k, v, t)),
    claim: (k: string, v: string, t: number) => (counted.calls++, counted.written.add(k), store.claim(k, v, t)),
    touch: (k: string, t: number) => (counted.calls++, store.touch(k, t)),
    deleteIfEquals: (k: string, e: string) => (counted.calls++, store.deleteIfEquals(k, e)),
    delete: (k: string) => (counted.calls++, store.delete(k)),
    rateLimit: store.rateLimit.bind(store),
    batch: (ops: Parameters<Store['batch']>[0]) => {
      counted.calls++;
      for (const op of ops) if (op.op === 'set' || op.op === 'claim') counted.written.add(op.key);
      return store.batch(ops);
    },
    health: () => store.health(),
    close: () => store.close(),
  };
  return counted;
}

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function memory(clock = manualClock()): ReturnType<typeof countingStore> {
  const store = countingStore(createMemoryStore({ clock, sweepIntervalMs: 0 }));
  stores.push(store);
  return store;
}

describe('createCsrfService options', () => {
  it('refuses a secret shorter than 32 bytes or not a Buffer', () => {
    expect(() => createCsrfService({ secret: Buffer.alloc(31) })).toThrow(TypeError);
    expect(() => createCsrfService({ secret: 'x'.repeat(64) as unknown as Buffer })).toThrow(TypeError);
  });

  it("needs a store in 'per-action' mode and a sane maxOutstanding", () => {
    expect(() => createCsrfService({ secret: SECRET, rotation: 'per-action' })).toThrow(/store/);
    for (const maxOutstanding of [0, -1, 1.5, 257, Number.NaN]) {
      expect(() => createCsrfService({ secret: SECRET, rotation: 'per-action', store: memory(), maxOutstanding })).toThrow(TypeError);
    }
    expect(() => createCsrfService({ secret: SECRET, rotation: 'bogus' as 'per-action' })).toThrow(TypeError);
  });

  it('keeps its own copy of the secret', async () => {
    const secret = Buffer.alloc(32, 1);
    const csrf = createCsrfService({ secret });
    const session = newSession();
    const token = await csrf.issue(session);
    secret.fill(0);
    expect(await csrf.verify(session, token)).toBe(true);
  });
});

describe("per-session tokens (default)", () => {
  const store = memory();
  const csrf = createCsrfService({ secret: SECRET, store });

  it('issues a versioned base64url token that verifies for its session, without store I/O', async () => {
    const session = newSession();
    const token = await csrf.issue(session);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]{86}$/);
    expect(await csrf.verify(session, token)).toBe(true);
    expect(await csrf.verify(session, token)).toBe(true);
    expect(store.calls).toBe(0);
  });

  it('masks every token afresh, and every token of the current secret stays valid (tabs, back button)', async () => {
    const session = newSession();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => csrf.issue(session)));
    expect(new Set(tokens).size).toBe(20);
    const results = await Promise.all(tokens.map((t) => csrf.verify(session, t)));
    expect(results).toEqual(Array(20).fill(true));
  });

  it("refuses another session's token", async () => {
    const a = newSession();
    const b = newSession();
    expect(await csrf.verify(b, await csrf.issue(a))).toBe(false);
  });

  it('refuses the old token after rotation (a new session id, as at sign-in)', async () => {
    const before = newSession();
    const old = await csrf.issue(before);
    const after = newSession();
    expect(await csrf.verify(after, old)).toBe(false);
    expect(await csrf.verify(after, await csrf.issue(after))).toBe(true);
  });

  it('refuses a token made with another server secret', async () => {
    const session = newSession();
    const other = createCsrfService({ secret: Buffer.alloc(32, 8) });
    expect(await csrf.verify(session, await other.issue(session))).toBe(false);
  });

  it('refuses missing, empty, garbage, wrong-version, truncated and extended tokens', async () => {
    const session = newSession();
    const token = await csrf.issue(session);
    // Standard base64 differs from base64url only where `-` or `_` occur: take a token that has one,
    // so its standard-base64 spelling really is another string (a random token lacks both about 1 time in 15).
    let urlSafe = token;
    while (!/[-_]/.test(urlSafe.slice(3))) urlSafe = await csrf.issue(session);
    const standardBase64 = `v1.${Buffer.from(urlSafe.slice(3), 'base64url').toString('base64').slice(0, 86)}`;
    expect(standardBase64).not.toBe(urlSafe);
    const bad: (string | undefined)[] = [
      undefined,
      '',
      'v1.',
      'garbage',
      'null',
      `v2.${token.slice(3)}`,
      `V1.${token.slice(3)}`,
      token.slice(3),
      token.slice(0, -1),
      token.slice(0, -4),
      `${token}A`,
      `${token}AAAA`,
      ` ${token}`,
      `${token}\n`,
      `v1.${'!'.repeat(86)}`,
      `v1.${token.slice(3, -2)}==`,
      standardBase64,
      `v1.${'A'.repeat(86)}`,
    ];
    for (const t of bad) expect(await csrf.verify(session, t), JSON.stringify(t)).toBe(false);
    expect(await csrf.verify(session, 42 as unknown as string)).toBe(false);
    expect(await csrf.verify(session, { length: 89 } as unknown as string)).toBe(false);
  });

  it('refuses a token with any single bit flipped, in the mask or the masked tag', async () => {
    const session = newSession();
    const token = await csrf.issue(session);
    for (let byte = 0; byte < 64; byte++) {
      for (const bit of [0, 7]) expect(await csrf.verify(session, flipBit(token, byte, bit))).toBe(false);
    }
  });

  it('refuses a non-canonical encoding of a valid token (other trailing bits)', async () => {
    const session = newSession();
    const token = await csrf.issue(session);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.at(-1) as string);
    const variant = token.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(variant.slice(3), 'base64url')).toEqual(Buffer.from(token.slice(3), 'base64url'));
    expect(await csrf.verify(session, variant)).toBe(false);
  });

  // No timed assertion (shared, noisy machines): 10,000 refusals of a 10 MB token are a few ms when
  // refused by their length, and at least a minute when anything reads the 100 GB (the regex scan,
  // the decoding), far beyond the test's timeout. That nothing decodes it is counted, not timed.
  it('refuses a very long token fast, without decoding it', { timeout: 10_000 }, async () => {
    const session = newSession();
    const huge = `v1.${'A'.repeat(10_000_000)}`;
    const from = vi.spyOn(Buffer, 'from');
    try {
      for (let i = 0; i < 10_000; i++) {
        expect(await csrf.verify(session, huge)).toBe(false);
        if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve)); // lets the test's timeout fire
      }
      expect(from.mock.calls.filter(([value]) => typeof value === 'string' && value.length > 1_000)).toEqual([]);
    } finally {
      from.mockRestore();
    }
  });

  it("check answers 'valid' or 'forged', never 'spent'", async () => {
    const csrf = createCsrfService({ secret: SECRET });
    const session = newSession();
    const token = await csrf.issue(session);
    expect(await csrf.check(session, token)).toBe('valid');
    expect(await csrf.check(session, token)).toBe('valid');
    expect(await csrf.check(newSession(), token)).toBe('forged');
    expect(await csrf.check(session, flipBit(token, 40))).toBe('forged');
  });

  it("refuses a 'per-action' token", async () => {
    const session = newSession();
    const strict = createCsrfService({ secret: SECRET, rotation: 'per-action', store: memory() });
    const token = await strict.issue(session);
    expect(await csrf.verify(session, token)).toBe(false);
    expect(await strict.verify(session, await csrf.issue(session))).toBe(false);
  });
});

describe("per-action tokens (rotation: 'per-action')", () => {
  function strict(options: { maxOutstanding?: number; tokenTtlMs?: number } = {}) {
    const clock = manualClock();
    const store = memory(clock);
    const csrf: CsrfService = createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock, ...options });
    return { clock, store, csrf };
  }

  it('issues a longer versioned token that works once', async () => {
    const { csrf } = strict();
    const session = newSession();
    const token = await csrf.issue(session);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]{150}$/);
    expect(await csrf.verify(session, token)).toBe(true);
    expect(await csrf.verify(session, token)).toBe(false);
  });

  it('lets exactly one of two concurrent uses of the same token through', async () => {
    const { csrf } = strict();
    const session = newSession();
    const token = await csrf.issue(session);
    const results = await Promise.all([csrf.verify(session, token), csrf.verify(session, token), csrf.verify(session, token)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('keeps two tokens issued concurrently to one page valid, used concurrently', async () => {
    const { csrf } = strict();
    const session = newSession();
    const [a, b] = await Promise.all([csrf.issue(session), csrf.issue(session)]);
    expect(a).not.toBe(b);
    expect(await Promise.all([csrf.verify(session, a), csrf.verify(session, b)])).toEqual([true, true]);
  });

  it('gives concurrent issues distinct slots: all of maxOutstanding stay valid', async () => {
    const { csrf } = strict();
    const session = newSession();
    const tokens = await Promise.all(Array.from({ length: 32 }, () => csrf.issue(session)));
    expect(await Promise.all(tokens.map((t) => csrf.verify(session, t)))).toEqual(Array(32).fill(true));
  });

  it('gives distinct slots to concurrent issues from two instances sharing the store (compare-and-set races)', async () => {
    const clock = manualClock();
    const store = memory(clock);
    const make = () => createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock });
    const [one, two] = [make(), make()];
    const session = newSession();
    const tokens = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? one : two).issue(session)));
    const results = await Promise.all(tokens.map((t, i) => (i % 3 === 0 ? two : one).verify(session, t)));
    expect(results).toEqual(Array(24).fill(true));
    expect(store.written.size).toBeLessThanOrEqual(32);
  });

  it('still issues a valid token when every compare-and-set loses (sustained contention)', async () => {
    const clock = manualClock();
    const base = memory(clock);
    const losing: Store = { ...base, batch: async (ops) => (await base.batch(ops)).map(() => 'taken') };
    const csrf = createCsrfService({ secret: SECRET, rotation: 'per-action', store: losing, clock });
    const session = newSession();
    const token = await csrf.issue(session);
    expect(await csrf.verify(session, token)).toBe(true);
  });

  it('invalidates the oldest outstanding token at maxOutstanding + 1 (default 32); the newest 32 stay valid', async () => {
    const { csrf } = strict();
    const session = newSession();
    const tokens: string[] = [];
    for (let i = 0; i < 33; i++) tokens.push(await csrf.issue(session));
    expect(await csrf.verify(session, tokens[0])).toBe(false);
    for (const t of tokens.slice(1)) expect(await csrf.verify(session, t)).toBe(true);
  });

  it('keeps evicting in issue order with a small maxOutstanding', async () => {
    const { csrf } = strict({ maxOutstanding: 3 });
    const session = newSession();
    const tokens: string[] = [];
    for (let i = 0; i < 7; i++) tokens.push(await csrf.issue(session));
    const results = [];
    for (const t of tokens) results.push(await csrf.verify(session, t));
    expect(results).toEqual([false, false, false, false, true, true, true]);
  });

  /** Two strict instances on one store, maxOutstanding 3, B's clock 5 minutes behind A's. */
  function skewedPair() {
    const clockA = manualClock();
    const clockB = manualClock();
    clockB.advance(-5 * 60_000);
    const store = memory(clockA);
    const a = createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock: clockA, maxOutstanding: 3 });
    const b = createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock: clockB, maxOutstanding: 3 });
    return { clockA, clockB, a, b, store };
  }

  it('evicts in issue order across instances whose clocks disagree (one 5 minutes behind)', async () => {
    const { clockA, clockB, a, b } = skewedPair();
    const session = newSession();
    const tabs: string[] = [];
    for (let i = 0; i < 3; i++) tabs.push(await a.issue(session));
    tabs.push(await b.issue(session));
    clockA.advance(1000);
    clockB.advance(1000);
    tabs.push(await b.issue(session));
    const results = [];
    for (const t of tabs) results.push(await a.check(session, t));
    expect(results).toEqual(['spent', 'spent', 'valid', 'valid', 'valid']);
  });

  it('evicts in issue order when the clock steps back an hour between issues (in this process, or across a restart)', async () => {
    const clock = manualClock();
    const store = memory(clock);
    const make = () => createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock, maxOutstanding: 3 });
    for (const restart of [false, true]) {
      const before = make();
      const session = newSession();
      const tabs: string[] = [];
      for (let i = 0; i < 3; i++) tabs.push(await before.issue(session));
      clock.advance(-3_600_000);
      // A restarted process has no memory of the stamps it issued before: only the store does.
      const after = restart ? make() : before;
      tabs.push(await after.issue(session));
      clock.advance(1000);
      tabs.push(await after.issue(session));
      const results = [];
      for (const t of tabs) results.push(await after.check(session, t));
      expect(results, `restart: ${restart}`).toEqual(['spent', 'spent', 'valid', 'valid', 'valid']);
    }
  });

  it('stamps the token of an action response on a lagging instance above the token it replaces', async () => {
    const { a, b } = skewedPair();
    const session = newSession();
    const tabs: string[] = [];
    for (let i = 0; i < 3; i++) tabs.push(await a.issue(session));
    expect(await b.verify(session, tabs[2])).toBe(true);
    const response = await b.issue(session);
    const next = await a.issue(session);
    expect(await a.check(session, tabs[0])).toBe('spent');
    expect(await a.check(session, tabs[1])).toBe('valid');
    expect(await a.check(session, response)).toBe('valid');
    expect(await a.check(session, next)).toBe('valid');
  });

  /** `check` as the action pipeline makes it: `open`, its op in one batch, `settle`, then the claim of the freed slot in another. */
  async function spendInBatches(csrf: CsrfService, store: Store, session: Session, token: string): Promise<string | null> {
    const opened = csrf.open(session, token);
    if (typeof opened === 'string' || opened.op === null) return null;
    const [consumed] = await store.batch([opened.op]);
    if (csrf.settle(consumed === true) !== 'valid') return null;
    const claim = csrf.issueOp(session, opened);
    if (claim === null) throw new Error('test: nothing to place');
    const [claimed] = await store.batch([claim.op]);
    return csrf.placed(session, claim, claimed) ?? csrf.issue(session);
  }

  it('split in two batches (the action pipeline): the response token costs no call of its own, and a lagging instance stamps it above the one it replaces', async () => {
    const { a, b, store } = skewedPair();
    const session = newSession();
    const tabs: string[] = [];
    for (let i = 0; i < 3; i++) tabs.push(await a.issue(session));
    // The instance 5 minutes behind answers the action: its token goes into tabs[2]'s slot, unread.
    const response = await spendInBatches(b, store, session, tabs[2] as string);
    const next = await a.issue(session);
    expect(await a.check(session, tabs[0])).toBe('spent');
    expect(await a.check(session, tabs[1])).toBe('valid');
    expect(await a.check(session, response as string)).toBe('valid');
    expect(await a.check(session, next)).toBe('valid');
  });

  it("open and settle: forged and foreign tokens never get an op; a used token settles 'spent'", async () => {
    const { csrf, store } = strict();
    const session = newSession();
    const token = await csrf.issue(session);
    const callsBefore = store.calls;
    expect(csrf.open(session, flipBit(token, 60))).toBe('forged');
    expect(csrf.open(newSession(), token)).toBe('forged');
    expect(csrf.open(session, 'v1.x')).toBe('forged');
    expect(store.calls).toBe(callsBefore);
    const fresh = await spendInBatches(csrf, store, session, token);
    expect(fresh).not.toBeNull();
    expect(await spendInBatches(csrf, store, session, token)).toBeNull();
    expect(await csrf.check(session, fresh as string)).toBe('valid');
    expect(await csrf.check(session, fresh as string)).toBe('spent');
  });

  it('keeps the newest maxOutstanding tokens valid when actions answer through the batches', async () => {
    const { csrf, store } = strict({ maxOutstanding: 3 });
    const session = newSession();
    const tabs = [await csrf.issue(session), await csrf.issue(session), await csrf.issue(session)];
    const callsBefore = store.calls;
    // Each request has a Session object of its own, as the action route makes them.
    const responses = await Promise.all(tabs.map((t) => spendInBatches(csrf, store, { ...session }, t)));
    // Two batches per action, nothing more: every claim of a freed slot won.
    expect(store.calls - callsBefore).toBe(6);
    for (const r of responses) expect(await csrf.check(session, r as string)).toBe('valid');
    expect(store.written.size).toBe(3);
  });

  it('keeps the freed slot for the claim in the after-action batch: page views placing tokens meanwhile here take other slots', async () => {
    const { csrf, store } = strict({ maxOutstanding: 3 });
    const session = newSession();
    const token = await csrf.issue(session);
    const opened = csrf.open(session, token);
    if (typeof opened === 'string' || opened.op === null) throw new Error('test: not opened');
    expect(csrf.settle((await store.batch([opened.op]))[0] === true)).toBe('valid');
    const claim = csrf.issueOp(session, opened);
    if (claim === null) throw new Error('test: nothing to place');
    // Two page views of the session (their own Session objects) while the action's batch is on its way.
    const views = await Promise.all([csrf.issue({ ...session }), csrf.issue({ ...session })]);
    const [claimed] = await store.batch([claim.op]);
    expect(claimed).toBeNull();
    const callsBefore = store.calls;
    const response = csrf.placed(session, claim, claimed);
    expect(store.calls).toBe(callsBefore);
    if (response === null) throw new Error('test: the claim won, yet no token');
    for (const t of [...views, response]) expect(await csrf.check(session, t)).toBe('valid');
  });

  it('keeps apart the next tokens of two requests sharing one Session object, their spends and claims interleaved; no slot stays reserved', async () => {
    for (const second of ['won', 'lost'] as const) {
      const { csrf, store, clock } = strict({ maxOutstanding: 3 });
      // Another process on the same store: its placements know nothing of this one's reservations.
      const elsewhere = createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock, maxOutstanding: 3 });
      // ONE Session object for both requests (a transport that reads the cookie once, a test harness).
      const session = newSession();
      const [tokenA, tokenB, third] = [await csrf.issue(session), await csrf.issue(session), await csrf.issue(session)];
      const a = csrf.open(session, tokenA);
      const b = csrf.open(session, tokenB);
      if (typeof a === 'string' || typeof b === 'string' || a.op === null || b.op === null) throw new Error('test: not opened');
      const [spentA, spentB] = await store.batch([a.op, b.op]);
      expect(csrf.settle(spentA === true)).toBe('valid');
      expect(csrf.settle(spentB === true)).toBe('valid');
      const claimA = csrf.issueOp(session, a);
      const claimB = csrf.issueOp(session, b);
      if (claimA === null || claimB === null) throw new Error('test: nothing to place');
      expect([claimA.slot, claimB.slot]).toEqual([a.slot, b.slot]);
      const [resultA] = await store.batch([claimA.op]);
      const answerA = csrf.placed(session, claimA, resultA);
      // B's claim wins, or another process placed a token in its slot first (the first empty one).
      const other = second === 'lost' ? await elsewhere.issue(session) : third;
      const [resultB] = await store.batch([claimB.op]);
      const placedB = csrf.placed(session, claimB, resultB);
      expect(placedB === null, second).toBe(second === 'lost');
      const answerB = placedB ?? (await csrf.issue(session));
      if (answerA === null) throw new Error('test: the claim of A won, yet no token');
      // Each request answers its own token: A's in the slot A freed, B's in B's when its claim won.
      const slotOf = (t: string) => (csrf.open({ ...session }, t) as { slot: number }).slot;
      expect(slotOf(answerA)).toBe(a.slot);
      if (second === 'won') expect(slotOf(answerB)).toBe(b.slot);
      const answers = [answerA, answerB, other];
      expect(new Set(answers).size).toBe(3);
      for (const t of answers) expect(await csrf.check({ ...session }, t), second).toBe('valid');
      for (const t of answers) expect(await csrf.check({ ...session }, t), second).toBe('spent');
      // Nothing is left reserved: page views placed one after the other fill every slot, and all work
      // (a slot kept reserved is never chosen: the last would push out the first).
      const views: string[] = [];
      for (let i = 0; i < 3; i++) views.push(await csrf.issue({ ...session }));
      for (const t of views) expect(await csrf.check({ ...session }, t), second).toBe('valid');
    }
  });

  it('verify then issue with one Session object shared by two requests: the freed slot is only a hint, both tokens work', async () => {
    const { csrf, store } = strict({ maxOutstanding: 2 });
    const session = newSession();
    const [first, second] = [await csrf.issue(session), await csrf.issue(session)];
    expect(await csrf.verify(session, first)).toBe(true);
    expect(await csrf.verify(session, second)).toBe(true);
    const answers = [await csrf.issue(session), await csrf.issue(session)];
    expect(new Set(answers).size).toBe(2);
    for (const t of answers) expect(await csrf.check({ ...session }, t)).toBe('valid');
    expect(store.written.size).toBe(2);
  });

  it('never writes more than maxOutstanding keys for a session, however many tokens it is given', async () => {
    const { csrf, store } = strict({ maxOutstanding: 4 });
    const session = newSession();
    for (let i = 0; i < 50; i++) {
      const t = await csrf.issue(session);
      if (i % 2 === 0) expect(await csrf.verify(session, t)).toBe(true);
    }
    await Promise.all(Array.from({ length: 20 }, () => csrf.issue(session)));
    expect(store.written.size).toBe(4);
  });

  it('puts the token of an action response in the slot its verified token freed (one claim, no read)', async () => {
    const { csrf, store } = strict();
    const session = newSession();
    const first = await csrf.issue(session);
    expect(await csrf.verify(session, first)).toBe(true);
    const callsBefore = store.calls;
    const second = await csrf.issue(session);
    expect(store.calls - callsBefore).toBe(1);
    expect(await csrf.verify(session, first)).toBe(false);
    expect(await csrf.verify(session, second)).toBe(true);
  });

  it("refuses another session's token, and forged tokens, without touching the store", async () => {
    const { csrf, store } = strict();
    const a = newSession();
    const b = newSession();
    const token = await csrf.issue(a);
    const callsBefore = store.calls;
    expect(await csrf.verify(b, token)).toBe(false);
    for (let byte = 0; byte < 112; byte += 5) expect(await csrf.verify(a, flipBit(token, byte))).toBe(false);
    expect(await csrf.verify(a, `v1.${'A'.repeat(150)}`)).toBe(false);
    expect(store.calls).toBe(callsBefore);
    expect(await csrf.verify(a, token)).toBe(true);
  });

  it('refuses the old token after rotation to a new session id', async () => {
    const { csrf } = strict();
    const before = newSession();
    const token = await csrf.issue(before);
    expect(await csrf.verify(newSession(), token)).toBe(false);
  });

  it('expires unused tokens after tokenTtlMs', async () => {
    const { csrf, clock } = strict({ tokenTtlMs: 60_000 });
    const session = newSession();
    const [old, fresh] = [await csrf.issue(session), await csrf.issue(session)];
    clock.advance(60_000);
    expect(await csrf.verify(session, old)).toBe(false);
    expect(await csrf.verify(session, await csrf.issue(session))).toBe(true);
    expect(await csrf.verify(session, fresh)).toBe(false);
  });

  it('refuses a token whose slot is beyond this configuration (maxOutstanding lowered)', async () => {
    const clock = manualClock();
    const store = memory(clock);
    const wide = createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock, maxOutstanding: 8 });
    const narrow = createCsrfService({ secret: SECRET, rotation: 'per-action', store, clock, maxOutstanding: 2 });
    const session = newSession();
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) tokens.push(await wide.issue(session));
    expect(await narrow.verify(session, tokens[2])).toBe(false);
    expect(await narrow.verify(session, tokens[1])).toBe(true);
  });

  it("check tells a spent token of this session (used, expired, pushed out) from a forged or foreign one", async () => {
    const { csrf, clock } = strict({ maxOutstanding: 2, tokenTtlMs: 60_000 });
    const session = newSession();
    const used = await csrf.issue(session);
    expect(await csrf.check(session, used)).toBe('valid');
    expect(await csrf.check(session, used)).toBe('spent');
    const expired = await csrf.issue(session);
    clock.advance(60_000);
    expect(await csrf.check(session, expired)).toBe('spent');
    const pushedOut = await csrf.issue(session);
    await csrf.issue(session);
    await csrf.issue(session);
    expect(await csrf.check(session, pushedOut)).toBe('spent');
    expect(await csrf.check(newSession(), await csrf.issue(session))).toBe('forged');
    expect(await csrf.check(session, flipBit(await csrf.issue(session), 60))).toBe('forged');
    expect(await csrf.check(session, 'v1.garbage')).toBe('forged');
    expect(await csrf.check(session, undefined)).toBe('forged');
  });

  it('rejects (does not answer false) when the store is down', async () => {
    const { csrf, store } = strict();
    const session = newSession();
    const token = await csrf.issue(session);
    await store.close();
    await expect(csrf.verify(session, token)).rejects.toThrow();
  });
});
