/**
 * Session secret rotation (`fallbacks`): tokens of a fallback secret verify, in both rotation
 * modes; every token issued is of the current secret; a secret taken off the list, another
 * session's token and a used strict-mode token are refused, whatever secret made them.
 * Each token let in only by a fallback is told to `onFallback` once (never a current, forged or
 * replayed one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../../session/types.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { Store } from '../../store/types.js';
import { createCsrfService, type CsrfRotation, type CsrfService } from './service.js';

const OLD = randomBytes(32);
const NEW = randomBytes(32);
const OTHER = randomBytes(32);

function newSession(): Session {
  const id = randomBytes(16).toString('base64url');
  return { id, key: createHash('sha256').update(id).digest('base64url'), userId: null, createdAt: 0 };
}

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** Every service of a test shares one store, as instances share Redis. */
function servicesOn(rotation: CsrfRotation): (secret: Buffer, fallbacks?: Buffer[]) => CsrfService {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  stores.push(store);
  return (secret, fallbacks) => createCsrfService({ secret, fallbacks, rotation, store });
}

describe.each(['per-session', 'per-action'] as const)('fallback secrets, %s', (rotation) => {
  it("a token of a fallback passes; the tokens issued after it are of the current secret only", async () => {
    const service = servicesOn(rotation);
    const before = service(OLD);
    const rotated = service(NEW, [OLD]);
    const session = newSession();
    const oldToken = await before.issue(session);
    expect(await rotated.check(session, oldToken)).toBe('valid');
    // The answer's token: verified by the current secret alone, not by the old one alone.
    const fresh = await rotated.issue(session);
    expect(await service(NEW).check(session, fresh)).toBe('valid');
    const another = await rotated.issue(session);
    expect(await service(OLD).check(session, another)).toBe('forged');
  });

  it('a token of a secret taken off the list, or of one never listed, is forged', async () => {
    const service = servicesOn(rotation);
    const session = newSession();
    const oldToken = await service(OLD).issue(session);
    const otherToken = await service(OTHER).issue(session);
    expect(await service(NEW).check(session, oldToken)).toBe('forged');
    expect(await service(NEW, [OLD]).check(session, otherToken)).toBe('forged');
  });

  it("another session's token made with a fallback is forged", async () => {
    const service = servicesOn(rotation);
    const [mine, theirs] = [newSession(), newSession()];
    const theirOldToken = await service(OLD).issue(theirs);
    await service(OLD).issue(mine);
    expect(await service(NEW, [OLD]).check(mine, theirOldToken)).toBe('forged');
  });

  it('several fallbacks: each one passes', async () => {
    const service = servicesOn(rotation);
    const session = newSession();
    const rotated = service(NEW, [OLD, OTHER]);
    expect(await rotated.check(session, await service(OLD).issue(session))).toBe('valid');
    expect(await rotated.check(session, await service(OTHER).issue(session))).toBe('valid');
  });
});

describe('fallback secrets, per-action single use', () => {
  it('a fallback token used once is spent, on this instance and on one that still signs with it', async () => {
    const service = servicesOn('per-action');
    const session = newSession();
    const old = service(OLD);
    const rotated = service(NEW, [OLD]);
    const token = await old.issue(session);
    expect(await rotated.check(session, token)).toBe('valid');
    expect(await rotated.check(session, token)).toBe('spent');
    expect(await old.check(session, token)).toBe('spent');
    // And the other way: used where it was made, refused where it is a fallback.
    const second = await old.issue(session);
    expect(await old.check(session, second)).toBe('valid');
    expect(await rotated.check(session, second)).toBe('spent');
  });
});

describe('fallback secrets, options', () => {
  it('refuses a fallback equal to the secret, a repeated one, a short one, a non-Buffer', () => {
    expect(() => createCsrfService({ secret: NEW, fallbacks: [Buffer.from(NEW)] })).toThrow(new TypeError('createCsrfService: fallbacks[0] is the secret itself'));
    expect(() => createCsrfService({ secret: NEW, fallbacks: [OLD, Buffer.from(OLD)] })).toThrow(new TypeError('createCsrfService: fallbacks[1] repeats fallbacks[0]'));
    expect(() => createCsrfService({ secret: NEW, fallbacks: [OLD.subarray(0, 31)] })).toThrow(
      new TypeError('createCsrfService: fallbacks[0] must be a Buffer of at least 32 bytes'),
    );
    expect(() => createCsrfService({ secret: NEW, fallbacks: [OLD.toString('base64') as unknown as Buffer] })).toThrow(
      new TypeError('createCsrfService: fallbacks[0] must be a Buffer of at least 32 bytes'),
    );
  });

  it('refuses more than 4 fallbacks: each is an HMAC on every token the secret refuses, a forged one too', async () => {
    const four = Array.from({ length: 4 }, () => randomBytes(32));
    const service = createCsrfService({ secret: NEW, fallbacks: four });
    const session = newSession();
    expect(await service.check(session, await createCsrfService({ secret: four[3] as Buffer }).issue(session))).toBe('valid');
    expect(() => createCsrfService({ secret: NEW, fallbacks: [...four, OLD] })).toThrow(
      new TypeError('createCsrfService: fallbacks holds 5 secrets, more than 4: each is tried on every token the secret refuses'),
    );
  });

  it('keeps its own copies: changing the Buffers given later changes nothing', async () => {
    const given = Buffer.from(OLD);
    const rotated = createCsrfService({ secret: NEW, fallbacks: [given] });
    const session = newSession();
    const token = await createCsrfService({ secret: OLD }).issue(session);
    given.fill(0);
    expect(await rotated.check(session, token)).toBe('valid');
  });
});

describe.each(['per-session', 'per-action'] as const)('fallback uses told to onFallback, %s', (rotation) => {
  /** A rotated service on one store with an older one, and how many times it told `onFallback`. */
  function rotatedWithCount(fallbacks: Buffer[] = [OLD]) {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    stores.push(store);
    let told = 0;
    const rotated = createCsrfService({ secret: NEW, fallbacks, rotation, store, onFallback: () => told++ });
    const old = createCsrfService({ secret: OLD, rotation, store });
    return { rotated, old, told: () => told };
  }

  it('3 tokens of the fallback and 2 of the current secret: told 3 times (check and verify alike)', async () => {
    const { rotated, old, told } = rotatedWithCount();
    const session = newSession();
    expect(await rotated.check(session, await old.issue(session))).toBe('valid');
    expect(await rotated.verify(session, await old.issue(session))).toBe(true);
    expect(await rotated.check(session, await old.issue(session))).toBe('valid');
    expect(await rotated.check(session, await rotated.issue(session))).toBe('valid');
    expect(await rotated.verify(session, await rotated.issue(session))).toBe(true);
    expect(told()).toBe(3);
  });

  it('a forged token, a token of a secret not listed, another session’s fallback token: never told (a fallback token then is)', async () => {
    const { rotated, old, told } = rotatedWithCount();
    const [mine, theirs] = [newSession(), newSession()];
    const forged = `v1.${'A'.repeat((await rotated.issue(mine)).length - 3)}`;
    expect(await rotated.check(mine, forged)).toBe('forged');
    expect(await rotated.check(mine, await createCsrfService({ secret: OTHER }).issue(mine))).toBe('forged');
    expect(await rotated.check(mine, await old.issue(theirs))).toBe('forged');
    expect(await rotated.check(mine, undefined)).toBe('forged');
    expect(told()).toBe(0);
    expect(await rotated.check(mine, await old.issue(mine))).toBe('valid');
    expect(told()).toBe(1);
  });

  it('the action route’s path (open, then settle with the spend): told once the token proves valid', async () => {
    const { rotated, old, told } = rotatedWithCount();
    const session = newSession();
    const opened = rotated.open(session, await old.issue(session));
    if (typeof opened === 'string') throw new Error(`opened ${opened}`);
    // Not told by `open` alone: the pipeline settles it only past the session check.
    expect(told()).toBe(0);
    if (rotation === 'per-session') {
      // Nothing to use up in this mode; a token of the current secret opens `valid`, no spend, not told.
      expect([opened.op, rotated.fallbackSpends]).toEqual([null, true]);
      expect(rotated.open(session, await rotated.issue(session))).toBe('valid');
      expect(told()).toBe(0);
      expect(rotated.settle(true, opened)).toBe('valid');
      expect(told()).toBe(1);
      return;
    }
    // The store said the op did not consume it (used meanwhile): spent, not told.
    expect(rotated.settle(false, opened)).toBe('spent');
    expect(told()).toBe(0);
    expect(rotated.settle(true, opened)).toBe('valid');
    expect(told()).toBe(1);
    // A spend of the current secret settles valid without telling.
    const current = rotated.open(session, await rotated.issue(session));
    if (typeof current === 'string') throw new Error(`opened ${current}`);
    expect(rotated.settle(true, current)).toBe('valid');
    expect(told()).toBe(1);
  });
});

describe('fallback uses told to onFallback, per-action single use', () => {
  it('a fallback token replayed is spent, and told only for its first use', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    stores.push(store);
    let told = 0;
    const rotated = createCsrfService({ secret: NEW, fallbacks: [OLD], rotation: 'per-action', store, onFallback: () => told++ });
    const session = newSession();
    const token = await createCsrfService({ secret: OLD, rotation: 'per-action', store }).issue(session);
    expect([await rotated.check(session, token), await rotated.check(session, token), await rotated.verify(session, token)]).toEqual(['valid', 'spent', false]);
    expect(told).toBe(1);
  });

  it('refuses an onFallback that is not a function', () => {
    expect(() => createCsrfService({ secret: NEW, fallbacks: [OLD], onFallback: 'count' as unknown as () => void })).toThrow(
      new TypeError('createCsrfService: onFallback must be a function'),
    );
  });
});
