/**
 * Test helper: a PostgreSQL primary and a streaming-replication hot standby of the test's own
 * (`initdb`, `pg_basebackup -R`), and a TCP proxy in front of them that a test switches from one to
 * the other, as a DNS or virtual-IP change does at a failover. Everything lives under a fresh folder
 * and is stopped and deleted by `destroy()`.
 *
 * The servers must not run as root: as root, every command runs as the `postgres` user (`runuser`).
 * `replicationAvailability()` says whether the binaries are there; under CI (`CI` set) a suite must
 * fail without them, elsewhere skip loudly (as `src/sql/test-postgres.ts` does for the server).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTcpForwarder } from '../helpers/tcp-forwarder.js';

/** Where the server binaries are: `PG_BIN`, else the newest of /usr/lib/postgresql/<version>/bin. */
export function postgresBin(): string | undefined {
  if (process.env.PG_BIN) return existsSync(join(process.env.PG_BIN, 'initdb')) ? process.env.PG_BIN : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export type ReplicationAvailability = { state: 'up'; bin: string } | { state: 'skip' | 'fail'; reason: string };

export function replicationAvailability(): ReplicationAvailability {
  const bin = postgresBin();
  if (bin !== undefined) return { state: 'up', bin };
  const reason = 'the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed (set PG_BIN)';
  return process.env.CI ? { state: 'fail', reason } : { state: 'skip', reason };
}

const asRoot = process.getuid?.() === 0;

/** Runs a server binary, as `postgres` when this process is root (PostgreSQL refuses to run as root). */
function run(bin: string, command: string, args: string[]): string {
  const file = join(bin, command);
  return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) : execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface ReplicationPair {
  readonly primaryPort: number;
  readonly standbyPort: number;
  /** `postgres://postgres@127.0.0.1:<port>/test` */
  url(port: number): string;
  /** Stops a server: `immediate` is a crash (no shutdown checkpoint, backends killed at once). */
  stop(which: 'primary' | 'standby', mode: 'immediate' | 'fast'): void;
  start(which: 'primary' | 'standby'): void;
  /** Promotes the standby and waits until it takes writes. */
  promote(): Promise<void>;
  /** Waits until the standby has replayed everything the primary has written so far. */
  caughtUp(): Promise<void>;
  destroy(): void;
}

/** A primary on `primaryPort` with database `test`, and a hot standby of it on `standbyPort`, both running. */
export async function replicationPair(bin: string, primaryPort: number, standbyPort: number): Promise<ReplicationPair> {
  const dir = mkdtempSync(join(tmpdir(), 'lc-replication-'));
  chmodSync(dir, 0o777);
  const data = { primary: join(dir, 'primary'), standby: join(dir, 'standby') };
  const log = (which: string) => join(dir, `${which}.log`);
  const started = new Set<'primary' | 'standby'>();
  const start = (which: 'primary' | 'standby') => {
    run(bin, 'pg_ctl', ['-D', data[which], '-l', log(which), '-w', '-t', '30', 'start']);
    started.add(which);
  };
  const stop = (which: 'primary' | 'standby', mode: 'immediate' | 'fast') => {
    if (!started.has(which)) return;
    run(bin, 'pg_ctl', ['-D', data[which], '-m', mode, '-w', 'stop']);
    started.delete(which);
  };
  const url = (port: number) => `postgres://postgres@127.0.0.1:${port}/test`;
  const destroy = () => {
    for (const which of [...started]) {
      try {
        stop(which, 'immediate');
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run(bin, 'initdb', ['-D', data.primary, '-U', 'postgres', '-A', 'trust', '--no-sync']);
    appendFileSync(
      join(data.primary, 'postgresql.conf'),
      [`port = ${primaryPort}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'wal_level = replica', 'max_wal_senders = 5', 'hot_standby = on', 'fsync = off', ''].join('\n'),
    );
    appendFileSync(join(data.primary, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
    start('primary');
    await query(url(primaryPort).replace(/\/test$/, '/postgres'), 'create database test');
    run(bin, 'pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', data.standby, '-R', '-X', 'stream', '-c', 'fast']);
    const conf = join(data.standby, 'postgresql.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(`port = ${primaryPort}`, `port = ${standbyPort}`));
    start('standby');
  } catch (error) {
    destroy();
    throw error;
  }
  return {
    primaryPort,
    standbyPort,
    url,
    stop,
    start,
    async promote() {
      await query(url(standbyPort), 'select pg_promote(true, 30)');
    },
    async caughtUp() {
      const [{ lsn }] = (await query(url(primaryPort), 'select pg_current_wal_lsn()::text as lsn')) as [{ lsn: string }];
      for (;;) {
        const [{ behind }] = (await query(url(standbyPort), `select pg_last_wal_replay_lsn() < '${lsn}'::pg_lsn as behind`)) as [{ behind: boolean }];
        if (!behind) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    destroy,
  };
}

/** One statement on a connection of its own; resolves its rows. */
export async function query(url: string, statement: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(statement, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A TCP proxy to one of the pair, switched as a DNS or VIP change would. */
export interface SwitchableProxy {
  readonly port: number;
  url(database?: string): string;
  /**
   * New connections go to `port` from now on. `existing`: what happens to the connections open
   * until now: `drop` (closed, as when the old server's host answers with a reset) or `blackhole`
   * (left open, nothing passes any more: the old host vanished from the network).
   */
  switchTo(port: number, existing: 'drop' | 'blackhole' | 'keep'): void;
  /** Connections open through it now. */
  open(): number;
  close(): Promise<void>;
}

export async function switchableProxy(initialPort: number): Promise<SwitchableProxy> {
  let target = initialPort;
  const forwarder = await startTcpForwarder({ target: () => target });
  return {
    port: forwarder.port,
    url: (database = 'test') => `postgres://postgres@127.0.0.1:${forwarder.port}/${database}`,
    switchTo(next, existing) {
      target = next;
      if (existing === 'drop') forwarder.dropAll();
      else if (existing === 'blackhole') for (const link of forwarder.links) link.blackhole();
    },
    open: () => forwarder.links.size,
    close: forwarder.close,
  };
}
