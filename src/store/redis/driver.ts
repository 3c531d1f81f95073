/** ioredis, loaded when a Redis store or Cluster client is first built (src/core/lazy-require.ts). */
import type ioredis from 'ioredis';
import { lazyRequire } from '../../core/lazy-require.js';

export const loadIoredis = lazyRequire<typeof ioredis>('ioredis');
