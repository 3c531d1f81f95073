/**
 * Reading the clocks of the shared services (Redis `TIME`, PostgreSQL `clock_timestamp()`) against
 * this machine's: one way for `livecomponents doctor --connect`, the running app's skew monitor and
 * the token clean-up. Token lifetimes are read on each instance's clock, so an instance whose clock
 * is off mints tokens that live too long (or too short) on every other one, and a clean-up on a
 * clock ahead deletes tokens still live.
 */
import type { Cluster, Redis } from 'ioredis';
import { PostgresAdapter, sql, type Kysely } from 'kysely';

/** The shared services whose clocks are compared, as the `service` label of the skew gauge. */
export const CLOCK_SERVICES = { redis: 'Redis', postgresql: 'PostgreSQL' } as const;
export type ClockService = keyof typeof CLOCK_SERVICES;

/** Reads a service's clock: milliseconds since the Unix epoch (fractions kept). */
export type ServiceTime = () => Promise<number>;

/** How far this machine's clock is from a service's, in ms: positive when this machine is ahead. */
export interface ClockSkew {
  service: ClockService;
  skewMs: number;
}

/**
 * This machine's clock minus the service's, in ms (negative: behind), the service's reading set
 * against the middle of the round trip, when it was most likely taken.
 */
export async function measureSkew(read: ServiceTime, now: () => number): Promise<number> {
  const sent = now();
  const serviceMs = await read();
  const received = now();
  if (!Number.isFinite(serviceMs)) throw new Error(`the service's clock read as ${serviceMs}`);
  return (sent + received) / 2 - serviceMs;
}

/**
 * Redis's clock (`TIME`: seconds and microseconds). On a Redis Cluster, the first master's: the rate
 * limits run on the clock of the master holding their key, and masters keep NTP time as any host.
 */
export function redisTime(client: Redis | Cluster): ServiceTime {
  return async () => {
    const node = client.isCluster ? ((client as Cluster).nodes('master')[0] as Redis | undefined) : (client as Redis);
    if (node === undefined) throw new Error('no Redis Cluster master is known yet');
    const [seconds, micros] = (await node.time()) as [string | number, string | number];
    return Number(seconds) * 1000 + Number(micros) / 1000;
  };
}

/** PostgreSQL's clock: `clock_timestamp()`, the time the statement reads it (not the transaction's start). */
export function postgresTime<DB>(db: Kysely<DB>): ServiceTime {
  return async () => {
    const { rows } = await sql<{ now_ms: string | number }>`select extract(epoch from clock_timestamp()) * 1000 as now_ms`.execute(db);
    return Number(rows[0]?.now_ms);
  };
}

/**
 * The database's clock, or `undefined` on SQLite: the file is on this machine, its clock is ours.
 */
export function databaseTimeOf<DB>(db: Kysely<DB>): ServiceTime | undefined {
  return db.getExecutor().adapter instanceof PostgresAdapter ? postgresTime(db) : undefined;
}

/** "this machine is 1234 ms ahead of Redis", or in seconds (`unit: 's'`) for skews of minutes and days. */
export function describeSkew({ service, skewMs }: ClockSkew, unit: 'ms' | 's' = 'ms'): string {
  const amount = unit === 'ms' ? `${Math.abs(Math.round(skewMs))} ms` : `${Math.abs(Math.round(skewMs / 1000))} s`;
  return `this machine's clock is ${amount} ${skewMs > 0 ? 'ahead of' : 'behind'} ${CLOCK_SERVICES[service]}`;
}
