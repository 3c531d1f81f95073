/**
 * defineComponent refuses a spec whose fields are missing or of the wrong kind with a TypeError
 * naming the component and the field. Once, `actions: { __proto__: { run }, ok }` silently lost the
 * `__proto__` action (the literal sets the prototype), actions inherited through Object.create were
 * dropped, and a missing `actions` or `publicState` failed with a bare JavaScript error.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';

const base = { name: 'nm', initialState: { n: 0 }, publicState: [] as string[], actions: {}, render: () => html`` };
const define = (spec: Record<string, unknown>) => () => defineComponent(spec as never);
const run = (s: { n: number }) => s;
const PROTO_HINT =
  ' (its prototype is not Object.prototype: an action named "__proto__" in an object literal sets the prototype, and inherited actions are not read)';

describe('defineComponent: actions', () => {
  it('refuses an action named __proto__ in an object literal, and inherited actions', () => {
    // The literal's `__proto__:` sets the prototype: the action would not exist.
    const literal = { __proto__: { run: (s: unknown) => s }, ok: { run } };
    expect(define({ ...base, actions: literal })).toThrow(
      new TypeError(`Component "nm": actions must be a plain object of actions ({} for none), got an object with another prototype${PROTO_HINT}`),
    );
    const inherited = Object.assign(Object.create({ reset: { run } }) as object, { inc: { run } });
    expect(define({ ...base, actions: inherited })).toThrow(/^Component "nm": actions must be a plain object of actions \(\{\} for none\), got an object with another prototype \(/);
  });

  it('refuses symbol and non-enumerable action keys, which would be dropped', () => {
    expect(define({ ...base, actions: { ok: { run }, [Symbol('go')]: { run } } })).toThrow(
      new TypeError('Component "nm": action Symbol(go) is a symbol or non-enumerable key: actions are the object\'s own enumerable string keys'),
    );
    const hidden = Object.defineProperty({ ok: { run } }, 'secret', { value: { run }, enumerable: false });
    expect(define({ ...base, actions: hidden })).toThrow(/^Component "nm": action secret is a symbol or non-enumerable key/);
  });

  it('refuses missing or wrong actions, and an action that is not an object, naming the component', () => {
    const { actions: _a, ...noActions } = base;
    expect(define(noActions)).toThrow(new TypeError('Component "nm": actions must be a plain object of actions ({} for none), got undefined'));
    expect(define({ ...base, actions: [{ run }] })).toThrow(new TypeError('Component "nm": actions must be a plain object of actions ({} for none), got an array'));
    expect(define({ ...base, actions: new Map() })).toThrow(new TypeError('Component "nm": actions must be a plain object of actions ({} for none), got a Map'));
    expect(define({ ...base, actions: { inc: null } })).toThrow(new TypeError('Component "nm", action "inc" must be an object { run, params?, authorize?, … }, got null'));
    // A function where `{ run }` belongs (`inc: (s) => …`).
    expect(define({ ...base, actions: { inc: run } })).toThrow(new TypeError('Component "nm", action "inc" must be an object { run, params?, authorize?, … }, got function'));
    // A prototype-less object is plain: its actions are read.
    const bare = Object.assign(Object.create(null) as object, { inc: { run } });
    expect([...defineComponent({ ...base, actions: bare } as never).actions.keys()]).toEqual(['inc']);
  });
});

describe('defineComponent: the other fields', () => {
  it('refuses a missing or wrong publicState, initialState, name or spec', () => {
    const { publicState: _p, ...noPublic } = base;
    expect(define(noPublic)).toThrow(new TypeError("Component \"nm\": publicState must be an array of initialState's field names (`[]` for none), got undefined"));
    expect(define({ ...base, publicState: 'n' })).toThrow(/^Component "nm": publicState must be an array .* got string$/);
    expect(define({ ...base, publicState: [1] })).toThrow(/^Component "nm": publicState must be an array .* got an array$/);
    const { initialState: _i, ...noInitial } = base;
    expect(define(noInitial)).toThrow(new TypeError('Component "nm": initialState must be a plain object (the state of a new instance), got undefined'));
    expect(define({ ...base, initialState: [] })).toThrow(/^Component "nm": initialState must be a plain object .*got an array$/);
    expect(define({ ...base, name: undefined })).toThrow(new TypeError('Component name undefined must be a string matching /^[a-z][a-z0-9-]{0,62}$/'));
    expect(() => defineComponent(undefined as never)).toThrow(new TypeError('defineComponent takes an object: { name, initialState, publicState, actions, render }'));
  });
});
