/**
 * Every migration, listed once and imported statically (no folder scan), so they run the same from
 * `src/` under Vitest and from `dist/` after the build. Names sort in the order they apply; a new
 * migration gets the next number and is added here. Never edit one that has shipped.
 */
import type { Migration } from 'kysely';
import * as lcKv from './001_lc_kv.js';
import * as auth from './002_auth.js';
import * as refreshBinding from './003_refresh_binding.js';
import * as lcMoved from './004_lc_moved.js';

export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '001_lc_kv': lcKv,
  '002_auth': auth,
  '003_refresh_binding': refreshBinding,
  '004_lc_moved': lcMoved,
});
