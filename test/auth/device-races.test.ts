/**
 * `rememberDevice` (src/auth/service.ts) against writes that land between its read of the account's
 * trusted devices and its write: it used to `set` the list it read plus its own device, so
 * - a sign-in whose read came before a password reset's or logout-all's delete (`forgetDevices`) and
 *   whose write came after it wrote the OLD list back: the devices the reset meant to forget (maybe
 *   the attacker's browser) were trusted again for 90 days, with a sign-in budget of their own;
 * - of two sign-ins at once, the later write dropped the earlier one's entry.
 * It now writes only over the exact list it read (`claim` when none, else `replaceIfEquals`) and
 * starts again from the list as it is on a conflict. The interleavings are made by a store whose
 * reads of the list can be held after they read (not by timing): the test lets the other writes
 * land, then releases them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TRUSTED_DEVICES } from '../../src/auth/device.js';
import { createAuthService } from '../../src/auth/index.js';
import { authKeys, deviceDigest } from '../../src/auth/keys.js';
import { capturedMailTransport } from '../../src/auth/mail.js';
import { manualClock } from '../../src/core/clock.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait-until.js';
import { FAST_ARGON2, useSqliteAuthDatabase } from './harness.js';

const EMAIL = 'ada@example.com';
const KEY = authKeys.devices(EMAIL);

const { db } = useSqliteAuthDatabase('device-races');

/**
 * A memory store whose next `hold(n)` reads of the account's device list are held once they have
 * read, until `release()`: what they return is then what the list was at the read.
 */
function gatedStore() {
  const inner = createMemoryStore({ clock: manualClock(), sweepIntervalMs: 0 });
  let toHold = 0;
  const held: (() => void)[] = [];
  const store: Store = {
    ...inner,
    async get(key) {
      const value = await inner.get(key);
      if (key === KEY && toHold > 0) {
        toHold--;
        await new Promise<void>((resolve) => held.push(resolve));
      }
      return value;
    },
  };
  return {
    inner,
    store,
    hold(n: number) {
      toHold = n;
    },
    /** Resolves once `n` reads are held. */
    held: (n: number) => waitUntil(`${n} reads of the device list held`, () => held.length >= n, { seen: () => held.length }),
    release() {
      for (const resume of held.splice(0)) resume();
    },
  };
}

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function setup() {
  const gate = gatedStore();
  stores.push(gate.inner);
  const errors: unknown[] = [];
  const service = createAuthService({
    db,
    store: gate.store,
    events: memorySecurityEvents(),
    mail: capturedMailTransport(),
    password: FAST_ARGON2,
    resetUrl: 'https://app.example.com/reset-password',
    onBackgroundError: (error) => errors.push(error),
  });
  const list = async (): Promise<string[] | null> => (await gate.inner.get(KEY))?.split(' ') ?? null;
  return { gate, service, errors, list };
}

const digestOf = (token: string | null | undefined): string => deviceDigest(token as string);

describe('rememberDevice against concurrent writes of the device list', () => {
  it("a sign-in whose read came before forgetDevices' delete and whose write after it records only its own browser", async () => {
    const { gate, service, errors, list } = setup();
    const attacker = await service.rememberDevice(EMAIL, null);
    const owner = await service.rememberDevice(EMAIL, null);
    expect(await list()).toEqual([digestOf(attacker), digestOf(owner)]);
    gate.hold(1);
    const signIn = service.rememberDevice(EMAIL, null);
    await gate.held(1); // it read [attacker, owner]
    await gate.inner.delete(KEY); // the reset's forgetDevices
    gate.release();
    const token = await signIn;
    expect(token).not.toBeNull();
    // Was [attacker, owner, token]: the forgotten devices trusted again.
    expect(await list()).toEqual([digestOf(token)]);
    expect(errors).toEqual([]);
  });

  it('a sign-in whose read found no list and whose claim comes after another sign-in made one adds to that one', async () => {
    const { gate, service, errors, list } = setup();
    gate.hold(1);
    const first = service.rememberDevice(EMAIL, null);
    await gate.held(1); // it read: no list
    const second = await service.rememberDevice(EMAIL, null);
    gate.release();
    const token = await first;
    expect(await list()).toEqual([digestOf(second), digestOf(token)]);
    expect(errors).toEqual([]);
  });

  it.each([2, 20])('%i sign-ins at once, all reading the same list: all recorded, up to MAX_TRUSTED_DEVICES, most recent last', async (count) => {
    const { gate, service, errors, list } = setup();
    const before = await service.rememberDevice(EMAIL, null);
    gate.hold(count);
    const signIns = Array.from({ length: count }, () => service.rememberDevice(EMAIL, null));
    await gate.held(count); // every one read [before]
    gate.release();
    const tokens = await Promise.all(signIns);
    const recorded = tokens.filter((t): t is string => t !== null);
    const now = (await list()) as string[];
    expect(new Set(now).size).toBe(now.length);
    if (count + 1 <= MAX_TRUSTED_DEVICES) {
      // Nobody's entry dropped: was [before, the last writer] (each write replaced the list read).
      expect(recorded).toHaveLength(count);
      expect(now.slice().sort()).toEqual([before, ...recorded].map(digestOf).sort());
      expect(now[0]).toBe(digestOf(before));
    } else {
      // The list is full of this burst's browsers. Each retry round lost to one writer, so after
      // MAX_TRUSTED_DEVICES lost rounds a sign-in gives up (reported): by then as many browsers were
      // recorded after its read, and its own entry would have been evicted by them anyway.
      expect(now).toHaveLength(MAX_TRUSTED_DEVICES);
      expect(recorded).toHaveLength(MAX_TRUSTED_DEVICES);
      expect(now.slice().sort()).toEqual(recorded.map(digestOf).sort());
      expect(errors).toHaveLength(count - MAX_TRUSTED_DEVICES);
      for (const error of errors) expect(String(error)).toMatch(/Trusted device not recorded: the account's device list changed under 10 writes in a row/);
      return;
    }
    expect(errors).toEqual([]);
  });

  it('the eviction order is kept across a conflict: the least recently used goes, a trusted browser moves to the end', async () => {
    const { gate, service, errors, list } = setup();
    const devices: string[] = [];
    for (let i = 0; i < MAX_TRUSTED_DEVICES; i++) devices.push((await service.rememberDevice(EMAIL, null)) as string);
    expect(await list()).toEqual(devices.map(digestOf));
    gate.hold(1);
    const fresh = service.rememberDevice(EMAIL, null); // a new browser: reads the full list
    await gate.held(1);
    // Meanwhile the third browser signs in again: it moves to the end.
    expect(await service.rememberDevice(EMAIL, devices[2] as string)).toBe(devices[2]);
    gate.release();
    const token = (await fresh) as string;
    // The oldest (devices[0]) evicted; devices[2] kept after the others, the new browser last.
    expect(await list()).toEqual([devices[1], ...devices.slice(3), devices[2], token].map(digestOf));
    expect(errors).toEqual([]);
  });
});
