/**
 * The delivery options that become a timer's delay are refused at start-up (`createLogger`, a
 * `LogConfigError` with code `LOG_OPTION_INVALID` naming the option) past what a Node timer can wait,
 * 2^31 − 1 ms: Node fires a longer one after 1 ms. OTLP `timeoutMs` 2^31 aborted every POST at once
 * (every record dropped), `intervalMs` 2^31 POSTed in a busy loop, `closeTimeoutMs` 2^31 gave up at
 * once on close; syslog's and the file's reconnect delays retried without pause; syslog's TCP
 * `close()` holds the process for `closeTimeoutMs` plus a second, so that one is 1 s shorter.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeLogger, createLogger, flushLogger, type CreateLoggerOptions } from '../../src/ops/logging/index.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Records the TimeoutOverflowWarnings Node emits while a test runs. */
function overflowWarnings(): Error[] {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void (warning.name === 'TimeoutOverflowWarning' && warnings.push(warning));
  process.on('warning', onWarning);
  cleanups.push(() => void process.off('warning', onWarning));
  return warnings;
}

async function otlpCollector(): Promise<{ url: string; posts: number }> {
  const c = { url: '', posts: 0 };
  const server = createHttpServer((req, res) => {
    req.resume().on('end', () => {
      c.posts++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return c;
}

async function syslogServer(): Promise<{ port: number; received: () => string }> {
  let received = '';
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((done) => server.close(() => done()));
  });
  return { port: (server.address() as AddressInfo).port, received: () => received };
}

const dir = mkdtempSync(join(tmpdir(), 'lc-log-timers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('log delivery options that are timer delays', () => {
  it.each([
    ['otlp.intervalMs', { otlp: { intervalMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['otlp.timeoutMs', { otlp: { timeoutMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['otlp.closeTimeoutMs', { otlp: { closeTimeoutMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['syslog.reconnectMs', { syslog: { reconnectMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['syslog.maxReconnectMs', { syslog: { maxReconnectMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['syslog.connectTimeoutMs', { syslog: { connectTimeoutMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['syslog.closeTimeoutMs', { syslog: { closeTimeoutMs: MAX_TIMER_MS - 999 } }, MAX_TIMER_MS - 1_000],
    ['file.reopenMs', { file: { reopenMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
    ['file.maxReopenMs', { file: { maxReopenMs: MAX_TIMER_MS + 1 } }, MAX_TIMER_MS],
  ] as const)('refuses %s past its bound at start-up', async (name, options, max) => {
    const kind = name.split('.')[0];
    const destination = kind === 'otlp' ? 'otlp:http://127.0.0.1:9/' : kind === 'syslog' ? `syslog:tcp://127.0.0.1:${(await syslogServer()).port}` : `file:${join(dir, 'refused.log')}`;
    const attempt = (): unknown => createLogger({ destination, ...(options as Partial<CreateLoggerOptions>), onError: () => undefined });
    expect(attempt).toThrow(expect.objectContaining({ name: 'LogConfigError', code: 'LOG_OPTION_INVALID' }));
    expect(attempt).toThrow(new RegExp(`^${name.replace('.', '\\.')}: must be at most ${max} ms \\(a Node\\.js timer waits at most 2147483647 ms\\), got ${max + 1}$`));
  });

  it('OTLP delivers and closes with every delay at its longest', async () => {
    const warnings = overflowWarnings();
    const c = await otlpCollector();
    const logger = createLogger({ destination: `otlp:${c.url}`, otlp: { intervalMs: MAX_TIMER_MS, timeoutMs: MAX_TIMER_MS, closeTimeoutMs: MAX_TIMER_MS } });
    logger.info('one');
    await flushLogger(logger);
    logger.info('two');
    await closeLogger(logger);
    expect(c.posts).toBe(2);
    expect(warnings).toEqual([]);
  });

  it('syslog over TCP delivers and closes with every delay at its longest', async () => {
    const warnings = overflowWarnings();
    const server = await syslogServer();
    const logger = createLogger({
      destination: `syslog:tcp://127.0.0.1:${server.port}`,
      syslog: { reconnectMs: MAX_TIMER_MS, maxReconnectMs: MAX_TIMER_MS, connectTimeoutMs: MAX_TIMER_MS, closeTimeoutMs: MAX_TIMER_MS - 1_000 },
    });
    logger.info('over tcp');
    await flushLogger(logger);
    await closeLogger(logger);
    expect(server.received()).toContain('over tcp');
    expect(warnings).toEqual([]);
  });

  it('a file log writes with its reopen delays at their longest', async () => {
    const path = join(dir, 'longest.log');
    const logger = createLogger({ destination: `file:${path}`, file: { reopenMs: MAX_TIMER_MS, maxReopenMs: MAX_TIMER_MS } });
    logger.info('to the file');
    await flushLogger(logger);
    await closeLogger(logger);
    expect(readFileSync(path, 'utf8')).toContain('to the file');
  });
});
