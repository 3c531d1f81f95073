/**
 * `livecomponents revoke-sessions` on a Redis Cluster: whether its slots stayed put while the run
 * walked the masters. Each master is SCANned on its own, one after the other; a key moved by a reshard
 * from a master not walked yet to one walked already is listed by neither, and a session so passed over
 * lived on while the run said `done`. Those keys cannot be told from the walk: the run asks each
 * master where the slots are before and after it, and when a slot was moving (a reshard under way) or
 * had moved (a reshard or a failover between the two), it says so and exits 1, to be run again once
 * the slots stay put. Keys that are mid-move when listed are followed by the Cluster client
 * (`redirected`, `revoke-sessions-redis-commands.ts`).
 */
import type { Cluster, Redis } from 'ioredis';
import { listFirst } from '../core/list-first.js';
import { nodesOf } from './revoke-sessions-redis-commands.js';

/** Moving slots named in full in `slotsMoved`; the rest are counted. */
const LISTED_SLOTS = 5;

/** Where a Cluster's slots are: each master's own slots and moves, in one comparable string. */
export interface ClusterLayout {
  /** `<node id> <slots and moves>` per master, sorted. */
  readonly layout: string;
  /** The slots a master reports MIGRATING or IMPORTING (`[slot->-id]`, `[slot-<-id]`), as numbers. */
  readonly moving: readonly number[];
}

/**
 * The layout as the masters report it themselves (`CLUSTER NODES`, the `myself` line: only a node's
 * own line tells its slots being moved); `null` for one Redis server (nothing to move).
 */
export async function clusterLayout(client: Redis | Cluster): Promise<ClusterLayout | null> {
  if ((client as Partial<Cluster>).isCluster !== true) return null;
  const lines = await Promise.all(
    nodesOf(client).map(async (node) => {
      const nodes = await node.cluster('NODES').catch((error: unknown) => {
        // An ACL user granted CLUSTER SLOTS (which the client needs) and not NODES: the slots'
        // owners still compare, a move under way is not seen.
        if (error instanceof Error && error.message.startsWith('NOPERM')) return null;
        throw error;
      });
      if (nodes === null) return { id: `${node.options.host ?? ''}:${node.options.port ?? ''}`, slots: [JSON.stringify(await node.cluster('SLOTS'))] };
      const own = String(nodes).split('\n').find((line) => line.split(' ')[2]?.split(',').includes('myself')) ?? '';
      const fields = own.trim().split(' ');
      return { id: fields[0] ?? '', slots: fields.slice(8) };
    }),
  );
  const moving = new Set<number>();
  for (const { slots } of lines) {
    for (const slot of slots) if (slot.startsWith('[')) moving.add(Number.parseInt(slot.slice(1), 10));
  }
  const layout = lines
    .map(({ id, slots }) => `${id} ${slots.join(' ')}`)
    .sort()
    .join('\n');
  return { layout, moving: [...moving].sort((a, b) => a - b) };
}

/**
 * What to say when the slots did not stay put between `before` and `after` (`undefined` when they
 * did, or on one server): a reshard under way, or slots that moved meanwhile.
 */
export function slotsMoved(before: ClusterLayout | null, after: ClusterLayout | null): string | undefined {
  if (before === null || after === null) return undefined;
  const moving = [...new Set([...before.moving, ...after.moving])].sort((a, b) => a - b);
  if (moving.length > 0) {
    return `a reshard was under way (${moving.length === 1 ? 'slot' : 'slots'} ${listFirst(moving.map(String), LISTED_SLOTS)} moving between masters)`;
  }
  if (before.layout !== after.layout) return "the Cluster's slots moved between masters while it ran (a reshard or a failover)";
  return undefined;
}
