/**
 * Inline SVG through a morph, in Chromium against a scripted server (idiomorph 0.8, docs/client.md
 * step 4). idiomorph 0.7 built an element it inserted around kept content (an element holding an `id`
 * the old markup has) with `document.createElement(tagName)`, an HTML element: a `<g>` wrapped around
 * a kept `<circle id>` was an unknown HTML element inside the `<svg>`, and the circle in it no longer
 * drew. And it added attributes with `setAttribute(name)`, which drops the namespace the parser gave
 * `xlink:href`: a `<use>` that gained one drew nothing.
 */
import type { JSHandle, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR } from '../../src/core/wire.js';
import { browserTestsEnabled, scriptedRerenders } from './browser.js';

const ID = 'demo:chart';
const SVG = 'http://www.w3.org/2000/svg';
const XLINK = 'http://www.w3.org/1999/xlink';

let page: Page;
const { open, rerender } = scriptedRerenders(ID, (opened) => void (page = opened));

describe.runIf(browserTestsEnabled('svg a morph keeps'))('svg a morph keeps', () => {
  it('a <g> the answer wraps around a kept <circle id> is an SVG element, and the circle (the same node) still draws', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}"><svg width="40" height="40">${n === 0 ? '<circle id="dot" cx="10" cy="10" r="5"/>' : '<g class="layer"><circle id="dot" cx="10" cy="10" r="5"/></g>'}</svg></div>`);
    const dot: JSHandle = await page.evaluateHandle(() => document.getElementById('dot'));
    expect(await rerender()).toBe('ok');
    const after = await page.evaluate((old) => {
      const g = document.querySelector('g.layer')!;
      const circle = document.getElementById('dot')!;
      return { ns: g.namespaceURI, parent: circle.parentElement === g, same: circle === old, width: circle.getBoundingClientRect().width, rows: document.querySelectorAll('circle').length };
    }, dot);
    // 0.7: { ns: XHTML, …, width: 0 } (a circle inside an HTML element is not drawn).
    expect(after).toEqual({ ns: SVG, parent: true, same: true, width: 10, rows: 1 });
  });

  it('a <use> that gains xlink:href takes it in the XLink namespace and draws the shape it names', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}"><svg width="40" height="40"><defs><rect id="shape" width="8" height="8"/></defs><use class="icon"${n === 0 ? '' : ' xlink:href="#shape"'}/></svg></div>`);
    expect(await rerender()).toBe('ok');
    const use = await page.evaluate((xlink) => {
      const el = document.querySelector('use.icon')!;
      return { href: el.getAttributeNS(xlink, 'href'), width: el.getBoundingClientRect().width };
    }, XLINK);
    // 0.7: { href: null, width: 0 } (an attribute named "xlink:href" in no namespace).
    expect(use).toEqual({ href: '#shape', width: 8 });
  });
});
