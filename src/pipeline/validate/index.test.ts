/**
 * The `VALIDATION_FAILED` answer's size: bounded however many issues a schema reports (one per element
 * of a 10,000-value array), with the number left out said under `_`.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../core/component.js';
import { html } from '../../core/html.js';
import { callAction, mountComponent } from '../../testing/index.js';
import { fieldErrors, MAX_ERRORS_CHARS, MAX_FIELD_MESSAGES, MAX_FIELD_NAME_CHARS, MAX_MESSAGE_CHARS, ROOT_FIELD } from './index.js';

function issue(path: StandardSchemaV1.Issue['path'], message = 'Too short.'): StandardSchemaV1.Issue {
  return { message, path };
}

/** As a schema reports an array of bad elements: one issue per element, at `tags.<index>`. */
function perElement(count: number, message = 'Too short.'): StandardSchemaV1.Issue[] {
  return Array.from({ length: count }, (_, i) => issue(['tags', i], message));
}

describe('fieldErrors', () => {
  it('groups issues by dotted path, the params as a whole under _, as before when within the caps (no count added)', () => {
    expect(fieldErrors([issue(['a', { key: 'b' }]), issue(['a', { key: 'b' }], 'Second.'), issue(undefined, 'Whole.'), issue([], 'Empty path.')])).toEqual({
      'a.b': ['Too short.', 'Second.'],
      _: ['Whole.', 'Empty path.'],
    });
  });

  it('keeps 100 fields of 9,990 issues and says how many it left out; the answer stays a few kilobytes', () => {
    const errors = fieldErrors(perElement(9990));
    const fields = Object.keys(errors).filter((f) => f !== ROOT_FIELD);
    expect(fields).toHaveLength(100);
    expect(fields[99]).toBe('tags.99');
    expect(errors[ROOT_FIELD]).toEqual(['…and 9890 more problems']);
    expect(JSON.stringify({ errors }).length).toBeLessThan(5000);
  });

  it('stops looking at issues once the fields are full: those after are only counted', () => {
    let read = 0;
    const issues = perElement(5000).map((i) => ({
      message: i.message,
      get path() {
        read++;
        return i.path;
      },
    }));
    fieldErrors(issues);
    expect(read).toBe(101);
  });

  it(`keeps ${MAX_FIELD_MESSAGES} messages of one field, and counts the rest`, () => {
    const issues = Array.from({ length: 25 }, (_, i) => issue(['name'], `Rule ${i}.`));
    const errors = fieldErrors([...issues, issue(['other'])]);
    expect(errors.name).toHaveLength(MAX_FIELD_MESSAGES);
    expect(errors.name?.[9]).toBe('Rule 9.');
    expect(errors.other).toEqual(['Too short.']);
    expect(errors[ROOT_FIELD]).toEqual(['…and 15 more problems']);
  });

  it('cuts a long message and a long field name with an ellipsis, never inside a surrogate pair', () => {
    const quoted = `must be short (was "${'x'.repeat(5000)}")`;
    const key = 'k'.repeat(5000);
    const errors = fieldErrors([issue([key], quoted)]);
    const [[field, [message]]] = Object.entries(errors) as [[string, [string]]];
    expect(field).toHaveLength(MAX_FIELD_NAME_CHARS);
    expect(field.endsWith('k…')).toBe(true);
    expect(message).toHaveLength(MAX_MESSAGE_CHARS);
    expect(message.startsWith('must be short (was "xxx')).toBe(true);
    expect(message.endsWith('x…')).toBe(true);
    const emoji = fieldErrors([issue(['e'], `${'a'.repeat(MAX_MESSAGE_CHARS - 2)}😀😀`)]).e?.[0];
    expect(emoji).toBe(`${'a'.repeat(MAX_MESSAGE_CHARS - 2)}…`);
  });

  it(`keeps at most ${MAX_ERRORS_CHARS} characters of names and messages in all, the rest counted`, () => {
    const long = 'y'.repeat(MAX_MESSAGE_CHARS);
    const issues = Array.from({ length: 100 * MAX_FIELD_MESSAGES }, (_, i) => issue([`f${i % 100}`], long));
    const errors = fieldErrors(issues);
    const kept = Object.entries(errors).filter(([f]) => f !== ROOT_FIELD);
    const chars = kept.reduce((sum, [f, messages]) => sum + f.length + messages.join('').length, 0);
    expect(chars).toBeLessThanOrEqual(MAX_ERRORS_CHARS);
    const shown = kept.reduce((sum, [, messages]) => sum + messages.length, 0);
    expect(errors[ROOT_FIELD]).toEqual([`…and ${issues.length - shown} more problems`]);
    expect(fieldErrors([...perElement(MAX_FIELD_MESSAGES + 1).map((i) => ({ ...i, path: ['one'] }))])[ROOT_FIELD]).toEqual(['…and 1 more problem']);
  });
});

describe('the validate stage', () => {
  /** Refuses every element of `tags`, as `z.object({ tags: z.array(z.string().min(2)) })` does numbers. */
  const everyTag: StandardSchemaV1<{ tags: unknown[] }> = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (input) => ({ issues: perElement((input as { tags: unknown[] }).tags.length, 'Invalid input: expected string, received number') }),
    },
  };
  const tagged = defineComponent({
    name: 'tagged',
    initialState: { n: 0 },
    publicState: ['n'],
    actions: { tag: { params: everyTag, run: (s) => ({ n: s.n + 1 }) } },
    render: (s) => html`<p>${s.n}</p>`,
  });

  it('answers 9,990 bad elements (a 20 KB body) with 100 fields and the count of the others, not a megabyte', async () => {
    const m = await mountComponent(tagged);
    const error = await callAction(m, 'tag', { tags: Array.from({ length: 9990 }, () => 1) }).then(
      () => expect.unreachable(),
      (e: unknown) => e as { code: string; fields: { errors: Record<string, string[]> } },
    );
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(Object.keys(error.fields.errors)).toHaveLength(101);
    expect(error.fields.errors[ROOT_FIELD]).toEqual(['…and 9890 more problems']);
    expect(JSON.stringify(error.fields).length).toBeLessThan(10_000);
  });
});
