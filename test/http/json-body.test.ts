/**
 * The JSON body parser refuses nesting deeper than the action body's bound before parsing: a 1 MiB
 * body of `[[[[…` used to be parsed (and walked) whole before the action body's depth check refused
 * it, a quarter of a second or more of event loop per request, with no session needed.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import secureJson from 'secure-json-parse';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { useJsonBodies } from '../../src/http/json-body.js';
import { sendError } from '../../src/http/error-mapping.js';
import { bodyBoundExceeded, MAX_BODY_DEPTH, MAX_BODY_VALUES, parseActionBody } from '../../src/runtime/action-body.js';
import { demoApp } from '../helpers/demo.js';
import { prng } from '../helpers/prng.js';

const TOO_DEEP = `The body is nested deeper than ${MAX_BODY_DEPTH} levels.`;

/** The depth check on the scan alone (the values bound out of reach). */
const nestingExceeds = (bytes: Uint8Array, max: number) => bodyBoundExceeded(bytes, max, Infinity) === 'depth';

/** The reference the scan must agree with: the depth of a parsed value, the outermost level 1. */
function depthExceeds(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}

/** `depth` arrays inside one another, with `inner` in the middle. */
const nested = (depth: number, inner = ''): string => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

describe('nestingExceeds', () => {
  const bytes = (text: string) => Buffer.from(text, 'utf8');

  it('counts the outermost value as level 1, as depthExceeds does: 32 levels pass, 33 do not', () => {
    expect(MAX_BODY_DEPTH).toBe(32);
    // An envelope object plus arrays, padded past the short-body shortcut.
    const envelope = (levels: number) => `{"params":${nested(levels - 1, '"' + 'x'.repeat(100) + '"')}}`;
    expect(nestingExceeds(bytes(envelope(32)), 32)).toBe(false);
    expect(nestingExceeds(bytes(envelope(33)), 32)).toBe(true);
    expect(depthExceeds(JSON.parse(envelope(32)), 32)).toBe(false);
    expect(depthExceeds(JSON.parse(envelope(33)), 32)).toBe(true);
    expect(nestingExceeds(bytes(`{"a":${nested(40)}}`), 32)).toBe(true);
    expect(nestingExceeds(bytes(`{"a":{"b":{"c":${nested(30)}}}}`), 32)).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included, and counts them again after the string', () => {
    const inString = `{"a":"${'['.repeat(200)}"}`;
    expect(nestingExceeds(bytes(inString), 32)).toBe(false);
    // `\"` does not end the string: the brackets after it are still inside.
    const escapedQuote = `{"a":"\\"${'{'.repeat(200)}"}`;
    expect(JSON.parse(escapedQuote)).toEqual({ a: `"${'{'.repeat(200)}` });
    expect(nestingExceeds(bytes(escapedQuote), 32)).toBe(false);
    // `\\` is an escaped backslash: the quote after it does end the string, and what follows is nesting.
    const escapedBackslash = `{"a":"\\\\","b":${nested(40)}}`;
    expect(depthExceeds(JSON.parse(escapedBackslash), 32)).toBe(true);
    expect(nestingExceeds(bytes(escapedBackslash), 32)).toBe(true);
    // Multi-byte characters (their bytes are all ≥ 0x80) and `\u` escapes change nothing.
    const unicode = `{"é":"\\u005b${'€['.repeat(100)}","b":${nested(31)}}`;
    expect(depthExceeds(JSON.parse(unicode), 32)).toBe(false);
    expect(nestingExceeds(bytes(unicode), 32)).toBe(false);
    expect(nestingExceeds(bytes(`{"é":"€","b":${nested(32)}}`), 32)).toBe(true);
  });

  it('agrees with depthExceeds on the parsed value, for random JSON around the bound', () => {
    const outcomes = { deeper: 0, within: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const pick = (n: number) => Math.floor(random() * n);
      const strings = ['"', '\\', '[', ']', '{', '}', 'é', '€', 'a', '\u2028'];
      const leaf = (): unknown => {
        const kind = pick(3);
        if (kind === 0) return Array.from({ length: 1 + pick(4) }, () => strings[pick(strings.length)]).join('');
        return kind === 1 ? null : pick(1000);
      };
      // A spine down to a random depth around the bound, with leaves and strings of brackets beside it.
      const target = 28 + pick(9);
      const value = (depth: number): unknown => {
        if (depth >= target) return pick(2) === 0 ? [] : {};
        const children = [value(depth + 1), ...Array.from({ length: pick(3) }, leaf)];
        if (pick(2) === 0) return children.sort(() => random() - 0.5);
        return Object.fromEntries(children.map((child, i) => [`${strings[pick(strings.length)]}${i}`, child]));
      };
      const root = { component_id: 'counter:main', [strings[pick(strings.length)]!]: leaf(), params: value(2) };
      const text = JSON.stringify(root);
      const exceeds = depthExceeds(root, 32);
      expect(nestingExceeds(bytes(text), 32), `seed ${seed}`).toBe(exceeds);
      outcomes[exceeds ? 'deeper' : 'within']++;
    }
    // Both sides of the bound are exercised.
    expect(outcomes.deeper).toBeGreaterThan(30);
    expect(outcomes.within).toBeGreaterThan(30);
  });
});

/** The reference the value count must agree with: the parsed value and everything inside it. */
function valuesOf(root: unknown): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    count++;
    if (typeof value === 'object' && value !== null) stack.push(...Object.values(value));
  }
  return count;
}

describe('bodyBoundExceeded counts values', () => {
  const bytes = (text: string) => Buffer.from(text, 'utf8');
  const scan = (text: string, maxValues: number) => bodyBoundExceeded(bytes(text), MAX_BODY_DEPTH, maxValues);

  it('caps a body at 10,000 values: exactly the cap passes, one more is refused', () => {
    expect(MAX_BODY_VALUES).toBe(10_000);
    const body = (values: number) => JSON.stringify({ component_id: 'c:1', action: 'a', params: { list: new Array<number>(values - 5).fill(7) } });
    expect(valuesOf(JSON.parse(body(MAX_BODY_VALUES)))).toBe(MAX_BODY_VALUES);
    expect(scan(body(MAX_BODY_VALUES), MAX_BODY_VALUES)).toBeNull();
    expect(scan(body(MAX_BODY_VALUES + 1), MAX_BODY_VALUES)).toBe('values');
    // Empty arrays and objects are one value each, not two: 1 + 9,999 of them is the cap.
    const empties = (n: number) => `[${Array.from({ length: n }, (_, i) => (i % 2 === 0 ? '[]' : '{ }')).join(' , ')}]`;
    expect(valuesOf(JSON.parse(empties(9_999)))).toBe(MAX_BODY_VALUES);
    expect(scan(empties(9_999), MAX_BODY_VALUES)).toBeNull();
    expect(scan(empties(10_000), MAX_BODY_VALUES)).toBe('values');
  });

  it('says which bound was hit: the first one the scan reaches', () => {
    const deepThenWide = `{"a":${nested(40)},"b":[${'0,'.repeat(100)}0]}`;
    expect(bodyBoundExceeded(bytes(deepThenWide), 32, 50)).toBe('depth');
    expect(bodyBoundExceeded(bytes(deepThenWide), 64, 50)).toBe('values');
    expect(bodyBoundExceeded(bytes(deepThenWide), 64, 200)).toBeNull();
    const wideThenDeep = `{"b":[${'0,'.repeat(100)}0],"a":${nested(40)}}`;
    expect(bodyBoundExceeded(bytes(wideThenDeep), 32, 50)).toBe('values');
  });

  it('does not count commas, brackets or braces inside strings, escaped quotes and backslashes included', () => {
    const text = JSON.stringify({ a: ',[{'.repeat(500), b: '\\",[{'.repeat(500), [',{[,'.repeat(100)]: '\\\\', c: [1, 2] });
    expect(valuesOf(JSON.parse(text))).toBe(7);
    expect(scan(text, 7)).toBeNull();
    expect(scan(text, 6)).toBe('values');
  });

  it('agrees with the parsed value, for random JSON, pretty-printed or not', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const pick = (n: number) => Math.floor(random() * n);
      const strings = ['"', '\\', '[', ']', '{', '}', ',', ', ', 'é', '\u2028', ''];
      const value = (depth: number): unknown => {
        const kind = depth > 6 ? pick(3) : pick(5);
        if (kind === 0) return Array.from({ length: pick(4) }, () => strings[pick(strings.length)]).join('');
        if (kind === 1) return pick(2) === 0 ? null : pick(1000) - 500;
        if (kind === 2) return pick(2) === 0;
        const children = Array.from({ length: pick(5) }, () => value(depth + 1));
        if (kind === 3) return children;
        return Object.fromEntries(children.map((child, i) => [`${strings[pick(strings.length)]}${i}`, child]));
      };
      const root = { component_id: 'counter:main', action: 'x', params: value(2) };
      const text = JSON.stringify(root, null, pick(2) === 0 ? undefined : ' \t\n'.slice(pick(3)));
      const count = valuesOf(root);
      expect(bodyBoundExceeded(bytes(text), 64, count), `seed ${seed}`).toBeNull();
      expect(bodyBoundExceeded(bytes(text), 64, count - 1), `seed ${seed}`).toBe('values');
    }
  });
});

describe('parseActionBody', () => {
  it('checks a body given as a value the way the parser checks its text; one the parser scanned, not again', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 40; i++) deep = [deep];
    const wide = { list: new Array<number>(MAX_BODY_VALUES).fill(0) };
    for (const [params, message] of [
      [{ deep }, TOO_DEEP],
      [wide, `The body holds more than ${MAX_BODY_VALUES} values.`],
    ] as const) {
      const body = { component_id: 'counter:main', action: 'increment', params };
      expect(parseActionBody(body)).toMatchObject({ code: 'INVALID_REQUEST', message });
      expect(parseActionBody(body, true)).toMatchObject({ componentId: 'counter:main', params });
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(parseActionBody({ component_id: 'counter:main', action: 'increment', params: cyclic })).toMatchObject({ code: 'INVALID_REQUEST', message: 'The body cannot be encoded as JSON.' });
  });

  it('hands on a body given as a value as its JSON text parses, refusing what the parser refuses; a scanned body as it is', () => {
    const params = { when: new Date(0), n: Infinity, m: new Map([['a', 1]]) };
    const body = { component_id: 'counter:main', action: 'increment', params };
    expect(parseActionBody(body)).toMatchObject({ params: { when: '1970-01-01T00:00:00.000Z', n: null, m: {} } });
    expect((parseActionBody(body, true) as { params: unknown }).params).toBe(params);
    for (const text of ['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}']) {
      const refused = { component_id: 'counter:main', action: 'increment', params: JSON.parse(text) as unknown };
      expect(parseActionBody(refused)).toMatchObject({ code: 'INVALID_REQUEST', message: 'The body is not valid JSON.' });
    }
    expect(parseActionBody({ component_id: 'counter:main', action: 'increment', toJSON: () => [1] })).toMatchObject({ code: 'INVALID_REQUEST', message: 'The body must be a JSON object.' });
  });
});

/**
 * A route behind `useJsonBodies` that keeps every body it is handed (`seen`), for the describe
 * block it is called in; `post` sends it a JSON text.
 */
function echoRoute(): { seen: unknown[]; post: (payload: string) => Promise<LightMyRequestResponse> } {
  let app: FastifyInstance;
  const seen: unknown[] = [];
  beforeAll(async () => {
    app = Fastify();
    await app.register(async (scope) => {
      useJsonBodies(scope, { bodyLimit: 1_048_576 });
      scope.setErrorHandler((error, request, reply) => sendError(error, request, reply));
      scope.post('/echo', async (request) => {
        seen.push(request.body);
        return { ok: true };
      });
    });
    await app.ready();
  });
  afterAll(() => app.close());
  return { seen, post: (payload) => app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload }) };
}

describe('the parser refuses deep bodies before parsing them', () => {
  const { seen, post } = echoRoute();
  afterEach(() => {
    vi.restoreAllMocks();
    seen.length = 0;
  });

  it('a 1 MB body nested 500,000 deep: 400 INVALID_REQUEST naming the bound, the JSON parser never called', async () => {
    const parse = vi.spyOn(secureJson, 'parse');
    const res = await post(`{"component_id":"x","action":"y","params":${nested(500_000)}}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: TOO_DEEP, code: 'INVALID_REQUEST', request_id: expect.any(String) as string });
    expect(parse).not.toHaveBeenCalled();
    expect(seen).toEqual([]);
  });

  it('exactly at the bound the body is parsed and handed on; one level more is refused', async () => {
    const ok = await post(`{"params":${nested(31)}}`);
    expect(ok.statusCode).toBe(200);
    expect(seen).toHaveLength(1);
    const deeper = await post(`{"params":${nested(32)}}`);
    expect(deeper.statusCode).toBe(400);
    expect(deeper.json()).toMatchObject({ error: TOO_DEEP, code: 'INVALID_REQUEST' });
    expect(seen).toHaveLength(1);
  });

  it('brackets in strings do not count', async () => {
    const res = await post(JSON.stringify({ text: '['.repeat(10_000), quoted: '"{{{{{\\'.repeat(1000) }));
    expect(res.statusCode).toBe(200);
    expect(seen).toHaveLength(1);
  });
});

describe('the parser refuses text that is not well-formed Unicode', () => {
  const { seen, post } = echoRoute();
  afterEach(() => {
    seen.length = 0;
  });
  const NOT_UNICODE = { error: 'The body is not valid Unicode text.', code: 'INVALID_REQUEST', request_id: expect.any(String) as string };

  // `String.raw`: each `\uD800` below is the six characters of a JSON escape, as a client would send it.
  it.each([
    ['a lone high surrogate', String.raw`{"label":"x\ud800y"}`],
    ['a lone low surrogate', String.raw`{"label":"x\uDC00y"}`],
    ['a high one at the end', String.raw`{"label":"xy\uD83D"}`],
    ['a reversed pair', String.raw`{"label":"\uDE00\uD83D"}`],
    ['two high ones', String.raw`{"label":"\uD83D\uD83D"}`],
    ['an escaped high one before a raw character', String.raw`{"label":"\uD83D` + '\u00e9"}'],
    ['in a key', String.raw`{"params":{"x\udfff":1}}`],
    ['in a top-level key', String.raw`{"\uD800":1}`],
    ['in an array', String.raw`{"params":{"list":["ok","\ud800"]}}`],
    ['nested deep', `{"params":${'{"a":'.repeat(30)}${String.raw`"\udbff"`}${'}'.repeat(30)}}`],
  ])('%s: 400 INVALID_REQUEST, nothing handed on', async (_name, payload) => {
    expect(() => JSON.parse(payload) as unknown).not.toThrow();
    const res = await post(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual(NOT_UNICODE);
    expect(seen).toEqual([]);
  });

  it('an escaped valid pair, any case, and a raw emoji pass as the characters they are', async () => {
    for (const [payload, label] of [
      [String.raw`{"label":"a\uD83D\uDE00b"}`, 'a\u{1F600}b'],
      [String.raw`{"label":"\ud83d\ude00"}`, '\u{1F600}'],
      ['{"label":"\u{1F600}"}', '\u{1F600}'],
      [String.raw`{"label":"\u00e9\uFFFD\uE000"}`, '\u00e9\uFFFD\uE000'],
      // An escaped backslash then `uD800`: text, not an escape.
      [String.raw`{"label":"\\uD800"}`, String.raw`\uD800`],
    ] as const) {
      const res = await post(payload);
      expect(res.statusCode, payload).toBe(200);
      expect(seen.pop(), payload).toEqual({ label });
    }
  });
});

describe('on the reference app', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  beforeAll(async () => {
    demo = await demoApp();
  });
  afterAll(() => demo?.app.close());

  it('the action route and the auth API refuse a deep body with the same 400, without a session and unparsed', async () => {
    const parse = vi.spyOn(secureJson, 'parse');
    try {
      for (const url of ['/api/livecomponents/action', '/api/v1/auth/login']) {
        const payload = url.includes('auth') ? `{"email":"a@b.co","password":${nested(5000)}}` : `{"component_id":"x","action":"y","params":${nested(500_000)}}`;
        const res = await demo.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
        expect(res.statusCode, url).toBe(400);
        expect(res.json(), url).toMatchObject({ error: TOO_DEEP, code: 'INVALID_REQUEST' });
      }
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('the action route and the auth API refuse a lone surrogate with the same 400, before the session or the sign-in', async () => {
    const client = await demo.client('/');
    for (const [url, payload] of [
      ['/api/livecomponents/action', String.raw`{"component_id":"counter:main","action":"setLabel","params":{"label":"x\ud800y"}}`],
      ['/api/v1/auth/login', String.raw`{"email":"a@b.co","password":"correct-p\uDC00ssword-horse"}`],
      ['/api/v1/auth/register', String.raw`{"email":"lone@example.com","password":"a long enough pass phrase","name":"\uD800"}`],
    ]) {
      const res = await demo.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
        payload,
      });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ error: 'The body is not valid Unicode text.', code: 'INVALID_REQUEST' });
    }
    // The label was never stored: the page still shows none.
    const page = await demo.app.inject({ method: 'GET', url: '/', headers: { cookie: client.cookie } });
    expect(page.body).toContain('name="label" value=""');
  });
});
