import { describe, expect, it } from 'vitest';
import { jsonStateProblem } from './json-state.js';

class Point {
  x = 1;
}

describe('jsonStateProblem', () => {
  it('passes what JSON keeps unchanged, a missing optional field included', () => {
    const state = { n: 1.5, s: 'é', b: false, z: null, list: [1, 'a', [null], { deep: { er: [] } }], optional: undefined, bare: Object.create(null) as object };
    expect(jsonStateProblem(state)).toBeNull();
    expect(JSON.parse(JSON.stringify(state))).toEqual({ ...state, optional: undefined, bare: {} });
  });

  it.each([
    [{ at: new Date(0) }, '"at" is a Date (only plain objects and arrays are JSON)'],
    [{ ids: new Set([1]) }, '"ids" is a Set (only plain objects and arrays are JSON)'],
    [{ byId: new Map() }, '"byId" is a Map (only plain objects and arrays are JSON)'],
    [{ p: new Point() }, '"p" is a Point (only plain objects and arrays are JSON)'],
    [{ a: { b: [0, { c: Number.NaN }] } }, '"a.b[1].c" is NaN (JSON stores null)'],
    [{ big: -Infinity }, '"big" is -Infinity (JSON stores null)'],
    [{ list: [1, undefined] }, '"list[1]" is undefined (JSON stores null)'],
    [{ holes: [1, , 3] }, '"holes[1]" is undefined (JSON stores null)'],
    [{ n: 10n }, '"n" is a bigint'],
    [{ f: () => 1 }, '"f" is a function'],
    [{ s: Symbol('x') }, '"s" is a symbol'],
    [new Date(0), 'the state is a Date (only plain objects and arrays are JSON)'],
  ])('names the first field JSON would change: %o', (state, problem) => {
    expect(jsonStateProblem(state)).toBe(problem);
  });

  it('refuses a cycle instead of recursing for ever, and a state nested too deep', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(jsonStateProblem(loop)).toMatch(/^"self(\.self)+" is nested deeper than 256 levels \(or circular\)$/);
    let deep: unknown = 1;
    for (let i = 0; i < 256; i++) deep = [deep];
    expect(jsonStateProblem({ deep })).toMatch(/is nested deeper than 256 levels/);
    let fine: unknown = 1;
    for (let i = 0; i < 254; i++) fine = [fine];
    expect(jsonStateProblem({ fine })).toBeNull();
  });
});

describe('jsonStateProblem: own keys JSON drops', () => {
  const hidden = (o: object, key: string) => Object.defineProperty(o, key, { value: 'x', enumerable: false });
  const withExtra = () => Object.assign([1, 2], { extra: 'lost' });

  it.each([
    [{ n: 1, [Symbol('x')]: 5 }, '"Symbol(x)" is a symbol key (JSON drops it)'],
    [{ meta: { [Symbol.iterator]: 1 } }, '"meta.Symbol(Symbol.iterator)" is a symbol key (JSON drops it)'],
    [hidden({ n: 0 }, 'hidden'), '"hidden" is a non-enumerable property (JSON drops it)'],
    [{ a: [0, hidden({}, 'h')] }, '"a[1].h" is a non-enumerable property (JSON drops it)'],
    [{ a: withExtra() }, '"a.extra" is a named property of an array (JSON keeps only its elements)'],
    [{ a: hidden([1], 'x') }, '"a.x" is a named property of an array (JSON keeps only its elements)'],
    [{ a: Object.assign([1], { [Symbol('s')]: 1 }) }, '"a.Symbol(s)" is a symbol key (JSON drops it)'],
  ])('names it: %o', (state, problem) => {
    expect(jsonStateProblem(state)).toBe(problem);
  });

  it('checks objects kept from the state an action was given: changed in place, they may hold what JSON drops', () => {
    const given = JSON.parse('{"list":[{"id":1}],"meta":{"v":1}}') as { list: object[]; meta: object };
    expect(jsonStateProblem({ ...given, n: 1 })).toBeNull();
    // `run` gets the very objects it returns: a named property added to the kept list, a hidden one on the kept meta.
    expect(jsonStateProblem({ ...given, list: Object.assign(given.list, { selected: 'b' }) })).toBe('"list.selected" is a named property of an array (JSON keeps only its elements)');
    const meta = hidden(given.meta, 'h');
    expect(jsonStateProblem({ list: [], meta })).toBe('"meta.h" is a non-enumerable property (JSON drops it)');
  });
});
