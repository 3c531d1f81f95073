/**
 * `livecomponents revoke-sessions`: the Redis commands its walks send, and the checks that each node
 * allows them before anything changes. One server, or every master of a Cluster, each SCANned on its
 * own; keys deleted one UNLINK each (on a Cluster the keys of one call must share a slot).
 */
import type { Cluster, Redis } from 'ioredis';
import { WRITE_CHECK_KEY } from '../store/keys.js';
import { SESSION_FAMILY } from './revoke-sessions-session-keys.js';
import { stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';

/** Keys asked for per SCAN call. */
export const SCAN_COUNT = 1_000;

/** `text` with Redis glob's special characters escaped, to match itself in a SCAN pattern. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);
}

/**
 * The nodes that hold keys: the one server, or every master of a Cluster (each SCANned on its own:
 * a Cluster client's SCAN reaches one node only).
 */
export function nodesOf(client: Redis | Cluster): Redis[] {
  return (client as Partial<Cluster>).isCluster === true ? (client as Cluster).nodes('master') : [client as Redis];
}

/**
 * Every session-family key under `keyPrefix` on `node`, a page at a time, to `visit`. SCAN returns
 * every key present for the whole walk at least once (a key may come twice: `visit` must not mind);
 * a key written during the walk may or may not come.
 */
export async function scanSessions(node: Redis, keyPrefix: string, visit: (keys: string[]) => Promise<void>, stop: StopCheck): Promise<void> {
  const pattern = `${globEscape(keyPrefix)}${globEscape(SESSION_FAMILY)}*`;
  let cursor = '0';
  do {
    stopIfAsked(stop);
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length > 0) await visit(keys);
  } while (cursor !== '0');
}

/**
 * Sends `ask` to every node (`nodesOf`): on a Cluster each master has ACLs of its own (ACL SETUSER, an
 * ACL file, reach one node), so a command allowed by the key's master may be refused by another. A
 * node that allows the command but does not hold the key answers MOVED or ASK (Redis checks the ACL
 * before the key's slot): allowed. Asked of the key's master alone, a master refusing a command passed
 * the check and failed the run mid-walk, after the database's revocation.
 * @throws the first refusal (NOPERM …)
 */
async function askEveryNode(client: Redis | Cluster, ask: (node: Redis) => Promise<unknown>): Promise<void> {
  for (const node of nodesOf(client)) {
    await ask(node).catch((error: unknown) => {
      if (error instanceof Error && /^(MOVED|ASK) /.test(error.message)) return;
      throw error;
    });
  }
}

/**
 * Asks each node for the commands the walk sends — SCAN (on every node: it reaches one only), GET and
 * UNLINK (of the stores' write-check key, which is never written) — before anything is revoked. The
 * store's own health check sends its scripts only: an ACL user granted what the app needs and not
 * these passed it, then failed every run at its first SCAN, after the database's revocation.
 * @throws the server's refusal (NOPERM …)
 */
export async function checkRedisCommands(client: Redis | Cluster, keyPrefix: string): Promise<void> {
  const pattern = `${globEscape(keyPrefix)}${globEscape(SESSION_FAMILY)}*`;
  for (const node of nodesOf(client)) await node.scan('0', 'MATCH', pattern, 'COUNT', 1);
  await askEveryNode(client, (node) => node.get(`${keyPrefix}${WRITE_CHECK_KEY}`));
  await askEveryNode(client, (node) => node.unlink(`${keyPrefix}${WRITE_CHECK_KEY}`));
}

/**
 * Asks each node for the command only a dry run sends, EXISTS (it looks for each state and nonce SCAN
 * listed), before anything is counted. @throws the server's refusal (NOPERM …)
 */
export async function checkRedisDryRunCommands(client: Redis | Cluster, keyPrefix: string): Promise<void> {
  await askEveryNode(client, (node) => node.exists(`${keyPrefix}${WRITE_CHECK_KEY}`));
}

/**
 * `send` about one key SCAN listed on `node`, sent to `node`; when it answers MOVED or ASK (it does
 * not serve the key's slot now: during a reshard the importing master lists the keys moved so far
 * and redirects them to the slot's owner; a failover), sent again through the Cluster `client`, which
 * follows the redirection (ASKING for a slot being moved). Sent to the node alone, such a key failed
 * the run with a bare MOVED after the database's revocation: no session could be ended while a
 * reshard went on.
 */
export function redirected<T>(node: Redis | Cluster, client: Redis | Cluster, send: (to: Redis | Cluster) => Promise<T>): Promise<T> {
  return send(node).catch((error: unknown) => {
    if (node !== client && error instanceof Error && /^(MOVED|ASK) /.test(error.message)) return send(client);
    throw error;
  });
}

/**
 * The answers of one page's UNLINKs, sent together: when one is refused (NOPERM, a connection lost),
 * the others have deleted their keys all the same. `count` is called with every answer that came
 * (so what was deleted is counted), then the first refusal is thrown. `client`: see `redirected`. With `Promise.all` the page's
 * deletes went uncounted, and a failed run's event said fewer sessions ended than it had ended.
 */
export async function unlinkCounted(node: Redis | Cluster, keys: readonly string[], count: (removed: number[]) => void, client: Redis | Cluster = node): Promise<void> {
  const settled = await Promise.allSettled(keys.map((key) => redirected(node, client, (to) => to.unlink(key))));
  count(settled.map((result) => (result.status === 'fulfilled' ? result.value : 0)));
  const refused = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (refused !== undefined) throw refused.reason;
}

/**
 * The value of a session record. A key of another type there (a hash, a set: GET answers WRONGTYPE)
 * is no record, like a value that does not parse: the app cannot read it as a session either. Let
 * through, one such key failed every run, each time after the database's revocation.
 */
export function recordValue(node: Redis | Cluster, key: string, client: Redis | Cluster = node): Promise<string | null> {
  return redirected(node, client, (to) => to.get(key)).catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return null;
    throw error;
  });
}
