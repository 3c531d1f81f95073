/**
 * deploy/nginx/livecomponents.conf.template's own answers when no instance does: a real nginx with the
 * shipped site (rendered as nginx.test.ts renders it) in front of upstreams that are down (nothing
 * listens: nginx's 502), that accept and never answer (nginx's 504), or that read the request and close
 * the connection (nginx's 502). Nothing reached an instance: the app's error shape (PROTOCOL §3), 503
 * `SERVICE_UNAVAILABLE` with `Retry-After`. The request reached one (the action may have run): the
 * status stays 504 or 502, in JSON without a `code`, which the browser runtime (client/transport.ts,
 * run on the reply) reports as an unknown outcome, not as a refusal before anything ran. Always never
 * cached, with the security headers of the app's answers — not nginx's HTML page without them. An
 * answer the app itself gives (its own 503 or 502) passes through as it is. No app, Redis or database needed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, type SendResult } from '../../client/transport.js';
import { ERROR_CODES } from '../../src/core/errors.js';
import { httpsCall, mainConfig, renderSite, startChild, waitForPort, type Child, type Reply } from './nginx-harness.js';
import { freePort, haveTool, readDeploy, run } from './tools.js';

const HAVE_TOOLS =
  haveTool('nginx', '-v', 'apt-get install nginx', 'the nginx error-page test') && haveTool('openssl', 'version', 'apt-get install openssl', 'the nginx error-page test (it makes its TLS certificate)');

const SERVER_NAME = 'localhost';
/** The shipped proxy_read_timeout, and the one the slow site uses so that its 504 comes within a second. */
const SHIPPED_READ_TIMEOUT = /^(\s*)proxy_read_timeout 30s;$/;

/** What the browser runtime (client/transport.ts) makes of `reply` as the answer to an action, sent once. */
async function clientResult(reply: Reply): Promise<SendResult> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(reply.headers)) if (typeof value === 'string') headers.set(name, value);
  const transport = createTransport({
    fetch: async () => new Response(reply.body, { status: reply.status, headers }),
    sleep: async () => {},
    newKey: () => 'key',
    csrf: { get: () => 'token', set: () => {} },
  });
  return transport.send('counter:main', 'increment', {});
}

/** The headers every nginx-made 503 carries, exactly (HSTS as the server sets it). */
const UNAVAILABLE_HEADERS = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'strict-transport-security': 'max-age=63072000',
  'content-security-policy': "default-src 'none'; base-uri 'self'; frame-ancestors 'self'",
  'x-frame-options': 'SAMEORIGIN',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'retry-after': '5',
};

describe.skipIf(!HAVE_TOOLS)("nginx's own answers when no instance answers", () => {
  let dir: string;
  let cert: string;
  let certPath: string;
  let keyPath: string;
  const children: Child[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lc-nginx-errors-'));
    certPath = join(dir, 'cert.pem');
    keyPath = join(dir, 'key.pem');
    const made = run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${SERVER_NAME}`,
      '-addext', `subjectAltName=DNS:${SERVER_NAME}`, '-keyout', keyPath, '-out', certPath,
    ]); // prettier-ignore
    if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
    cert = readFileSync(certPath, 'utf8');
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(children.map((c) => c.stop()));
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The shipped site in front of `upstreams`, in a folder of its own; `edit` changes the rendered text (asserted by the caller). Checked with `nginx -t`, then started. */
  async function site(name: string, upstreams: readonly [string, string], edit: (text: string) => string = (t) => t) {
    const siteDir = join(dir, name);
    const values = { serverName: SERVER_NAME, cert: certPath, key: keyPath, upstreams, httpsPort: await freePort(), httpPort: await freePort() };
    run('mkdir', ['-p', siteDir]);
    writeFileSync(join(siteDir, 'livecomponents.conf'), edit(renderSite(readDeploy('nginx/livecomponents.conf.template'), values)));
    writeFileSync(join(siteDir, 'nginx.conf'), mainConfig(siteDir, join(siteDir, 'livecomponents.conf')));
    const conf = ['-p', `${siteDir}/`, '-e', join(siteDir, 'error.log'), '-c', join(siteDir, 'nginx.conf')];
    const checked = run('nginx', ['-t', ...conf]);
    expect(checked.status, checked.stderr).toBe(0);
    const nginx = startChild(`nginx (${name})`, 'nginx', [...conf, '-g', 'daemon off;'], { cwd: siteDir, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin' } });
    children.push(nginx);
    await waitForPort(values.httpsPort, nginx);
    return {
      get: (path: string) => httpsCall(values.httpsPort, SERVER_NAME, cert, { path }),
      action: () =>
        httpsCall(values.httpsPort, SERVER_NAME, cert, {
          method: 'POST',
          path: '/api/livecomponents/action',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
        }),
      errorLog: () => readFileSync(join(siteDir, 'error.log'), 'utf8'),
    };
  }

  /** `reply` is nginx's 503 in the app's error shape, with exactly the expected headers; its request id is returned. */
  function expectUnavailable(reply: Reply): string {
    expect(reply.status, reply.body).toBe(503);
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error', 'code', 'request_id']);
    expect(body.error).toBe(ERROR_CODES.SERVICE_UNAVAILABLE.message);
    expect(body.code).toBe('SERVICE_UNAVAILABLE');
    expect(body.request_id).toMatch(/^[0-9a-f]{32}$/);
    expect(reply.headers['x-request-id']).toBe(body.request_id);
    const headers = Object.fromEntries(Object.keys(UNAVAILABLE_HEADERS).map((name) => [name, reply.headers[name]]));
    expect(headers).toEqual(UNAVAILABLE_HEADERS);
    expect(reply.body.endsWith('\n')).toBe(true);
    return body.request_id as string;
  }

  /**
   * `reply` is nginx's `status` (502, 504) after the request reached an instance: a JSON body without
   * `code` saying it may have run, the same headers as the 503, and the browser runtime reports the
   * outcome unknown (not a refusal before anything ran, which the user would answer with a second click).
   */
  async function expectUnanswered(reply: Reply, status: number): Promise<void> {
    expect(reply.status, reply.body).toBe(status);
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['error', 'request_id']);
    expect(body.error).toMatch(/the request may have been carried out\.$/);
    expect(body.request_id).toMatch(/^[0-9a-f]{32}$/);
    expect(reply.headers['x-request-id']).toBe(body.request_id);
    const headers = Object.fromEntries(Object.keys(UNAVAILABLE_HEADERS).map((name) => [name, reply.headers[name]]));
    expect(headers).toEqual(UNAVAILABLE_HEADERS);
    const result = await clientResult(reply);
    expect(result.type === 'error' ? [result.error.status, result.error.code, result.error.outcomeUnknown] : result).toEqual([status, 'INVALID_RESPONSE', true]);
  }

  /** Upstreams that answer 503 and 502 themselves: those answers pass through nginx as they are (proxy_intercept_errors stays off). */
  async function expectAppAnswersPass(): Promise<void> {
    const answers = [
      { status: 503, body: '{"error":"A store is down.","code":"SERVICE_UNAVAILABLE","request_id":"from-the-app"}', retryAfter: '2' },
      { status: 502, body: 'the app said 502' },
    ];
    const ports = [await freePort(), await freePort()] as const;
    for (const [i, port] of ports.entries()) {
      const answer = answers[i] as (typeof answers)[number];
      const app = createHttpServer((_req, res) => {
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...(answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter }) });
        res.end(answer.body);
      });
      await new Promise<void>((resolve) => app.listen(port, '127.0.0.1', resolve));
      servers.push(app);
    }
    const up = await site('up', [`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
    // least_conn with no connection open: requests alternate; collect until both have answered.
    const seen = new Map<number, Reply>();
    for (let i = 0; i < 6 && seen.size < 2; i++) {
      const reply = await up.get('/');
      seen.set(reply.status, reply);
    }
    expect([...seen.keys()].sort()).toEqual([502, 503]);
    const own503 = seen.get(503) as Reply;
    expect([own503.body, own503.headers['content-type'], own503.headers['retry-after'], own503.headers['content-security-policy']]).toEqual([answers[0]?.body, 'text/plain', '2', undefined]);
    const own502 = seen.get(502) as Reply;
    expect([own502.body, own502.headers['content-type']]).toEqual(['the app said 502', 'text/plain']);
  }

  it('both upstreams down (nothing listens; nginx would answer 502): a page and an action get 503 SERVICE_UNAVAILABLE, headers exact; the app\'s own 503 and 502 pass as they are', async () => {
    const down = await site('down', [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`]);
    const refused = await down.action();
    const ids = [expectUnavailable(await down.get('/')), expectUnavailable(refused), expectUnavailable(await down.get('/payment'))];
    // Nothing reached an instance: the runtime reads the app's own refusal, the action did not run.
    const result = await clientResult(refused);
    expect(result.type === 'error' ? [result.error.status, result.error.code, result.error.outcomeUnknown, result.error.retry_after] : result).toEqual([503, 'SERVICE_UNAVAILABLE', undefined, 5]);
    // The failed servers are now marked failed (max_fails): nginx's "no live upstreams" 502 gets the same answer.
    expect(new Set(ids).size).toBe(3);
    expect(down.errorLog()).toMatch(/connect\(\) failed \(111: Connection refused\)/);
    // Only nginx's own: the app's 503 and 502 go out as the app wrote them.
    await expectAppAnswersPass();
  });

  it('both upstreams accept and never answer (nginx\'s 504 past proxy_read_timeout): the request reached the app, so 504 in JSON without a code, headers exact, and the runtime reports the outcome unknown', async () => {
    const ports = [await freePort(), await freePort()] as const;
    for (const port of ports) {
      const silent = createTcpServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
      servers.push(silent as unknown as Server);
    }
    // Test-only: a 1 s read timeout instead of the shipped 30 s, replaced exactly once.
    const slow = await site('slow', [`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`], (text) => {
      const found = text.match(new RegExp(SHIPPED_READ_TIMEOUT.source, 'gm'))?.length ?? 0;
      if (found !== 1) throw new Error(`expected one "proxy_read_timeout 30s;" in the nginx template, found ${found}`);
      return text.replace(new RegExp(SHIPPED_READ_TIMEOUT.source, 'm'), '$1proxy_read_timeout 1s;');
    });
    await expectUnanswered(await slow.get('/'), 504);
    await expectUnanswered(await slow.action(), 504);
    expect(slow.errorLog()).toMatch(/upstream timed out \(110: Connection timed out\) while reading response header from upstream/);
  });

  it('both upstreams read the request and close the connection (an instance crashing mid-action; nginx\'s 502): 502 in JSON without a code, and the runtime reports the outcome unknown', async () => {
    const ports = [await freePort(), await freePort()] as const;
    for (const port of ports) {
      const crashing = createTcpServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
        socket.once('data', () => socket.destroy());
      });
      await new Promise<void>((resolve) => crashing.listen(port, '127.0.0.1', resolve));
      servers.push(crashing as unknown as Server);
    }
    const broken = await site('broken', [`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
    await expectUnanswered(await broken.action(), 502);
    await expectUnanswered(await broken.get('/'), 502);
    expect(broken.errorLog()).toMatch(/upstream prematurely closed connection while reading response header from upstream/);
  });

  it('an instance that ran the action and answered with headers over proxy_buffer_size (nginx\'s 502 "too big header"): 502 in JSON without a code, the outcome unknown', async () => {
    const ports = [await freePort(), await freePort()] as const;
    let answered = 0;
    for (const port of ports) {
      const app = createHttpServer((req, res) => {
        req.resume();
        req.on('end', () => {
          answered++;
          res.writeHead(200, { 'content-type': 'application/json', 'x-padding': 'p'.repeat(20_000) });
          res.end('{"html":"<div></div>","state":{}}');
        });
      });
      await new Promise<void>((resolve) => app.listen(port, '127.0.0.1', resolve));
      servers.push(app);
    }
    const big = await site('big-header', [`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
    await expectUnanswered(await big.action(), 502);
    // The POST went to one instance only, which ran it (nginx never resends a POST it sent).
    expect(answered).toBe(1);
    expect(big.errorLog()).toMatch(/upstream sent too big header while reading response header from upstream/);
  });
});
