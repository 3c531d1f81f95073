import { describe, expect, it } from 'vitest';
import { ATTR } from './wire.js';
import { html, unsafeRawHtml, type HtmlValue } from './html.js';

/** The TypeError `html` throws for a value after `before` (its last 40 characters). */
const at = (before: string): string => `\`…${before.slice(-40)}\${…}\``;
const JS_URLS = ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)', 'java\nscript:x', '\u0001javascript:x', 'data:text/html,<script>', 'vbscript:x'];

describe('html: text contexts are escaped as before', () => {
  it('escapes element text, <textarea> and <title> content, and comments; markup there is text', () => {
    const hostile = '</textarea><script>alert(1)</script>-->';
    const escaped = '&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;--&gt;';
    expect(html`<textarea name="t">${hostile}</textarea><title>${hostile}</title><!-- ${hostile} --><p>${hostile}</p>`.value).toBe(
      `<textarea name="t">${escaped}</textarea><title>${escaped}</title><!-- ${escaped} --><p>${escaped}</p>`,
    );
    // "<a href=" in a <textarea> is text; after </textarea> it is a link again.
    expect(html`<textarea><a href="${'javascript:x'}"></textarea><a href="${'javascript:x'}">`.value).toBe('<textarea><a href="javascript:x"></textarea><a href="#">');
  });

  it('reads a <script> or a comment before the value to its end: what follows is text again', () => {
    expect(html`<script type="module" src="/a.js"></script><!-- <p title=" --><p>${'" onmouseover="x'}</p>`.value).toBe(
      '<script type="module" src="/a.js"></script><!-- <p title=" --><p>&quot; onmouseover=&quot;x</p>',
    );
    expect(html`<script>if (a <b) x = "</p>"</script><!-- " --><a href="${'javascript:x'}">`.value).toBe('<script>if (a <b) x = "</p>"</script><!-- " --><a href="#">');
    // Inside a comment "<a href=" is text, so the value is only escaped.
    expect(html`<!-- <a href="${'javascript:x'}"> -->`.value).toBe('<!-- <a href="javascript:x"> -->');
  });

  it('escapes a quoted attribute value that is not a URL, a handler, style or srcdoc', () => {
    expect(html`<p title='${"' onmouseover='alert(1)"}' class="${'a" onfocus="x'}">`.value).toBe(`<p title='&#39; onmouseover=&#39;alert(1)' class="a&quot; onfocus=&quot;x">`);
    expect(html`<a title="${'javascript:x'}" href="${'javascript:x'}">`.value).toBe('<a title="javascript:x" href="#">');
  });
});

describe('html: URL attributes', () => {
  it.each(JS_URLS)('turns %j into # where the value starts the URL', (url) => {
    expect(html`<a href="${url}">x</a><img src='${url}'><form action="${url}"><button formaction="${url}"></button></form>`.value).toBe(
      `<a href="#">x</a><img src='#'><form action="#"><button formaction="#"></button></form>`,
    );
  });

  it('keeps relative, http(s), mailto and tel URLs, escaped', () => {
    expect(html`<a href="${'/search?q=a&b="c"'}">x</a><a href="${'https://example.com/'}">y</a><a href="${'mailto:a@b.test'}">z</a>`.value).toBe(
      '<a href="/search?q=a&amp;b=&quot;c&quot;">x</a><a href="https://example.com/">y</a><a href="mailto:a@b.test">z</a>',
    );
    expect(html`<a href="${'tel:+441234'}">t</a><a href="${'file:///etc/passwd'}">f</a>`.value).toBe('<a href="tel:+441234">t</a><a href="#">f</a>');
  });

  it('checks the URL as the browser reads it: static prefix, several values, text after them', () => {
    expect(html`<a href="j${'avascript:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<a href="${'java'}${'script:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<a href="${'javascript'}:alert(1)">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<a href="${'java'}script:${'alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<a href="${'/a'}/${'b'}">x</a>`.value).toBe('<a href="/a/b">x</a>');
  });

  it('decodes the static text as the browser does: a static & cannot combine with the value into javascript:', () => {
    // The browser reads &#106; as "j".
    expect(html`<a href="&${'#106;avascript:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<a href="&#106;${'avascript:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<a href="java&Tab;${'script:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    // In the value, & is escaped: the browser reads "&#106;avascript:…", a relative URL.
    expect(html`<a href="${'&#106;avascript:alert(1)'}">x</a>`.value).toBe('<a href="&amp;#106;avascript:alert(1)">x</a>');
  });

  it('leaves the value alone when the static text settles the scheme', () => {
    expect(html`<a href="/users/${'javascript:alert(1)'}">x</a><a href="?next=${'javascript:x'}">y</a><a href="#${'javascript:x'}">z</a>`.value).toBe(
      '<a href="/users/javascript:alert(1)">x</a><a href="?next=javascript:x">y</a><a href="#javascript:x">z</a>',
    );
    // Without / ? # or : before it, the static text is the start of the scheme.
    expect(html`<a href="users${'javascript:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
  });

  it('finds the attribute whatever its spelling and spacing, on every URL attribute', () => {
    const x = 'javascript:alert(1)';
    expect(html`<A HREF = "${x}">a</A><a
  href
  =
  '${x}'>b</a><svg><a xlink:href="${x}"></a></svg><video poster="${x}"></video><blockquote cite="${x}"></blockquote><a ping="${'/p ' + x}">c</a>`.value).toBe(
      `<A HREF = "#">a</A><a
  href
  =
  '#'>b</a><svg><a xlink:href="#"></a></svg><video poster="#"></video><blockquote cite="#"></blockquote><a ping="#">c</a>`,
    );
    // <object data> is a resource URL (resource-urls.test.ts); data= of another element is not a URL.
    expect(html`<p data="${x}"></p>`.value).toBe(`<p data="${x}"></p>`);
  });

  it('checks each candidate of srcset and imagesrcset', () => {
    expect(html`<img srcset="${'/a.png 1x, /b.png 2x'}">`.value).toBe('<img srcset="/a.png 1x, /b.png 2x">');
    expect(html`<img srcset="/a.png 1x, ${'javascript:alert(1) 2x'}">`.value).toBe('<img srcset="#">');
    expect(html`<link rel="preload" as="image" imagesrcset="${'/a.png 1x,data:image/svg+xml,x 2x'}">`.value).toBe('<link rel="preload" as="image" imagesrcset="#">');
  });

  it('checks each item of an array in the URL', () => {
    expect(html`<a href="${['java', 'script:x']}">x</a>`.value).toBe('<a href="#">x</a>');
  });
});

describe('html: places escaping cannot make safe', () => {
  const script = 'entities are not decoded there, so escaping does not apply; put the value in a quoted data-… attribute and read it from the script';
  const handler = (name: string): string =>
    `the browser decodes entities before it runs the code; put the value in a quoted data-… attribute and read it from a script file`.replace(/^/, `cannot interpolate into the event handler attribute ${name} in @: `);
  const refuses = (render: () => unknown, message: string): void => {
    expect(render).toThrow(new TypeError(`html: ${message}`));
  };

  it('refuses event handler attributes, whatever the value', () => {
    for (const value of ['1', 42, null, '" onmouseover="alert(1)']) {
      refuses(() => html`<button onclick="remove(${value as HtmlValue})">x</button>`, handler('onclick').replace('@', at('<button onclick="remove(')));
      refuses(() => html`<img ONError = '${value as HtmlValue}'>`, handler('onerror').replace('@', at(`<img ONError = '`)));
    }
  });

  it('refuses srcdoc, <script> and <style>', () => {
    refuses(() => html`<iframe srcdoc="${'<script>alert(1)</script>'}"></iframe>`, `cannot interpolate into srcdoc in ${at('<iframe srcdoc="')}: the browser decodes entities and renders the value as a page; give the iframe a src URL instead`);
    refuses(() => html`<p>a</p><script>const name = "${'</script><script>alert(1)//'}";</script>`, `cannot interpolate inside <script> in ${at('<p>a</p><script>const name = "')}: ${script}`);
    refuses(() => html`<script type="module">${'x'}</script>`, `cannot interpolate inside <script> in ${at('<script type="module">')}: ${script}`);
    refuses(() => html`<style>p { color: ${'red'} }</style>`, `cannot interpolate inside <style> in ${at('<style>p { color: ')}: entities are not decoded there, so escaping does not apply; pick styles from a fixed set of classes`);
  });

  it('refuses a tag name, an end tag, and a value right after "<!"', () => {
    const tag = 'write the tag in the template (pick between html`…` fragments)';
    refuses(() => html`<${'script'}>`, `cannot interpolate a tag name in ${at('<')}: ${tag}`);
    refuses(() => html`<h${2}>x</h2>`, `cannot interpolate a tag name in ${at('<h')}: ${tag}`);
    refuses(() => html`<p>x</${'p'}>`, `cannot interpolate a tag name in ${at('<p>x</')}: ${tag}`);
    refuses(() => html`<textarea>a</text${'area'}><script>`, `cannot interpolate a tag name in ${at('<textarea>a</text')}: ${tag}`);
    refuses(() => html`<!-${'-'}<a href="${'javascript:x'}">`, `cannot interpolate right after "<!" in ${at('<!-')}: the value could open a comment`);
  });

  it('refuses a value that could end a comment early', () => {
    refuses(() => html`<!-- -${'-'}> <a href="${'x'}">`, `cannot interpolate right before "->", "!>" or ">" in a comment, in ${at('<!-- -')}: the value could end the comment there; put a space after it`);
    // Text after the value that does not end the comment is fine, and so is "-->" itself.
    expect(html`<!--${'--'}--><!-- ${'a-'} -->`.value).toBe('<!------><!-- a- -->');
  });

  it('refuses unquoted attribute values, which a space would split into new attributes', () => {
    const unquoted = 'quote it (name="${…}"); unquoted, a space in the value starts another attribute';
    refuses(() => html`<p class=${'a onfocus=alert(1) autofocus'}>`, `cannot interpolate an unquoted attribute value in ${at('<p class=')}: ${unquoted}`);
    refuses(() => html`<p class= ${'a'}>`, `cannot interpolate an unquoted attribute value in ${at('<p class= ')}: ${unquoted}`);
    refuses(() => html`<p class=a${'b'}>`, `cannot interpolate an unquoted attribute value in ${at('<p class=a')}: ${unquoted}`);
    // The template's own text is quoted as it is, "$&" and "$'" included.
    refuses(() => html`<p data-x="$&$'" class=${'b'}>`, `cannot interpolate an unquoted attribute value in ${at(`<p data-x="$&$'" class=`)}: ${unquoted}`);
  });

  it('refuses an html fragment or unsafeRawHtml in an attribute value', () => {
    const message = (before: string): string => `cannot put an html\`…\` fragment or unsafeRawHtml() in an attribute value, in ${at(before)}: it is markup, and the attribute holds text; interpolate a string`;
    refuses(() => html`<p title="${html`<b>x</b>`}">`, message('<p title="'));
    refuses(() => html`<p title="a ${['b', unsafeRawHtml('" onclick="x')]}">`, message('<p title="a '));
  });

  it('refuses data-lc-params written around a value, and keeps the whole-value form', () => {
    const message = (before: string): string =>
      `cannot build ${ATTR.params} around an interpolation in ${at(before)}: a " in the value becomes &quot;, which the browser decodes back inside the JSON; pass the whole value built by JSON.stringify: ${ATTR.params}="\${JSON.stringify(params)}"`;
    refuses(() => html`<button data-lc-params='{"id":"${'x","id":"another'}"}'>x</button>`, message(`<button data-lc-params='{"id":"`));
    refuses(() => html`<button data-lc-params="${'{'}${'}'}">x</button>`, message('<button data-lc-params="'));
    expect(html`<button data-lc-params="${JSON.stringify({ id: 'x"y' })}">x</button>`.value).toBe('<button data-lc-params="{&quot;id&quot;:&quot;x\\&quot;y&quot;}">x</button>');
  });
});

describe('html: the style attribute', () => {
  it('takes numbers and plain CSS values', () => {
    expect(html`<div style="width:${42.5}%; color: ${'#fff'}; margin: ${'0 auto'}; font-weight: ${'bold'}">`.value).toBe('<div style="width:42.5%; color: #fff; margin: 0 auto; font-weight: bold">');
    expect(() => html`<div style="width:${'1px;background:url(x)'}">`).toThrow(TypeError);
  });

  it('refuses any other string', () => {
    for (const value of ['url(https://evil.test/x)', 'red; background: url(x)', 'expression(alert(1))', 'red\\3b', '"x"', "'x'", 'a/**/b', 'x:y']) {
      expect(() => html`<div style="color: ${value}">`, value).toThrow(
        new TypeError(
          `html: a style attribute takes numbers, or strings of letters, digits, _, spaces and # % . , + - only, in ${at('<div style="color: ')}: this string holds other characters (url(…), ;, :, quotes…); pick styles from a fixed set of classes`,
        ),
      );
    }
  });
});

describe('html: where an attribute name goes', () => {
  const message = (before: string): string =>
    `html: where an attribute name goes, in ${at(before)}, a string may only hold attribute names (checked, disabled); write name="value" pairs as html\` title="\${…}"\` fragments`;

  it('renders nothing, fragments, and bare names', () => {
    const checked = true;
    expect(html`<input ${null}${undefined}${false}${''} ${checked ? 'checked' : ''} ${html`title="${'a"b'}"`}>`.value).toBe('<input  checked title="a&quot;b">');
    expect(html`<input type="checkbox"${' checked disabled'}><p class="a"${html` id="x"`}>`.value).toBe('<input type="checkbox" checked disabled><p class="a" id="x">');
    expect(() => html`<input ${'checked=x'}>`).toThrow(TypeError);
  });

  it('refuses a string with =, quotes, < > or /', () => {
    for (const value of ['onfocus=alert(1) autofocus', 'a"b', "a'b", 'a>b', 'a/b', '<script>']) {
      expect(() => html`<input ${value}>`, value).toThrow(new TypeError(message('<input ')));
    }
    expect(() => html`<p class="a"${' onclick=x'}>`).toThrow(new TypeError(message('<p class="a"')));
  });

  it('reads a fragment that starts with an attribute as attributes', () => {
    const attrs = (url: string): HtmlValue => html` href="${url}" title="${'a"b'}"`;
    expect(html`<a ${attrs('javascript:alert(1)')}>x</a><a class="c"${attrs('/ok')}>y</a>`.value).toBe('<a  href="#" title="a&quot;b">x</a><a class="c" href="/ok" title="a&quot;b">y</a>');
    expect(() => html`onclick="${'x'}"`).toThrow(TypeError);
    // Text that does not start like an attribute stays text.
    expect(html`Total: "${'5'}"`.value).toBe('Total: "5"');
  });

  it('checks the value of an attribute whose name is interpolated by the name it gets', () => {
    expect(html`<button ${ATTR.params}="${JSON.stringify({ id: 1 })}" ${'data-x'}="${'a"b'}">`.value).toBe('<button data-lc-params="{&quot;id&quot;:1}" data-x="a&quot;b">');
    expect(html`<a ${'href'}="${'javascript:alert(1)'}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(() => html`<p ${'onclick'}="${'x'}">`).toThrow(
      new TypeError(`html: cannot interpolate into the event handler attribute onclick in ${at('="')}: the browser decodes entities before it runs the code; put the value in a quoted data-… attribute and read it from a script file`),
    );
    expect(() => html`<p ${'x'}="a${'b'}">`).toThrow(
      new TypeError(`html: cannot interpolate into the value of an attribute whose name is interpolated, with text around it, in ${at('="a')}: what it holds (a URL, code…) is unknown; write the name in the template`),
    );
  });
});
