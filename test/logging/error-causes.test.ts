/**
 * An error's causes in a log line: appended to its message once each, not again when the message
 * already names them (a start-up failure read `… PostgreSQL failed: X: PostgreSQL failed: X: X`).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { serializeError } from '../../src/index.js';
import { LiveError } from '../../src/core/errors.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { capture } from './capture.js';

async function logged(err: unknown): Promise<Record<string, unknown>> {
  const out = capture();
  const logger = createLogger({ format: 'json', stream: out });
  logger.error({ err }, 'failed');
  await closeLogger(logger);
  return out.records()[0]?.['err'] as Record<string, unknown>;
}

describe('the err serializer', () => {
  it('names each cause once when the messages already carry them', async () => {
    const root = new Error('connect ECONNREFUSED 127.0.0.1:5499');
    const outage = new Error(`PostgreSQL failed: ${root.message}`, { cause: root });
    const startUp = new Error(`Migrations could not start: ${outage.message}`, { cause: outage });
    const err = await logged(startUp);
    expect(err['message']).toBe('Migrations could not start: PostgreSQL failed: connect ECONNREFUSED 127.0.0.1:5499');
    expect(err['type']).toBe('Error');
    expect(String(err['stack'])).toContain('caused by:');
  });

  it('still appends causes the message does not name, in order, and stops at a cycle', async () => {
    const inner = new Error('disk full');
    const middle = new Error('write failed', { cause: inner });
    expect((await logged(new Error('saving the order', { cause: middle })))['message']).toBe('saving the order: write failed: disk full');
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect((await logged(b))['message']).toBe('b: a');
  });

  it('a LiveError that only wraps its cause reads "internal error: <cause>" (was: "Something went wrong on our side.: <cause>"), stack and causes kept', async () => {
    const cause = new TypeError('Unknown component "countr:main" (registered components: counter)');
    const err = await logged(new LiveError('INTERNAL_ERROR', { cause }));
    expect(err['message']).toBe('internal error: Unknown component "countr:main" (registered components: counter)');
    expect(err['type']).toBe('LiveError');
    expect(err['code']).toBe('INTERNAL_ERROR');
    expect(String(err['stack'])).toMatch(/^LiveError: Something went wrong on our side\.\n[\s\S]*\ncaused by: TypeError: Unknown component "countr:main"/);
    const store = new Error('Redis: connection lost', { cause: new Error('ECONNRESET') });
    expect((await logged(new LiveError('SERVICE_UNAVAILABLE', { cause: store })))['message']).toBe('service unavailable: Redis: connection lost: ECONNRESET');
  });

  it('a LiveError with a message of its own keeps it first; one without a cause keeps the sentence', async () => {
    const cause = new Error('boom');
    expect((await logged(new LiveError('INTERNAL_ERROR', { message: 'Component "cart" failed to migrate: boom', cause })))['message']).toBe('Component "cart" failed to migrate: boom');
    expect((await logged(new LiveError('INTERNAL_ERROR')))['message']).toBe('Something went wrong on our side.');
  });

  it("serves a pino logger of the app's own through the package's serializeError: the cause once, a command's args censored", () => {
    const lines: string[] = [];
    const logger = pino({ serializers: { err: serializeError, error: serializeError } }, { write: (line: string) => void lines.push(line) });
    const root = Object.assign(new Error('Connection terminated unexpectedly'), { command: { name: 'auth', args: ['default', 'hunter2-password'] } });
    logger.error({ err: new Error(`PostgreSQL failed: ${root.message}`, { cause: root }) }, 'failed');
    const err = (JSON.parse(lines[0] as string) as { err: Record<string, unknown> }).err;
    expect(err['message']).toBe('PostgreSQL failed: Connection terminated unexpectedly');
    expect(lines[0]).not.toContain('hunter2');
  });

  it('leaves other values to pino', async () => {
    expect(await logged({ message: 'plain object' })).toMatchObject({ message: 'plain object' });
  });
});
