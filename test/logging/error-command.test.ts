/**
 * A failed Redis command in a logged error: ioredis attaches it (`command: { name, args }`), and the
 * arguments of AUTH and HELLO hold the password. Logged raw (`log.error({ err })`), a WRONGPASS error
 * put the password into the line in every strategy; so did a Cluster's `ClusterAllFailedError`
 * (through `lastNodeError`) and an `AggregateError` of such errors.
 */
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CENSOR, closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { capture } from './capture.js';

const PASSWORD = 'Qq7RightRedisPw';
const WRONG = 'Qq7WrongRedisPw';

/** Logs each error as `{ err }` through a real json logger; returns the text and the `err` fields. */
async function logged(...errors: unknown[]): Promise<{ text: string; errs: Record<string, unknown>[] }> {
  const out = capture();
  const logger = createLogger({ format: 'json', stream: out });
  for (const err of errors) logger.error({ err }, 'failed');
  await closeLogger(logger);
  return { text: out.text(), errs: out.records().map((r) => r['err'] as Record<string, unknown>) };
}

const withCommand = (message: string, name: string, args: string[]) => Object.assign(new Error(message), { command: { name, args } });

describe.skipIf(!REDIS_AVAILABLE)('logged ioredis errors (a password-protected redis-server)', () => {
  const redis = useRedisServer({ password: PASSWORD });

  /** The first error a client with `password` reports (`error` event) or a call of `act` rejects with. */
  async function firstError(password: string, act?: (client: Redis) => Promise<unknown>): Promise<Error> {
    const client = new Redis({ host: '127.0.0.1', port: redis.server.port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      return await new Promise<Error>((resolve) => {
        client.once('error', resolve);
        const run = act === undefined ? client.connect() : client.connect().then(() => act(client));
        run.catch(resolve);
      });
    } finally {
      client.disconnect();
    }
  }

  it('a WRONGPASS from HELLO or AUTH keeps the command name and loses its arguments', async () => {
    const hello = await firstError(WRONG);
    const auth = await firstError(PASSWORD, (c) => c.auth('default', WRONG));
    // What ioredis attaches (so the test notices if that changes): 6.0 the arguments as sent, 6.1 its
    // own stand-in for the secret ones. A user's lockfile may hold either: the redaction stays ours.
    const attached = (e: Error) => (e as Error & { command?: { name: string; args: string[] } }).command;
    const REDACTED = '[REDACTED]';
    expect([
      { name: 'hello', args: ['3', 'AUTH', 'default', WRONG] },
      { name: 'hello', args: ['3', 'AUTH', REDACTED, REDACTED] },
    ]).toContainEqual(attached(hello));
    expect([
      { name: 'auth', args: ['default', WRONG] },
      { name: 'auth', args: [REDACTED, REDACTED] },
    ]).toContainEqual(attached(auth));
    const authArgs = [...(attached(auth)?.args ?? [])];

    const { text, errs } = await logged(hello, auth);
    expect(text).not.toContain(WRONG);
    expect(errs.map((e) => e['command'])).toEqual([
      { name: 'hello', args: [CENSOR] },
      { name: 'auth', args: [CENSOR] },
    ]);
    expect(errs[0]?.['message']).toMatch(/^WRONGPASS/);
    // The error objects themselves are left as they were (ioredis and the caller still hold them).
    expect(attached(auth)?.args).toEqual(authArgs);
  });

  it("a Cluster's ClusterAllFailedError loses the arguments of its lastNodeError's command", async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: redis.server.port }], {
      redisOptions: { password: WRONG },
      clusterRetryStrategy: () => null,
      lazyConnect: true,
    });
    const error = await new Promise<Error>((resolve) => {
      cluster.once('error', resolve);
      cluster.connect().catch(() => {});
    });
    cluster.disconnect();
    expect(error.name).toBe('ClusterAllFailedError');
    // ioredis 6.0 kept the password in it; 6.1 puts its own stand-in there.
    expect(JSON.stringify((error as Error & { lastNodeError?: unknown }).lastNodeError)).toMatch(new RegExp(`${WRONG}|\\[REDACTED\\]`));

    const { text, errs } = await logged(error);
    expect(text).not.toContain(WRONG);
    expect(errs[0]).toMatchObject({ type: 'ClusterAllFailedError', lastNodeError: { command: { name: 'auth', args: [CENSOR] } } });
  });
});

describe('command arguments in other logged error shapes', () => {
  const S = 'Qq7PlantedSecret';

  it('an AggregateError (errors[]), an error in a plain errors array, and one nested in an object', async () => {
    const aggregate = new AggregateError([withCommand('WRONGPASS', 'auth', ['default', S]), new Error('other')], 'all nodes failed');
    const listed = Object.assign(new Error('batch failed'), { errors: [withCommand('WRONGPASS', 'hello', ['3', 'AUTH', 'default', S])] });
    const nested = Object.assign(new Error('wrapped'), { details: { attempts: [{ node: 'a', error: withCommand('WRONGPASS', 'auth', [S]) }] } });
    const { text, errs } = await logged(aggregate, listed, nested);
    expect(text).not.toContain(S);
    expect(errs[0]?.['aggregateErrors']).toMatchObject([{ message: 'WRONGPASS', command: { name: 'auth', args: [CENSOR] } }, { message: 'other' }]);
    expect(errs[1]?.['errors']).toEqual([{ command: { name: 'hello', args: [CENSOR] } }]);
    expect(errs[2]?.['details']).toEqual({ attempts: [{ node: 'a', error: { command: { name: 'auth', args: [CENSOR] } } }] });
    expect(nested.details.attempts[0]?.error.command.args).toEqual([S]);
  });

  it('a cause chain: causes are named in message and stack only, never with their command', async () => {
    const inner = withCommand('WRONGPASS', 'auth', ['default', S]);
    const { text, errs } = await logged(new Error('outer', { cause: new Error('mid', { cause: inner }) }));
    expect(text).not.toContain(S);
    expect(errs[0]?.['message']).toBe('outer: mid: WRONGPASS');
  });

  it('an error logged under `error` gets the same serializer as `err` (message, stack, no command arguments); other values there stay', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    logger.error({ error: withCommand('WRONGPASS', 'auth', ['default', S]) }, 'failed');
    logger.warn({ error: 'a plain text' }, 'text');
    await closeLogger(logger);
    expect(out.text()).not.toContain(S);
    const [first, second] = out.records();
    expect(first?.['error']).toMatchObject({ type: 'Error', message: 'WRONGPASS', command: { name: 'auth', args: [CENSOR] } });
    expect(String((first?.['error'] as { stack?: unknown }).stack)).toContain('WRONGPASS');
    expect(second?.['error']).toBe('a plain text');
  });

  it('stops at cycles and keeps other fields as they were', async () => {
    const err = Object.assign(withCommand('WRONGPASS', 'auth', [S]), { code: 'E1', when: new Date(0), self: undefined as unknown });
    err.self = err;
    const { text, errs } = await logged(err);
    expect(text).not.toContain(S);
    expect(errs[0]).toMatchObject({ type: 'Error', message: 'WRONGPASS', code: 'E1', when: '1970-01-01T00:00:00.000Z', command: { name: 'auth', args: [CENSOR] } });
  });
});
