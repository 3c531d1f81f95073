/**
 * Launching Debian's Chromium for the browser tests (browsers cannot be downloaded here), and the
 * apps and pages they open in it.
 *
 * Without `/usr/bin/chromium` the browser suites are skipped with a loud warning on a developer
 * machine, and fail under CI (`CI` set), so a CI run never passes without having run them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { bundleClient } from '../../scripts/bundle-client.mjs';
import { createLiveComponents, createMemoryStore, livecomponents, serverOptions } from '../../src/index.js';
import type { LiveComponentsOptions, LiveRuntime, PageView, SafeHtml } from '../../src/index.js';
import { ATTR, CSRF_META_NAME, EVENTS, ROUTES } from '../../src/core/wire.js';
import { demoApp } from '../helpers/demo.js';
import { freePort } from '../helpers/ports.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Why the browser tests cannot run on this machine, or `null` when they can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM_PATH) ? null : `${CHROMIUM_PATH} does not exist (install Debian's package: apt-get install chromium)`;
}

/**
 * Whether the suite named `suite` should run: yes when Chromium is there, and yes under CI so that
 * `launchChromium` fails it; otherwise it is skipped with a warning saying what and why.
 */
export function browserTestsEnabled(suite: string): boolean {
  const missing = chromiumMissing();
  if (missing === null || process.env.CI) return true;
  console.warn(`\n!!! SKIPPED browser tests "${suite}": ${missing}. They run (and must pass) under CI.\n`);
  return false;
}

/** Starts a headless Chromium; throws, naming the cause, when it is missing. */
export async function launchChromium(): Promise<Browser> {
  const missing = chromiumMissing();
  if (missing !== null) throw new Error(`Browser tests cannot run: ${missing}`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** An `lc:success` / `lc:error` event seen on the page. */
export interface RecordedEvent {
  type: string;
  detail: Record<string, unknown>;
  /** `data-lc-id` of the element the event was dispatched on (null: the document). */
  target: string | null;
}

/** Records every `lc:*` event the page dispatches (from its first script on), into the returned array. */
export async function recordEvents(page: Page): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  await page.exposeFunction('__lcRecord', (event: RecordedEvent) => void events.push(event));
  await page.addInitScript(
    ({ names, idAttr }) => {
      const record = (window as unknown as { __lcRecord(e: RecordedEvent): void }).__lcRecord;
      for (const type of names) {
        document.addEventListener(type, (e) => {
          const target = e.target instanceof Element ? e.target.getAttribute(idAttr) : null;
          record({ type, detail: (e as CustomEvent<Record<string, unknown>>).detail, target });
        });
      }
    },
    { names: Object.values(EVENTS), idAttr: ATTR.id },
  );
  return events;
}

/** A double click as a person makes it: the second click `gapMs` after the first (event.detail 1, then 2). */
export async function humanDoubleClick(page: Page, target: Locator, gapMs = 150): Promise<void> {
  const box = await target.boundingBox();
  if (box === null) throw new Error('humanDoubleClick: the target is not visible');
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down({ clickCount: 1 });
  await page.mouse.up({ clickCount: 1 });
  await page.waitForTimeout(gapMs);
  await page.mouse.down({ clickCount: 2 });
  await page.mouse.up({ clickCount: 2 });
}

/** Opens `url` in `page` and waits until the browser runtime has started (`window.LiveComponents`). */
export async function openLive(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => window.LiveComponents !== undefined);
}

/** Runs `act` and waits for the action answer it causes; resolves its status. */
export async function actionStatus(page: Page, act: () => Promise<unknown>): Promise<number> {
  const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(ROUTES.action)), act()]);
  return response.status();
}

/** Waits until the component `id` in `page` is no longer busy (its answer morphed in, events dispatched). */
export async function settled(page: Page, id: string): Promise<void> {
  await page.waitForFunction(([attr, value]) => !document.querySelector(`[${attr}="${value}"]`)?.hasAttribute('aria-busy'), [ATTR.id, id] as const);
}

/**
 * The reference app (`demoApp`; `auth`: its auth options) listening on a free loopback port, its origin `base`.
 * Without load shedding: the test process shares the app's event loop, and its own synchronous work
 * (terser minifying the client bundle beside the start-up) stalled it past 1 s on a loaded CI
 * machine, so the suite's first request was shed (503) — the harness's lag, not the app's.
 */
export async function listeningDemo(auth?: Parameters<typeof demoApp>[2]) {
  const port = await freePort();
  const demo = await demoApp({ HOST: '127.0.0.1', PORT: String(port), MAX_EVENT_LOOP_DELAY_MS: '0' }, {}, auth);
  await demo.app.listen({ port, host: '127.0.0.1' });
  return { ...demo, base: `http://127.0.0.1:${port}` };
}

export type ListeningDemo = Awaited<ReturnType<typeof listeningDemo>>;

/**
 * The reference app listening on a free loopback port (fast argon2 parameters) and a Chromium, for
 * the suites that use the app as a browser does; `stop` closes both.
 */
export async function demoInChromium(auth: Partial<NonNullable<Parameters<typeof demoApp>[2]>> = {}) {
  const { app, base } = await listeningDemo({ password: { memoryCost: 1024, timeCost: 1, parallelism: 1 }, ...auth });
  const browser = await launchChromium();
  return {
    app,
    base,
    browser,
    async stop(): Promise<void> {
      await browser.close();
      await app.close();
    },
  };
}

/** The browser runtime bundled from the sources now (not dist/), as a scripted server serves it. */
export async function freshClientBundle(): Promise<string> {
  const out = await bundleClient({ outfile: join(mkdtempSync(join(tmpdir(), 'lc-bundle-')), 'livecomponents.js') });
  return readFileSync(out.outfile, 'utf8');
}

/** Where a scripted server's pages are served from (not a secure context). */
export const SCRIPTED_ORIGIN = 'http://lc.test';

/** Answers one request of a scripted server; `bundle` is the browser runtime for `ROUTES.clientScript`. */
export type ScriptedServe = (route: Route, bundle: string) => Promise<unknown>;

/** A scripted action answer: `body` sent as JSON, or `raw` as it is (of `contentType`: a proxy's page, say); `'abort'`: the network fails. */
export type ScriptedAnswer = { status: number; body: unknown; raw?: string; contentType?: string } | 'abort';

/** One page and its action answers as a test scripts them; read at each request, so a test may swap them. */
export interface PageScript {
  /** What `GET /` answers: the page as first opened, and as the runtime fetches it again to reload. */
  page(): string;
  /** Where the action requests the page sent go, in order: `action params`. */
  sent(): string[];
  /** What the action request of index `i` is answered with (awaited: it may hold the answer). */
  answer(i: number): ScriptedAnswer | Promise<ScriptedAnswer>;
}

/** A scripted server of one page (`/`), the runtime and the action route, answering as `script` says; anything else 404. */
export function servePageScript(script: PageScript): ScriptedServe {
  return async (route, bundle) => {
    const url = new URL(route.request().url());
    if (url.pathname === ROUTES.clientScript) return route.fulfill({ contentType: 'text/javascript', body: bundle });
    if (url.pathname === ROUTES.action) {
      const body = route.request().postDataJSON() as { action: string; params: unknown };
      const sent = script.sent();
      sent.push(`${body.action} ${JSON.stringify(body.params)}`);
      const a = await script.answer(sent.length - 1);
      if (a === 'abort') return route.abort('internetdisconnected');
      return route.fulfill({ status: a.status, contentType: a.contentType ?? 'application/json', body: a.raw ?? JSON.stringify(a.body) });
    }
    if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: script.page() });
    return route.fulfill({ status: 404, body: 'not here' });
  };
}

/**
 * For a suite in Chromium against a scripted server (every answer under the test's control):
 * registers the calling `describe`'s hooks, which bundle the runtime and start Chromium once, and
 * give each test a fresh context whose requests to `SCRIPTED_ORIGIN` `serve` answers. `opened`
 * gets each test's page and context before the test (to keep them, record events, load a page).
 */
export function scriptedBrowser(serve: ScriptedServe, opened: (page: Page, context: BrowserContext) => Promise<void> | void): void {
  let bundle: string;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    bundle = await freshClientBundle();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    context = await browser!.newContext();
    await context.route(`${SCRIPTED_ORIGIN}/**`, (route) => serve(route, bundle));
    await opened(await context.newPage(), context);
  });
  afterEach(async () => {
    await context?.close();
  });
}

/**
 * One component served by a scripted server, re-rendered by hand: the page is render 0, the n-th
 * action answer is render n. `open(html)` loads a fresh page of it; `rerender()` has the runtime call
 * an action from a script (a poll, another tab's change pushed here), so focus stays where it is,
 * and resolves the outcome's type. Each test gets its own browser context (`scriptedBrowser`).
 */
export function scriptedRerenders(
  id: string,
  opened: (page: Page) => void,
  { runtimeBeforeBody = false }: { runtimeBeforeBody?: boolean } = {},
): { open(html: (n: number) => string): Promise<void>; rerender(): Promise<string> } {
  let page: Page | undefined;
  let render: (n: number) => string = () => '';
  let answered = 0;
  // `runtimeBeforeBody`: the runtime (its module exports left out) runs as a classic script before
  // the body is parsed, so it is bound before any task the parser queues — the `toggle` event of each
  // `<details open>` of the markup. As a module (the page's way) it runs once the page is parsed,
  // before or after those tasks: the browser's timing decides.
  const runtime = (bundle: string): string =>
    runtimeBeforeBody ? `<script>${bundle.replace(/export\{[^}]*\};?\s*$/, '')}</script>` : `<script type="module" src="${ROUTES.clientScript}"></script>`;
  const pageOf = (body: string, bundle: string): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="token-0">
${runtime(bundle)}</head><body>${body}</body></html>`;
  scriptedBrowser(
    async (route, bundle) => {
      const url = new URL(route.request().url());
      if (url.pathname === ROUTES.clientScript) return route.fulfill({ contentType: 'text/javascript', body: bundle });
      if (url.pathname === ROUTES.action) {
        const html = render(++answered);
        return route.fulfill({ contentType: 'application/json', body: JSON.stringify({ html, state: {}, csrf_token: `token-${answered}` }) });
      }
      if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: pageOf(render(0), bundle) });
      return route.fulfill({ status: 404, body: 'not here' });
    },
    (newPage) => {
      page = newPage;
      opened(newPage);
    },
  );
  return {
    async open(html) {
      render = html;
      answered = 0;
      await openLive(page!, `${SCRIPTED_ORIGIN}/`);
    },
    rerender: () => page!.evaluate((componentId) => window.LiveComponents!.call(componentId, 'refresh', {}).then((o) => o.type), id),
  };
}

/** What `serveComponents` serves. */
export interface ServedComponents {
  components: LiveComponentsOptions['components'];
  /** More `createLiveComponents` options (`csrf`, `events`…), over the helper's own (memory store, fresh keys, silent `warn`). */
  runtimeOptions?: Partial<LiveComponentsOptions>;
  /** The page `/`: a document titled `title` around `body`, rendered with the request's page view. */
  page: { title: string; body: (view: PageView) => Promise<SafeHtml> };
  /** Called before the plugin is registered: hooks and decorations it should see, the app's own routes. */
  setup?: (app: FastifyInstance, runtime: LiveRuntime) => void;
}

/** An app `serveComponents` started: its origin is `base`. */
export interface ServedApp {
  app: FastifyInstance;
  runtime: LiveRuntime;
  base: string;
  close(): Promise<void>;
}

/** The runtime bundled once per test file, written where only this file's apps read it. */
let clientBundleFile: Promise<string> | undefined;

/**
 * An app of `components` through the real plugin on a free loopback port, serving the browser
 * runtime bundled from the sources now (its own copy: another run rebuilding dist/ cannot touch it)
 * and the page `/`; `close` stops it.
 */
export async function serveComponents({ components, runtimeOptions = {}, page, setup }: ServedComponents): Promise<ServedApp> {
  clientBundleFile ??= bundleClient({ outfile: join(mkdtempSync(join(tmpdir(), 'lc-bundle-')), 'livecomponents.js') }).then((out) => out.outfile);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const app = Fastify(serverOptions({ logger: false }));
  const runtime = await createLiveComponents({
    store: createMemoryStore(),
    components,
    appOrigin: base,
    stateKeys: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    dataDir: mkdtempSync(join(tmpdir(), 'lc-browser-')),
    warn: () => {},
    ...runtimeOptions,
  });
  setup?.(app, runtime);
  await app.register(livecomponents, { runtime, clientBundlePath: await clientBundleFile });
  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    return reply.type('text/html; charset=utf-8').send(view.document({ title: page.title, body: await page.body(view) }));
  });
  await app.listen({ port, host: '127.0.0.1' });
  return { app, runtime, base, close: () => app.close() };
}
