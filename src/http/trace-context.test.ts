/**
 * `traceparent` parsing (W3C Trace Context Level 1, §3.2). The cases of the specification's own
 * test suite (w3c/trace-context test/test.py, `test_traceparent_*`) are all here, with the
 * uppercase, duplicate, whitespace and hostile inputs around them.
 */
import { describe, expect, it } from 'vitest';
import { addTraceFields, MAX_TRACEPARENT_LENGTH, parseTraceparent, traceContextOf } from './trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;
/** The test suite's ids. */
const T = '12345678901234567890123456789012';
const P = '1234567890123456';

describe('parseTraceparent: valid values', () => {
  it('reads version 00: trace-id, parent-id and the flags as sent', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, parentId: PARENT, flags: '01' });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: '00' });
    // Flags other than sampled are reserved, not invalid: kept as the caller sent them.
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-ff`)?.flags).toBe('ff');
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-02`)?.flags).toBe('02');
    // Zeros are fine as long as the id is not all zero.
    expect(parseTraceparent(`00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-01`)).toEqual({ traceId: `${'0'.repeat(31)}1`, parentId: `${'0'.repeat(15)}1`, flags: '01' });
  });

  it('reads a higher version by version 00 fields, with or without more after a dash (§3.2.4)', () => {
    expect(parseTraceparent(`cc-${T}-${P}-01`)).toEqual({ traceId: T, parentId: P, flags: '01' });
    expect(parseTraceparent(`cc-${T}-${P}-01-what-the-future-will-be-like`)).toEqual({ traceId: T, parentId: P, flags: '01' });
    expect(parseTraceparent(`01-${T}-${P}-00-`)).toEqual({ traceId: T, parentId: P, flags: '00' });
    expect(parseTraceparent(`fe-${T}-${P}-01-x`)?.traceId).toBe(T);
  });

  it('keeps only the sampled bit of a higher version\'s flags, the one flag this version knows', () => {
    expect(['01', '03', '0b', 'ff', '11'].map((f) => parseTraceparent(`cc-${T}-${P}-${f}`)?.flags)).toEqual(['01', '01', '01', '01', '01']);
    expect(['00', '02', '0a', 'fe', '10'].map((f) => parseTraceparent(`cc-${T}-${P}-${f}`)?.flags)).toEqual(['00', '00', '00', '00', '00']);
  });

  it('takes spaces and tabs around the value as no part of it (optional whitespace)', () => {
    for (const padded of [` ${VALID}`, `\t${VALID}`, `${VALID} `, `${VALID}\t`, `\t ${VALID} \t`, `   ${VALID}   `]) {
      expect(parseTraceparent(padded)).toEqual({ traceId: TRACE, parentId: PARENT, flags: '01' });
    }
    expect(parseTraceparent(` cc-${T}-${P}-01-more `)?.traceId).toBe(T);
  });
});

describe('parseTraceparent: invalid values are ignored', () => {
  const invalid: [string, unknown][] = [
    // version
    ['version ff', `ff-${T}-${P}-01`],
    ['version with illegal characters', `.0-${T}-${P}-01`],
    ['version with illegal characters (second)', `0.-${T}-${P}-01`],
    ['version of three digits', `000-${T}-${P}-01`],
    ['version of four digits', `0000-${T}-${P}-01`],
    ['version of one digit', `0-${T}-${P}-01`],
    ['uppercase version', `CC-${T}-${P}-01`],
    ['uppercase version (one digit)', `0A-${T}-${P}-01`],
    ['no dash after the version', `00_${T}-${P}-01`],
    // version 00 is exactly 55 characters
    ['version 00 with a trailing character', `${VALID}.`],
    ['version 00 with more fields', `${VALID}-what-the-future-will-be-like`],
    ['version 00 with a trailing dash', `${VALID}-`],
    // higher versions: after the flags, the end or a dash
    ['higher version with no dash after the flags', `cc-${T}-${P}-01.what-the-future-will-be-like`],
    ['higher version with a third flag digit', `cc-${T}-${P}-011`],
    // trace-id
    ['all-zero trace-id', `00-${'0'.repeat(32)}-${P}-01`],
    ['trace-id with an illegal first character', `00-.2345678901234567890123456789012-${P}-01`],
    ['trace-id with an illegal last character', `00-1234567890123456789012345678901.-${P}-01`],
    ['trace-id of 33 digits', `00-${T}3-${P}-01`],
    ['trace-id of 31 digits', `00-${T.slice(1)}-${P}-01`],
    ['uppercase trace-id', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['trace-id with one uppercase digit', `00-${TRACE.slice(0, 31)}F-${PARENT}-01`],
    ['all-zero trace-id in a higher version', `cc-${'0'.repeat(32)}-${P}-01`],
    // parent-id
    ['all-zero parent-id', `00-${T}-${'0'.repeat(16)}-01`],
    ['parent-id with an illegal first character', `00-${T}-.234567890123456-01`],
    ['parent-id with an illegal last character', `00-${T}-123456789012345.-01`],
    ['parent-id of 17 digits', `00-${T}-${P}7-01`],
    ['parent-id of 15 digits', `00-${T}-${P.slice(1)}-01`],
    ['uppercase parent-id', `00-${TRACE}-00F067AA0BA902B7-01`],
    ['all-zero parent-id in a higher version', `cc-${T}-${'0'.repeat(16)}-01-x`],
    // trace-flags
    ['flags with an illegal first character', `00-${T}-${P}-.0`],
    ['flags with an illegal last character', `00-${T}-${P}-0.`],
    ['flags of three digits', `00-${T}-${P}-001`],
    ['flags of one digit', `00-${T}-${P}-1`],
    ['uppercase flags', `00-${T}-${P}-0F`],
    // separators
    ['underscores for dashes', `00_${T}_${P}_01`],
    ['a missing dash', `00-${T}${P}-01x`],
    // several field lines: an array, or joined with a comma as Node and proxies join them
    ['two headers as an array', [VALID, VALID]],
    ['one header in an array', [VALID]],
    ['two version 00 headers joined', `${VALID}, ${VALID}`],
    ['two higher-version headers joined', `cc-${T}-${P}-01-x, cc-${T}-${P}-01`],
    ['a higher version followed by a comma', `cc-${T}-${P}-01-a,b`],
    // whitespace that is not optional whitespace, or inside the value
    ['a line feed after the value', `${VALID}\n`],
    ['a carriage return before the value', `\r${VALID}`],
    ['a no-break space before the value', `\u00a0${VALID}`],
    ['an ideographic space after the value', `${VALID}\u3000`],
    ['a zero-width no-break space before the value', `\ufeff${VALID}`],
    ['a space inside', `00- ${TRACE.slice(1)}-${PARENT}-01`],
    ['only whitespace, 60 characters', ' '.repeat(60)],
    // unicode look-alikes
    ['a fullwidth digit in the trace-id', `00-${TRACE.slice(0, 31)}\uff11-${PARENT}-01`],
    ['an accented letter in the parent-id', `00-${TRACE}-${PARENT.slice(0, 15)}\u00e9-01`],
    ['a lone surrogate in the flags', `00-${TRACE}-${PARENT}-0\ud800`],
    ['an en dash for a dash', `00\u2013${TRACE}-${PARENT}-01`],
    // empty, short, other types
    ['empty', ''],
    ['the version alone', '00'],
    ['54 characters', VALID.slice(0, 54)],
    ['a number', 42],
    ['null', null],
    ['an object', { toString: () => VALID }],
  ];

  it.each(invalid)('%s', (_what, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('reads at most MAX_TRACEPARENT_LENGTH characters, whitespace included; longer is ignored unread', () => {
    const future = `cc-${T}-${P}-01-`;
    const longest = future + 'x'.repeat(MAX_TRACEPARENT_LENGTH - future.length);
    expect(longest).toHaveLength(MAX_TRACEPARENT_LENGTH);
    expect(parseTraceparent(longest)?.traceId).toBe(T);
    expect(parseTraceparent(`${longest}x`)).toBeNull();
    const padding = ' '.repeat(MAX_TRACEPARENT_LENGTH - VALID.length);
    expect(parseTraceparent(VALID + padding)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`${VALID + padding} `)).toBeNull();
    expect(parseTraceparent(`${VALID}${' '.repeat(1 << 20)}`)).toBeNull();
  });

  // No timed assertion (shared, noisy machines): the test's 20 s timeout is the bound. A million
  // refusals of the megabyte by its length take milliseconds, a million reads of it over a minute;
  // 400,000 parses of up to 512 characters in one pass take about a second, quadratic or
  // backtracking ones minutes. The loops yield now and then so the timeout can fire.
  it('answers hostile values in bounded time: a megabyte is refused by its length, the worst case within the bound is one pass', { timeout: 20_000 }, async () => {
    const megabyte = `cc-${T}-${P}-01-${'-'.repeat(1 << 20)}`;
    const worst = `cc-${T}-${P}-01-${'-'.repeat(MAX_TRACEPARENT_LENGTH - 56)}`;
    const spaces = ' '.repeat(MAX_TRACEPARENT_LENGTH);
    const yieldNow = () => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 1_000_000; i++) {
      parseTraceparent(megabyte);
      if (i % 10_000 === 0) await yieldNow();
    }
    for (let i = 0; i < 200_000; i++) {
      parseTraceparent(worst);
      parseTraceparent(spaces);
      if (i % 1_000 === 0) await yieldNow();
    }
    expect(parseTraceparent(worst)?.traceId).toBe(T);
  });
});

describe('traceContextOf and addTraceFields', () => {
  it('reads the traceparent header of a request\'s headers, absent or not', () => {
    expect(traceContextOf({ traceparent: VALID, tracestate: 'congo=t61rcWkgMzE' })).toEqual({ traceId: TRACE, parentId: PARENT, flags: '01' });
    expect(traceContextOf({ 'x-request-id': 'r-1' })).toBeNull();
    expect(traceContextOf({ traceparent: [VALID, VALID] })).toBeNull();
    expect(traceContextOf(undefined)).toBeNull();
    // tracestate alone is no trace context (§3.3: it is read only with a valid traceparent, and not at all here).
    expect(traceContextOf({ tracestate: 'rojo=00f067aa0ba902b7' })).toBeNull();
  });

  it('adds trace_id, span_id (the caller\'s parent-id) and trace_flags, the names instrumentation-pino writes', () => {
    const bindings = addTraceFields({ request_id: 'r-1' }, { traceId: TRACE, parentId: PARENT, flags: '01' });
    expect(bindings).toEqual({ request_id: 'r-1', trace_id: TRACE, span_id: PARENT, trace_flags: '01' });
    expect(Object.keys(bindings)).toEqual(['request_id', 'trace_id', 'span_id', 'trace_flags']);
  });
});
