/**
 * Typing of `defineComponent` and `callAction`. The type assertions (`expectTypeOf`, and every
 * `@ts-expect-error`, which fails `tsc` once it is not needed) are checked by `npm run lint`
 * (`tsc --noEmit`); the calls also run, so the types and the runtime are seen to agree.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { callAction, mountComponent } from '../testing/index.js';
import { defineComponent, type ComponentContext, type DeepReadonly, type StateShape } from './component.js';
import { html } from './html.js';

type Schemas<D> = D extends { readonly '~actions'?: infer A } ? NonNullable<A> : never;

const received: unknown[] = [];

/** Actions without `params` next to actions with: the case that used to lose all typing. */
const todo = defineComponent({
  name: 'todo',
  initialState: { count: 0, note: '' },
  publicState: ['count', 'note'],
  actions: {
    reset: {
      run: (state, params) => {
        expectTypeOf(params).toEqualTypeOf<Record<string, never>>();
        received.push(params);
        return { ...state, count: 0 };
      },
    },
    add: {
      params: z.object({ by: z.number().int() }),
      rateLimit: 100,
      idempotencyTTL: 60,
      authorize: (ctx, state, params) => {
        expectTypeOf(ctx).toEqualTypeOf<ComponentContext>();
        expectTypeOf(state).toEqualTypeOf<DeepReadonly<{ count: number; note: string }>>();
        expectTypeOf(params).toEqualTypeOf<{ by: number }>();
        return params.by <= 10;
      },
      run: (state, { by }) => ({ ...state, count: state.count + by }),
    },
    // `authorize` and `run` written before `params`: typed from it all the same.
    write: {
      authorize: (_ctx, _state, { note }) => note !== 'forbidden',
      run: (state, { note }) => ({ ...state, note: note.toUpperCase() }),
      params: z.object({ note: z.string().max(20) }),
    },
  },
  render: (state) => html`<output>${state.count}</output>`,
});

describe('defineComponent typing', () => {
  it('types each action from its own schema, and an action without params as none', () => {
    type A = Schemas<typeof todo>;
    expectTypeOf<keyof A>().toEqualTypeOf<'reset' | 'add' | 'write'>();
    expectTypeOf<A['reset']>().toEqualTypeOf<undefined>();
    expectTypeOf<StandardSchemaV1.InferInput<A['add']>>().toEqualTypeOf<{ by: number }>();
    expectTypeOf<StandardSchemaV1.InferOutput<A['write']>>().toEqualTypeOf<{ note: string }>();
  });

  it('keeps the inference of a component whose actions all have params, and of one with none', () => {
    const all = defineComponent({
      name: 'all',
      initialState: { n: 0 },
      publicState: ['n'],
      actions: {
        set: { params: z.object({ n: z.number() }), run: (_s, { n }) => ({ n }) },
        scale: { params: z.object({ by: z.number() }), run: (s, { by }) => ({ n: s.n * by }) },
      },
      render: (s) => html`${s.n}`,
    });
    expect([...all.actions.keys()]).toEqual(['set', 'scale']);
    expectTypeOf<keyof Schemas<typeof all>>().toEqualTypeOf<'set' | 'scale'>();
    expectTypeOf<StandardSchemaV1.InferInput<Schemas<typeof all>['scale']>>().toEqualTypeOf<{ by: number }>();
    const none = defineComponent({
      name: 'none',
      initialState: { n: 0 },
      publicState: ['n'],
      actions: { up: { run: (s) => ({ n: s.n + 1 }) }, down: { run: (s) => ({ n: s.n - 1 }) } },
      render: (s) => html`${s.n}`,
    });
    expect([...none.actions.keys()]).toEqual(['up', 'down']);
    expectTypeOf<Schemas<typeof none>>().toEqualTypeOf<{ up: undefined; down: undefined }>();
    // No schema anywhere, and a run that names its params: TypeScript infers nothing for the schemas
    // (it fell back to any action name); the names still come from the actions object.
    const named = defineComponent({
      name: 'named',
      initialState: { n: 0 },
      publicState: ['n'],
      actions: {
        reset: {
          run: (_s, params) => {
            expectTypeOf(params).toEqualTypeOf<Record<string, never>>();
            return { n: 0 };
          },
        },
        up: { run: (s) => ({ n: s.n + 1 }) },
      },
      render: (s) => html`${s.n}`,
    });
    expect([...named.actions.keys()]).toEqual(['reset', 'up']);
    expectTypeOf<Schemas<typeof named>>().toEqualTypeOf<{ reset: undefined; up: undefined }>();
  });

  it('refuses params used against their schema, and params that are not a schema', () => {
    defineComponent({
      name: 'wrong',
      initialState: { n: 0 },
      publicState: [],
      actions: {
        plain: { run: (s) => s },
        // @ts-expect-error `by` is a number: it has no toUpperCase
        shout: { params: z.object({ by: z.number() }), run: (s, { by }) => ({ n: s.n + by.toUpperCase() }) },
      },
      render: () => html``,
    });
    expect(() =>
      defineComponent({
        name: 'wrong',
        initialState: { n: 0 },
        publicState: [],
        actions: {
          plain: { run: (s) => s },
          // @ts-expect-error a string is not a Standard Schema
          odd: { params: 'by', run: (s) => s },
        },
        render: () => html``,
      }),
    ).toThrow(/params must be a Standard Schema/);
  });
});

describe('callAction typing', () => {
  it('takes the declared actions with their params, and runs them', async () => {
    const m = await mountComponent(todo);
    expect((await callAction(m, 'add', { by: 3 })).state).toEqual({ count: 3, note: '' });
    expect((await callAction(m, 'write', { note: 'hi' })).state).toEqual({ count: 3, note: 'HI' });
    expect((await callAction(m, 'reset')).state).toEqual({ count: 0, note: 'HI' });
  });

  it('refuses an unknown action name, as the route does (404)', async () => {
    const m = await mountComponent(todo);
    // @ts-expect-error 'typo' is not an action of todo
    await expect(callAction(m, 'typo')).rejects.toMatchObject({ code: 'ACTION_NOT_FOUND' });
  });

  it('refuses params of the wrong type or missing, as the schema does (400)', async () => {
    const m = await mountComponent(todo);
    // @ts-expect-error `by` is a number
    await expect(callAction(m, 'add', { by: 'two' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // @ts-expect-error `by` is required
    await expect(callAction(m, 'add', {})).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // @ts-expect-error `by` is required: the params cannot be left out either
    await expect(callAction(m, 'add')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // @ts-expect-error nor left out with options given
    await expect(callAction(m, 'add', undefined, { ip: '127.0.0.2' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // @ts-expect-error `note` belongs to write, not add
    await expect(callAction(m, 'add', { note: 'x' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('lets the params be left out when the schema takes {} (every field optional, or a loose schema)', async () => {
    const optional = defineComponent({
      name: 'optional',
      initialState: { n: 0 },
      publicState: ['n'],
      actions: {
        bump: { params: z.object({ by: z.number().optional() }), run: (s, { by }) => ({ n: s.n + (by ?? 1) }) },
        any: { params: z.unknown(), run: (s) => ({ n: s.n + 10 }) },
      },
      render: (s) => html`${s.n}`,
    });
    let m = await mountComponent(optional);
    m = await callAction(m, 'bump');
    m = await callAction(m, 'bump', undefined, { ip: '127.0.0.2' });
    m = await callAction(m, 'any');
    expect((await callAction(m, 'bump', { by: 5 })).state).toEqual({ n: 17 });
  });

  it('hands authorize the typed params', async () => {
    const m = await mountComponent(todo);
    await expect(callAction(m, 'add', { by: 11 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(callAction(m, 'write', { note: 'forbidden' })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('an action without params gets {}: callAction refuses params for it at compile time (HTTP ignores them)', async () => {
    const m = await mountComponent(todo);
    received.length = 0;
    await callAction(m, 'reset');
    await callAction(m, 'reset', {});
    // @ts-expect-error -- the action has no schema: what is sent would be ignored, so sending it is a mistake
    await callAction(m, 'reset', { count: 5 });
    expect(received).toEqual([{}, {}, {}]);
  });
});

describe('state typing: JSON only', () => {
  const spec = { publicState: [] as const, actions: {}, render: () => html`` };

  it('refuses a state field JSON would change when the component is defined (at run time: the types cannot, see below)', () => {
    expect(() => defineComponent({ ...spec, name: 'd', initialState: { at: new Date(0) } })).toThrow('"at" is a Date');
    expect(() => defineComponent({ ...spec, name: 's', initialState: { ids: new Set<number>() } })).toThrow('"ids" is a Set');
    expect(() => defineComponent({ ...spec, name: 'm', initialState: { nested: { byId: new Map<string, number>() } } })).toThrow('"nested.byId" is a Map');
    expect(() => defineComponent({ ...spec, name: 'f', initialState: { onDone: () => 1 } })).toThrow('"onDone" is a function');
  });

  it('compiles a generic component factory (a compile-time JSON check of the state type would refuse a type parameter)', () => {
    function listOf<T extends StateShape>(name: string, initialState: T) {
      return defineComponent({ ...spec, name, initialState });
    }
    interface Item {
      id: number;
      title: string;
      done?: boolean;
    }
    const list = listOf('list', { items: [] as Item[], pair: [1, 'a'] as [number, string], picked: null as number | null });
    expectTypeOf(list.initialState.items).toEqualTypeOf<Item[]>();
  });
});
