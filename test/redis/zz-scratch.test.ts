import { Cluster } from 'ioredis';
import { it } from 'vitest';
import { redisClusterOptions } from '../../src/store/redis/index.js';
import { startRedisCluster } from './server.js';
it('events', async () => {
  const c = await startRedisCluster(3);
  try {
    for (let round = 0; round < 30; round++) {
      const client = new Cluster(c.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), redisClusterOptions());
      const log: string[] = [];
      const t0 = performance.now();
      for (const ev of ['connect', 'ready', 'close', 'end', 'reconnecting', 'error', 'refresh']) client.on(ev, (e?: unknown) => log.push(`${Math.round(performance.now() - t0)} cluster ${ev} ${e instanceof Error ? e.message : ''}`));
      client.on('+node', (n) => { log.push(`${Math.round(performance.now() - t0)} +node ${n.options.port} ${n.status}`); for (const ev of ['ready', 'close', 'end']) n.on(ev, () => log.push(`${Math.round(performance.now() - t0)} node ${n.options.port} ${ev}`)); });
      client.on('-node', (n) => log.push(`${Math.round(performance.now() - t0)} -node ${n.options.port}`));
      await new Promise((r) => client.once('ready', r));
      await client.ping();
      await new Promise((r) => setTimeout(r, 100));
      if (log.some((l) => l.includes('close') || l.includes('-node') || l.includes('end'))) process.stderr.write(log.join('\n') + '\n----\n');
      client.disconnect();
    }
  } finally { await c.stop(); }
}, 60000);
