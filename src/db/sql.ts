/**
 * What the shared SQL layer needs from a driver: statements with `?` placeholders on a pool, and one
 * connection held exclusively (a transaction under a cross-process lock) for migrations and batches.
 */
import type { Dialect } from './types.js';

/** A value bound to a placeholder. */
export type SqlValue = string | number | null;

/** A result row, by column name. */
export type Row = Record<string, unknown>;

/** What a write did. */
export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

/** Something statements run on: the pool, or one held connection. */
export interface SqlSession {
  /** Runs a query and returns its rows. Placeholders are `?`; the driver rewrites them when it must. */
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Runs a statement that returns no rows. */
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
}

/** A driver: a pool (or one connection for SQLite) behind {@link SqlSession}. */
export interface SqlDriver extends SqlSession {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in a transaction on one connection. With `lock`, the transaction holds the named lock
   * `lock` (one connection of any process at a time per name: a PostgreSQL advisory lock, MySQL's
   * GET_LOCK; in SQLite the database's write lock, which BEGIN IMMEDIATE takes anyway) from before its
   * first statement until it ends, so what `fn` reads under the lock still holds when it commits.
   */
  transaction<T>(fn: (session: SqlSession) => Promise<T>, lock?: string): Promise<T>;
  /**
   * Runs `fn` on one connection holding olelo's migration lock, which only one connection of any process
   * holds at a time. In a transaction where the engine has transactional DDL (SQLite, PostgreSQL).
   */
  exclusive<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Options every driver takes. */
export interface DriverOptions {
  /** Most pooled connections (network drivers). */
  poolSize: number;
  /** Longest wait to connect, ms. */
  connectTimeout: number;
  /** SQLite: longest wait for another connection's write lock, ms. */
  busyTimeout: number;
}

/** Rewrites `?` placeholders as PostgreSQL's `$1, $2, ...` (olelo's statements hold no `?` in literals). */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
