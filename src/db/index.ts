/**
 * The storage layer: open a database by URL (the scheme selects the driver) and get one {@link Storage}.
 */
import { openMysql } from './drivers/mysql.js';
import { openPostgres } from './drivers/postgres.js';
import { openSqlite } from './drivers/sqlite.js';
import type { DriverOptions, SqlDriver } from './sql.js';
import { SqlStorage } from './sql-storage.js';
import type { Storage } from './types.js';
import { parseDatabaseUrl } from './url.js';

export { computeHa1, computeHa1b, subscriberHashes } from './credentials.js';
export { StorageError, type StorageErrorCode } from './errors.js';
export { migrations } from './migrations/index.js';
export type * from './types.js';
export { databaseUrl, parseDatabaseUrl, redactUrl, resolveDatabaseUrl, URL_FORMS } from './url.js';

/** Options of {@link openStorage}; the defaults are those of the `database` config section. */
export interface OpenStorageOptions {
  /** Most pooled connections to PostgreSQL or MySQL (default 10). */
  poolSize?: number;
  /** Longest wait to connect, ms (default 10 s). */
  connectTimeout?: number;
  /** SQLite: longest wait for another process's write lock, ms (default 5 s). */
  busyTimeout?: number;
  /** The folder a relative SQLite path is taken from (default: the working folder). */
  base?: string;
}

/**
 * Opens a database: `sqlite:FILE` (created with its folder when missing), `postgres://…` or `mysql://…`.
 * Checks that it can be reached, but does not touch the schema: call {@link Storage.migrate} for that.
 * Rejects with a {@link StorageError} (`bad-url`, `driver` or `connect`) naming the URL without password.
 */
export async function openStorage(url: string, options: OpenStorageOptions = {}): Promise<Storage> {
  const target = parseDatabaseUrl(url, options.base);
  const driverOptions: DriverOptions = {
    poolSize: options.poolSize ?? 10,
    connectTimeout: options.connectTimeout ?? 10_000,
    busyTimeout: options.busyTimeout ?? 5000,
  };
  let driver: SqlDriver;
  switch (target.dialect) {
    case 'sqlite':
      driver = await openSqlite(target.file, target.display, driverOptions);
      break;
    case 'postgres':
      driver = await openPostgres(target.url, target.display, driverOptions);
      break;
    case 'mysql':
      driver = await openMysql(target.url, target.display, driverOptions);
      break;
  }
  return new SqlStorage(driver, target.display);
}
