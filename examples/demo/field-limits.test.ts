/**
 * Every `maxlength` of the reference app's fields holds the longest value the server accepts for it.
 * A browser counts `maxlength` in UTF-16 units, the server counts characters (code points): a
 * password of 60 emoji pasted into `maxlength="128"` was cut without a word, and the password saved
 * was not the one pasted; a name of 60 Adlam letters could not be edited. The longest accepted values
 * here are built of characters of two units each, and the server's own checks accept each one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAME_MAX_LENGTH, readCredentials, readEmailOnly, readName } from '../../src/auth/input.js';
import { checkPassword, PASSWORD_MAX_LENGTH } from '../../src/auth/password.js';
import { NEVER_ABORTED, type ComponentContext, type ComponentDefinition, type User } from '../../src/core/component.js';
import { demoApp } from '../../test/helpers/demo.js';
import { counter, LABEL_MAX_CHARS } from './components/counter.js';
import { ITEM_MAX_CHARS, order } from './components/order.js';
import { payment } from './components/payment.js';
import { createProfile, profileStateFor } from './components/profile.js';

const USER: User = { id: 'u1', email: 'ada@example.com', name: 'Ada' };
const ctx = (componentId: string, user: User | null = null): ComponentContext => ({ user, componentId, instance: 'main', signal: NEVER_ABORTED });

/** `count` different characters outside the BMP (two UTF-16 units each), from `first` on. */
const astral = (count: number, first = 0x1f400): string => Array.from({ length: count }, (_, i) => String.fromCodePoint(first + i)).join('');
/** `count` copies of one Adlam letter (U+1E900), as a name written in Adlam has. */
const adlam = (count: number): string => '\u{1E900}'.repeat(count);
/** An address whose ASCII form fits 254 bytes, but whose Unicode domain (ideographs outside the BMP) is much longer in UTF-16 units. */
const LONG_IDN_EMAIL = `${'a'.repeat(60)}@${'\u{20000}'.repeat(55)}.${'\u{20000}'.repeat(55)}.example`;

/** `[name, maxlength]` of every input with a `maxlength` in `markup`. */
function limitedFields(markup: string): [string, number][] {
  return [...markup.matchAll(/<input\b[^>]*>/g)].flatMap(([tag]) => {
    const limit = /\smaxlength="(\d+)"/.exec(tag)?.[1];
    return limit === undefined ? [] : [[/\sname="([^"]+)"/.exec(tag)?.[1] ?? '(no name)', Number(limit)] as [string, number]];
  });
}

/** The messages of the issues the action's own schema finds in `params`: none, it accepts them. */
async function schemaIssues(component: ComponentDefinition, action: string, params: Record<string, unknown>): Promise<string[]> {
  const schema = component.actions.get(action)?.params;
  if (schema === undefined) throw new Error(`${component.name}.${action} has no schema`);
  const result = await schema['~standard'].validate(params);
  return result.issues?.map((issue) => issue.message) ?? [];
}

const profile = createProfile({ setName: (_id, input) => Promise.resolve(readName(input) as { ok: true; name: string | null }) });

/**
 * For each page and field with a `maxlength`: the longest value the server accepts, and that check.
 * A field missing here fails the test below: a new limit must come with its server's.
 */
const LONGEST: Record<string, Record<string, { value: string; accepted: (value: string) => boolean | Promise<boolean> }>> = {
  'counter:main': { label: { value: astral(LABEL_MAX_CHARS), accepted: async (v) => (await schemaIssues(counter, 'setLabel', { label: v })).length === 0 } },
  'order:main': { item: { value: astral(ITEM_MAX_CHARS), accepted: async (v) => (await schemaIssues(order, 'createOrder', { item: v })).length === 0 } },
  'profile:main': {
    name: { value: adlam(NAME_MAX_LENGTH), accepted: async (v) => (await schemaIssues(profile, 'rename', { name: v })).length === 0 && readName(v).ok },
  },
  '/login': {
    // Sign-in takes any password up to its cap (older policies allowed others than 8–128).
    password: { value: astral(512), accepted: (v) => readCredentials({ email: USER.email, password: v }).ok },
  },
  '/forgot-password': { email: { value: LONG_IDN_EMAIL, accepted: (v) => readEmailOnly({ email: v }).ok } },
  '/reset-password': { password: { value: astral(PASSWORD_MAX_LENGTH), accepted: (v) => checkPassword(v).ok } },
};

/** The component each page shows, whose fields it has. */
const COMPONENT_OF_PAGE: Record<string, string> = { '/': 'counter:main', '/orders': 'order:main', '/payment': 'payment:main' };

describe('maxlength holds what the server accepts', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  const markups: Record<string, string> = {};
  beforeAll(async () => {
    demo = await demoApp();
    markups['counter:main'] = counter.render(counter.initialState, ctx('counter:main')).toString();
    markups['order:main'] = order.render(order.initialState, ctx('order:main')).toString();
    markups['payment:main'] = payment.render(payment.initialState, ctx('payment:main')).toString();
    markups['profile:main'] = profile.render(profileStateFor(USER), ctx('profile:main', USER)).toString();
    for (const path of ['/', '/orders', '/payment', '/login', '/forgot-password', '/reset-password']) {
      const page = await demo.app.inject({ method: 'GET', url: path });
      expect(page.statusCode, path).toBe(200);
      markups[path] = page.body;
    }
  });
  afterAll(() => demo?.app.close());

  it('the longest accepted values are accepted, and are longer in UTF-16 units than in characters', async () => {
    for (const [where, fields] of Object.entries(LONGEST)) {
      for (const [name, { value, accepted }] of Object.entries(fields)) {
        expect(await accepted(value), `${where} ${name}`).toBe(true);
        expect(value.length, `${where} ${name}`).toBeGreaterThan([...value].length);
      }
    }
  });

  it("every field's maxlength, on every page, is at least the UTF-16 length of the longest value its server accepts", () => {
    let checked = 0;
    for (const [where, markup] of Object.entries(markups)) {
      for (const [name, maxlength] of limitedFields(markup)) {
        const longest = LONGEST[COMPONENT_OF_PAGE[where] ?? where]?.[name];
        expect(longest, `${where}: a maxlength on "${name}" with no server limit listed here`).toBeDefined();
        expect(maxlength, `${where} ${name}`).toBeGreaterThanOrEqual(longest!.value.length);
        checked++;
      }
    }
    // The components' fields (counter, order, profile) and the account pages' three.
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('the sign-in password field sets no minlength: sign-in takes a password shorter than the policy of new ones', () => {
    expect(readCredentials({ email: USER.email, password: 'short' }).ok).toBe(true);
    const field = /<input type="password" name="password"[^>]*>/.exec(markups['/login']!)?.[0];
    expect(field).toContain('autocomplete="current-password"');
    expect(field).not.toContain('minlength');
  });

  it('the action route takes the longest label and item, and shows them whole', async () => {
    const client = await demo.client('/');
    const label = await client.action('counter:main', 'setLabel', { label: astral(LABEL_MAX_CHARS) });
    expect(label.statusCode).toBe(200);
    expect((label.json() as { html: string }).html).toContain(`value="${astral(LABEL_MAX_CHARS)}"`);
    const orders = await demo.client('/orders');
    const item = await orders.action('order:main', 'createOrder', { item: astral(ITEM_MAX_CHARS) });
    expect(item.statusCode).toBe(200);
    expect((item.json() as { html: string }).html).toContain(`<li dir="auto">${astral(ITEM_MAX_CHARS)}</li>`);
  });

  it('one character past the limit is refused by the server, with its message in characters', async () => {
    expect(await schemaIssues(counter, 'setLabel', { label: astral(LABEL_MAX_CHARS + 1) })).toEqual([`At most ${LABEL_MAX_CHARS} characters.`]);
    expect(await schemaIssues(order, 'createOrder', { item: astral(ITEM_MAX_CHARS + 1) })).toEqual([`At most ${ITEM_MAX_CHARS} characters.`]);
    expect(readName(adlam(NAME_MAX_LENGTH + 1)).ok).toBe(false);
    expect(checkPassword(astral(PASSWORD_MAX_LENGTH + 1))).toEqual({ ok: false, message: 'The password must be 8 to 128 characters long.' });
  });
});
