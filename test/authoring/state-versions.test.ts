/**
 * A deploy changes a component's state shape (v1 `{ items }`, v2 `{ entries }`): with `version: 2`
 * and `migrate`, a returning visitor's stored v1 state is migrated where it is read (a page view, an
 * action) and stored as version 2. A migrate that throws, or a state of a later version (a rolled-back
 * deploy), answers 500 naming the instance and both versions, and the stored state is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { LiveError } from '../../src/core/errors.js';
import { html } from '../../src/core/html.js';
import { createKeyRing, createSealer, parseStateKeys } from '../../src/pipeline/state/seal.js';
import type { RuntimeResponse } from '../../src/runtime/index.js';
import type { Session } from '../../src/session/types.js';
import { storeKeys } from '../../src/store/keys.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store, StoreOp } from '../../src/store/types.js';
import { callAction, createTestHarness, mountComponent, type TestHarness } from '../../src/testing/index.js';

const v1 = defineComponent({
  name: 'todo',
  initialState: { items: [] as string[] },
  publicState: ['items'],
  actions: { add: { run: (s) => ({ items: [...s.items, 'x'] }) } },
  render: (s) => html`<p>${s.items.join(',')}</p>`,
});

type V2 = { entries: { text: string }[] };
function v2With(migrate: (state: unknown, from: number) => V2) {
  return defineComponent({
    name: 'todo',
    version: 2,
    migrate,
    initialState: { entries: [] } as V2,
    publicState: ['entries'],
    actions: {
      add: {
        // Sees the migrated state: an unmigrated one has no `entries` and throws here.
        run: (s) => ({ entries: [...s.entries, { text: `#${s.entries.length}` }] }),
      },
    },
    render: (s) => html`<ul>${s.entries.map((e) => html`<li>${e.text}</li>`)}</ul>`,
  });
}
const rename = (state: unknown, from: number): V2 => {
  if (from !== 1) throw new Error(`no migration from ${from}`);
  return { entries: (state as { items: string[] }).items.map((text) => ({ text })) };
};

/** The raw answer of an action (its 5xx exception included), as HTTP would send it. */
async function act(h: TestHarness, session: Session, action = 'add'): Promise<RuntimeResponse> {
  const token = await h.runtime.csrf.issue(session);
  return h.runtime.handleAction(
    { requestId: 'r1', ip: '127.0.0.1', method: 'POST', url: '/api/livecomponents/action', headers: { 'x-csrf-token': token } },
    { component_id: 'todo:main', action, params: {} },
    session,
  );
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const stores: [string, () => Promise<Store>][] = [
  ['memory', async () => createMemoryStore({ sweepIntervalMs: 0 })],
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lc-state-versions-'));
      dirs.push(dir);
      return createSqliteStore({ url: `sqlite:${join(dir, 'kv.db')}`, sweepIntervalMs: 0 });
    },
  ],
];

describe.each(stores)('a v1 state read by the v2 component (%s store)', (_name, makeStore) => {
  async function storedV1(): Promise<{ before: TestHarness; store: Store }> {
    const store = await makeStore();
    const before = await createTestHarness([v1], { store });
    const mounted = await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    await callAction(mounted, 'add');
    return { before, store };
  }

  it('a page view shows it migrated and stores it as version 2; the next action sees the migrated state', async () => {
    const { before, store } = await storedV1();
    const migrate = vi.fn(rename);
    const after = await before.redeploy([v2With(migrate)]);

    expect(await after.runtime.mount(after.session, 'todo:main')).toBe('<div data-lc-id="todo:main"><ul><li>milk</li><li>x</li></ul></div>');
    expect(migrate.mock.calls).toEqual([[{ items: ['milk', 'x'] }, 1]]);
    expect(await after.runtime.states.load(after.session, 'todo:main')).toMatchObject({ type: 'found', version: 2, state: { entries: [{ text: 'milk' }, { text: 'x' }] } });

    // Stored migrated: neither the next page view nor the action migrates again.
    await after.runtime.mount(after.session, 'todo:main');
    const res = await act(after, after.session);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: { entries: [{ text: 'milk' }, { text: 'x' }, { text: '#2' }] } });
    expect(migrate).toHaveBeenCalledTimes(1);
    expect(await after.runtime.states.load(after.session, 'todo:main')).toMatchObject({ type: 'found', version: 2 });
    await store.close();
  });

  it('an action reading it first migrates it before running, and its write stores version 2', async () => {
    const { before, store } = await storedV1();
    const migrate = vi.fn(rename);
    const after = await before.redeploy([v2With(migrate)]);

    const res = await act(after, after.session);
    expect(res.failure).toBeUndefined();
    expect(res.body).toMatchObject({ state: { entries: [{ text: 'milk' }, { text: 'x' }, { text: '#2' }] } });
    expect(migrate).toHaveBeenCalledTimes(1);
    expect(await after.runtime.states.load(after.session, 'todo:main')).toMatchObject({
      type: 'found',
      version: 2,
      state: { entries: [{ text: 'milk' }, { text: 'x' }, { text: '#2' }] },
    });
    await store.close();
  });
});

describe('state versions', () => {
  it('a version above 1 without migrate is refused where the component is defined, naming it', () => {
    const spec = { name: 'todo', initialState: { entries: [] }, publicState: [], actions: {}, render: () => html`` };
    expect(() => defineComponent({ ...spec, version: 2 })).toThrow(
      new TypeError('Component "todo": version 2 needs migrate(state, fromVersion), which turns a state stored by an earlier version into the current shape'),
    );
    for (const version of [0, 1.5, -1, Number.NaN]) {
      expect(() => defineComponent({ ...spec, version, migrate: () => ({ entries: [] }) })).toThrow(
        `Component "todo": version must be an integer from 1 (the version of its state's shape), got ${version}`,
      );
    }
    expect(() => defineComponent({ ...spec, version: 2, migrate: 'yes' as never })).toThrow(new TypeError('Component "todo": migrate must be a function'));
    expect(defineComponent({ ...spec, version: 2, migrate: () => ({ entries: [] }) }).version).toBe(2);
    expect(defineComponent(spec).version).toBe(1);
  });

  it('a migrate that throws answers 500 naming the instance and both versions, keeps the state, and a fixed deploy migrates it', async () => {
    const before = await createTestHarness([v1]);
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const broken = await before.redeploy([
      v2With(() => {
        throw new RangeError('bug in migrate');
      }),
    ]);
    const message = 'The stored state of todo:main (version 1; todo is version 2, kept in the store) failed to migrate: bug in migrate';

    const page = await broken.runtime.mount(broken.session, 'todo:main').catch((e: unknown) => e);
    expect(page).toBeInstanceOf(LiveError);
    expect((page as LiveError).code).toBe('INTERNAL_ERROR');
    expect((page as LiveError).message).toBe(message);
    expect((page as LiveError).cause).toEqual(new RangeError('bug in migrate'));
    const res = await act(broken, broken.session);
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect((res.failure as Error).message).toBe(message);
    expect(await broken.runtime.states.load(broken.session, 'todo:main')).toMatchObject({ type: 'found', version: 1, state: { items: ['milk'] } });

    const fixed = await broken.redeploy([v2With(rename)]);
    const todo = await mountComponent(fixed.runtime.registry.get('todo') as ReturnType<typeof v2With>, undefined, { harness: fixed, instance: 'main' });
    expect(todo.state).toEqual({ entries: [{ text: 'milk' }] });
    expect(await fixed.runtime.states.load(fixed.session, 'todo:main')).toMatchObject({ type: 'found', version: 2 });
  });

  it('a migrated state JSON cannot keep, or over maxStateBytes, answers 500 and stores nothing', async () => {
    const before = await createTestHarness([v1], { maxStateBytes: 200 });
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const dated = await before.redeploy([v2With(() => ({ entries: [{ text: new Date(0) as unknown as string }] }))]);
    await expect(dated.runtime.mount(dated.session, 'todo:main')).rejects.toThrow(
      new LiveError('INTERNAL_ERROR', {
        message: 'The stored state of todo:main (version 1; todo is version 2, kept in the store) failed to migrate: migrate returned a state JSON cannot keep: "entries[0].text" is a Date (only plain objects and arrays are JSON)',
      }),
    );
    expect((await act(dated, dated.session)).status).toBe(500);
    const big = await dated.redeploy([v2With(() => ({ entries: [{ text: 'x'.repeat(300) }] }))]);
    await expect(big.runtime.mount(big.session, 'todo:main')).rejects.toThrow('The state of todo:main would be 325 bytes, over maxStateBytes (200): not stored');
    expect((await act(big, big.session)).status).toBe(500);
    expect(await big.runtime.states.load(big.session, 'todo:main')).toMatchObject({ type: 'found', version: 1, state: { items: ['milk'] } });
  });

  it('a state of a later version (a rolled-back deploy) answers 500 naming both versions, and is kept', async () => {
    const v2 = v2With(rename);
    const newer = await createTestHarness([v2]);
    await mountComponent(v2, { entries: [{ text: 'milk' }] }, { harness: newer, instance: 'main' });
    const rolledBack = await newer.redeploy([v1]);
    const message =
      'The stored state of todo:main (version 2; todo is version 1, kept in the store) was written by a later version of todo: a deploy rolled back? It is read again once that version is deployed';

    await expect(rolledBack.runtime.mount(rolledBack.session, 'todo:main')).rejects.toThrow(new LiveError('INTERNAL_ERROR', { message }));
    const res = await act(rolledBack, rolledBack.session);
    expect(res.status).toBe(500);
    expect((res.failure as Error).message).toBe(message);
    expect(await rolledBack.runtime.states.load(rolledBack.session, 'todo:main')).toMatchObject({ type: 'found', version: 2, state: { entries: [{ text: 'milk' }] } });
    // The newer deploy back: its state is there, unchanged.
    const again = await rolledBack.redeploy([v2]);
    expect(await again.runtime.mount(again.session, 'todo:main')).toBe('<div data-lc-id="todo:main"><ul><li>milk</li></ul></div>');
  });

  it('a state stored as legacy plaintext reads as version 1 and is migrated', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const h = await createTestHarness([v2With(rename)], { store });
    await store.set(storeKeys.componentState(h.session.key, 'todo:main'), JSON.stringify({ items: ['tea'] }), 60_000);
    expect(await h.runtime.mount(h.session, 'todo:main')).toBe('<div data-lc-id="todo:main"><ul><li>tea</li></ul></div>');
    expect(await h.runtime.states.load(h.session, 'todo:main')).toMatchObject({ type: 'found', version: 2, needsReseal: false, state: { entries: [{ text: 'tea' }] } });
  });

  it('an action that writes the instance while a page view migrates it keeps its state: the page view does not overwrite it', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const before = await createTestHarness([v1], { store });
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const after = await before.redeploy([v2With(rename)]);
    const key = storeKeys.componentState(after.session.key, 'todo:main');
    // The page view's write of the migrated state reaches the store only after the action wrote the instance.
    const batch = store.batch.bind(store);
    const set = store.set.bind(store);
    let started = false;
    let interleaved: RuntimeResponse | undefined;
    async function actFirst(ops: readonly StoreOp[]): Promise<void> {
      if (started || !ops.some((op) => op.key === key && (op.op === 'set' || op.op === 'deleteIfEquals' || op.op === 'replaceIfEquals'))) return;
      started = true;
      interleaved = await act(after, after.session);
    }
    vi.spyOn(store, 'batch').mockImplementation(async (ops) => (await actFirst(ops), batch(ops)));
    vi.spyOn(store, 'set').mockImplementation(async (k, value, ttlMs) => (await actFirst([{ op: 'set', key: k, value, ttlMs }]), set(k, value, ttlMs)));

    expect(await after.runtime.mount(after.session, 'todo:main')).toBe('<div data-lc-id="todo:main"><ul><li>milk</li></ul></div>');
    expect(interleaved?.status).toBe(200);
    expect(await after.runtime.states.load(after.session, 'todo:main')).toMatchObject({ type: 'found', version: 2, state: { entries: [{ text: 'milk' }, { text: '#1' }] } });
  });

  it('a state deleted while a page view migrates it (its session signed out) stays deleted: the page view does not make it again', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const before = await createTestHarness([v1], { store });
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const after = await before.redeploy([v2With(rename)]);
    const key = storeKeys.componentState(after.session.key, 'todo:main');
    const batch = store.batch.bind(store);
    const writes: string[] = [];
    vi.spyOn(store, 'batch').mockImplementation(async (ops) => {
      // The mount's read (a claim of the initial state, which finds the stored one) passes; the
      // migrated state's write finds the state gone.
      if (ops.some((op) => op.key === key && ['set', 'deleteIfEquals', 'replaceIfEquals'].includes(op.op))) {
        writes.push(ops.map((op) => op.op).join('+'));
        await store.delete(key);
      }
      return batch(ops);
    });

    expect(await after.runtime.mount(after.session, 'todo:main')).toBe('<div data-lc-id="todo:main"><ul><li>milk</li></ul></div>');
    expect(writes).toEqual(['replaceIfEquals']);
    expect(await store.get(key)).toBeNull();
  });

  it('flipping the version in a sealed blob fails to open (STATE_INVALID), as any tampering does', async () => {
    const stateKeys = randomBytes(32).toString('base64');
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const v2 = v2With(rename);
    const h = await createTestHarness([v2], { store, stateKeys });
    await mountComponent(v2, { entries: [{ text: 'milk' }] }, { harness: h, instance: 'main' });
    const key = storeKeys.componentState(h.session.key, 'todo:main');
    const blob = (await store.get(key)) as string;
    const binding = { sessionKey: h.session.key, componentId: 'todo:main' };
    const opened = createSealer({ keyRing: createKeyRing(parseStateKeys(stateKeys)) }).open(blob, binding);
    expect(opened).toMatchObject({ ok: true, plaintext: '\u00012\n{"entries":[{"text":"milk"}]}' });

    // The plaintext starts after the envelope (45 bytes) and the binding (9 + both lengths); the
    // stream cipher keeps positions, so the '2' after the mark is the byte after it.
    const bytes = Buffer.from(blob, 'base64url');
    const at = 45 + 9 + Buffer.byteLength(binding.sessionKey) + Buffer.byteLength(binding.componentId) + 1;
    bytes[at] = (bytes[at] as number) ^ ('2'.charCodeAt(0) ^ '1'.charCodeAt(0)); // '2' becomes '1'
    await store.set(key, bytes.toString('base64url'), 60_000);

    const res = await act(h, h.session);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'STATE_INVALID' });
    expect(h.events.map((e) => e.description)).toEqual(['Stored state of todo:main failed verification (forged)']);
  });
});

describe('migrate mistakes and key rotation (review)', () => {
  const k = () => randomBytes(32).toString('base64');

  it('an async migrate (a promise, rejecting here) answers 500 and leaves no unhandled rejection to end the process', async () => {
    const before = await createTestHarness([v1]);
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const asyncMigrate = (async () => {
      throw new Error('lookup failed');
    }) as unknown as (state: unknown, from: number) => V2;
    const after = await before.redeploy([v2With(asyncMigrate)]);
    const page = await after.runtime.mount(after.session, 'todo:main').catch((e: unknown) => e);
    expect((page as LiveError).message).toBe('The stored state of todo:main (version 1; todo is version 2, kept in the store) failed to migrate: migrate must be synchronous (it returned a promise)');
    // Vitest fails the run on an unhandled rejection: give it the chance to surface.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await after.runtime.states.load(after.session, 'todo:main')).toMatchObject({ type: 'found', version: 1, state: { items: ['milk'] } });
  });

  it('a migrate throwing an object without a prototype still logs the instance and both versions', async () => {
    const before = await createTestHarness([v1]);
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const after = await before.redeploy([
      v2With(() => {
        throw Object.create(null) as Error;
      }),
    ]);
    const page = await after.runtime.mount(after.session, 'todo:main').catch((e: unknown) => e);
    expect((page as LiveError).message).toBe('The stored state of todo:main (version 1; todo is version 2, kept in the store) failed to migrate: [object Object]');
  });

  it('a state sealed with a retiring key that cannot be migrated yet is sealed again with the newest key, so a fixed migrate reads it after the old key is gone', async () => {
    const [OLD, NEW, sessionSecret] = [k(), k(), k()];
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const before = await createTestHarness([v1], { store, stateKeys: OLD, sessionSecret });
    await mountComponent(v1, { items: ['milk'] }, { harness: before, instance: 'main' });
    const session = before.session;
    const broken = await createTestHarness(
      [
        v2With(() => {
          throw new Error('bug');
        }),
      ],
      { store, stateKeys: `${NEW},${OLD}`, sessionSecret },
    );
    await expect(broken.runtime.mount(session, 'todo:main')).rejects.toThrow(/failed to migrate: bug/);
    expect(await broken.runtime.states.load(session, 'todo:main')).toMatchObject({ type: 'found', version: 1, needsReseal: false });
    const fixed = await createTestHarness([v2With(rename)], { store, stateKeys: NEW, sessionSecret });
    expect(await fixed.runtime.mount(session, 'todo:main')).toBe('<div data-lc-id="todo:main"><ul><li>milk</li></ul></div>');
  });
});

