import { describe, expect, it } from 'vitest';
import { escapeHtml, html, isSafeHtml, safeUrl, unsafeRawHtml } from './html.js';

describe('html template', () => {
  it('escapes every interpolation by default', () => {
    const name = `<img src=x onerror="alert('x')">&\``;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;&#96;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;&#96;</p>',
    );
  });

  it('nests SafeHtml and arrays without double escaping', () => {
    const items = ['a<b', 'c&d'];
    const out = html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`;
    expect(out.value).toBe('<ul><li>a&lt;b</li><li>c&amp;d</li></ul>');
  });

  it('renders nothing for null, undefined and false; numbers as text', () => {
    expect(html`${null}${undefined}${false}${0}${12.5}`.value).toBe('012.5');
  });

  it('only lets raw markup in through unsafeRawHtml', () => {
    expect(html`${unsafeRawHtml('<b>ok</b>')}`.value).toBe('<b>ok</b>');
    expect(isSafeHtml('<b>ok</b>')).toBe(false);
    // A look-alike object is not trusted: refused, as every object that is not html`…` is.
    const fake = { value: '<script>x</script>' } as unknown as string;
    expect(() => html`${fake}`).toThrow(/^html: cannot render an object in /);
  });

  it('escapeHtml leaves plain text untouched and is stable across calls', () => {
    expect(escapeHtml('plain')).toBe('plain');
    expect(escapeHtml('<')).toBe('&lt;');
    expect(escapeHtml('<')).toBe('&lt;');
  });

  it('refuses to be called as a plain function, which would pass the text through as trusted markup', () => {
    const attack = '<img src=x onerror=alert(1)>';
    expect(() => html(attack as unknown as TemplateStringsArray)).toThrow(/html is a template tag/);
    expect(() => html([attack] as unknown as TemplateStringsArray)).toThrow(/html is a template tag/);
  });
});

describe('safeUrl', () => {
  it('keeps relative URLs and http(s), mailto and tel ones', () => {
    for (const url of ['/profile', 'page?x=1', '#top', '../up', 'https://example.com/a?b#c', 'HTTP://x.test', 'mailto:ada@example.com', 'tel:+441234', '//cdn.example.com/x']) {
      expect(safeUrl(url), url).toBe(url);
    }
  });

  it('turns every other scheme into #, however it is spelled', () => {
    for (const url of ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)', 'java\nscript:x', '\u0001javascript:x', 'data:text/html,<script>', 'vbscript:x', 'file:///etc/passwd']) {
      expect(safeUrl(url), JSON.stringify(url)).toBe('#');
    }
  });
});

describe('html template: values it cannot render', () => {
  const TAIL = 'interpolate strings, numbers, booleans, null/undefined, arrays, or html`…` fragments (for an object, pick its fields)';
  // Each rendered as `[object Object]`, its source, `[object Promise]`, or a thrown "Cannot convert a Symbol".
  it.each([
    [{ a: 1 }, 'an object'],
    [Object.create(null) as object, 'an object'],
    [new Date(0), 'a Date'],
    [new Map(), 'a Map'],
    [Promise.resolve(1), 'a Promise (await it before rendering: render is synchronous)'],
    [() => 1, 'a function (call it?)'],
    [Symbol('s'), 'a symbol'],
  ])('refuses %o with a TypeError saying what and where', (value, what) => {
    expect(() => html`<p class="x">Total: ${value as never}</p>`).toThrow(new TypeError(`html: cannot render ${what} in \`…<p class="x">Total: \${…}\`: ${TAIL}`));
    // Inside an array too, located at the array's place.
    expect(() => html`<ul>${['ok', value as never]}</ul>`).toThrow(new TypeError(`html: cannot render ${what} in \`…<ul>\${…}\`: ${TAIL}`));
  });

  it('shows only the last 40 characters of the text before the value, and still renders what it documents', () => {
    const long = 'x'.repeat(50);
    expect(() => html`${long}<p>${{} as never}</p>`).toThrow(new TypeError(`html: cannot render an object in \`…<p>\${…}\`: ${TAIL}`));
    const open = '<div data-a-rather-long-attribute-name-here="1">';
    expect(open.length).toBeGreaterThan(40);
    expect(() => html`<div data-a-rather-long-attribute-name-here="1">${{} as never}</div>`).toThrow(new TypeError(`html: cannot render an object in \`…${open.slice(-40)}\${…}\`: ${TAIL}`));
    // Strings, numbers, bigints, true, nested arrays and fragments render as before.
    expect(html`${'a'}${1}${-0}${10n}${true}${[1, ['b', html`<i>c</i>`]]}${[]}`.value).toBe('a1010true1b<i>c</i>');
  });
});
