/**
 * `callAction` against the real route, for the same component and inputs (probe H):
 * - a body over the route's limit ran in the harness, where HTTP answers 413 `PAYLOAD_TOO_LARGE`
 *   before reading further: the harness now applies the same limit (`actionBodyLimit`, as the plugin's);
 * - a success's `state` was the server's own object (`-0`, a field set to `undefined`), not the JSON a
 *   client reads; mounted state held a public field the state lacks as `undefined`;
 * - messages that misled: a same-named definition "not among the components given", an unknown action
 *   not named, a number as idempotency key refused as a header "sent more than once".
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { manualClock } from '../core/clock.js';
import { defineComponent } from '../core/component.js';
import { ERROR_CODES, LiveError } from '../core/errors.js';
import { html } from '../core/html.js';
import { ACTION_BODY_LIMIT, livecomponents } from '../http/plugin.js';
import { createMemoryStore } from '../store/memory/index.js';
import { openClient, testRuntime, type TestClient } from '../../test/helpers/demo.js';
import { callAction, createTestHarness, mountComponent, type TestHarness } from './index.js';

const note = defineComponent({
  name: 'note',
  initialState: { length: 0 },
  publicState: ['length'],
  actions: { save: { params: z.object({ text: z.string() }), run: (_s, { text }) => ({ length: text.length }) } },
  render: (s) => html`<p>${s.length}</p>`,
});

/** The bytes of the body the browser runtime sends for `save` with `text` (client/transport.ts). */
const sentBytes = (text: string): number => Buffer.byteLength(JSON.stringify({ component_id: 'note:main', action: 'save', params: { text } }), 'utf8');

const refusal = (error: unknown): string => (error instanceof LiveError ? `${error.statusCode} ${error.code}: ${error.message}` : `not a LiveError: ${String(error)}`);

describe('the action body limit', () => {
  const LIMIT = 200;
  let app: FastifyInstance;
  let client: TestClient;
  let harness: TestHarness;
  // Texts whose body is exactly the limit and one byte over it, mostly of 2-byte characters: the limit
  // counts bytes, not UTF-16 units.
  const envelope = sentBytes('');
  const atLimit = 'é'.repeat(Math.floor((LIMIT - envelope) / 2)) + 'a'.repeat((LIMIT - envelope) % 2);
  const overLimit = `${atLimit}a`;

  beforeAll(async () => {
    app = Fastify();
    await app.register(livecomponents, { runtime: await testRuntime([note], createMemoryStore()), actionBodyLimit: LIMIT });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('note:main') }));
    });
    await app.ready();
    client = await openClient(app);
    harness = await createTestHarness([note], { actionBodyLimit: LIMIT });
  });
  afterAll(() => app.close());

  it('refuses one byte over the limit as the route does, and takes a body of exactly the limit', async () => {
    expect(sentBytes(atLimit)).toBe(LIMIT);
    const mounted = await mountComponent(note, undefined, { harness, instance: 'main' });

    const httpAt = await client.action('note:main', 'save', { text: atLimit });
    expect(httpAt.statusCode).toBe(200);
    expect((await callAction(mounted, 'save', { text: atLimit })).state).toEqual({ length: atLimit.length });

    const httpOver = await client.action('note:main', 'save', { text: overLimit });
    expect(httpOver.statusCode).toBe(413);
    const { code, error } = httpOver.json() as { code: string; error: string };
    const thrown = await callAction(mounted, 'save', { text: overLimit }).catch((e: unknown) => e);
    expect(refusal(thrown)).toBe(`413 ${code}: ${error}`);
    expect(code).toBe('PAYLOAD_TOO_LARGE');
    // Refused before the action ran.
    expect(await harness.fullState('note:main')).toEqual({ length: atLimit.length });
  });

  it('refuses a lone surrogate in params as the route does (400 INVALID_REQUEST), and takes a valid pair', async () => {
    const mounted = await mountComponent(note, undefined, { harness, instance: 'main' });
    const before = await harness.fullState('note:main');
    for (const text of ['x\ud800', '\udc00y', '\udc00\ud800']) {
      const http = await client.action('note:main', 'save', { text });
      expect(http.statusCode).toBe(400);
      const { code, error } = http.json() as { code: string; error: string };
      expect(code).toBe('INVALID_REQUEST');
      const thrown = await callAction(mounted, 'save', { text }).catch((e: unknown) => e);
      expect(refusal(thrown)).toBe(`400 ${code}: ${error}`);
    }
    expect(await harness.fullState('note:main')).toEqual(before);
    expect((await callAction(mounted, 'save', { text: '\ud83d\ude00' })).state).toEqual({ length: 2 });
  });

  it('is ACTION_BODY_LIMIT by default, as the plugin', async () => {
    const mounted = await mountComponent(note);
    expect(mounted.harness.actionBodyLimit).toBe(ACTION_BODY_LIMIT);
    const thrown = await callAction(mounted, 'save', { text: 'a'.repeat(1_500_000) }).catch((e: unknown) => e);
    expect(refusal(thrown)).toBe(`413 PAYLOAD_TOO_LARGE: ${ERROR_CODES.PAYLOAD_TOO_LARGE.message}`);
  });

  it('carries over a redeploy', async () => {
    const next = await harness.redeploy([note]);
    expect(next.actionBodyLimit).toBe(LIMIT);
  });

  it('is checked as the plugin checks its option', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '1000' as unknown as number]) {
      await expect(createTestHarness([note], { actionBodyLimit: bad })).rejects.toThrow(
        new TypeError(`createTestHarness: actionBodyLimit must be a positive integer (bytes), got ${String(bad)}`),
      );
    }
  });
});

describe('state as a client receives it', () => {
  const odd = defineComponent({
    name: 'odd',
    initialState: { n: 1, gone: undefined as string | undefined },
    publicState: ['n', 'gone'],
    actions: { zero: { run: () => ({ n: -0, gone: undefined }) } },
    render: (s) => html`<p>${s.n}</p>`,
  });

  it('after an action: -0 is 0 and a field set to undefined is absent, as in the JSON of the route', async () => {
    const app = Fastify();
    await app.register(livecomponents, { runtime: await testRuntime([odd], createMemoryStore()) });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('odd:main') }));
    });
    await app.ready();
    try {
      const http = await (await openClient(app)).action('odd:main', 'zero');
      const received = (http.json() as { state: Record<string, unknown> }).state;
      const state = (await callAction(await mountComponent(odd), 'zero')).state;
      expect(Object.keys(state)).toEqual(Object.keys(received));
      expect(Object.is(state.n, 0)).toBe(true);
      expect(Object.is(received.n, 0)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('once mounted: a public field the state lacks is absent, not undefined', async () => {
    const mounted = await mountComponent(odd);
    expect('gone' in mounted.state).toBe(false);
    expect(mounted.state).toEqual({ n: 1 });
  });
});

describe('messages', () => {
  const make = () =>
    defineComponent({
      name: 'counter',
      initialState: { count: 0 },
      publicState: ['count'],
      actions: { increment: { run: (s) => ({ count: s.count + 1 }) }, reset: { run: () => ({ count: 0 }) } },
      render: (s) => html`<p>${s.count}</p>`,
    });

  it('a same-named definition is told apart from a missing one', async () => {
    const harness = await createTestHarness([make()]);
    const thrown = await mountComponent(make(), {}, { harness }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(/serves another definition named "counter".*a factory called twice.*same object|very object/);
    expect((thrown as Error).message).not.toContain('is not among the components given');
  });

  it('the definition from before a redeploy gets the same sentence', async () => {
    const before = make();
    const harness = await (await createTestHarness([before])).redeploy([make()]);
    await expect(mountComponent(before, {}, { harness })).rejects.toThrow(/serves another definition named "counter".*before a redeploy/);
  });

  it('a definition not given at all still says to add it', async () => {
    const harness = await createTestHarness([note]);
    await expect(mountComponent(make(), {}, { harness })).rejects.toThrow('Component "counter" is not among the components given to createTestHarness: add it to its list');
  });

  it('an unknown action is named, with the actions there are, and keeps its code', async () => {
    const mounted = await mountComponent(make());
    const thrown = await (callAction as (...args: unknown[]) => Promise<unknown>)(mounted, 'incremnet').catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(LiveError);
    expect((thrown as LiveError).code).toBe('ACTION_NOT_FOUND');
    expect((thrown as LiveError).statusCode).toBe(404);
    expect((thrown as LiveError).message).toBe(`${ERROR_CODES.ACTION_NOT_FOUND.message} ("counter" has no action "incremnet"; its actions: "increment", "reset")`);
  });

  it('a key that is not a string is a TypeError, not a repeated header', async () => {
    const mounted = await mountComponent(make());
    const thrown = await callAction(mounted, 'increment', {}, { idempotencyKey: 42 as unknown as string }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toBe('callAction: idempotencyKey must be a string, got number');
  });
});

describe('the clock option (docs/components.md)', () => {
  const poll = defineComponent({
    name: 'poll',
    initialState: { votes: 0 },
    publicState: ['votes'],
    actions: { vote: { rateLimit: 1, rateLimitWindow: 60, run: (s) => ({ votes: s.votes + 1 }) } },
    render: (s) => html`<p>${s.votes}</p>`,
  });

  it('takes a vote again once the minute has passed', async () => {
    const clock = manualClock();
    const harness = await createTestHarness([poll], { clock });
    const p = await mountComponent(poll, undefined, { harness });
    const voted = await callAction(p, 'vote');
    await expect(callAction(voted, 'vote')).rejects.toMatchObject({ code: 'RATE_LIMIT_EXCEEDED' });
    clock.advance(60_000);
    expect((await callAction(voted, 'vote')).state).toEqual({ votes: 2 });
  });
});
