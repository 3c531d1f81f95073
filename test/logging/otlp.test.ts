import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeLogger, createLogger, droppedLogRecords, flushLogger } from '../../src/ops/logging/index.js';
import type { KeyValue, OtlpLogRecord } from '../../src/ops/logging/otlp-format.js';

interface ExportBody {
  resourceLogs: { resource: { attributes: KeyValue[] }; scopeLogs: { scope: { name: string }; logRecords: OtlpLogRecord[] }[] }[];
}

interface Collector {
  url: string;
  requests: { path: string; contentType: string | undefined; authorization?: string | undefined; body: ExportBody }[];
  /** Status answered to each request, in order; 200 once the list is used up. */
  statuses: number[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((done) => s.close(() => done()));
});

async function collector(statuses: number[] = [], answer = '{}'): Promise<Collector> {
  const c: Collector = { url: '', requests: [], statuses };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      c.requests.push({ path: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportBody });
      res.writeHead(c.statuses.shift() ?? 200, { 'content-type': 'application/json' }).end(answer);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return c;
}

/** A collector that accepts connections and reads requests, and never answers one. */
async function hungCollector(): Promise<{ url: string; posts: () => number; close: () => Promise<void> }> {
  const hung = createServer(() => undefined);
  hung.listen(0, '127.0.0.1');
  await once(hung, 'listening');
  let posts = 0;
  hung.on('request', () => posts++);
  return {
    url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`,
    posts: () => posts,
    close: () => {
      hung.closeAllConnections();
      return new Promise<void>((done) => hung.close(() => done()));
    },
  };
}

const records = (c: Collector): OtlpLogRecord[] => c.requests.flatMap((r) => r.body.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((s) => s.logRecords)));
const attr = (r: OtlpLogRecord | undefined, key: string): unknown => r?.attributes.find((a) => a.key === key)?.value;

describe('OTLP/HTTP JSON export', () => {
  it('POSTs batches of maxBatch to /v1/logs and the remainder on close', async () => {
    const c = await collector();
    const logger = createLogger({ destination: `otlp:${c.url}`, appName: 'shop', otlp: { maxBatch: 3, intervalMs: 60_000 } });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    logger.child({ request_id: 'req-1' }).info({ trace_id: traceId, span_id: '00f067aa0ba902b7', user: { id: 7, roles: ['admin'] } }, 'served');
    logger.warn({ ratio: 0.5, ok: true }, 'slow');
    logger.error({ err: new Error('boom') }, 'failed');
    for (let i = 0; i < 4; i++) logger.info(`line ${i}`);
    await closeLogger(logger);

    expect(c.requests.map((r) => r.body.resourceLogs[0]?.scopeLogs[0]?.logRecords.length)).toEqual([3, 3, 1]);
    expect(c.requests.every((r) => r.path === '/v1/logs' && r.contentType === 'application/json')).toBe(true);
    const first = c.requests[0]?.body.resourceLogs[0];
    expect(first?.resource.attributes).toEqual([
      { key: 'service.name', value: { stringValue: 'shop' } },
      { key: 'host.name', value: { stringValue: expect.any(String) } },
      { key: 'process.pid', value: { intValue: String(process.pid) } },
    ]);
    expect(first?.scopeLogs[0]?.scope).toEqual({ name: 'livecomponents' });

    const all = records(c);
    expect(all).toHaveLength(7);
    expect(all.map((r) => [r.severityNumber, r.severityText])).toEqual([[9, 'INFO'], [13, 'WARN'], [17, 'ERROR'], [9, 'INFO'], [9, 'INFO'], [9, 'INFO'], [9, 'INFO']]);
    expect(all.map((r) => r.body)).toEqual(['served', 'slow', 'failed', 'line 0', 'line 1', 'line 2', 'line 3'].map((s) => ({ stringValue: s })));
    const served = all[0];
    expect(served?.traceId).toBe(traceId);
    expect(served?.spanId).toBe('00f067aa0ba902b7');
    expect(served?.timeUnixNano).toMatch(/^\d{19}$/);
    expect(served?.attributes.map((a) => a.key)).toEqual(['request_id', 'user']);
    expect(attr(served, 'request_id')).toEqual({ stringValue: 'req-1' });
    expect(attr(served, 'user')).toEqual({
      kvlistValue: { values: [{ key: 'id', value: { intValue: '7' } }, { key: 'roles', value: { arrayValue: { values: [{ stringValue: 'admin' }] } } }] },
    });
    expect(attr(all[1], 'ratio')).toEqual({ doubleValue: 0.5 });
    expect(attr(all[1], 'ok')).toEqual({ boolValue: true });
    expect(all[1]?.traceId).toBeUndefined();
    expect(attr(all[2], 'err')).toMatchObject({ kvlistValue: { values: expect.arrayContaining([{ key: 'message', value: { stringValue: 'boom' } }]) } });
  });

  it('keeps records through a retryable failure and delivers each exactly once', async () => {
    const c = await collector([503]);
    const errors: Error[] = [];
    const logger = createLogger({ destination: `otlp:${c.url}`, otlp: { maxBatch: 2, intervalMs: 60_000 }, onError: (e) => errors.push(e) });
    logger.info('a');
    logger.info('b'); // reaches maxBatch: a POST that gets 503, so a and b stay queued
    await flushLogger(logger); // runs after that POST, and retries
    logger.info('c');
    await closeLogger(logger);
    expect(c.requests.map((r) => records({ ...c, requests: [r] }).map((x) => x.body))).toEqual([
      [{ stringValue: 'a' }, { stringValue: 'b' }],
      [{ stringValue: 'a' }, { stringValue: 'b' }],
      [{ stringValue: 'c' }],
    ]);
    expect(errors.map((e) => e.message)).toEqual([`otlp ${c.url}/v1/logs: HTTP 503`]);
  });

  it('fails a flush while the collector keeps answering 503, and does not try again at close', async () => {
    const c = await collector([503, 503]);
    const logger = createLogger({ destination: `otlp:${c.url}`, otlp: { intervalMs: 60_000 }, onError: () => undefined });
    logger.info('a');
    await expect(flushLogger(logger)).rejects.toThrow(`otlp ${c.url}/v1/logs: records still queued`);
    await closeLogger(logger);
    // The last attempt failed and could be retried: the collector is down, and a retry at close could
    // wait a whole timeout, past the shutdown's grace period. The record counts as dropped.
    expect(c.requests).toHaveLength(1);
    expect(droppedLogRecords(logger)).toBe(1);
  });

  it('a collector that never answers: one POST at a time, no retries piling up, and close does not wait for more', async () => {
    const { url, posts, close: closeHung } = await hungCollector();
    const logger = createLogger({ destination: `otlp:${url}`, otlp: { intervalMs: 5, timeoutMs: 400 }, onError: () => undefined });
    try {
      logger.info('a');
      // ~200 ticks pass during the first POST's timeout; before, each queued one more drain behind it.
      await new Promise((r) => setTimeout(r, 1_000));
      // A drain starts a POST only once the previous one timed out: at most 3 in 1 s with a 400 ms timeout.
      expect(posts()).toBeGreaterThanOrEqual(2);
      expect(posts()).toBeLessThanOrEqual(3);
      const before = posts();
      await closeLogger(logger);
      // Close waited for the POST under way only (before, for every drain queued behind it), and sent none.
      expect(posts()).toBe(before);
      expect(droppedLogRecords(logger)).toBe(1);
    } finally {
      await closeHung();
    }
  });

  it('drops a batch the collector refuses for good, and says so', async () => {
    const c = await collector([400]);
    const errors: Error[] = [];
    const logger = createLogger({ destination: `otlp:${c.url}`, otlp: { maxBatch: 100, intervalMs: 60_000 }, onError: (e) => errors.push(e) });
    logger.info('refused');
    await flushLogger(logger);
    expect(droppedLogRecords(logger)).toBe(1);
    logger.info('accepted');
    await closeLogger(logger);
    expect(droppedLogRecords(logger)).toBe(1);
    expect(c.requests.map((r) => records({ ...c, requests: [r] }).map((x) => x.body))).toEqual([[{ stringValue: 'refused' }], [{ stringValue: 'accepted' }]]);
    expect(errors.map((e) => e.message)).toEqual([`otlp ${c.url}/v1/logs: HTTP 400`]);
  });

  it('close abandons a POST a collector never answers after closeTimeoutMs, not after the request timeout', async () => {
    const { url, posts, close: closeHung } = await hungCollector();
    const errors: string[] = [];
    const logger = createLogger({
      destination: `otlp:${url}`,
      otlp: { maxBatch: 2, timeoutMs: 60_000, closeTimeoutMs: 200 },
      onError: (e) => errors.push(e.message.replace(url, 'URL')),
    });
    try {
      logger.info('a');
      logger.info('b'); // a full batch: its POST is under way, and never answered
      await new Promise((r) => setTimeout(r, 100));
      logger.info('c');
      // Before, close waited for the POST's own timeout (60 s here; 10 s by default, the whole grace period).
      const closed = await Promise.race([closeLogger(logger).then(() => 'closed'), new Promise((r) => setTimeout(() => r('still waiting'), 5_000))]);
      expect(closed).toBe('closed');
      expect(posts()).toBe(1);
      expect(droppedLogRecords(logger)).toBe(3);
      expect(errors).toEqual(['otlp URL/v1/logs: close gave up after 200 ms', 'otlp URL/v1/logs: closed with 3 log record(s) undelivered']);
    } finally {
      await closeHung();
    }
  });

  it('counts every record it gives up on: pushed out of a full queue, refused by the collector, left at close', async () => {
    const c = await collector([503, 503, 503, 503, 503, 503]);
    const drops: number[] = [];
    const logger = createLogger({
      destination: `otlp:${c.url}`,
      otlp: { maxBatch: 2, maxQueued: 3, intervalMs: 60_000 },
      onError: () => undefined,
      onDropped: (n) => drops.push(n),
    });
    for (let i = 0; i < 6; i++) logger.info(`r${i}`);
    await expect(flushLogger(logger)).rejects.toThrow(/records still queued/);
    // Six written into a queue of three: the three oldest pushed out.
    expect(droppedLogRecords(logger)).toBe(3);
    await closeLogger(logger);
    // The three still queued when the collector kept answering 503 at close.
    expect(droppedLogRecords(logger)).toBe(6);
    expect(drops.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('counts the records a collector accepted the batch of but rejected (partialSuccess)', async () => {
    const c = await collector([], JSON.stringify({ partialSuccess: { rejectedLogRecords: 2, errorMessage: 'too old' } }));
    const errors: Error[] = [];
    const logger = createLogger({ destination: `otlp:${c.url}`, otlp: { maxBatch: 100, intervalMs: 60_000 }, onError: (e) => errors.push(e) });
    for (let i = 0; i < 3; i++) logger.info(`r${i}`);
    await flushLogger(logger);
    await closeLogger(logger);
    expect(droppedLogRecords(logger)).toBe(2);
    expect(errors.map((e) => e.message)).toEqual([`otlp ${c.url}/v1/logs: collector rejected 2 log record(s)`]);
  });

  it('reports what it could not deliver when the collector is gone at close', async () => {
    const c = await collector();
    await new Promise<void>((done) => servers.pop()?.close(() => done()));
    const errors: Error[] = [];
    const logger = createLogger({ destination: `otlp:${c.url}`, otlp: { intervalMs: 60_000 }, onError: (e) => errors.push(e) });
    logger.info('lost 1');
    logger.info('lost 2');
    await closeLogger(logger);
    expect(droppedLogRecords(logger)).toBe(2);
    expect(errors).toHaveLength(2);
    expect(errors[0]?.message).toMatch(/^otlp http:\/\/127\.0\.0\.1:\d+\/v1\/logs: fetch failed$/);
    expect(errors[1]?.message).toBe(`otlp ${c.url}/v1/logs: closed with 2 log record(s) undelivered`);
  });

  it('credentials in the URL go as Basic authorization (fetch refuses such a URL), and no message shows them or the query', async () => {
    const c = await collector();
    const errors: Error[] = [];
    const at = c.url.replace('http://', 'http://ingest:p%40ss%20w0rd@');
    const logger = createLogger({ destination: `otlp:${at}/v1/logs?api_key=k3y`, otlp: { intervalMs: 60_000 }, onError: (e) => errors.push(e) });
    logger.info('delivered');
    await closeLogger(logger);
    expect(records(c).map((r) => r.body)).toEqual([{ stringValue: 'delivered' }]);
    expect(c.requests[0]?.authorization).toBe(`Basic ${Buffer.from('ingest:p@ss w0rd').toString('base64')}`);
    expect(c.requests[0]?.path).toBe('/v1/logs?api_key=k3y');
    expect(errors).toEqual([]);

    // An app's own authorization header wins; every message is free of the secrets.
    c.statuses.push(400);
    const failing = createLogger({ destination: `otlp:${at}/v1/logs?api_key=k3y`, otlp: { intervalMs: 60_000, headers: { Authorization: 'Bearer own' } }, onError: (e) => errors.push(e) });
    failing.info('refused');
    await closeLogger(failing);
    expect(c.requests[1]?.authorization).toBe('Bearer own');
    expect(errors.map((e) => e.message)).toEqual([`otlp ${c.url}/v1/logs: HTTP 400`]);
    for (const e of errors) expect(e.message).not.toMatch(/ingest|p%40ss|k3y/);
  });
});
