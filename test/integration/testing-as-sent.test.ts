/**
 * `callAction` hands the schema what a JSON client can send, not the test's own objects: the params are
 * encoded as JSON and parsed as the HTTP route parses them. Before, a `Date`, `Infinity` or a `Map`
 * passed a schema in a test and failed it over HTTP (400), and an own `__proto__` or
 * `constructor.prototype` key passed in a test where the route refuses the body (400 INVALID_REQUEST).
 * Each case is run both ways here and must end alike.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { callAction, createTestHarness, mountComponent } from '../../src/testing/index.js';
import { oneComponentApp, openClient, type TestClient } from '../helpers/demo.js';

/** A Standard Schema passing `{ [key]: value }` when `accept(value)`, as a library's `z.date()` or `v.number()` does. */
function fieldSchema(key: string, accept: (value: unknown) => boolean): StandardSchemaV1<Record<string, unknown>> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (input) => {
        const value = (input as Record<string, unknown>)[key];
        return accept(value) ? { value: input as Record<string, unknown> } : { issues: [{ message: 'Invalid input', path: [key] }] };
      },
    },
  };
}

/** Any object, its keys kept (`z.looseObject({})`). */
const anyObject: StandardSchemaV1<Record<string, unknown>> = {
  '~standard': { version: 1, vendor: 'test', validate: (input) => ({ value: input as Record<string, unknown> }) },
};

const sent = defineComponent({
  name: 'sent',
  initialState: { last: '' },
  publicState: ['last'],
  actions: {
    schedule: { params: fieldSchema('when', (v) => v instanceof Date), run: () => ({ last: 'date' }) },
    count: { params: fieldSchema('n', (v) => typeof v === 'number'), run: (_s, p) => ({ last: String(p.n) }) },
    lookup: { params: fieldSchema('m', (v) => v instanceof Map), run: () => ({ last: 'map' }) },
    loose: { params: anyObject, run: (_s, p) => ({ last: JSON.stringify(Object.keys(p)) }) },
  },
  render: (s) => html`<p>${s.last}</p>`,
});

const cases: [action: 'schedule' | 'count' | 'lookup' | 'loose', params: Record<string, unknown>, outcome: string][] = [
  ['schedule', { when: new Date('2026-01-01T00:00:00Z') }, 'VALIDATION_FAILED'],
  ['count', { n: Infinity }, 'VALIDATION_FAILED'],
  ['count', { n: 3 }, 'ok'],
  ['lookup', { m: new Map([['a', 1]]) }, 'VALIDATION_FAILED'],
  ['loose', JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>, 'INVALID_REQUEST'],
  ['loose', { constructor: { prototype: { x: 1 } } }, 'INVALID_REQUEST'],
  ['loose', { a: 1, gone: undefined }, 'ok'],
];

describe('callAction sends params as a JSON client would', () => {
  let app: FastifyInstance;
  let client: TestClient;
  beforeAll(async () => {
    app = await oneComponentApp(sent, createMemoryStore());
    client = await openClient(app);
  });
  afterAll(() => app?.close());

  it.each(cases)('%s %o: %s, in a test as over HTTP', async (action, params, outcome) => {
    const m = await mountComponent(sent);
    const inTest = await callAction(m, action, params).then(
      () => 'ok',
      (e: { code: string }) => e.code,
    );
    const res = await client.action('sent:main', action, params);
    const overHttp = res.statusCode === 200 ? 'ok' : (res.json() as { code: string }).code;
    expect({ inTest, overHttp }).toEqual({ inTest: outcome, overHttp: outcome });
  });

  it('the action gets the params as parsed from JSON: undefined members gone, as over HTTP', async () => {
    const m = await mountComponent(sent);
    expect((await callAction(m, 'loose', { a: 1, gone: undefined })).state.last).toBe('["a"]');
  });

  it('the HTTP route parses its body once: the runtime does not encode and parse it again', async () => {
    const parse = vi.spyOn(secureJson, 'parse');
    try {
      const res = await client.action('sent:main', 'count', { n: 1 });
      expect(res.statusCode).toBe(200);
      expect(parse).toHaveBeenCalledTimes(1);
      parse.mockClear();
      const harness = await createTestHarness([sent]);
      await callAction(await mountComponent(sent, undefined, { harness }), 'count', { n: 1 });
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });
});
