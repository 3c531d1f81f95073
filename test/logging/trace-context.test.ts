/**
 * The caller's W3C trace context (`traceparent`) on every line logged for a request, in each of the
 * five strategies: a real Fastify app built with `serverOptions` and `createLogger`, a route that
 * logs and emits a security event, driven with a valid header, each invalid form (then exactly no
 * trace field) and none. Parsing itself is tested in src/http/trace-context.test.ts.
 */
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { requestInfo } from '../../src/http/request-info.js';
import { serverOptions } from '../../src/http/server-options.js';
import { closeLogger, createLogger, flushLogger } from '../../src/ops/logging/index.js';
import type { OtlpLogRecord } from '../../src/ops/logging/otlp-format.js';
import { createMetrics, registerMetricsRoute } from '../../src/ops/metrics/index.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { rawExchange } from '../helpers/raw-http.js';
import { capture } from './capture.js';
import { waitUntil } from '../helpers/wait-until.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

interface Case {
  /** Also the request's X-Request-Id, which groups its lines. */
  readonly id: string;
  readonly traceparent?: string | string[];
  /** The trace fields every line of the request must carry; `{}`: none at all. */
  readonly fields: Partial<Record<'trace_id' | 'span_id' | 'trace_flags', string>>;
}

const traced = (flags = '01'): Case['fields'] => ({ trace_id: TRACE, span_id: PARENT, trace_flags: flags });

const CASES: readonly Case[] = [
  { id: 'valid', traceparent: VALID, fields: traced() },
  { id: 'valid-unsampled', traceparent: `00-${TRACE}-${PARENT}-00`, fields: traced('00') },
  { id: 'valid-padded', traceparent: ` \t${VALID}\t `, fields: traced() },
  { id: 'valid-future-version', traceparent: `cc-${TRACE}-${PARENT}-03-more-fields`, fields: traced('01') },
  { id: 'no-header', fields: {} },
  { id: 'tracestate-only', fields: {} },
  { id: 'empty', traceparent: '', fields: {} },
  { id: 'version-ff', traceparent: `ff-${TRACE}-${PARENT}-01`, fields: {} },
  { id: 'version-00-too-long', traceparent: `${VALID}-x`, fields: {} },
  { id: 'future-no-dash', traceparent: `cc-${TRACE}-${PARENT}-01.x`, fields: {} },
  { id: 'version-one-digit', traceparent: `0-${TRACE}-${PARENT}-01`, fields: {} },
  { id: 'uppercase-trace-id', traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01`, fields: {} },
  { id: 'uppercase-parent-id', traceparent: `00-${TRACE}-${PARENT.toUpperCase()}-01`, fields: {} },
  { id: 'uppercase-flags', traceparent: `00-${TRACE}-${PARENT}-0A`, fields: {} },
  { id: 'zero-trace-id', traceparent: `00-${'0'.repeat(32)}-${PARENT}-01`, fields: {} },
  { id: 'zero-parent-id', traceparent: `00-${TRACE}-${'0'.repeat(16)}-01`, fields: {} },
  { id: 'short-trace-id', traceparent: `00-${TRACE.slice(1)}-${PARENT}-01`, fields: {} },
  { id: 'long-parent-id', traceparent: `00-${TRACE}-${PARENT}0-01`, fields: {} },
  { id: 'bad-flags', traceparent: `00-${TRACE}-${PARENT}-0x`, fields: {} },
  { id: 'two-headers', traceparent: [VALID, VALID], fields: {} },
  { id: 'two-future-headers', traceparent: [`cc-${TRACE}-${PARENT}-01-x`, `cc-${TRACE}-${PARENT}-01`], fields: {} },
  { id: 'very-long', traceparent: `cc-${TRACE}-${PARENT}-01-${'a'.repeat(16_000)}`, fields: {} },
  { id: 'unicode', traceparent: `00-${TRACE.slice(0, 31)}\u00e9-${PARENT}-01`, fields: {} },
  { id: 'no-break-space', traceparent: `\u00a0${VALID}`, fields: {} },
];

/** The messages of the lines a request writes to `/work`, in order. */
const WORK_LINES = ['incoming request', 'working', 'refused for the test', 'request completed'];

/** A logged line reduced to what is checked: its request, message and trace fields (however spelled). */
interface Line {
  request_id?: unknown;
  msg?: unknown;
  [key: string]: unknown;
}

async function tracedApp(logger: Logger): Promise<FastifyInstance> {
  const app = Fastify(serverOptions({ loggerInstance: logger }));
  // One authz_fail per case, all from 127.0.0.1: each line is what is checked, not the flood limit.
  const events = createSecurityLogger({ logger, floodLimit: false });
  app.get('/work', async (request) => {
    request.log.info('working');
    events.emit({ event: 'authz_fail', level: 'WARN', description: 'refused for the test', request: requestInfo(request) });
    return { ok: true };
  });
  app.get('/fail', async () => {
    throw new Error('boom');
  });
  await app.ready();
  return app;
}

async function sendCases(app: FastifyInstance): Promise<void> {
  for (const c of CASES) {
    const headers: Record<string, string | string[]> = { 'x-request-id': c.id };
    if (c.traceparent !== undefined) headers['traceparent'] = c.traceparent;
    if (c.id === 'tracestate-only') headers['tracestate'] = `rojo=${PARENT}`;
    const res = await app.inject({ method: 'GET', url: '/work', headers });
    expect(res.statusCode).toBe(200);
  }
}

/** Per case: its lines' messages and trace fields, compared with what each case expects in one go. */
function expectCases(lines: readonly Line[]): void {
  const seen: Record<string, { msgs: unknown[]; fields: unknown[] }> = {};
  const wanted: typeof seen = {};
  for (const c of CASES) {
    const mine = lines.filter((l) => l.request_id === c.id);
    seen[c.id] = { msgs: mine.map((l) => l.msg), fields: mine.map(traceFieldsOf) };
    wanted[c.id] = { msgs: WORK_LINES, fields: WORK_LINES.map(() => c.fields) };
  }
  expect(seen).toEqual(wanted);
}

/** Every field of `line` but its request and message: what must be the trace fields and nothing else. */
function traceFieldsOf(line: Line): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(line)) if (key !== 'request_id' && key !== 'msg') out[key] = value;
  return out;
}

/** A JSON record reduced to a `Line`: request id, message, and any key naming trace context. */
function lineOf(record: Record<string, unknown>): Line {
  const line: Line = { request_id: record['request_id'], msg: record['msg'] };
  for (const key of Object.keys(record)) if (/trace|span/i.test(key)) line[key] = record[key];
  return line;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('trace context on request log lines, per strategy', () => {
  it('json: every line of a request with a valid traceparent carries trace_id, span_id and trace_flags; any other none', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const app = await tracedApp(logger);
    cleanups.push(() => app.close());
    await sendCases(app);
    expectCases(out.records().map(lineOf));

    // Fastify's other lines for a request carry them too: an error, a 404, a URL its router refuses.
    out.chunks.length = 0;
    for (const url of ['/fail', '/missing', '/%']) {
      await app.inject({ method: 'GET', url, headers: { 'x-request-id': `other${url.length}${url.charCodeAt(1)}`, traceparent: VALID } });
    }
    const others = out.records();
    expect(others.map((r) => r['msg'])).toEqual([
      ...['incoming request', 'boom', 'request completed'],
      ...['incoming request', 'Route GET:/missing not found', 'request completed'],
      ...['incoming request', 'request refused'],
    ]);
    for (const record of others) expect(record).toMatchObject({ trace_id: TRACE, span_id: PARENT, trace_flags: '01' });
  });

  it('traceContext: false (an OpenTelemetry SDK writes these keys itself): no trace field on any line or event, request_id still', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const app = Fastify(serverOptions({ loggerInstance: logger, traceContext: false }));
    const events = createSecurityLogger({ logger, traceContext: false });
    app.get('/work', async (request) => {
      request.log.info('working');
      events.emit({ event: 'authz_fail', level: 'WARN', description: 'refused for the test', request: requestInfo(request) });
      return { ok: true };
    });
    cleanups.push(() => app.close());
    await app.inject({ method: 'GET', url: '/work', headers: { 'x-request-id': 'off', traceparent: VALID } });
    const lines = out.records().map(lineOf);
    expect(lines).toEqual(WORK_LINES.map((msg) => ({ request_id: 'off', msg })));
    expect(() => serverOptions({ traceContext: 'no' as unknown as boolean })).toThrow('serverOptions: traceContext must be true or false');
    expect(() => createSecurityLogger({ logger, traceContext: 0 as unknown as boolean })).toThrow('createSecurityLogger: traceContext must be true or false');
  });

  it('traceContext: false holds on the separate metrics server (METRICS_PORT) too, whose lines go to the app’s logger', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const app = Fastify(serverOptions({ loggerInstance: logger, traceContext: false }));
    cleanups.push(() => app.close());
    const separate = await registerMetricsRoute(app, { metrics: createMetrics({ defaultMetrics: false }), port: 0 });
    await app.ready();
    const answer = await rawExchange(separate!.port, `GET /missing HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: metrics-off\r\ntraceparent: ${VALID}\r\nConnection: close\r\n\r\n`);
    expect(answer.split(' ')[1]).toBe('404');
    await flushLogger(logger);
    const lines = out.records().filter((r) => r['request_id'] === 'metrics-off');
    expect(lines.map((r) => r['msg'])).toContain('request completed');
    for (const line of lines) expect(Object.keys(line).filter((k) => k.startsWith('trace_') || k === 'span_id')).toEqual([]);
  });

  it('json over a real connection: optional whitespace Node strips is fine, two traceparent field lines are not', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const app = await tracedApp(logger);
    cleanups.push(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const request = (id: string, ...traceparents: string[]): string =>
      `GET /work HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: ${id}\r\n${traceparents.map((t) => `traceparent:${t}\r\n`).join('')}\r\n`;
    expect(await rawExchange(port, request('raw-padded', ` \t${VALID} \t`))).toMatch(/^HTTP\/1\.1 200 /);
    expect(await rawExchange(port, request('raw-twice', ` ${VALID}`, ` ${VALID}`))).toMatch(/^HTTP\/1\.1 200 /);
    expect(await rawExchange(port, request('raw-upper-name', ` ${VALID}`).replace('traceparent:', 'TraceParent:'))).toMatch(/^HTTP\/1\.1 200 /);
    const fieldsOf = (id: string): unknown[] => out.records().filter((r) => r['request_id'] === id).map((r) => traceFieldsOf(lineOf(r)));
    expect(fieldsOf('raw-padded')).toEqual(WORK_LINES.map(() => traced()));
    expect(fieldsOf('raw-twice')).toEqual(WORK_LINES.map(() => ({})));
    expect(fieldsOf('raw-upper-name')).toEqual(WORK_LINES.map(() => traced()));
  });

  it('pretty: the fields are shown on each line of the request, and on no other', async () => {
    const out = capture();
    const logger = createLogger({ format: 'pretty', stream: out });
    const app = await tracedApp(logger);
    cleanups.push(() => app.close());
    await sendCases(app);
    // pino-pretty: `[time] LEVEL: msg`, then the fields indented by four spaces, strings as JSON.
    const lines = out
      .text()
      .split(/\n(?=\[)/)
      .map((block): Line => {
        const line: Line = { msg: /^\[[^\]]+\] [A-Z]+: (.*)$/m.exec(block)?.[1] };
        for (const [, key = '', value = ''] of block.matchAll(/^ {4}(\w+): (.*)$/gm)) {
          if (key === 'request_id' || /trace|span/i.test(key)) line[key] = JSON.parse(value) as unknown;
        }
        return line;
      });
    expectCases(lines);
  });

  it('file: the JSON lines in the file carry them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-log-trace-'));
    const logger = createLogger({ destination: `file:${join(dir, 'app.log')}` });
    const app = await tracedApp(logger);
    await sendCases(app);
    await app.close();
    await closeLogger(logger);
    const text = readdirSync(dir)
      .filter((name) => !lstatSync(join(dir, name)).isSymbolicLink())
      .map((name) => readFileSync(join(dir, name), 'utf8'))
      .join('');
    const records = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expectCases(records.map(lineOf));
  });

  it('syslog: MSG, the JSON record, carries them (STRUCTURED-DATA stays "-")', async () => {
    const messages: string[] = [];
    const sockets: Socket[] = [];
    const server = createTcpServer((socket) => {
      sockets.push(socket);
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (let space = buffer.indexOf(0x20); space !== -1; space = buffer.indexOf(0x20)) {
          const end = space + 1 + Number(buffer.subarray(0, space).toString('ascii'));
          if (buffer.length < end) break;
          messages.push(buffer.subarray(space + 1, end).toString('utf8'));
          buffer = buffer.subarray(end);
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((done) => (sockets.forEach((s) => s.destroy()), server.close(() => done()))));

    const logger = createLogger({ destination: `syslog:tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, syslog: { hostname: 'web-1' } });
    const app = await tracedApp(logger);
    await sendCases(app);
    await app.close();
    await flushLogger(logger);
    const expected = CASES.length * WORK_LINES.length;
    await waitUntil(`${expected} messages at the collector`, () => messages.length >= expected, { seen: () => messages.length });
    await closeLogger(logger);

    const parsed = messages.map((m) => {
      const match = /^<\d+>1 \S+ web-1 livecomponents \d+ (\S+) (\S+) (\{.*\})$/s.exec(m);
      if (!match) throw new Error(`not an RFC 5424 message: ${m}`);
      return { msgId: match[1], sd: match[2], record: JSON.parse(match[3] as string) as Record<string, unknown> };
    });
    expect(new Set(parsed.map((p) => p.sd))).toEqual(new Set(['-']));
    expect(parsed.filter((p) => p.msgId === 'authz_fail')).toHaveLength(CASES.length);
    expectCases(parsed.map((p) => lineOf(p.record)));
  });

  it('otlp: the LogRecord\'s traceId, spanId and flags, and no attribute of them', async () => {
    const bodies: { resourceLogs: { scopeLogs: { logRecords: OtlpLogRecord[] }[] }[] }[] = [];
    const collector: Server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as (typeof bodies)[number]);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    cleanups.push(() => new Promise<void>((done) => collector.close(() => done())));

    const logger = createLogger({ destination: `otlp:http://127.0.0.1:${(collector.address() as AddressInfo).port}`, otlp: { intervalMs: 60_000 } });
    const app = await tracedApp(logger);
    await sendCases(app);
    await app.close();
    await closeLogger(logger);

    const records = bodies.flatMap((b) => b.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((s) => s.logRecords)));
    const lines = records.map((r): Line => {
      const attrs = new Map(r.attributes.map((a) => [a.key, a.value]));
      const line: Line = { request_id: (attrs.get('request_id') as { stringValue?: string } | undefined)?.stringValue, msg: (r.body as { stringValue: string }).stringValue };
      // The record's own fields, spelled as the log fields so one expectation serves every strategy.
      if (r.traceId !== undefined) line['trace_id'] = r.traceId;
      if (r.spanId !== undefined) line['span_id'] = r.spanId;
      if (r.flags !== undefined) line['trace_flags'] = r.flags.toString(16).padStart(2, '0');
      // Any attribute about trace context would be a duplicate (or a field that did not move).
      for (const key of attrs.keys()) if (/trace|span/i.test(key)) line[`attribute ${key}`] = attrs.get(key);
      return line;
    });
    expectCases(lines);
    // The number itself: the W3C flags in the 8 low bits.
    expect(records.find((r) => r.traceId !== undefined && r.body && (r.body as { stringValue: string }).stringValue === 'working')?.flags).toBe(1);
  });
});
