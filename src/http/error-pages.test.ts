/**
 * The framework's error pages (error-pages.ts): which requests get the page (the API never; an
 * `Accept` preferring HTML only), the JSON answer's status and headers kept, `Vary: Accept` merged
 * into one already set, the default page escaped and without inline script or style, options checked
 * at start-up. Through Fastify's `inject`, on an app wired with `useErrorPages` alone.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { LiveError } from '../core/errors.js';
import { html } from '../core/html.js';
import type { ErrorBody } from '../core/wire.js';
import { InvalidOptionError } from '../ops/health/options-error.js';
import { MAX_ACCEPT_LENGTH } from './error-pages-accept.js';
import { defaultErrorPage, prefersHtml, useErrorPages, type ErrorPagesOptions } from './error-pages.js';

/** What Chromium sends with a navigation. */
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
const POLICY = "default-src 'self'; script-src 'self'; style-src 'self'";

/** A logger of the app's, silent: a failing render's line is not written to the test's output. */
const QUIET = { logger: { level: 'silent' } };

/** An app with error pages and routes refusing in the ways an app's do; `app`: a bare one to set up. */
async function appWith(options: ErrorPagesOptions = { pageHeaders: { 'content-security-policy': POLICY } }, app: FastifyInstance = Fastify(QUIET)): Promise<FastifyInstance> {
  useErrorPages(app, options);
  // A limiter's 429 (`@fastify/rate-limit`'s shape): its Retry-After stays on the page.
  app.get('/limited', async (_request, reply) => {
    reply.header('retry-after', '42');
    throw Object.assign(new Error('limited'), { statusCode: 429 });
  });
  app.get('/api/thing', async () => {
    throw new LiveError('FORBIDDEN');
  });
  app.get('/internal/thing', async () => {
    throw new LiveError('FORBIDDEN');
  });
  app.get('/hostile', async () => {
    throw new LiveError('FORBIDDEN', { message: '<script>alert(1)</script> & "quoted"' });
  });
  // Another hook's Vary, in the spellings a hook may use.
  app.addHook('onRequest', async (request, reply) => {
    const vary = request.headers['x-test-vary'];
    if (typeof vary === 'string') reply.header('vary', vary.includes('|') ? vary.split('|') : vary);
  });
  app.post('/form', async () => 'ok');
  await app.ready();
  return app;
}

describe('prefersHtml: hostile and edge Accept headers', () => {
  it.each([
    [BROWSER, true],
    ['TEXT/HTML', true],
    [' text/html ; q=0.9 , */* ; q=0.1', true],
    ['text/html;q=0', false],
    ['text/html;q=0, */*', false],
    ['text/html;q=0.000', false],
    ['text/html;q=1.0001', false],
    ['text/html;q=-1', false],
    ['text/html;q=', false],
    ['text/html;q', false],
    ['text/html;;;;', true],
    [',,,;;;===', false],
    ['text/html\u0000', false],
    ['application/json, text/html', false],
    ['*/*;q=0, text/html;q=0.001', true],
    ['text/*', false],
  ])('%j: %s', (accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });

  it(`an Accept longer than ${MAX_ACCEPT_LENGTH} characters is not read: the JSON, even with text/html first`, () => {
    const at = (length: number): string => `text/html,${'x'.repeat(length - 'text/html,'.length)}`;
    expect([prefersHtml(at(MAX_ACCEPT_LENGTH)), prefersHtml(at(MAX_ACCEPT_LENGTH + 1))]).toEqual([true, false]);
  });
});

describe('useErrorPages: the page or the JSON', () => {
  it('a browser past a limiter: the page with the JSON answer’s status and Retry-After, the page headers, no-store, Vary: Accept; curl and fetch get the JSON', async () => {
    const app = await appWith();
    const page = await app.inject({ method: 'GET', url: '/limited', headers: { accept: BROWSER } });
    expect([page.statusCode, page.headers['content-type'], page.headers['retry-after'], page.headers['cache-control'], page.headers.vary]).toEqual([
      429,
      'text/html; charset=utf-8',
      '42',
      'no-store',
      'Accept',
    ]);
    expect([page.headers['content-security-policy'], page.headers['x-frame-options'], page.headers['x-content-type-options'], page.headers['set-cookie']]).toEqual([POLICY, 'SAMEORIGIN', 'nosniff', undefined]);
    expect(page.body).toContain('<h1>Too many requests</h1>');
    expect(page.body).toContain('<p data-retry-after="42">Try again in 42 seconds.</p>');
    expect(page.body).toMatch(/Error 429 · <code>RATE_LIMIT_EXCEEDED<\/code> · request <code>[^<]+<\/code>/);
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html', 'text/html;q=0']) {
      const res = await app.inject({ method: 'GET', url: '/limited', headers: accept === undefined ? {} : { accept } });
      expect([accept, res.statusCode, res.headers['content-type'], res.headers['retry-after'], res.headers.vary, res.json<ErrorBody>().code]).toEqual([
        accept,
        429,
        'application/json; charset=utf-8',
        '42',
        'Accept',
        'RATE_LIMIT_EXCEEDED',
      ]);
    }
    await app.close();
  });

  it('404 and 405 (Allow kept) as pages; a HEAD gets the page’s headers and no body', async () => {
    const app = await appWith();
    const missing = await app.inject({ method: 'GET', url: '/nowhere', headers: { accept: BROWSER } });
    const wrongMethod = await app.inject({ method: 'GET', url: '/form', headers: { accept: BROWSER } });
    const head = await app.inject({ method: 'HEAD', url: '/nowhere', headers: { accept: BROWSER } });
    expect([missing.statusCode, missing.headers['content-type'], /<h1>Page not found<\/h1>/.test(missing.body)]).toEqual([404, 'text/html; charset=utf-8', true]);
    expect([wrongMethod.statusCode, wrongMethod.headers.allow, wrongMethod.headers['content-type']]).toEqual([405, 'POST', 'text/html; charset=utf-8']);
    expect([head.statusCode, head.headers['content-type'], head.body]).toEqual([404, 'text/html; charset=utf-8', '']);
    await app.close();
  });

  it('the API (default /api/, percent-encoded too, and a path that does not decode) keeps the JSON and no Vary; apiPrefixes replaces the default', async () => {
    const app = await appWith();
    for (const url of ['/api/thing', '/%61pi/thing', '/api/nowhere', '/%61pi/nowhere?x=1']) {
      const res = await app.inject({ method: 'GET', url, headers: { accept: BROWSER } });
      expect([url, res.headers['content-type'], res.headers.vary]).toEqual([url, 'application/json; charset=utf-8', undefined]);
    }
    const custom = await appWith({ apiPrefixes: ['/internal/'] });
    const internal = await custom.inject({ method: 'GET', url: '/internal/thing', headers: { accept: BROWSER } });
    const api = await custom.inject({ method: 'GET', url: '/api/thing', headers: { accept: BROWSER } });
    expect([internal.headers['content-type'], api.headers['content-type'], api.statusCode]).toEqual(['application/json; charset=utf-8', 'text/html; charset=utf-8', 403]);
    await Promise.all([app.close(), custom.close()]);
  });
});

describe('useErrorPages: the framework’s own API', () => {
  it('stays JSON (no Vary) with apiPrefixes of the app’s own: the action route’s 405, the auth API’s 404', async () => {
    const app = Fastify();
    useErrorPages(app, { apiPrefixes: ['/rest/'] });
    app.post('/api/livecomponents/action', async () => 'action');
    await app.ready();
    const asks: [string, string, number][] = [
      ['GET', '/api/livecomponents/action', 405],
      ['GET', '/api/livecomponents/nowhere', 404],
      ['GET', '/api/v1/auth/nowhere', 404],
      ['POST', '/%61pi/v1/auth/nowhere', 404],
      ['GET', '/rest/nowhere', 404],
    ];
    for (const [method, url, status] of asks) {
      const res = await app.inject({ method: method as 'GET', url, headers: { accept: BROWSER } });
      expect([url, res.statusCode, res.headers['content-type'], res.headers.vary]).toEqual([url, status, 'application/json; charset=utf-8', undefined]);
    }
    // Only those: another path under /api/ is the app's, a page with these prefixes.
    const other = await app.inject({ method: 'GET', url: '/api/v1/authx', headers: { accept: BROWSER } });
    expect([other.statusCode, other.headers['content-type']]).toEqual([404, 'text/html; charset=utf-8']);
    await app.close();
  });
});

describe('useErrorPages: Vary', () => {
  it.each([
    ['Accept', 'Accept'],
    ['accept', 'accept'],
    ['Origin', 'Origin, Accept'],
    ['Origin, ACCEPT', 'Origin, ACCEPT'],
    ['*', '*'],
    // Set as several lines: left so when Accept is among them (the same header), else joined.
    ['Origin|accept', ['Origin', 'accept']],
    ['Origin|X-Theme', 'Origin, X-Theme, Accept'],
  ])('Vary %j already set: %j on the page and on the JSON', async (set, expected) => {
    const app = await appWith();
    for (const accept of [BROWSER, '*/*']) {
      const res = await app.inject({ method: 'GET', url: '/nowhere', headers: { accept, 'x-test-vary': set } });
      expect([accept, res.headers.vary]).toEqual([accept, expected]);
    }
    await app.close();
  });
});

describe('the default page', () => {
  it('escapes the error’s sentence, code and request id, and has no script, no style, no handler', async () => {
    const body: ErrorBody = { error: '<script>alert(1)</script> & "q"', code: '<b>X</b>', request_id: '"><img src=x onerror=alert(1)>', retry_after: 1 };
    const page = defaultErrorPage(429, body);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;');
    expect(page).toContain('<code>&lt;b&gt;X&lt;/b&gt;</code>');
    expect(page).toContain('Try again in 1 second.');
    // Tags only: the escaped text may say anything.
    expect(page).not.toMatch(/<(?:script|style|img)\b|<[^>]*\s(?:on[a-z]+|style)=|javascript:/i);
    const app = await appWith({});
    const res = await app.inject({ method: 'GET', url: '/hostile', headers: { accept: BROWSER } });
    expect(res.statusCode).toBe(403);
    expect(res.body).not.toMatch(/<script/);
    expect(res.body).toContain('&lt;script&gt;');
    await app.close();
  });

  it('an app’s render that throws: the JSON answer, unchanged', async () => {
    const app = await appWith({
      render: () => {
        throw new Error('template bug');
      },
    });
    const res = await app.inject({ method: 'GET', url: '/limited', headers: { accept: BROWSER } });
    expect([res.statusCode, res.headers['content-type'], res.headers['retry-after'], res.json<ErrorBody>().code]).toEqual([429, 'application/json; charset=utf-8', '42', 'RATE_LIMIT_EXCEEDED']);
    await app.close();
  });
});

/** What `run` wrote to standard output (kept from the terminal), parsed as log lines. */
async function stdoutLines(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return written.flatMap((text) => text.split('\n')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('a render that fails, with the app’s Fastify logger off (its default)', () => {
  // request.log is then a no-op: the failure was logged nowhere, and every browser quietly got JSON.
  // It is logged as a 500's cause is (error-mapping.ts `logFailure`): on standard output then.
  it.each([
    ['throws', () => {
      throw new Error('template bug');
    }, /render threw.*template bug/],
    ['returns no page', () => 42, /render returned a number/],
    ['rejects (an async render)', async () => Promise.reject(new Error('template bug')), /render returned a promise[^|]*\| errorPages: render rejected: template bug/],
  ])('%s: the JSON answer, and an error line naming it', async (_name, render, message) => {
    const app = await appWith({ render: render as unknown as ErrorPagesOptions['render'] }, Fastify());
    const lines = await stdoutLines(async () => {
      const res = await app.inject({ method: 'GET', url: '/limited', headers: { accept: BROWSER } });
      expect([res.statusCode, res.headers['content-type'], res.json<ErrorBody>().code]).toEqual([429, 'application/json; charset=utf-8', 'RATE_LIMIT_EXCEEDED']);
      // A rejection is heard a few microtasks later.
      await new Promise((resolve) => setImmediate(resolve));
    });
    const errors = lines.filter((line) => line.level === 50);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.map((line) => (line.err as { message: string }).message).join(' | ')).toMatch(message);
    expect(errors.every((line) => typeof line.request_id === 'string')).toBe(true);
    await app.close();
  });

  it('with a logger of the app’s own: on it, and nothing on standard output', async () => {
    const logged: Record<string, unknown>[] = [];
    const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) } } });
    useErrorPages(app, {
      render: () => {
        throw new Error('template bug');
      },
    });
    await app.ready();
    const lines = await stdoutLines(() => app.inject({ method: 'GET', url: '/nowhere', headers: { accept: BROWSER } }));
    expect(lines).toEqual([]);
    expect(logged.filter((line) => line.level === 50).map((line) => (line.err as { message: string }).message)).toEqual([expect.stringMatching(/render threw.*template bug/)]);
    await app.close();
  });
});

describe('render returning no string', () => {
  it('the SafeHtml of an html template: its text, as the page', async () => {
    const app = await appWith({ render: (status, body) => html`<p data-status="${status}">${body.error}</p>` });
    const res = await app.inject({ method: 'GET', url: '/nowhere', headers: { accept: BROWSER } });
    expect([res.statusCode, res.headers['content-type']]).toEqual([404, 'text/html; charset=utf-8']);
    expect(res.body).toMatch(/^<p data-status="404">[^<]+<\/p>$/);
    await app.close();
  });

  it.each([
    ['a number', () => 42],
    ['undefined', () => undefined],
    ['null', () => null],
    ['an object', () => ({ page: '<p>x</p>' })],
    ['a promise (an async render)', async () => '<p>late</p>'],
    ['a promise that rejects', async () => Promise.reject(new Error('template bug'))],
  ])('%s: the JSON answer, with its status and headers (not Fastify’s 500, not an empty page)', async (_name, render) => {
    const app = await appWith({ render: render as unknown as ErrorPagesOptions['render'] });
    const limited = await app.inject({ method: 'GET', url: '/limited', headers: { accept: BROWSER } });
    expect([limited.statusCode, limited.headers['content-type'], limited.headers['retry-after'], limited.json<ErrorBody>().code]).toEqual([429, 'application/json; charset=utf-8', '42', 'RATE_LIMIT_EXCEEDED']);
    const missing = await app.inject({ method: 'GET', url: '/nowhere', headers: { accept: BROWSER } });
    expect([missing.statusCode, missing.headers['content-type'], missing.json<ErrorBody>().code]).toEqual([404, 'application/json; charset=utf-8', 'NOT_FOUND']);
    await app.close();
  });
});

describe('render: exact calls', () => {
  it('once per page answer, with its status and body; never for the API, JSON clients or a long Accept', async () => {
    const calls: [number, string][] = [];
    const app = await appWith({ render: (status, body) => (calls.push([status, body.code]), `<!doctype html><p>${status}</p>`) });
    const asks: [string, string | undefined][] = [
      ['/limited', BROWSER],
      ['/nowhere', BROWSER],
      ['/api/thing', BROWSER],
      ['/limited', '*/*'],
      ['/limited', undefined],
      ['/limited', `text/html,${'a'.repeat(300)}`],
    ];
    await Promise.all(asks.map(([url, accept]) => app.inject({ method: 'GET', url, headers: accept === undefined ? {} : { accept } })));
    expect(calls.sort()).toEqual([
      [404, 'NOT_FOUND'],
      [429, 'RATE_LIMIT_EXCEEDED'],
    ]);
    await app.close();
  });
});

describe('options, checked at start-up', () => {
  it.each([
    [{ apiPrefixes: ['/api'] }, '"/api" is no path prefix'],
    [{ apiPrefixes: ['api/'] }, '"api/" is no path prefix'],
    [{ apiPrefixes: ['/%61pi/'] }, '"/%61pi/" is no path prefix'],
    [{ apiPrefixes: ['/api/?x/'] }, 'is no path prefix'],
    [{ apiPrefixes: [42] }, '42 is no path prefix'],
    [{ apiPrefixes: '/api/' }, 'apiPrefixes must be an array'],
    [{ render: 'page' }, 'render must be a function'],
  ])('%j: LC_INVALID_OPTION', (options, message) => {
    const app = Fastify();
    const attempt = (): void => useErrorPages(app, options as unknown as ErrorPagesOptions);
    expect(attempt).toThrow(InvalidOptionError);
    expect(attempt).toThrow(message);
    expect((() => {
      try {
        attempt();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return undefined;
    })()).toBe('LC_INVALID_OPTION');
  });

  it('a pageHeaders that would let a shared cache keep the page: a TypeError, as the plugin’s', () => {
    expect(() => useErrorPages(Fastify(), { pageHeaders: { 'cache-control': 'public, max-age=60' } })).toThrow(TypeError);
  });
});
