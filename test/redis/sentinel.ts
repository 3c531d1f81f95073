/**
 * A test-owned Redis Sentinel set on free loopback ports: a master, one replica and three sentinels
 * watching the master as `mymaster` (quorum 2). Killed in `stop()`, and with the test process
 * whatever happens. Skipped or failed as `server.ts` says when `redis-server` is missing (a sentinel
 * is `redis-server <config> --sentinel`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitUntil } from '../helpers/wait-until.js';
import { freePort, startRedis, waitForPong, type RedisServer } from './server.js';

export const MASTER_NAME = 'mymaster';

export interface SentinelSet {
  readonly master: RedisServer;
  readonly replica: RedisServer;
  /** The sentinels' addresses, as ioredis's `sentinels` option takes them. */
  readonly sentinels: { host: string; port: number }[];
  /** The port the sentinels name as the master now (`SENTINEL GET-MASTER-ADDR-BY-NAME`), asked of the first. */
  masterPort(): Promise<number>;
  /** A command to the first sentinel. */
  ask(...args: string[]): Promise<unknown>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts the set and waits until every sentinel knows the replica (a failover needs one). */
export async function startSentinelSet(): Promise<SentinelSet> {
  const master = await startRedis();
  const replica = await startRedis(undefined, ['--replicaof', '127.0.0.1', String(master.port)]);
  const dir = mkdtempSync(join(tmpdir(), 'lc-sentinel-'));
  const children: ChildProcess[] = [];
  const sentinels: { host: string; port: number }[] = [];
  const stop = async () => {
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    await Promise.all([master.stop(), replica.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
  const ask = async (port: number, ...args: string[]): Promise<unknown> => {
    const client = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    try {
      return await client.call(args[0] as string, ...args.slice(1));
    } finally {
      client.disconnect();
    }
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const config = join(dir, `sentinel-${port}.conf`);
      // Failure verdicts fast (1 s), so the set settles quickly after a failover.
      writeFileSync(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 3000`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
      children.push(child);
      running.add(child);
      child.once('exit', () => running.delete(child));
      sentinels.push({ host: '127.0.0.1', port });
    }
    await Promise.all(sentinels.map(({ port }) => waitForPong(port)));
    // Polled without a give-up of its own (a loaded machine only makes it late): the hook's timeout is the limit.
    for (const { port } of sentinels) {
      let replicas: string[][] = [];
      await waitUntil(
        `sentinel ${port} to list replica ${replica.port} as connected`,
        async () => {
          replicas = (await ask(port, 'SENTINEL', 'REPLICAS', MASTER_NAME).catch(() => [])) as string[][];
          return replicas.some((fields) => fields.includes(String(replica.port)) && !fields.join(' ').includes('disconnected'));
        },
        { seen: () => replicas },
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const first = sentinels[0] as { port: number };
  return {
    master,
    replica,
    sentinels,
    async masterPort() {
      const [, port] = (await ask(first.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
      return Number(port);
    },
    ask: (...args) => ask(first.port, ...args),
    stop,
  };
}
