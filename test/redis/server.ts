/**
 * Test-owned `redis-server` processes on free loopback ports: started by a test file, killed in its
 * `afterAll`, and killed with the test process whatever happens. Never touches a Redis the machine
 * already runs.
 *
 * When `redis-server` is missing, `REDIS_AVAILABLE` is false and the suites skip with a loud
 * warning — except under CI (`process.env.CI` set), where importing this module fails the run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from '../helpers/wait-until.js';

export { freePort };
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function findRedis(): boolean {
  const found = ['redis-server', 'redis-cli'].every((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
  if (found) return true;
  if (process.env.CI) throw new Error('redis-server and redis-cli are required under CI (Debian: apt-get install redis-server).');
  console.warn('\n⚠⚠⚠ SKIPPED: redis-server not found on PATH: the Redis store tests did not run (apt-get install redis-server). ⚠⚠⚠\n');
  return false;
}

/** Whether `redis-server` and `redis-cli` are installed (see the module comment). */
export const REDIS_AVAILABLE = findRedis();


/**
 * Resolves once `PING` on `port` answers `PONG` (or NOAUTH, with a password). Polled without a
 * give-up of its own (a slow start on a loaded machine is only late): the caller's timeout is the limit.
 */
export async function waitForPong(port: number): Promise<void> {
  await waitUntil(`redis on port ${port} to answer PING`, () => pingOnce(port));
}

/**
 * Resolves on redis-server's "Ready to accept connections" log line (printed once it listens, and
 * after loading its data); rejects as soon as the process exits first (a taken port, a bad argument),
 * with its output. Its output is read for as long as it runs, so a full pipe never blocks it.
 */
function ready(proc: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const read = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
      if (output.includes('Ready to accept connections')) resolve();
    };
    proc.stdout?.on('data', read);
    proc.stderr?.on('data', read);
    proc.once('exit', (code, signal) => reject(new Error(`redis-server on port ${port} exited (${signal ?? code}) before it was ready:\n${output}`)));
  });
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      // A server started with --requirepass answers NOAUTH: up all the same.
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The running process's id (changes on `restart`). */
  readonly pid: number | undefined;
  /** SIGKILL, as a crash would: open connections drop at once. Resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after `kill`, or kills it first) and waits for PONG. */
  restart(): Promise<void>;
  /** SIGSTOP: the process hangs with its connections open and answers nothing. */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
  /** Kills it for good and removes its directory. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `redis-server` on `port` (a free one by default), bound to loopback, without persistence.
 *
 * @param extraArgs - more `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`
 */
export async function startRedis(port?: number, extraArgs: readonly string[] = []): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `lc-redis-${p}-`));
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, ...extraArgs];
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    await ready(proc, p);
  }

  async function kill(): Promise<void> {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await exited;
  }

  await launch();
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    get pid() {
      return child?.pid;
    },
    kill,
    async restart() {
      await kill();
      await launch();
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.has(port) || taken.has(port + 10_000)) continue;
    if (await portIsFree(port + 10_000)) return port;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** Milliseconds from the first spawn to `cluster_state:ok` on every node. */
  readonly startupMs: number;
  stop(): Promise<void>;
}

/**
 * Starts cluster-enabled `redis-server`s on loopback — `masters`, plus `replicas` for each — joins
 * them with `redis-cli --cluster create` and waits until every node reports `cluster_state:ok`.
 * Which node ends up master or replica is redis-cli's choice: ask `CLUSTER SLOTS`.
 */
export async function startRedisCluster(masters = 3, options: { replicas?: number } = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0;
  const started = performance.now();
  const ports: number[] = [];
  const taken = new Set<number>();
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await freeClusterPort(taken);
    ports.push(port);
    taken.add(port).add(port + 10_000);
  }
  const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'];
  const nodes = await Promise.all(ports.map((port) => startRedis(port, clusterArgs)));
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      // spawnSync holds the event loop, so no hook timeout could end a hung redis-cli: this one can.
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) {
      let info = '';
      await waitUntil(
        `cluster node ${port} to report cluster_state:ok`,
        () => (info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout).includes('cluster_state:ok'),
        { seen: () => info },
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, startupMs: performance.now() - started, stop };
}

/** `createRedisStore`'s options for `useRedisServer().open`: the URL is the server's unless given. */
export type TestStoreOptions = Omit<Parameters<typeof createRedisStore>[0], 'client'> & {
  /** The logical database the store uses (the URL's `/<n>`), so tests of one server keep apart. @default the URL's (0) */
  database?: number;
};

/** What `useRedisServer` starts: the default is a plain `startRedis()`. */
export interface UseRedisServerOptions {
  /**
   * More `redis-server` arguments (ACL users, `--timeout`, `--appendonly yes`…). A function is called
   * when the server starts, after the `beforeAll`s declared before it: e.g. `--replicaof` another
   * `useRedisServer`'s port.
   */
  args?: readonly string[] | (() => readonly string[]);
  /** Started with `--requirepass`: `admin`, `adminOf`, `urlOf`, `open` and `openShared` authenticate with it. */
  password?: string;
}

/**
 * A test-owned Redis for the enclosing `describe`: started before its tests and stopped after them
 * (also when they fail); `server` kills, restarts, pauses it (resumed after each test). `admin` is a
 * plain client for looking at keys and changing settings, connected on first use (a server that
 * drops idle clients or wants a password sees no client the test did not ask for); `adminOf(n)`: one
 * on database `n`; both disconnected after the tests. `open` makes stores on the server that are closed after each test,
 * `openShared` (in a `beforeAll`) ones for all the tests, closed after them.
 */
export function useRedisServer(options: UseRedisServerOptions = {}) {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  const admins: Redis[] = [];
  const stores: Store[] = [];
  const shared: Store[] = [];
  const { password } = options;
  // redis-server's start has no give-up of its own: on a loaded machine it is only late.
  beforeAll(async () => {
    const args = typeof options.args === 'function' ? options.args() : (options.args ?? []);
    server = await startRedis(undefined, [...(password === undefined ? [] : ['--requirepass', password]), ...args]);
  }, 60_000);
  afterEach(async () => {
    // A test that failed while the server was paused: the next test, and the stores' and the
    // test's own teardown (an app's close), need it answering.
    server?.resume();
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await Promise.all(shared.splice(0).map((s) => s.close()));
    for (const client of [admin, ...admins.splice(0)]) client?.disconnect();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useRedisServer: the server is not started yet (use it inside a test)');
    return value;
  };
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  const urlOf = (database?: number) => `redis://${auth}127.0.0.1:${started(server).port}${database === undefined ? '' : `/${database}`}`;
  const create = ({ database, ...extra }: TestStoreOptions): Store => createRedisStore({ url: urlOf(database), ...extra });
  return {
    get server(): RedisServer {
      return started(server);
    },
    get admin(): Redis {
      admin ??= new Redis(urlOf());
      return admin;
    },
    /** The server's URL (`redis://127.0.0.1:<port>`, `redis://:<password>@…` with one), with `/<database>` when given. */
    urlOf,
    adminOf(database: number): Redis {
      const client = new Redis(urlOf(database));
      admins.push(client);
      return client;
    },
    open(options: TestStoreOptions = {}): Store {
      const store = create(options);
      stores.push(store);
      return store;
    },
    /** As `open`, for all the tests (call it in a `beforeAll`): closed after them, before the server stops. */
    openShared(options: TestStoreOptions = {}): Store {
      const store = create(options);
      shared.push(store);
      return store;
    },
  };
}

/**
 * A test-owned Redis Cluster for the enclosing `describe` (`startRedisCluster(masters, options)`):
 * started before its tests and stopped after them (also when they fail). `nodes` are its servers;
 * `admin` a Cluster client of them, connected before the tests, disconnected after them; `url` their
 * URLs comma-separated, as REDIS_URL names a Cluster.
 */
export function useRedisCluster(masters = 3, options: { replicas?: number } = {}) {
  let cluster: RedisCluster | undefined;
  let admin: Cluster | undefined;
  // Longer than one server's start: every node, `redis-cli --cluster create` (which may take up to
  // 120 s, holding the event loop), then each node's cluster_state:ok. On a loaded machine it is only late.
  beforeAll(async () => {
    cluster = await startRedisCluster(masters, options);
    admin = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    await whenReady(admin);
  }, 180_000);
  afterAll(async () => {
    admin?.disconnect();
    await cluster?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useRedisCluster: the cluster is not started yet (use it inside a test)');
    return value;
  };
  return {
    /** The cluster's `redis-server`s (kill, pause…). */
    get nodes(): readonly RedisServer[] {
      return started(cluster).nodes;
    },
    get admin(): Cluster {
      return started(admin);
    },
    /** `redis://127.0.0.1:<port>,redis://127.0.0.1:<port>,…`: every node. */
    get url(): string {
      return started(cluster).nodes.map((n) => n.url).join(',');
    },
  };
}

/** Resolves once `client` is connected (ioredis refuses commands before that: no offline queue). */
export function whenReady(client: { status: string; once(event: 'ready', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => (client.status === 'ready' ? resolve() : client.once('ready', () => resolve())));
}
