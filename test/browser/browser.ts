/**
 * Launching Debian's Chromium for the browser tests (browsers cannot be downloaded here).
 *
 * Without `/usr/bin/chromium` the browser suites are skipped with a loud warning on a developer
 * machine, and fail under CI (`CI` set), so a CI run never passes without having run them.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { bundleClient } from '../../scripts/bundle-client.mjs';
import { ATTR, EVENTS, ROUTES } from '../../src/core/wire.js';
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
 * The reference app listening on a free loopback port (fast argon2 parameters) and a Chromium, for
 * the suites that use the app as a browser does; `stop` closes both.
 */
export async function demoInChromium(auth: Partial<NonNullable<Parameters<typeof demoApp>[2]>> = {}) {
  const port = await freePort();
  const { app } = await demoApp({ HOST: '127.0.0.1', PORT: String(port) }, {}, { password: { memoryCost: 1024, timeCost: 1, parallelism: 1 }, ...auth });
  await app.listen({ port, host: '127.0.0.1' });
  const browser = await launchChromium();
  return {
    app,
    base: `http://127.0.0.1:${port}`,
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
