import { describe, expect, it } from 'vitest';
import { html, type HtmlValue } from './html.js';

/** Each of these ran window.__xss=1 in Chromium (a click or a hover) before the fix. */
const JS = 'javascript:window.__xss=1';

describe('html: a fragment read as text, put where an attribute name goes', () => {
  it('is read again as attributes: a URL after a bare name, a value or nothing before it is checked', () => {
    // Read as text, html` download href="${url}"` left javascript: in the href.
    expect(html`<a ${html` download href="${JS}"`}>x</a>`.value).toBe('<a  download href="#">x</a>');
    expect(html`<a ${html` ${'download'} href="${JS}"`}>x</a>`.value).toBe('<a  download href="#">x</a>');
    expect(html`<a ${html`rel=nofollow href="${JS}"`}>x</a>`.value).toBe('<a rel=nofollow href="#">x</a>');
    expect(html`<svg><a ${html` target="_top" ${'x'} xlink:href="${JS}"`}></a></svg>`.value).toBe('<svg><a  target="_top" x xlink:href="#"></a></svg>');
    // Nested fragments too, and arrays of them.
    const link = (url: string): HtmlValue => html` download href="${url}"`;
    expect(html`<a ${html` ${link(JS)}`}>x</a><a ${[link('/ok'), link(JS)]}>y</a>`.value).toBe('<a   download href="#">x</a><a  download href="/ok" download href="#">y</a>');
    // Kept where the URL is safe, and as text where text goes.
    expect(html`<a ${html` download href="${'/file.pdf'}"`}>x</a>`.value).toBe('<a  download href="/file.pdf">x</a>');
    expect(html`<p>${html` download href="${JS}"`}</p>`.value).toBe(`<p> download href="${JS}"</p>`);
  });

  it('refuses there what an attribute refuses: an unquoted value, a handler, a string that is not bare names', () => {
    // Read as text, html` title=${x}` let x = 'x onmouseover=…' add a handler.
    expect(() => html`<a ${html` title=${'x onmouseover=window.__xss=1'}`}>x</a>`).toThrow(/cannot interpolate an unquoted attribute value/);
    expect(() => html`<p ${html` hidden onclick="${'x'}"`}>`).toThrow(/event handler attribute onclick/);
    expect(() => html`<input ${html`${'onfocus=window.__xss=1 autofocus'}`}>`).toThrow(/where an attribute name goes/);
    // Text that does not go in a tag is not refused as attributes.
    expect(html`<p>${html`Hello, ${"O'Brien"} = "${'5'}"`}</p>`.value).toBe('<p>Hello, O&#39;Brien = "5"</p>');
  });
});

describe('html: SVG animation values', () => {
  it('checks each value of values, from, to and by on animate and set, which can set href', () => {
    // <set attributeName="href" to="javascript:…"> and <animate … values="…"> set the link's href in Chromium.
    expect(html`<svg><a><set attributeName="href" to="${JS}"/></a></svg>`.value).toBe('<svg><a><set attributeName="href" to="#"/></a></svg>');
    expect(html`<svg><a><animate attributeName="href" values="${`/a;${JS}`}"/></a></svg>`.value).toBe('<svg><a><animate attributeName="href" values="#"/></a></svg>');
    expect(html`<svg><a><animate attributeName="href" values="/a;${JS}"/></a></svg>`.value).toBe('<svg><a><animate attributeName="href" values="#"/></a></svg>');
    expect(html`<svg><a><animate attributeName="href" from="${JS}" by="${JS}"/></a></svg>`.value).toBe('<svg><a><animate attributeName="href" from="#" by="#"/></a></svg>');
    expect(html`<svg><a><animateMotion ${'values'}="${JS}"/><set ${'to'}="${JS}"/></a></svg>`.value).toBe('<svg><a><animateMotion values="#"/><set to="#"/></a></svg>');
  });

  it('keeps numbers, colours and points', () => {
    expect(html`<svg><animate attributeName="opacity" values="${'0;1;0.5'}" from="${0}" to="${1}" by="${0.1}"/><set attributeName="fill" to="${'#f00'}"/></svg>`.value).toBe(
      '<svg><animate attributeName="opacity" values="0;1;0.5" from="0" to="1" by="0.1"/><set attributeName="fill" to="#f00"/></svg>',
    );
    expect(html`<svg><animateMotion values="${'0,0; 10,10'}"/></svg>`.value).toBe('<svg><animateMotion values="0,0; 10,10"/></svg>');
  });
});

describe('html: <title>, <textarea>… after an <svg> or <math>', () => {
  it('reads them as markup too: the browser may still be in foreign content (a stray </svg>) and parse tags there', () => {
    // Chromium: </svg> inside <math> is ignored, <textarea> is a MathML element, <p> leaves math: a real link.
    expect(html`<math></svg><textarea><p><a href="${JS}">x</a></p></textarea></math>`.value).toBe('<math></svg><textarea><p><a href="#">x</a></p></textarea></math>');
  });

  it('refuses values after an end tag the two readings disagree on', () => {
    // Chromium: </div> leaves the svg, so <title> is RCDATA and the comment's </title> ends it: a real link.
    expect(() => html`<div><svg></div><title><!--</title><a href="${JS}">x</a>--></title>`).toThrow(/or after an <svg> or <math>/);
    expect(() => html`<svg><foreignObject><textarea><p title="</textarea><a href='${'/ok'}'>"></p></textarea></foreignObject></svg>`).toThrow(/or after an <svg> or <math>/);
    expect(() => html`<svg><title><!--</title${'x'}>`).toThrow(/or after an <svg> or <math>/);
  });

  it('keeps the usual accessible svg, and <textarea> after an svg', () => {
    expect(html`<svg role="img"><title>${'a <b> & c'}</title><desc>${'d'}</desc><use href="${'/i.svg#x'}"/></svg><textarea>${'</textarea>'}</textarea><title>${'t'}</title>`.value).toBe(
      '<svg role="img"><title>a &lt;b&gt; &amp; c</title><desc>d</desc><use href="/i.svg#x"/></svg><textarea>&lt;/textarea&gt;</textarea><title>t</title>',
    );
  });
});

describe('html: the tag of a value is the one the template wrote', () => {
  it('checks data, to, values… in a fragment read as attributes, whose tag is not known there', () => {
    // html` to="${x}"` into <set ${…}> rendered <set attributeName="href" to="javascript:…">, which runs in Chromium.
    expect(html`<svg><a><set ${html` attributeName="href" to="${JS}"`}/></a></svg>`.value).toBe('<svg><a><set  attributeName="href" to="#"/></a></svg>');
    // Into <object ${…}>, read again as <object>'s attributes: data is a resource URL (resource-urls.test.ts).
    expect(() => html`<object ${html` data="${JS}"`}></object>`).toThrow(/<object data>/);
    expect(() => html`<object ${html` ${'data'}="${JS}"`}></object>`).toThrow(/<object data>/);
  });

  it('reads the tag of a value whose attribute name is interpolated from the template, not from a < in an earlier value', () => {
    expect(html`<svg><a><set attributeName="href" class="a<b" ${'to'}="${JS}"/></a></svg>`.value).toBe('<svg><a><set attributeName="href" class="a<b" to="#"/></a></svg>');
    // <object data> is a resource URL: a value there is refused (resource-urls.test.ts).
    expect(() => html`<object title="${'<p'}" ${'data'}="${JS}"></object>`).toThrow(/<object data>/);
  });
});

describe('html: <noscript>', () => {
  it('is read as markup too: the client parses updates with scripting off (DOMParser), where it holds elements', () => {
    // Chromium, DOMParser: <noscript><a href="javascript:…"> is a link element (display: none on the page).
    expect(html`<noscript><a href="${JS}">x</a><img src="${JS}">${'<b>'}</noscript>`.value).toBe('<noscript><a href="#">x</a><img src="#">&lt;b&gt;</noscript>');
    expect(() => html`<noscript><!--</noscript><a href="${JS}">--></noscript>`).toThrow(/in <noscript>, or after an <svg>/);
    expect(html`<noscript><p>${'Turn on JavaScript'}</p></noscript><a href="${'/ok'}">`.value).toBe('<noscript><p>Turn on JavaScript</p></noscript><a href="/ok">');
  });
});

describe('html: a fragment that ends inside a tag, an attribute value, <script> or <style>', () => {
  const open = /^html: cannot put an html`…` fragment that ends inside a tag, an attribute value, <script> or <style> in /;
  it('is refused where text or an attribute name goes: the template text after it would land there unchecked', () => {
    // Each rendered before: Chromium loaded x.js from the other origin (test/browser/resource-urls.test.ts), ran the code, followed the link.
    expect(() => html`${html`<script `}src="${'https://evil.test/x.js'}"></script>`).toThrow(open);
    expect(() => html`${html`<script>`}${'alert(1)'}</script>`).toThrow(open);
    expect(() => html`<p>${[html`<a href="`]}${JS}">x</a></p>`).toThrow(open);
    expect(() => html`${html`<meta content="${'0;url=https://evil.test/'}" `}http-equiv="refresh">`).toThrow(open);
    expect(() => html`<script ${html` src="`}${'x'}"></script>`).toThrow(open);
    // With values, read again as the tag's attributes: its src ended inside, and https:evil.test (a name) went on.
    expect(() => html`<script ${html` title="${'t'}" src="`}${'https:evil.test'}"></script>`).toThrow(open);
    expect(() => html`<iframe ${html`${'title'}="t" src="`}${'https:evil.test'}"></iframe>`).toThrow(open);
    expect(() => html`<a ${html`${'title'}="t" href="`}${'javascript:alert'}">x</a>`).toThrow(open);
  });

  it('is not refused when it ends as it started: in text, a comment or <textarea>, or after an attribute', () => {
    expect(html`<ul>${[html`<li>${'a'}</li>`]}</ul>${html`<!-- c -->`}${html`<br>`}`.value).toBe('<ul><li>a</li></ul><!-- c --><br>');
    expect(html`<input ${html` type="text" value="${'v'}"`} ${html` checked`}>`.value).toBe('<input  type="text" value="v"  checked>');
  });
});

describe('html: an attribute fragment in a <meta> that writes no http-equiv (Open Graph tags)', () => {
  const META = /^html: cannot interpolate into a <meta> whose attribute names \(or http-equiv\) are not written in the template, in `…/;
  const REFRESH = /^html: cannot interpolate into the content of <meta http-equiv="refresh"> in `…/;
  const URL = '0;url=https://evil.test/';

  it('takes a content value when the fragment or the tag names the meta (name, property, itemprop) and neither writes an http-equiv', () => {
    const og = (property: string, content: string): HtmlValue => html` property="${property}" content="${content}"`;
    expect(html`<meta ${og('og:title', 'A "title"')}><meta ${[og('og:url', URL), html` name="description" content="${'d'}"`]}><meta ${html` itemprop="name" content="${'n'}"`}>`.value).toBe(
      `<meta  property="og:title" content="A &quot;title&quot;"><meta  property="og:url" content="${URL}" name="description" content="d"><meta  itemprop="name" content="n">`,
    );
    expect(html`<meta property="og:image" ${html` content="${'/i.png'}"`}><meta name="x" content="${'y'}"${html` ${'data-x'}`}>`.value).toBe(
      '<meta property="og:image"  content="/i.png"><meta name="x" content="y" data-x>',
    );
  });

  it('still refuses where an http-equiv is, or may be, in the tag', () => {
    const frag = html` property="og:title" content="${URL}"`;
    for (const [render, message] of [
      // The tag writes an http-equiv, before or after the fragment, refresh or not.
      [() => html`<meta http-equiv="refresh" ${frag}>`, META],
      [() => html`<meta ${frag} http-equiv="refresh">`, META],
      [() => html`<meta http-equiv="content-language" ${frag}>`, META],
      [() => html`<meta ${'http-equiv'}="refresh" ${frag}>`, META],
      // The fragment writes one, interpolates a name, or names nothing.
      [() => html`<meta ${html` name="a" http-equiv="refresh" content="${URL}"`}>`, REFRESH],
      [() => html`<meta ${html` property="p" ${'http-equiv'}="refresh" content="${URL}"`}>`, META],
      [() => html`<meta ${html` ${'name'}="p" content="${URL}"`}>`, META],
      [() => html`<meta ${html` content="${URL}"`}>`, META],
      [() => html`<meta ${html` data-name="a" content="${URL}"`}>`, META],
      // Another fragment or name in the tag writes it.
      [() => html`<meta ${frag} ${html` http-equiv="refresh"`}>`, META],
      [() => html`<meta ${'http-equiv'} ${frag}>`, META],
      [() => html`<meta ${html` property="p" ${html` HTTP-EQUIV="refresh"`} content="${URL}"`}>`, META],
    ] as const) {
      expect(render, String(render)).toThrow(message);
    }
  });
});

describe('html: an attribute fragment that ends the tag it is put in', () => {
  const open = /^html: cannot put an html`…` fragment that ends inside a tag, an attribute value, <script> or <style> in /;
  it('is refused: the template attributes after it would go to a tag it did not read (Chromium loaded the script)', () => {
    expect(() => html`<img ${html` alt="x"><script `} src="${'https://evil.test/x.js'}">`).toThrow(open);
    expect(() => html`<p ${html`class="a"><script `} src="${'https://evil.test/x.js'}"></script>`).toThrow(open);
    expect(() => html`<meta ${html` name="a"><meta content="${'0;url=https://evil.test/'}" `} http-equiv="refresh">`).toThrow(open);
    expect(() => html`<a ${html` title="${'t'}"><a `} href="${'//evil.test/'}">x</a>`).toThrow(open);
    // One that stays in its tag passes.
    expect(html`<img ${html` alt="${'x'}"`} src="/a.png">`.value).toBe('<img  alt="x" src="/a.png">');
  });
});

describe('html: a fragment right after an attribute name, or without values, where attribute names go', () => {
  const giving = (before: string) =>
    new TypeError(
      `html: cannot put an html\`…\` fragment that gives a value to the attribute name written before it, in \`…${before}\${…}\`: the browser reads hr\${html\`ef="\${x}"\`} as href="…" and href \${html\` ="…"\`} as href's value, which no check saw as that attribute; ` +
        'write the whole attribute, name and value, in the fragment (html` href="${url}"`) or in the template',
    );
  const open = (before: string) =>
    new TypeError(
      `html: cannot put an html\`…\` fragment that ends inside a tag, an attribute value, <script> or <style> in \`…${before}\${…}\`: the template's text after it would land there unchecked; end the tag (or value) in the fragment`,
    );

  it('is refused where it gives a value to the name written before it (Chromium ran the href, the handler, the refresh, the script)', () => {
    for (const [render, before] of [
      // Read by the fragment as ef and error (text), by the browser as href and onerror.
      [() => html`<a hr${html`ef="${JS}"`}>x</a>`, '<a hr'],
      [() => html`<img src="/x.png" on${html`error="${'window.__xss=1'}"`}>`, '<img src="/x.png" on'],
      // A value with no name before it: the name before the fragment's = is the tag's.
      [() => html`<script src${html`="${'https:evil.test'}"`}></script>`, '<script src'],
      [() => html`<script src ${html` ="${'https:evil.test'}"`}></script>`, '<script src '],
      [() => html`<meta name="x" http-equiv ${html` ="refresh"`} content="0;url=${'https://evil.test/'}">`, '<meta name="x" http-equiv '],
      [() => html`<meta name="x" http-equiv${html`="refresh"`} content="0;url=${'https://evil.test/'}">`, '<meta name="x" http-equiv'],
      [() => html`<a hr${''}${html`ef="${JS}"`}>x</a>`, ''],
      // The items of an array follow each other.
      [() => html`<a ${[html` hr`, html`ef="${JS}"`]}>x</a>`, '<a '],
      [() => html`<script ${[html` src`, html`="${'https:evil.test'}"`]}></script>`, '<script '],
    ] as const) {
      expect(render, String(render)).toThrow(giving(before));
    }
  });

  it('is refused, without values, where it ends the tag or ends inside a value (Chromium loaded the script)', () => {
    for (const [render, before] of [
      [() => html`<p ${html`>`}<script src="${'https://evil.test/x.js'}"></script>`, '<p '],
      [() => html`<p ${html` hidden>`}<script src="${'https://evil.test/x.js'}"></script>`, '<p '],
      [() => html`<p ${html` hidden/>`}<script src="${'https://evil.test/x.js'}"></script>`, '<p '],
      [() => html`<script ${html` src=`}"${'https:evil.test'}"></script>`, '<script '],
      [() => html`<a ${[html` download`, html` title=`]}"${'x'}">x</a>`, '<a '],
      // In an unquoted value the template's href="…" went on, and a space in the value started a handler.
      [() => html`<a ${html` title=x`}href="${'a onmouseover=window.__xss=1'}">x</a>`, '<a '],
      [() => html`<input ${html` type=checkbox`}>`, '<input '],
    ] as const) {
      expect(render, String(render)).toThrow(open(before));
    }
  });

  it('passes where it starts an attribute of its own, or continues a name without a value', () => {
    expect(html`<input required ${html`aria-invalid="${'true'}"`}><input required${html` aria-invalid="${'true'}"`}><a href="/x"${html`title="${'t'}"`}>x</a>`.value).toBe(
      '<input required aria-invalid="true"><input required aria-invalid="true"><a href="/x"title="t">x</a>',
    );
    expect(html`<div data-${html`x`}="${'1'}" ${html` hidden`} ${[html` a`, html` b="${'c'}"`]} title="${'a > b'}">${html`<p title=">">x</p>`}</div>`.value).toBe(
      '<div data-x="1"  hidden  a b="c" title="a &gt; b"><p title=">">x</p></div>',
    );
    expect(html`<img ${html` alt="a > b"`} src="/a.png">`.value).toBe('<img  alt="a > b" src="/a.png">');
  });
});
