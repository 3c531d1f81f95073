/** The SQL layer: open a database by URL, migrate it, and its schema types. */
export { createDatabase, databaseEngine, sqliteConnectionOf, type DatabaseEngine, type DatabaseOptions } from './database.js';
export { migrateToLatest, MigrationError } from './migrate.js';
export { MIGRATIONS } from './migrations/index.js';
export { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl, type DatabaseTarget } from './url.js';
export type {
  AccessTokensTable,
  DatabaseSchema,
  LcKvTable,
  PasswordResetsTable,
  RefreshTokensTable,
  UsersTable,
} from './schema.js';
