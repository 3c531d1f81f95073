import { describe, expect, it } from 'vitest';
import { html, trustedUrl, type HtmlValue } from './html.js';

/** Each loaded, framed or navigated to another site in Chromium before the fix (test/browser/resource-urls.test.ts). */
const EVIL = 'https://evil.test/x.js';
/** The TypeError `html` throws for a value after `before` in the resource URL `<tag name>`. */
const refused = (tag: string, name: string) => new RegExp(`^html: a value cannot choose where <${tag} ${name}>.* loads from, in `);

describe('html: resource URLs (<script src>, <base href>, <object data>, <embed src>, frames, <link href>)', () => {
  it('refuses a value where the template does not settle the origin, and escapes one where it does', () => {
    const cases: [() => unknown, string, string][] = [
      [() => html`<script src="${EVIL}"></script>`, 'script', 'src'],
      [() => html`<script src="https://${'evil.test'}/a.js"></script>`, 'script', 'src'],
      [() => html`<script src="https://cdn.example.com${'.evil.test'}/a.js"></script>`, 'script', 'src'],
      [() => html`<script src="https://cdn.example.com:${443}/a.js"></script>`, 'script', 'src'],
      [() => html`<script src="//${'evil.test/a.js'}"></script>`, 'script', 'src'],
      [() => html`<script src="app${'.js'}"></script>`, 'script', 'src'],
      [() => html`<script src="data:text/javascript,${'alert(1)'}"></script>`, 'script', 'src'],
      [() => html`<script src="/&${'#47;evil.test/a.js'}"></script>`, 'script', 'src'],
      [() => html`<base href="${EVIL}">`, 'base', 'href'],
      [() => html`<object data="${EVIL}"></object>`, 'object', 'data'],
      [() => html`<embed src="${EVIL}">`, 'embed', 'src'],
      [() => html`<iframe src="${EVIL}"></iframe>`, 'iframe', 'src'],
      [() => html`<frameset><frame src="${EVIL}"></frameset>`, 'frame', 'src'],
      [() => html`<svg><script href="${EVIL}"></script><script xlink:href="${EVIL}"></script></svg>`, 'script', 'href'],
      [() => html`<script ${'src'}="${EVIL}"></script>`, 'script', 'src'],
      // Reference names are case-sensitive: &SOL;, &QUEST;, &NUM;, &BSOL; are their own text, which
      // Chromium keeps in the host (cdn.example.com&sol;.evil.test), not a / ? # \ that ends it.
      [() => html`<script src="https://cdn.example.com&SOL;${'.evil.test/a.js'}"></script>`, 'script', 'src'],
      [() => html`<iframe src="https://cdn.example.com&QUEST;${'.evil.test/'}"></iframe>`, 'iframe', 'src'],
      [() => html`<link rel="stylesheet" href="https://cdn.example.com&NUM;${'.evil.test/a.css'}">`, 'link', 'href'],
      [() => html`<base href="https://cdn.example.com&BSOL;${'.evil.test/'}">`, 'base', 'href'],
      [() => html`<script src="https://cdn.example.com&toString;${'.evil.test/a.js'}"></script>`, 'script', 'src'],
    ];
    for (const [render, tag, name] of cases) expect(render, String(render)).toThrow(refused(tag, name));
    // After text that settles it (a path from the root, a relative path, a host that ends), a value is escaped.
    expect(html`<script src="/static/${EVIL}"></script><script src="https://cdn.example.com/${'a.js'}"></script><script src="./${'//x'}"></script>`.value).toBe(
      `<script src="/static/${EVIL}"></script><script src="https://cdn.example.com/a.js"></script><script src="./${'//x'}"></script>`,
    );
    expect(html`<iframe src="assets/${'a"b'}"></iframe><base href="//cdn.example.com/${'x'}"><object data="/files/${'a.pdf'}"></object><embed src="?v=${'1'}">`.value).toBe(
      '<iframe src="assets/a&quot;b"></iframe><base href="//cdn.example.com/x"><object data="/files/a.pdf"></object><embed src="?v=1">',
    );
    // Spelled as HTML spells it, a reference ends the host as its character does.
    expect(html`<script src="https:&sol;&sol;cdn.example.com&sol;${'a.js'}"></script><script src="/static&Tab;/${'a.js'}"></script>`.value).toBe(
      '<script src="https:&sol;&sol;cdn.example.com&sol;a.js"></script><script src="/static&Tab;/a.js"></script>',
    );
  });

  it('names the place, and says what to do', () => {
    expect(() => html`<script src="${EVIL}"></script>`).toThrow(
      new TypeError(
        'html: a value cannot choose where <script src> loads from, in `…<script src="${…}`: what it loads runs in, or rules, the page, and an https URL of any site passes the URL check; ' +
          'put the origin in the template (src="/static/${file}", src="https://cdn.example.com/${path}"), or interpolate a URL you built yourself (from configuration, never from user input) as trustedUrl(url), the whole value',
      ),
    );
  });

  it('takes a trustedUrl() that starts the value, and checks what follows it as text after it', () => {
    const cdn = trustedUrl('https://cdn.example.com');
    expect(html`<script src="${trustedUrl('https://cdn.example.com/app.js')}"></script><script src="${cdn}/${'a.js'}"></script>`.value).toBe(
      '<script src="https://cdn.example.com/app.js"></script><script src="https://cdn.example.com/a.js"></script>',
    );
    expect(html`<script ${'src'}="${trustedUrl('/livecomponents/client.js')}"></script>`.value).toBe('<script src="/livecomponents/client.js"></script>');
    // https://cdn.example.com.evil.test: the trusted URL does not end its host, and the value goes on.
    expect(() => html`<script src="${cdn}${'.evil.test/a.js'}"></script>`).toThrow(refused('script', 'src'));
    // Not where it starts the value: after static text, or after another value.
    expect(() => html`<script src="https://${trustedUrl('cdn.example.com')}/a.js"></script>`).toThrow(refused('script', 'src'));
    expect(() => html`<script src="${''}${trustedUrl('https://cdn.example.com/a.js')}"></script>`).toThrow(refused('script', 'src'));
    // A look-alike is not one.
    expect(() => html`<script src="${{ value: EVIL, toString: () => EVIL } as unknown as HtmlValue}"></script>`).toThrow(refused('script', 'src'));
  });

  it('reads <link href> as a resource, unless the tag first rel names a page only, wherever it is in the tag', () => {
    for (const link of [
      () => html`<link rel="stylesheet" href="${EVIL}">`,
      () => html`<link href="${EVIL}" rel="modulepreload">`,
      () => html`<link rel="alternate stylesheet" href="${EVIL}">`,
      () => html`<link href="${EVIL}">`,
      () => html`<link rel="${'canonical'}" href="${EVIL}">`,
      // An attribute fragment before the rel may hold a rel, which would be the one the browser reads.
      () => html`<link ${html`rel="preload" as="script"`} rel="canonical" href="${EVIL}">`,
      () => html`<link rel="preload" rel="canonical" href="${EVIL}">`,
    ]) {
      expect(link, String(link)).toThrow(refused('link', 'href'));
    }
    expect(html`<link rel="canonical" href="${'https://example.com/a'}"><link href="${'/b?page=2'}" rel="next"><link rel=" Alternate " hreflang="de" href="${'/de/'}">`.value).toBe(
      '<link rel="canonical" href="https://example.com/a"><link href="/b?page=2" rel="next"><link rel=" Alternate " hreflang="de" href="/de/">',
    );
    // As an ordinary URL: its scheme is checked.
    expect(html`<link href="${'javascript:alert(1)'}" rel="next">`.value).toBe('<link href="#" rel="next">');
    expect(html`<link rel="stylesheet" href="/css/${'a.css'}"><link rel="stylesheet" href="${trustedUrl('/app.css')}">`.value).toBe(
      '<link rel="stylesheet" href="/css/a.css"><link rel="stylesheet" href="/app.css">',
    );
  });

  it('refuses a value in the content of <meta http-equiv="refresh">, which navigates to it unchecked', () => {
    const message = /^html: cannot interpolate into the content of <meta http-equiv="refresh">/;
    expect(() => html`<meta http-equiv="refresh" content="0;url=${EVIL}">`).toThrow(message);
    expect(() => html`<meta content="0; url=${'javascript:alert(1)'}" HTTP-EQUIV=" Refresh ">`).toThrow(message);
    expect(() => html`<meta http-equiv="${'refresh'}" content="${'0;url=/x'}">`).toThrow(message);
    expect(() => html`<meta ${html` http-equiv="refresh" content="${EVIL}"`}>`).toThrow(message);
    expect(html`<meta name="description" content="${'a "b"'}"><meta http-equiv="content-language" content="${'de'}">`.value).toBe(
      '<meta name="description" content="a &quot;b&quot;"><meta http-equiv="content-language" content="de">',
    );
  });
});

describe('html: a value right after a / alone in a URL', () => {
  it('encodes a / or \\ it starts with, which would make //host: the URL stays a path on this origin', () => {
    expect(html`<a href="/${'/evil.test'}">x</a><a href="/${'\\evil.test'}">y</a><form action="/${'//evil.test/x'}"></form>`.value).toBe(
      '<a href="/%2Fevil.test">x</a><a href="/%5Cevil.test">y</a><form action="/%2F/evil.test/x"></form>',
    );
    // The URL parser drops tab, LF and CR, so they do not keep the two apart.
    expect(html`<a href="/${'\t/evil.test'}">x</a><a href="/${'\n\r\\evil.test'}">y</a>`.value).toBe('<a href="/\t%2Fevil.test">x</a><a href="/\n\r%5Cevil.test">y</a>');
    // The template's / spelled as a reference, or with a tab after it, counts too.
    expect(html`<a href="&#47;${'/evil.test'}">x</a><a href=" /&Tab;${'/evil.test'}">y</a>`.value).toBe('<a href="&#47;%2Fevil.test">x</a><a href=" /&Tab;%2Fevil.test">y</a>');
    // Every other value is left alone.
    expect(html`<a href="/${'users/1'}">x</a><a href="/${''}">y</a><a href="/${'a//b'}">z</a><a href="/${'?q=/x'}">q</a>`.value).toBe(
      '<a href="/users/1">x</a><a href="/">y</a><a href="/a//b">z</a><a href="/?q=/x">q</a>',
    );
    // A value that starts the URL may be any safe URL, //cdn.example.com/ included; after more text than /, a path.
    expect(html`<a href="${'//cdn.example.com/a'}">x</a><a href="/p/${'/x'}">y</a><a href="${'/a'}/${'/b'}">z</a>`.value).toBe(
      '<a href="//cdn.example.com/a">x</a><a href="/p//x">y</a><a href="/a//b">z</a>',
    );
    expect(html`<img srcset="/${'/cdn.example.com/a.png'} 1x">`.value).toBe('<img srcset="/%2Fcdn.example.com/a.png 1x">');
  });

  it('also when the value is empty and what follows starts with / (the template text or the next value)', () => {
    expect(html`<a href="/${''}/edit">x</a><a href="/${''}${'/evil.test'}">y</a><a href="/${'\t'}${'\\evil.test'}">z</a>`.value).toBe(
      '<a href="/%2Fedit">x</a><a href="/%2Fevil.test">y</a><a href="/\t%5Cevil.test">z</a>',
    );
  });
});

describe('html: a fragment put where an attribute name goes, in a resource tag or <meta>', () => {
  it("is read again as that tag's attributes: its values meet the tag's rules, and what settles them passes", () => {
    for (const [render, tag, name] of [
      [() => html`<script ${html` src="${EVIL}"`}></script>`, 'script', 'src'],
      [() => html`<base ${html` href="${EVIL}"`}>`, 'base', 'href'],
      [() => html`<iframe ${html` src="${EVIL}"`}></iframe>`, 'iframe', 'src'],
      [() => html`<embed ${html` src="${EVIL}"`}>`, 'embed', 'src'],
      [() => html`<link rel="stylesheet" ${html` href="${EVIL}"`}>`, 'link', 'href'],
      // The outer rel is not known to the fragment, and its own rel would come second.
      [() => html`<link rel="stylesheet" ${html` rel="canonical" href="${EVIL}"`}>`, 'link', 'href'],
      // Read as text (it does not start as attributes do), in an array, nested.
      [() => html`<script ${html`async src="${EVIL}"`}></script>`, 'script', 'src'],
      [() => html`<script ${[html` src="${EVIL}"`]}></script>`, 'script', 'src'],
      [() => html`<script ${html` ${html` src="${EVIL}"`}`}></script>`, 'script', 'src'],
      [() => html`<script ${html` ${'src'}="${EVIL}"`}></script>`, 'script', 'src'],
    ] as const) {
      expect(render, String(render)).toThrow(refused(tag, name));
    }
    // The TypeError names the place in the fragment.
    expect(() => html`<script ${html` src="${EVIL}"`}></script>`).toThrow(/ in `… src="\$\{…\}`/);
    // It keeps what the fragment settles, a trustedUrl(), names, and fragments elsewhere.
    expect(html`<script ${html` src="/static/${'app.js'}"`}></script><script ${html` src="${trustedUrl(EVIL)}"`} ${'async'}></script>`.value).toBe(
      `<script  src="/static/app.js"></script><script  src="${EVIL}" async></script>`,
    );
    expect(html`<link rel="stylesheet" ${html` media="${'print'}"`} href="/a.css"><a ${html` href="${EVIL}"`}>x</a>`.value).toBe(
      `<link rel="stylesheet"  media="print" href="/a.css"><a  href="${EVIL}">x</a>`,
    );
  });

  it('refuses a value in a <meta> content where a fragment or interpolated name may make it refresh', () => {
    const message = /^html: cannot interpolate into a <meta> whose attribute names \(or http-equiv\) are not written in the template/;
    expect(() => html`<meta http-equiv="refresh" ${html` content="0;url=${EVIL}"`}>`).toThrow(message);
    expect(() => html`<meta http-equiv="refresh" ${'content'}="${`0;url=${EVIL}`}">`).toThrow(message);
    expect(() => html`<meta ${'http-equiv'}="refresh" content="0;url=${EVIL}">`).toThrow(message);
    expect(() => html`<meta ${html` http-equiv="refresh"`} content="0;url=${EVIL}">`).toThrow(message);
    expect(() => html`<meta ${html` HTTP-EQUIV="${'refresh'}"`} content="0;url=${EVIL}">`).toThrow(message);
    // A fragment without an http-equiv, beside a content the template wrote (src/http/page.ts's CSRF meta).
    expect(html`<meta ${html` name="description"`} content="${'d'}"><meta name="csrf" content="${'t'}"${html` ${'data-single-use'}`}>`.value).toBe(
      '<meta  name="description" content="d"><meta name="csrf" content="t" data-single-use>',
    );
  });
});

describe('html: a URL whose static text starts a javascript:, vbscript: or data: URL', () => {
  it('refuses a value there, as in an event handler: the browser decodes &#39; back before it runs the code', () => {
    const message = /^html: cannot interpolate into a javascript:, vbscript: or data: URL written in the template, in `…/;
    for (const render of [
      () => html`<a href="javascript:go('${"');alert(1)//"}')">x</a>`,
      () => html`<a href="JavaScript:void(0)" title="x" onclick="" ${'data-x'}>y</a><a href=" \tjava&#x73;cript:go('${'x'}')">x</a>`,
      () => html`<a href="java&#x0A;script:${'x'}">x</a>`,
      () => html`<form action="vbscript:${'x'}"></form>`,
      () => html`<a href="data:text/html,${'<script>alert(1)</script>'}">x</a>`,
      () => html`<a href="javascript:go('${'a'}', '${'b'}')">x</a>`,
      // A trustedUrl() chooses a scheme where it starts the URL; here the template has chosen one.
      () => html`<a href="javascript:go('${trustedUrl('x')}')">x</a>`,
    ]) {
      expect(render, String(render)).toThrow(message);
    }
    expect(html`<img src="data:image/png;base64,${'AAAA'}"><a href="/p?next=javascript:${'x'}">a</a><a href="https://example.com/javascript:${'x'}">b</a>`.value).toBe(
      '<img src="data:image/png;base64,AAAA"><a href="/p?next=javascript:x">a</a><a href="https://example.com/javascript:x">b</a>',
    );
  });
});

describe('html: a value after a / that starts a URL of a list (ping, srcset, imagesrcset, SVG animation values)', () => {
  it('encodes a / or \\ it starts with: each candidate stays a path on this origin (Chromium pinged and loaded //evil.test)', () => {
    expect(html`<a href="/a" ping="/${'/evil.test/ping'}">x</a><a href="/b" ping="/pinged /${'\\evil.test/ping'}">y</a>`.value).toBe(
      '<a href="/a" ping="/%2Fevil.test/ping">x</a><a href="/b" ping="/pinged /%5Cevil.test/ping">y</a>',
    );
    expect(html`<img srcset="/a.png 2x, /${'/evil.test/b.png'} 1x"><img srcset="/${'/evil.test/c.png'} 1x,/${'\t/evil.test/d.png'} 2x">`.value).toBe(
      // The tab, a separator in srcset, is written %09 (below: a value inside a candidate).
      '<img srcset="/a.png 2x, /%2Fevil.test/b.png 1x"><img srcset="/%2Fevil.test/c.png 1x,/%09/evil.test/d.png 2x">',
    );
    expect(html`<link rel="preload" as="image" imagesrcset="/${'/evil.test/e.png'} 1x"><svg><a><set attributeName="href" to="/${'/evil.test'}"/><animate attributeName="href" values="/a;/${'/evil.test'}"/></a></svg>`.value).toBe(
      '<link rel="preload" as="image" imagesrcset="/%2Fevil.test/e.png 1x"><svg><a><set attributeName="href" to="/%2Fevil.test"/><animate attributeName="href" values="/a;/%2Fevil.test"/></a></svg>',
    );
    // After an empty value, the template's own / (or the next value's); a separator spelled as a reference.
    expect(html`<a ping="/${''}/p /${''}${'/evil.test'}">x</a><img srcset="/a.png 2x&#44;/${'/evil.test/b.png'} 1x">`.value).toBe(
      '<a ping="/%2Fp /%2Fevil.test">x</a><img srcset="/a.png 2x&#44;/%2Fevil.test/b.png 1x">',
    );
  });

  it('leaves a candidate the value starts, or whose template text is more than a /', () => {
    expect(html`<img srcset="${'//cdn.example.com/a.png'} 1x, ${'//cdn.example.com/b.png'} 2x"><a ping="/p/${'/x'} //cdn.example.com/${'/y'}">z</a>`.value).toBe(
      '<img srcset="//cdn.example.com/a.png 1x, //cdn.example.com/b.png 2x"><a ping="/p//x //cdn.example.com//y">z</a>',
    );
    expect(html`<img srcset="${'/a.png 1x, '}/${'/cdn.example.com/b.png'} 2x">`.value).toBe('<img srcset="/a.png 1x, //cdn.example.com/b.png 2x">');
    // The scheme check still applies to each candidate.
    expect(html`<a ping="/${'x'} ${'javascript:alert(1)'}">x</a>`.value).toBe('<a ping="#">x</a>');
  });
});

describe('html: a value after a / alone in a resource URL', () => {
  it('is a path from the root: rendered, its leading / or \\ encoded, so the origin is the page\'s', () => {
    expect(html`<script src="/${'/evil.test/a.js'}"></script><script src="\\${'evil.test/a.js'}"></script><script src="/${'app.js'}"></script>`.value).toBe(
      '<script src="/%2Fevil.test/a.js"></script><script src="\\evil.test/a.js"></script><script src="/app.js"></script>',
    );
    expect(html`<iframe src="/${'\\evil.test/'}"></iframe><base href="/${''}/${'evil.test/'}"><link rel="stylesheet" href="/${'/evil.test/a.css'}"><object data="&#47;${'/evil.test'}"></object>`.value).toBe(
      '<iframe src="/%5Cevil.test/"></iframe><base href="/%2Fevil.test/"><link rel="stylesheet" href="/%2Fevil.test/a.css"><object data="&#47;%2Fevil.test"></object>',
    );
    expect(html`<script ${html` src="/${'/evil.test/a.js'}"`}></script>`.value).toBe('<script  src="/%2Fevil.test/a.js"></script>');
  });

  it('still refuses the neighbours where the value can choose the origin', () => {
    const message = (tag: string, name: string, before: string) =>
      new TypeError(
        `html: a value cannot choose where <${tag} ${name}>${tag === 'link' ? ' (a rel other than alternate, author, canonical, help, license, me, next, prev, privacy-policy, terms-of-service)' : ''} loads from, in \`…${before}\${…}\`: what it loads runs in, or rules, the page, and an https URL of any site passes the URL check; ` +
          `put the origin in the template (${name}="/static/\${file}", ${name}="https://cdn.example.com/\${path}"), or interpolate a URL you built yourself (from configuration, never from user input) as trustedUrl(url), the whole value`,
      );
    expect(() => html`<script src="//${'evil.test/a.js'}"></script>`).toThrow(message('script', 'src', '<script src="//'));
    expect(() => html`<script src="\\/${'evil.test/a.js'}"></script>`).toThrow(message('script', 'src', '<script src="\\/'));
    expect(() => html`<script src="/&${'#47;evil.test/a.js'}"></script>`).toThrow(message('script', 'src', '<script src="/&'));
    expect(() => html`<script src="${'/'}${'/evil.test/a.js'}"></script>`).toThrow(message('script', 'src', '<script src="'));
    expect(() => html`<link rel="stylesheet" href="/&#x2F${'evil.test/a.css'}">`).toThrow(message('link', 'href', '<link rel="stylesheet" href="/&#x2F'));
    expect(() => html`<embed src="/${'a'}${'/b'}" ${'src'}="/${'x'}">`).toThrow(/cannot interpolate into the value of an attribute whose name is interpolated, with text around it/);
  });
});

describe('html: a data:text/plain URL the template writes up to its comma', () => {
  it('takes a value: plain text runs nothing (Chromium only downloads it, never navigates a page there)', () => {
    expect(html`<a download="notes.txt" href="data:text/plain;charset=utf-8,${'<script>alert(1)</script>'}">n</a><a href="DATA:Text/Plain,${"'x'"}">m</a>`.value).toBe(
      '<a download="notes.txt" href="data:text/plain;charset=utf-8,&lt;script&gt;alert(1)&lt;/script&gt;">n</a><a href="DATA:Text/Plain,&#39;x&#39;">m</a>',
    );
    expect(html`<a href="data:text/plain;base64,${'PHNjcmlwdD4='}">b</a>`.value).toBe('<a href="data:text/plain;base64,PHNjcmlwdD4=">b</a>');
  });

  it('still refuses a data: URL whose media type the value could reach, or another type', () => {
    const message = (before: string) =>
      new TypeError(
        `html: cannot interpolate into a javascript:, vbscript: or data: URL written in the template, in \`…${before}\${…}\`: the browser decodes entities before it runs the code; put the value in a quoted data-… attribute and read it from a script file`,
      );
    for (const [render, before] of [
      [() => html`<a href="data:text/plain${';x,'}">x</a>`, '<a href="data:text/plain'],
      [() => html`<a href="data:text/plain;${'x'},y">x</a>`, '<a href="data:text/plain;'],
      [() => html`<a href="data:text/${'html'},x">x</a>`, '<a href="data:text/'],
      [() => html`<a href="data:text/plainx,${'x'}">x</a>`, '<a href="data:text/plainx,'],
      [() => html`<a href="data:text/html,${'x'}">x</a>`, '<a href="data:text/html,'],
      [() => html`<a href="data:,${'x'}">x</a>`, '<a href="data:,'],
      [() => html`<a href="data:text/plain&${'#44;<script>'}">x</a>`, '<a href="data:text/plain&'],
    ] as const) {
      expect(render, String(render)).toThrow(message(before));
    }
    // A resource stays one: a stylesheet or frame of plain text is refused as any other origin.
    expect(() => html`<link rel="stylesheet" href="data:text/plain,${'x'}">`).toThrow(refused('link', 'href'));
    expect(() => html`<iframe src="data:text/plain,${'x'}"></iframe>`).toThrow(refused('iframe', 'src'));
  });
});

describe('html: <link> with an attribute name from a value', () => {
  it('is refused as a resource whatever the rel, saying so and what to write instead', () => {
    const message = (before: string) =>
      new TypeError(
        `html: a value cannot choose where <link href> loads from when a value names the attribute, in \`…${before}\${…}\`: the template does not say the value is an href, so the tag's rel is not read for it, and as a stylesheet or preload it would load from any origin; ` +
          'write the name in the template (<link rel="canonical" href="${url}"> takes any safe URL; a rel that loads takes an origin written in the template), or interpolate a URL you built yourself as trustedUrl(url)',
      );
    expect(() => html`<link rel="canonical" ${'href'}="${'https://example.com/a'}">`).toThrow(message('="'));
    expect(() => html`<link rel="stylesheet" ${'href'}="${EVIL}">`).toThrow(message('="'));
    // The alternatives.
    expect(html`<link rel="canonical" href="${'https://example.com/a'}"><link rel="stylesheet" ${'href'}="${trustedUrl('/app.css')}">`.value).toBe(
      '<link rel="canonical" href="https://example.com/a"><link rel="stylesheet" href="/app.css">',
    );
  });
});

describe('html: a value inside a candidate of a URL list (ping, srcset, imagesrcset, SVG animation values)', () => {
  it("writes the list's separators it holds percent-encoded: it cannot add a candidate from another origin (Chromium pinged and loaded //evil.test)", () => {
    // ping: white space separates its URLs.
    expect(html`<a href="/x" ping="/${'a //evil.test/p'}">x</a><a href="/x" ping="/track/${'a\t//evil.test/p'} /b">y</a>`.value).toBe(
      '<a href="/x" ping="/a%20//evil.test/p">x</a><a href="/x" ping="/track/a%09//evil.test/p /b">y</a>',
    );
    // srcset: white space ends the URL, a , the candidate (after a descriptor too: no space needed).
    expect(html`<img srcset="/${'a.png 0.5x, //evil.test/b.png 1x'}"><img srcset="/a.png 2${'x,//evil.test/b.png'}"><img srcset="/img/${'a.png\f1x,'} 2x">`.value).toBe(
      '<img srcset="/a.png%200.5x%2C%20//evil.test/b.png%201x"><img srcset="/a.png 2x%2C//evil.test/b.png"><img srcset="/img/a.png%0C1x%2C 2x">',
    );
    expect(html`<link rel="preload" as="image" imagesrcset="/${'a.png 0.5x, //evil.test/b.png'}">`.value).toBe('<link rel="preload" as="image" imagesrcset="/a.png%200.5x%2C%20//evil.test/b.png">');
    // SVG animation values: a ; starts a value. The value's own character references stay whole.
    expect(html`<svg><a><animate attributeName="href" values="/a;/${'x;//evil.test'}"/><animate attributeName="href" values="/${"a&b'c;d"}"/></a></svg>`.value).toBe(
      '<svg><a><animate attributeName="href" values="/a;/x%3B//evil.test"/><animate attributeName="href" values="/a&amp;b&#39;c%3Bd"/></a></svg>',
    );
    // &comma; is a , for the browser: the lone / after it starts a candidate.
    expect(html`<img srcset="/a.png 1x&comma;/${'/evil.test/b.png'}">`.value).toBe('<img srcset="/a.png 1x&comma;/%2Fevil.test/b.png">');
  });

  it('leaves a value that starts a candidate (it may be any safe URL, or a whole list) and a list of its own', () => {
    expect(html`<img srcset="${'/a.png 1x, /b.png 2x'}"><img srcset="/a.png 1x, ${'/b.png 2x, /c.png 3x'}"><a ping="/p ${'/q /r'}">x</a>`.value).toBe(
      '<img srcset="/a.png 1x, /b.png 2x"><img srcset="/a.png 1x, /b.png 2x, /c.png 3x"><a ping="/p /q /r">x</a>',
    );
    expect(html`<img srcset="/img/${'a.png'} 1x, /img/${'b,c.png'} 2x"><svg><set attributeName="href" to="/${'a b'}"/></svg>`.value).toBe(
      '<img srcset="/img/a.png 1x, /img/b%2Cc.png 2x"><svg><set attributeName="href" to="/a b"/></svg>',
    );
  });
});
