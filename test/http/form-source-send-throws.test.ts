/**
 * `refuseForeignForms` (src/http/form-source.ts) in an app without the plugin (no `onSend` hook:
 * the hook is documented for such apps), whose answer's `send` throws before anything is written —
 * Fastify's `FST_ERR_REP_INVALID_PAYLOAD_TYPE` for an object sent as `text/plain`, say. The watched
 * `send` counted the call as an answer under way before it threw, so the failure was only logged
 * ("after it started to send") and the request hung with nothing written until a timeout. Before the
 * watcher, a throwing answer went to the error handler. Now only a `send` that returned counts; one
 * that threw is the answer's failure: the error handler's 500.
 */
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { refuseForeignForms, type ForeignFormAnswer } from '../../src/http/form-source.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

let server: ReturnType<typeof Fastify> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const ANSWERS: Record<string, ForeignFormAnswer> = {
  sync: (_request, reply) => reply.code(403).type('text/plain').send({ refused: true } as never),
  async: async (_request, reply) => reply.code(403).type('text/plain').send({ refused: true } as never),
};

describe('refuseForeignForms without the plugin: an answer whose send throws before writing', () => {
  for (const [name, answer] of Object.entries(ANSWERS)) {
    it(`${name}: the error handler's 500 (it hung), one malicious_csrf, no handler`, { timeout: 10_000 }, async () => {
      const app = Fastify();
      server = app;
      const events = memorySecurityEvents();
      const runtime = await testRuntime([tinyCounter], createMemoryStore(), { events });
      const seen = { errorHandler: [] as string[], handled: 0 };
      app.setErrorHandler((error, _request, reply) => {
        seen.errorHandler.push((error as { code?: string }).code ?? '');
        return reply.code(500).send({ code: 'INTERNAL_ERROR' });
      });
      app.post('/form', { onRequest: refuseForeignForms(runtime, answer) }, async () => {
        seen.handled += 1;
        return 'handled';
      });
      await app.ready();
      const res = await app.inject({ method: 'POST', url: '/form', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' });
      expect([res.statusCode, res.json<{ code: string }>().code, seen.errorHandler, seen.handled]).toEqual([500, 'INTERNAL_ERROR', ['FST_ERR_REP_INVALID_PAYLOAD_TYPE'], 0]);
      expect(events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    });
  }
});

describe('refuseForeignForms: an answer that fails after its answer went out, with the app’s logger off', () => {
  // The refusal is already on the wire, so nothing can be answered instead; the failure was logged on
  // request.log alone, a no-op with Fastify's default logger: a bug in the answer was silent.
  it('one error line on standard output naming refuseForeignForms and the cause; the 403 stands', { timeout: 10_000 }, async () => {
    const app = Fastify();
    server = app;
    const runtime = await testRuntime([tinyCounter], createMemoryStore(), { events: memorySecurityEvents() });
    const answer: ForeignFormAnswer = (_request, reply) => {
      reply.code(403).type('text/plain').send('refused');
      throw new Error('answer bug after send');
    };
    app.post('/form', { onRequest: refuseForeignForms(runtime, answer) }, async () => 'handled');
    await app.ready();
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    let res;
    try {
      res = await app.inject({ method: 'POST', url: '/form', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' });
    } finally {
      spy.mockRestore();
    }
    const lines = written.flatMap((text) => text.split('\n')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: number; msg: string; code: string; err?: { message: string } });
    expect([res.statusCode, res.body]).toEqual([403, 'refused']);
    expect(lines.map((l) => [l.level, l.msg, l.code, l.err?.message])).toEqual([
      [50, 'refuseForeignForms: the answer to a refused form post failed after it started to send', 'CSRF_TOKEN_INVALID', 'answer bug after send'],
    ]);
  });
});
