/**
 * The reference app's markup, styles and page script, checked without a browser: what screen readers,
 * right-to-left text and low-vision users need of them (test/browser/demo-a11y.test.ts drives them in Chromium).
 */
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { NEVER_ABORTED, type ComponentContext, type User } from '../../src/core/component.js';
import { counter } from './components/counter.js';
import { order } from './components/order.js';
import { payment } from './components/payment.js';
import { createProfile, profileStateFor } from './components/profile.js';

const USER: User = { id: 'u1', email: 'ada@example.com', name: 'Ada' };
const ctx = (componentId: string, user: User | null = null): ComponentContext => ({
  user,
  componentId,
  instance: componentId.split(':')[1] ?? 'main',
  signal: NEVER_ABORTED,
});

/** The opening tags named `name` in `markup`. */
const openTags = (markup: string, name: string): string[] => [...markup.matchAll(new RegExp(`<${name}\\b[^>]*>`, 'g'))].map((m) => m[0]);
/** The markup of the first `<form>…</form>`. */
const firstForm = (markup: string): string => /<form\b[\s\S]*?<\/form>/.exec(markup)?.[0] ?? '';
const hasAttr = (tag: string, attr: string, value?: string): boolean =>
  new RegExp(`\\s${attr}${value === undefined ? '(\\s|=|>)' : `="${value}"`}`).test(tag);

describe('reference app components: markup', () => {
  it('profile:main has an error slot for `name` in its form, so a VALIDATION_FAILED says what is wrong', () => {
    const profile = createProfile({ setName: () => Promise.resolve({ ok: true, name: null }) });
    const markup = profile.render(profileStateFor(USER), ctx('profile:main', USER)).toString();
    const form = firstForm(markup);
    const slots = openTags(form, 'span').filter((t) => hasAttr(t, 'data-lc-error', 'name'));
    expect(slots).toHaveLength(1);
    expect(hasAttr(slots[0]!, 'hidden')).toBe(true);
  });

  it('every error slot is in its form but after its label, and is no live region (the status line announces)', () => {
    const profile = createProfile({ setName: () => Promise.resolve({ ok: true, name: null }) });
    const forms = [
      ['label', counter.render(counter.initialState, ctx('counter:main')).toString()],
      ['item', order.render(order.initialState, ctx('order:main')).toString()],
      ['amount', payment.render(payment.initialState, ctx('payment:main')).toString()],
      ['name', profile.render(profileStateFor(USER), ctx('profile:main', USER)).toString()],
    ] as const;
    for (const [field, markup] of forms) {
      const form = firstForm(markup);
      const slots = openTags(form, 'span').filter((t) => hasAttr(t, 'data-lc-error', field));
      expect(slots, field).toHaveLength(1);
      // Inside a <label> it would be part of the field's accessible name, read with it and again as its description.
      const labels = [...form.matchAll(/<label\b[\s\S]*?<\/label>/g)].map((m) => m[0]);
      expect(labels.filter((label) => label.includes(`name="${field}"`)), field).toHaveLength(1);
      for (const label of labels) expect(label, field).not.toContain('data-lc-error');
      expect(hasAttr(slots[0]!, 'aria-live'), field).toBe(false);
      expect(hasAttr(slots[0]!, 'role'), field).toBe(false);
    }
  });

  it('the order and payment forms reset after success (data-lc-reset): Enter again adds nothing twice', () => {
    const orders = order.render(order.initialState, ctx('order:main')).toString();
    const pay = payment.render(payment.initialState, ctx('payment:main')).toString();
    expect(openTags(orders, 'form').filter((t) => hasAttr(t, 'data-lc-action', 'createOrder') && hasAttr(t, 'data-lc-reset'))).toHaveLength(1);
    expect(openTags(pay, 'form').filter((t) => hasAttr(t, 'data-lc-action', 'processPayment') && hasAttr(t, 'data-lc-reset'))).toHaveLength(1);
  });

  it('user text is shown and typed with dir="auto": the order list, the item, label and display name fields', () => {
    const orders = order.render({ orders: 2, recent: ['שלום עולם', 'Tea'] }, ctx('order:main')).toString();
    const items = openTags(orders, 'li');
    expect(items).toHaveLength(2);
    for (const li of items) expect(hasAttr(li, 'dir', 'auto')).toBe(true);

    const inputs = [
      ...openTags(orders, 'input').filter((t) => hasAttr(t, 'name', 'item')),
      ...openTags(counter.render(counter.initialState, ctx('counter:main')).toString(), 'input').filter((t) => hasAttr(t, 'name', 'label')),
    ];
    const profile = createProfile({ setName: () => Promise.resolve({ ok: true, name: null }) });
    const profileMarkup = profile.render(profileStateFor(USER), ctx('profile:main', USER)).toString();
    inputs.push(...openTags(profileMarkup, 'input').filter((t) => hasAttr(t, 'name', 'name')));
    expect(inputs).toHaveLength(3);
    for (const input of inputs) expect(hasAttr(input, 'dir', 'auto')).toBe(true);
  });
});

/** WCAG 2.x relative luminance of `#rrggbb` / `#rgb`. */
function luminance(hex: string): number {
  const h = hex.replace('#', '');
  const full = h.length === 3 ? [...h].map((c) => c + c).join('') : h;
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(full.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrast = (a: string, b: string): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
};

describe('reference app styles (public/app.css)', () => {
  const css = readFileSync(new URL('./public/app.css', import.meta.url), 'utf8');
  const root = /:root\s*\{([^}]*)\}/.exec(css)?.[1] ?? '';
  const variable = (name: string): string => {
    const value = new RegExp(`${name}\\s*:\\s*([^;]+);`).exec(root)?.[1]?.trim();
    if (value === undefined) throw new Error(`app.css :root has no ${name}`);
    return value;
  };
  const resolve = (value: string): string => value.replace(/var\((--[\w-]+)\)/g, (_, name: string) => variable(name));

  it('gives text fields a border of at least 3:1 against their background (WCAG 1.4.11)', () => {
    const rule = /\.field input\s*\{([^}]*)\}/.exec(css)?.[1] ?? '';
    const border = /(?:^|;)\s*border\s*:\s*([^;]+)/.exec(rule)?.[1];
    expect(border).toBeDefined();
    const color = /#[0-9a-f]{3,6}\b/i.exec(resolve(border!))?.[0];
    expect(color).toBeDefined();
    // Inputs have no background of their own (white), on white cards.
    for (const background of ['#ffffff', variable('--card')]) expect(contrast(color!, background)).toBeGreaterThanOrEqual(3);
  });

  it('shows a busy component without dimming it: no opacity below .9, and an outline of at least 3:1 (WCAG 1.4.3, 1.4.11)', () => {
    const rules = [...css.matchAll(/([^{}]+)\{([^}]*)\}/g)].filter((m) => m[1]!.includes('[data-lc-loading]'));
    expect(rules.length).toBeGreaterThan(0);
    for (const [, selector, body] of rules) {
      for (const [, value] of body!.matchAll(/(?:^|;)\s*opacity\s*:\s*([^;]+)/g)) {
        expect(Number.parseFloat(value!), selector).toBeGreaterThanOrEqual(0.9);
      }
      expect(body, selector).not.toMatch(/filter\s*:|color\s*:/);
    }
    const outline = /(?:^|;)\s*outline\s*:\s*([^;]+)/.exec(rules[0]![2]!)?.[1];
    expect(outline).toBeDefined();
    const color = /#[0-9a-f]{3,6}\b/i.exec(resolve(outline!))?.[0];
    expect(color).toBeDefined();
    for (const background of [variable('--card'), variable('--bg')]) expect(contrast(color!, background)).toBeGreaterThanOrEqual(3);
  });

  it('computes contrast ratios as WCAG does', () => {
    expect(contrast('#000', '#fff')).toBeCloseTo(21, 5);
    expect(contrast('#dfe3ee', '#fff')).toBeCloseTo(1.28, 2);
    expect(contrast('#858ca0', '#fff')).toBeCloseTo(3.36, 2);
  });
});

describe('reference app page script (public/app.js): the status line of lc:error', () => {
  /** Runs app.js against a stand-in document; returns a dispatcher of lc:error and the status line. */
  function loadScript() {
    const listeners = new Map<string, (event: { detail: Record<string, unknown> }) => void>();
    const flash = { textContent: '' };
    const document = {
      addEventListener: (type: string, listener: (event: { detail: Record<string, unknown> }) => void) => void listeners.set(type, listener),
      querySelector: (selector: string) => (selector === '[data-flash]' ? flash : null),
      querySelectorAll: () => [],
    };
    const source = readFileSync(new URL('./public/app.js', import.meta.url), 'utf8');
    runInNewContext(source, { document, window: { addEventListener() {} }, location: { hash: '' }, history: {}, URLSearchParams, fetch });
    const error = (detail: Record<string, unknown>): string => {
      listeners.get('lc:error')?.({ detail });
      return flash.textContent;
    };
    return { error };
  }

  it('includes the field messages of a VALIDATION_FAILED', () => {
    const { error } = loadScript();
    const line = error({
      componentId: 'profile:main',
      action: 'rename',
      status: 400,
      code: 'VALIDATION_FAILED',
      error: 'The request parameters are invalid.',
      errors: { name: ['The name must be 1 to 80 characters, without control characters.'] },
    });
    expect(line).toContain('The request parameters are invalid.');
    expect(line).toContain('The name must be 1 to 80 characters, without control characters.');
    expect(line).toContain('[VALIDATION_FAILED]');
  });

  it('keeps the wait of a RATE_LIMIT_EXCEEDED and the code of other errors', () => {
    const { error } = loadScript();
    expect(error({ status: 429, code: 'RATE_LIMIT_EXCEEDED', error: 'Too many requests.', retry_after: 42 })).toContain('Too many requests. (retry in 42 s)');
    expect(error({ status: 403, code: 'FORBIDDEN', error: 'Not allowed.' })).toBe('Not allowed. [FORBIDDEN]');
  });

  it('after a reload says neutrally that the part was refreshed: the reload may show the user signed out', () => {
    const { error } = loadScript();
    const line = error({ status: 403, code: 'CSRF_TOKEN_INVALID', error: 'The CSRF token is invalid.', reloaded: true });
    expect(line).toBe('This part of the page has been refreshed; check it before continuing. [CSRF_TOKEN_INVALID]');
    expect(line).not.toMatch(/try again/i);
  });
});
