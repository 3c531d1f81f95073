import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeLogger, createLogger, flushLogger } from '../../src/ops/logging/index.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { capture } from './capture.js';

describe('json strategy', () => {
  it('writes one JSON object per line with ISO time, level, name and bindings', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out, appName: 'shop', level: 'debug' });
    logger.debug('starting');
    logger.child({ request_id: 'req-1' }).warn({ code: 'RATE_LIMIT_EXCEEDED' }, 'refused');
    logger.trace('below the level');
    await flushLogger(logger);
    const records = out.records();
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ level: 20, name: 'shop', msg: 'starting', pid: process.pid });
    expect(records[1]).toMatchObject({ level: 40, request_id: 'req-1', code: 'RATE_LIMIT_EXCEEDED', msg: 'refused' });
    expect(records[1]?.['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await closeLogger(logger);
  });

  it('drops lines logged after close', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    logger.info('before');
    await closeLogger(logger);
    logger.info('after');
    expect(out.records().map((r) => r['msg'])).toEqual(['before']);
  });
});

describe('pretty strategy', () => {
  it('writes human lines: time, level word, message, then the fields', async () => {
    const out = capture();
    const logger = createLogger({ format: 'pretty', stream: out });
    logger.child({ request_id: 'req-9' }).info({ code: 'CSRF_TOKEN_INVALID' }, 'action refused');
    await closeLogger(logger);
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: action refused\n/);
    expect(text).toContain('request_id: "req-9"');
    expect(text).toContain('code: "CSRF_TOKEN_INVALID"');
    expect(text).not.toContain('{"level"');
    // colours only on a real terminal
    expect(text).not.toContain('\u001b[');
  });

  it('shows a security event under its pino level although the event carries its own `level`', async () => {
    const out = capture();
    const logger = createLogger({ format: 'pretty', stream: out });
    createSecurityLogger({ logger }).emit({ event: 'malicious_csrf', level: 'WARN', description: 'CSRF token refused' });
    await closeLogger(logger);
    expect(out.text()).toMatch(/^\[[\d:.]+\] WARN: CSRF token refused\n/);
    expect(out.text()).toContain('event: "malicious_csrf"');
    expect(out.text()).toContain('event_level: "WARN"');
  });
});

describe('security events in JSON', () => {
  it('writes one `level` key (pino\'s number), the event\'s level as `event_level`, and the request id', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const request = { ip: '203.0.113.7', method: 'POST', url: '/api/livecomponents/action?x=1', headers: { cookie: 'lc_session=secret' }, requestId: 'req-42' };
    createSecurityLogger({ logger }).emit({ event: 'malicious_csrf', level: 'WARN', description: 'CSRF token refused', request });
    await closeLogger(logger);
    const line = out.text().trim();
    expect(line.match(/"level":/g)).toHaveLength(1);
    expect(JSON.parse(line)).toMatchObject({
      level: 40,
      security_event: true,
      event: 'malicious_csrf',
      event_level: 'WARN',
      source_ip: '203.0.113.7',
      request_uri: '/api/livecomponents/action',
      request_method: 'POST',
      request_id: 'req-42',
    });
    expect(line).not.toContain('secret');
  });

  it('writes at most 512 characters of the path (one small request must not write kilobytes), never the query', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const request = { ip: '203.0.113.7', method: 'POST', url: `/${'a'.repeat(8000)}?${'q'.repeat(8000)}`, headers: {}, requestId: 'req-43' };
    createSecurityLogger({ logger }).emit({ event: 'malicious_csrf', level: 'WARN', description: 'CSRF token refused', request });
    await closeLogger(logger);
    const line = out.text().trim();
    expect((JSON.parse(line) as { request_uri: string }).request_uri).toBe(`/${'a'.repeat(511)}`);
    expect(line.length).toBeLessThan(1200);
  });
});

describe('the real standard output (a child process)', () => {
  const child = fileURLToPath(new URL('./fixtures/stdout-child.ts', import.meta.url));
  const root = fileURLToPath(new URL('../..', import.meta.url));
  function run(format: string, ending: string): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', child, format, ending], { cwd: root }, (error, stdout) =>
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout }),
      );
    });
  }

  it.each([
    ['json', 'close', 0],
    ['json', 'crash', 1],
  ])('%s: every line reaches stdout when the process ends by %s', async (format, ending, code) => {
    const res = await run(format, ending);
    expect(res.code).toBe(code);
    const lines = res.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l['msg'], l['password'], l['name']])).toEqual([0, 1, 2].map((i) => [`line ${i}`, '[Redacted]', 'child']));
  });

  it('pretty: every line reaches stdout even on a crash', async () => {
    const res = await run('pretty', 'crash');
    expect(res.code).toBe(1);
    expect(res.stdout.match(/^\[[\d:.]+\] INFO: line \d$/gm)).toEqual(['line 0', 'line 1', 'line 2'].map((m) => expect.stringContaining(m)));
    expect(res.stdout).not.toContain('hunter2');
  });
});
