import { describe, expect, it } from 'vitest';
import { ATTR } from './wire.js';
import { html, isSafeHtml, trustedUrl, unsafeRawHtml, type HtmlValue } from './html.js';

const PNG = 'data:image/png;base64,iVBORw0KGgo=';
const BLOB = 'blob:https://app.test/6f1c0b1e-2d5a-4a8e-9c1b-0d3f2e4a5b6c';
const SMS = 'sms:+441234?body=hi';

describe('trustedUrl', () => {
  it('is a frozen object, not markup, and takes strings only', () => {
    const url = trustedUrl(PNG);
    expect(Object.isFrozen(url)).toBe(true);
    expect(url.value).toBe(PNG);
    expect(String(url)).toBe(PNG);
    expect(isSafeHtml(url)).toBe(false);
    for (const bad of [null, undefined, 1, {}, ['x'], new URL('https://a.test/')]) {
      expect(() => trustedUrl(bad as unknown as string)).toThrow(TypeError);
    }
  });

  it('without it, data:, blob: and sms: URLs become # in href, src and srcset', () => {
    expect(html`<a href="${SMS}">t</a><img src="${PNG}"><img src="${BLOB}"><img srcset="${PNG} 1x, ${'/b.png'} 2x">`.value).toBe(
      '<a href="#">t</a><img src="#"><img src="#"><img srcset="#">',
    );
  });

  it('with it, they are kept in href, src and srcset, escaped', () => {
    expect(html`<a href="${trustedUrl(SMS)}">t</a><img src="${trustedUrl(PNG)}"><img src="${trustedUrl(BLOB)}">`.value).toBe(
      `<a href="${SMS}">t</a><img src="${PNG}"><img src="${BLOB}">`,
    );
    expect(html`<img srcset="${trustedUrl(PNG)} 1x, ${'/b.png'} 2x">`.value).toBe(`<img srcset="${PNG} 1x, /b.png 2x">`);
    expect(html`<img srcset="${'/a.png'} 1x, ${trustedUrl(PNG)} 2x">`.value).toBe(`<img srcset="/a.png 1x, ${PNG} 2x">`);
    expect(html`<a href="${trustedUrl('geo:1,2"><script>x</script>')}">g</a>`.value).toBe('<a href="geo:1,2&quot;&gt;&lt;script&gt;x&lt;/script&gt;">g</a>');
    expect(html`<a href='${trustedUrl("app:open?q='x'&y")}'>a</a>`.value).toBe(`<a href='app:open?q=&#39;x&#39;&amp;y'>a</a>`);
  });

  it('a list candidate after it is still checked, and it does not vouch for a candidate it does not start', () => {
    expect(html`<img srcset="${trustedUrl(PNG)} 1x, ${'javascript:x'} 2x">`.value).toBe('<img srcset="#">');
    expect(html`<img srcset="${trustedUrl(PNG)} 1x, data:x 2x">`.value).toBe('<img srcset="#">');
    // In an SVG animation's values, each ;-separated value is a URL.
    expect(html`<svg><set attributeName="href" to="${trustedUrl('blob:x;javascript:alert(1)')}"/></svg>`.value).toBe(
      '<svg><set attributeName="href" to="blob:x;javascript:alert(1)"/></svg>',
    );
    expect(html`<svg><animate attributeName="href" values="${trustedUrl('blob:x')};${'javascript:alert(1)'}"/></svg>`.value).toBe(
      '<svg><animate attributeName="href" values="#"/></svg>',
    );
  });

  it('a tab, LF or CR does not split a list part: the URL parser drops it, joining the scheme', () => {
    // An SVG animation value is split on ; only: javascript\n:x sets href to javascript:x.
    expect(html`<svg><set attributeName="href" to="${'javascript\n:alert(1)'}"/></svg>`.value).toBe('<svg><set attributeName="href" to="#"/></svg>');
    expect(html`<svg><animate attributeName="href" values="${trustedUrl('blob:x')};${'java\tscript\r:alert(1)'}"/></svg>`.value).toBe(
      '<svg><animate attributeName="href" values="#"/></svg>',
    );
    expect(html`<img srcset="${'/a.png'} 1x,\n  ${trustedUrl(PNG)} 2x">`.value).toBe(`<img srcset="/a.png 1x,\n  ${PNG} 2x">`);
  });

  it('skips the check only where it starts the URL and holds its scheme: text after it is checked with it', () => {
    expect(html`<a href="${trustedUrl(SMS)}&x=${'javascript:y'}">t</a>`.value).toBe(`<a href="${SMS}&x=javascript:y">t</a>`);
    expect(html`<img src="${trustedUrl(BLOB)}${'#frag'}">`.value).toBe(`<img src="${BLOB}#frag">`);
    // After static text or another value, it is where the path goes: the URL as a whole is checked.
    expect(html`<a href="x${trustedUrl(SMS)}">t</a>`.value).toBe('<a href="#">t</a>');
    expect(html`<a href="${'j'}${trustedUrl('avascript:alert(1)')}">t</a>`.value).toBe('<a href="#">t</a>');
    expect(html`<a href="${'/p/'}${trustedUrl(SMS)}">t</a>`.value).toBe(`<a href="/p/${SMS}">t</a>`);
    expect(html`<a href="&#${trustedUrl('106;avascript:x')}">t</a>`.value).toBe('<a href="#">t</a>');
    // Without the scheme in it, what follows could make one.
    expect(html`<a href="${trustedUrl('java')}${'script:alert(1)'}">t</a>`.value).toBe('<a href="#">t</a>');
    expect(html`<a href="${trustedUrl('data')}:text/html,x">t</a>`.value).toBe('<a href="#">t</a>');
    expect(html`<a href="${trustedUrl('/files')}/${'x'}">t</a>`.value).toBe('<a href="/files/x">t</a>');
    // Where the static text settles the scheme, it is escaped text as any value.
    expect(html`<a href="/go?to=${trustedUrl('a"b')}">t</a>`.value).toBe('<a href="/go?to=a&quot;b">t</a>');
  });

  it('is trusted as the whole value of an attribute whose name is interpolated', () => {
    expect(html`<a ${'href'}="${trustedUrl(SMS)}">t</a>`.value).toBe(`<a href="${SMS}">t</a>`);
    expect(html`<a ${'href'}="${SMS}">t</a>`.value).toBe('<a href="#">t</a>');
  });

  it('in a fragment read as attributes, as in a template', () => {
    const attrs = html` href="${trustedUrl(SMS)}"`;
    expect(html`<a ${attrs}>t</a>`.value).toBe(`<a  href="${SMS}">t</a>`);
    expect(html`<a ${html`download href="${trustedUrl(BLOB)}"`}>t</a>`.value).toBe(`<a download href="${BLOB}">t</a>`);
  });

  it('elsewhere it is its text, as a string: escaped in text and attributes, checked in style and name position', () => {
    expect(html`<p title="${trustedUrl('a"b')}">${trustedUrl('<b>data:x</b>')}</p>`.value).toBe('<p title="a&quot;b">&lt;b&gt;data:x&lt;/b&gt;</p>');
    expect(html`<p style="color: ${trustedUrl('red')}">`.value).toBe('<p style="color: red">');
    expect(() => html`<p style="background: url(${trustedUrl(PNG)})">`).toThrow(/style attribute takes numbers/);
    expect(html`<input ${trustedUrl('checked')}>`.value).toBe('<input checked>');
    expect(() => html`<input ${trustedUrl('href=x')}>`).toThrow(/where an attribute name goes/);
    expect(() => html`<a onclick="go('${trustedUrl(SMS)}')">`).toThrow(/event handler/);
    expect(() => html`<p ${ATTR.params}="{&quot;u&quot;:&quot;${trustedUrl(SMS)}&quot;}">`).toThrow(TypeError);
  });

  it('a look-alike or a copy is not trusted', () => {
    const real = trustedUrl(SMS);
    const copy = { ...real, value: 'javascript:alert(1)' };
    expect(Object.getOwnPropertySymbols(copy)).toHaveLength(1);
    const symbol = Object.getOwnPropertySymbols(real)[0] as symbol;
    const lookalike = { [symbol]: true, value: 'javascript:alert(1)', toString: () => 'javascript:alert(1)' };
    for (const fake of [copy, lookalike, { value: SMS }]) {
      expect(() => html`<a href="${fake as unknown as HtmlValue}">t</a>`).toThrow(/cannot render an object/);
    }
    // Nor is unsafeRawHtml markup a URL: in an attribute value it is refused as before.
    expect(() => html`<a href="${unsafeRawHtml(SMS)}">t</a>`).toThrow(/attribute value/);
  });
});
