/**
 * Test helpers for suites that need the real PostgreSQL (127.0.0.1:5432, trust auth, database
 * `test`). Each suite gets a schema of its own, selected through `search_path` in the URL, so
 * suites running in parallel and repeated runs never see each other's tables.
 *
 * When the server cannot be reached: under CI (`process.env.CI` set) the suite must fail; elsewhere
 * it is skipped with one loud warning line. `postgresAvailability()` tells which.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';

/** The server the tests use; override with `TEST_DATABASE_URL`. */
export const TEST_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type PostgresAvailability =
  | { readonly state: 'up' }
  /** Unreachable outside CI: skip, after warning. */
  | { readonly state: 'skip'; readonly reason: string }
  /** Unreachable under CI: fail. */
  | { readonly state: 'fail'; readonly reason: string };

let probe: Promise<string | null> | undefined;

/** Probes the server once per test file (2 s timeout). */
export async function postgresAvailability(): Promise<PostgresAvailability> {
  probe ??= connectOnce();
  const problem = await probe;
  if (problem === null) return { state: 'up' };
  const reason = `PostgreSQL at ${redact(TEST_POSTGRES_URL)} is unreachable (${problem})`;
  return process.env.CI ? { state: 'fail', reason } : { state: 'skip', reason };
}

/** Prints the one loud line for a skipped suite. */
export function warnSkipped(suite: string, reason: string): void {
  console.warn(`\n⚠️  SKIPPED ${suite}: ${reason}. These tests run (and must pass) in CI.\n`);
}

/** A fresh schema: its URL (with `search_path` set to it) and a function that drops it. */
export async function createTestSchema(label: string): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  const schema = `lc_test_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
  await admin(`create schema "${schema}"`);
  const url = new URL(TEST_POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), schema, drop: () => admin(`drop schema if exists "${schema}" cascade`) };
}

/** Runs `statement` as the test server's administrator, on a connection of its own. */
export async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function connectOnce(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message || error.constructor.name : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparsable TEST_DATABASE_URL)';
  }
}

/** A proxy in front of the test server on a free port, built with `onClient`. */
export interface PostgresProxy {
  /** `schemaUrl` (a `createTestSchema` URL) through the proxy. */
  url(schemaUrl: string): string;
  /** Destroys every connection, then stops listening. */
  close(): Promise<void>;
}

/**
 * Listens on a free loopback port and hands each client connection to `onClient`, with a connection
 * to the test server (`upstream`) to relay to; both are destroyed by `close()`.
 */
export async function postgresProxyWith(onClient: (client: Socket, upstream: () => Socket) => void): Promise<PostgresProxy> {
  const target = new URL(TEST_POSTGRES_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    onClient(client, () => {
      const upstream = connect({ host: target.hostname, port: Number(target.port || 5432) });
      sockets.add(upstream);
      return upstream;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: (schemaUrl) => {
      const u = new URL(schemaUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy to PostgreSQL on a free port: `frozen` passes no bytes (a hung server), `close()` refuses. */
export async function postgresProxy(): Promise<PostgresProxy & { freeze(): void }> {
  let frozen = false;
  const proxy = await postgresProxyWith((client, connectUpstream) => {
    const upstream = connectUpstream();
    client.on('data', (chunk) => !frozen && upstream.write(chunk));
    upstream.on('data', (chunk) => !frozen && client.write(chunk));
    for (const s of [client, upstream]) s.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy()));
  });
  return { ...proxy, freeze: () => void (frozen = true) };
}
