/**
 * Two requests Node used to answer itself with a bare status — an HTTP/1.1 request without `Host`
 * (400) and an `Expect` other than `100-continue` (417) — answer in PROTOCOL's error shape like every
 * other refusal (400 `INVALID_REQUEST`, `request_id` in the body and `X-Request-Id`), reach no route,
 * and are counted by the HTTP metrics as refusals.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { onUnroutedAnswer, serverOptions, type UnroutedAnswer } from '../../src/http/server-options.js';
import { createMetrics, METRIC_NAMES, registerHttpMetrics, type Metrics } from '../../src/ops/metrics/index.js';
import { rawExchange } from '../helpers/raw-http.js';

let app: FastifyInstance;
let metrics: Metrics;
let port = 0;
const handled: string[] = [];
const refusals: UnroutedAnswer[] = [];

beforeAll(async () => {
  app = Fastify(serverOptions());
  metrics = createMetrics({ defaultMetrics: false });
  registerHttpMetrics(app, metrics);
  onUnroutedAnswer(app, (refusal) => refusals.push(refusal));
  app.get('/', async () => {
    handled.push('GET /');
    return 'ok';
  });
  app.get('/slow', async () => {
    handled.push('GET /slow');
    await new Promise((resolve) => setTimeout(resolve, 50));
    return 'slow';
  });
  app.post('/echo', async (request) => {
    handled.push('POST /echo');
    return request.body;
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
afterAll(() => app?.close());
beforeEach(() => {
  handled.length = 0;
  refusals.length = 0;
  metrics.registry.resetMetrics();
});

/** Every answer in `text` (several on a kept-alive connection), with headers and body. */
function answers(text: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length'] ?? 0);
    out.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  expect(rest).toBe('');
  return out;
}

async function counts(): Promise<Record<string, number>> {
  const values = (await metrics.registry.getSingleMetric(METRIC_NAMES.httpRequests)!.get()).values;
  return Object.fromEntries(values.map((v) => [`${String(v.labels.method)} ${String(v.labels.route)} ${String(v.labels.status_code)}`, v.value]));
}

function expectRefusal(answer: { status: number; headers: Record<string, string>; body: string }, error: string): void {
  expect(answer.status).toBe(400);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(answer.headers['connection']).toBe('close');
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(body).toEqual({ error, code: 'INVALID_REQUEST', request_id: answer.headers['x-request-id'] });
  expect(answer.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,64}$/);
}

const NO_HOST = 'An HTTP/1.1 request needs a Host header.';
const BAD_EXPECT = 'The Expect header asks for something this server does not do.';

describe('an HTTP/1.1 request without Host', () => {
  it('400 INVALID_REQUEST in the error shape, the connection closed, no route run, counted once as a refusal', async () => {
    const [answer, ...more] = answers(await rawExchange(port, 'GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n'));
    expect(more).toEqual([]);
    expectRefusal(answer!, NO_HOST);
    expect(handled).toEqual([]);
    expect(refusals).toEqual([{ method: 'GET', statusCode: 400, closedConnection: null }]);
    expect(await counts()).toEqual({ 'GET unmatched 400': 1 });
  });

  it('keeps a plain incoming X-Request-Id, as for any request', async () => {
    const [answer] = answers(await rawExchange(port, 'POST /echo HTTP/1.1\r\nX-Request-Id: probe-42\r\nContent-Length: 2\r\n\r\n{}'));
    expectRefusal(answer!, NO_HOST);
    expect(answer!.headers['x-request-id']).toBe('probe-42');
    expect(handled).toEqual([]);
  });

  it('after an answered request on the same connection: the first is served, the second refused and the connection closed', async () => {
    const text = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n');
    const [first, second, ...more] = answers(text);
    expect(first!.status).toBe(200);
    expectRefusal(second!, NO_HOST);
    expect(more).toEqual([]);
    expect(handled).toEqual(['GET /']);
    expect(await counts()).toEqual({ 'GET / 200': 1, 'GET unmatched 400': 1 });
  });

  it('HTTP/1.0 needs no Host: served', async () => {
    const [answer] = answers(await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n'));
    expect(answer!.status).toBe(200);
    expect(handled).toEqual(['GET /']);
    expect(refusals).toEqual([]);
  });
});

describe('an Expect other than 100-continue', () => {
  it('400 INVALID_REQUEST in the error shape (Node answered a bare 417), the body unread, counted once as a refusal', async () => {
    const [answer, ...more] = answers(
      await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'),
    );
    expect(more).toEqual([]);
    expectRefusal(answer!, BAD_EXPECT);
    expect(handled).toEqual([]);
    expect(refusals).toEqual([{ method: 'POST', statusCode: 400, closedConnection: null }]);
    expect(await counts()).toEqual({ 'POST unmatched 400': 1 });
  });

  it('a request pipelined behind the refused one is not run (its answer could never reach the client)', async () => {
    const next = 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    const [answer, ...more] = answers(await rawExchange(port, `POST /echo HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 0\r\n\r\n${next}`));
    expect(more).toEqual([]);
    expectRefusal(answer!, BAD_EXPECT);
    // Before, the second ran (its side effects happened) and was counted as a 200 nobody received.
    expect(handled).toEqual([]);
    expect(await counts()).toEqual({ 'POST unmatched 400': 1 });
  });

  it('100-continue still works: 100 Continue, then the answer', async () => {
    const text = await rawExchange(
      port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}',
    );
    expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text.endsWith('{"a":1}')).toBe(true);
    expect(handled).toEqual(['POST /echo']);
    expect(await counts()).toEqual({ 'POST /echo 200': 1 });
  });
});

describe('a malformed request pipelined behind a good one', () => {
  // Node's parser refuses the second while the first is still being answered; answering the refusal at
  // once (and closing) threw the first's answer away although its route ran: the client could not
  // tell whether it had.
  it.each(['/', '/slow'])('GET %s is answered first, then the refusal, and the connection closes', async (path) => {
    const [first, second, ...more] = answers(await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n`));
    expect(more).toEqual([]);
    expect(first!.status).toBe(200);
    expect(first!.body).toBe(path === '/' ? 'ok' : 'slow');
    expect(second!.status).toBe(400);
    expect((JSON.parse(second!.body) as { code: string }).code).toBe('INVALID_REQUEST');
    expect(second!.headers['connection']).toBe('close');
    expect(handled).toEqual([`GET ${path}`]);
    expect(await counts()).toEqual({ [`GET ${path} 200`]: 1, 'OTHER unmatched 400': 1 });
    expect(refusals).toEqual([expect.objectContaining({ method: null, statusCode: 400 })]);
  });

  it('two good requests before the malformed one: both answered in order, then the refusal', async () => {
    const good = 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n';
    const [a, b, c, ...more] = answers(await rawExchange(port, `${good}${good}GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n`));
    expect(more).toEqual([]);
    expect([a!.status, b!.status, c!.status]).toEqual([200, 200, 400]);
    expect(handled).toEqual(['GET /slow', 'GET /slow']);
  });
});

describe('a request target that is not a path', () => {
  const NOT_A_PATH = 'The request target must be a path beginning with "/".';

  it.each(['GET *', 'GET *metrics', 'POST *echo', 'GET metrics:80', 'GET ftp://x/'])('%s: 400 INVALID_REQUEST, no route run (the router served it as if it began with /)', async (line) => {
    const [answer, ...more] = answers(await rawExchange(port, `${line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`));
    expect(more).toEqual([]);
    // Node's parser refuses some targets itself (same shape, its own sentence).
    expect(answer!.status).toBe(400);
    expect((JSON.parse(answer!.body) as { code: string }).code).toBe('INVALID_REQUEST');
    expect(answer!.headers['connection']).toBe('close');
    expect(handled).toEqual([]);
    expect(refusals).toHaveLength(1);
  });

  it('GET * and POST *echo are refused by the server, counted as refusals', async () => {
    const [get] = answers(await rawExchange(port, 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    expectRefusal(get!, NOT_A_PATH);
    const [post] = answers(await rawExchange(port, 'POST *echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
    expectRefusal(post!, NOT_A_PATH);
    expect(handled).toEqual([]);
    expect(refusals).toEqual([
      { method: 'GET', statusCode: 400, closedConnection: null },
      { method: 'POST', statusCode: 400, closedConnection: null },
    ]);
    expect(await counts()).toEqual({ 'GET unmatched 400': 1, 'POST unmatched 400': 1 });
  });

  it('OPTIONS *: 204 with Allow naming the methods routes may have, the connection kept', async () => {
    const [answer, next, ...more] = answers(await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Request-Id: probe-7\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    expect(more).toEqual([]);
    expect(answer!.status).toBe(204);
    expect(answer!.headers['allow']).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(answer!.headers['x-request-id']).toBe('probe-7');
    expect(answer!.headers['connection']).toBe('keep-alive');
    expect(next!.status).toBe(200);
    expect(handled).toEqual(['GET /']);
    // Answered out of the app's reach, and counted all the same.
    expect(refusals).toEqual([{ method: 'OPTIONS', statusCode: 204, closedConnection: null }]);
    expect(await counts()).toEqual({ 'OPTIONS unmatched 204': 1, 'GET / 200': 1 });
  });

  it('absolute-form (RFC 9112 §3.2.2, which servers must accept): routed by its path, the app sees origin-form and the authority as host', async () => {
    const seen: string[] = [];
    const probe = Fastify(serverOptions());
    probe.get('/where', async (request) => {
      seen.push(`${request.url} ${request.host}`);
      return 'ok';
    });
    probe.get('/', async (request) => {
      seen.push(`${request.url} ${request.host}`);
      return 'ok';
    });
    await probe.listen({ port: 0, host: '127.0.0.1' });
    try {
      const probePort = (probe.server.address() as { port: number }).port;
      const [a] = answers(await rawExchange(probePort, 'GET http://app.example:8080/where?x=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n'));
      const [b] = answers(await rawExchange(probePort, 'GET HTTPS://[::1]?y HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n'));
      const [c] = answers(await rawExchange(probePort, 'GET http://a b@c/where HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n'));
      const [d] = answers(await rawExchange(probePort, 'GET http://user@c/where HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n'));
      expect([a!.status, b!.status, c!.status, d!.status]).toEqual([200, 200, 400, 400]);
      expect(seen).toEqual(['/where?x=1 app.example:8080', '/?y [::1]']);
    } finally {
      await probe.close();
    }
  });
});

describe('Host (RFC 9112 §3.2: 400 for more than one, or an invalid value)', () => {
  it.each([
    ['two Host lines', 'Host: x\r\nHost: y', 'A request may carry only one Host header.'],
    ['two Host lines, differently cased, same value', 'Host: x\r\nhOsT: x', 'A request may carry only one Host header.'],
    ['a space and a slash in it', 'Host: a/b c', 'The Host header is not a valid host[:port].'],
    ['userinfo', 'Host: user@x', 'The Host header is not a valid host[:port].'],
    ['a port that is no number', 'Host: x:http', 'The Host header is not a valid host[:port].'],
    ['an unclosed IPv6 literal', 'Host: [::1', 'The Host header is not a valid host[:port].'],
  ])('%s: 400 INVALID_REQUEST, no route run, counted as a refusal', async (_what, lines, error) => {
    const [answer, ...more] = answers(await rawExchange(port, `GET / HTTP/1.1\r\n${lines}\r\nConnection: keep-alive\r\n\r\n`));
    expect(more).toEqual([]);
    expectRefusal(answer!, error);
    expect(handled).toEqual([]);
    expect(refusals).toEqual([{ method: 'GET', statusCode: 400, closedConnection: null }]);
    expect(await counts()).toEqual({ 'GET unmatched 400': 1 });
  });

  it('an HTTP/1.0 request with an invalid Host is refused too', async () => {
    const [answer] = answers(await rawExchange(port, 'GET / HTTP/1.0\r\nHost: a b\r\n\r\n'));
    expectRefusal(answer!, 'The Host header is not a valid host[:port].');
  });

  it.each(['x', 'app.example.com:8443', '127.0.0.1:80', '[::1]:3000', '[v1.fe]', 'xn--bcher-kva.example', 'a%2Db', 'x:', ''])('Host: %s is served', async (host) => {
    const [answer] = answers(await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    expect(answer!.status).toBe(200);
    expect(handled).toEqual(['GET /']);
  });
});

describe('CONNECT (Node closed the socket without a word)', () => {
  it('405 METHOD_NOT_ALLOWED in the error shape, with Allow and X-Request-Id, the connection closed, counted as a refusal', async () => {
    const [answer, ...more] = answers(await rawExchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Request-Id: tunnel-1\r\n\r\n'));
    expect(more).toEqual([]);
    expect(answer!.status).toBe(405);
    expect(answer!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer!.headers['connection']).toBe('close');
    expect(answer!.headers['allow']).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(answer!.headers['x-request-id']).toBe('tunnel-1');
    expect(JSON.parse(answer!.body)).toEqual({ error: 'This method is not allowed here.', code: 'METHOD_NOT_ALLOWED', request_id: 'tunnel-1' });
    expect(handled).toEqual([]);
    expect(refusals).toEqual([{ method: 'CONNECT', statusCode: 405, closedConnection: null }]);
    expect(await counts()).toEqual({ 'OTHER unmatched 405': 1 });
  });

  it('bytes sent after it (the tunnel it asked for) are not read as a request', async () => {
    const [answer, ...more] = answers(await rawExchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(answer!.status).toBe(405);
    expect(more).toEqual([]);
    expect(handled).toEqual([]);
  });
});
