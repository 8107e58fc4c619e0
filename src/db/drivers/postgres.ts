/**
 * PostgreSQL through `pg`: a pool; timestamps come back as the text they are stored as (no time-zone
 * guessing); migrations hold an advisory lock.
 */
import type pg from 'pg';
import { errorText, StorageError } from '../errors.js';
import {
  type DriverOptions,
  numberedPlaceholders,
  type Row,
  type RunResult,
  type SqlDriver,
  type SqlSession,
  type SqlValue,
} from '../sql.js';

/** OIDs of the date and time types kept as text. */
const TEXT_TYPES = new Set([1082 /* date */, 1114 /* timestamp */, 1184 /* timestamptz */]);

function rethrow(error: unknown): never {
  if (error instanceof StorageError) throw error;
  if ((error as { code?: unknown }).code === '23505')
    throw new StorageError('conflict', errorText(error), { cause: error });
  throw new StorageError('query', errorText(error), { cause: error });
}

function session(client: pg.Pool | pg.PoolClient): SqlSession {
  return {
    async all(sql, params = []) {
      try {
        return (await client.query<Row>(numberedPlaceholders(sql), params as SqlValue[])).rows;
      } catch (error) {
        rethrow(error);
      }
    },
    async run(sql, params = []) {
      try {
        return {
          changes: (await client.query(numberedPlaceholders(sql), params as SqlValue[])).rowCount ?? 0,
        };
      } catch (error) {
        rethrow(error);
      }
    },
  };
}

/** Connects a pool and checks the server answers; errors name the URL without its password. */
export async function openPostgres(url: URL, display: string, options: DriverOptions): Promise<SqlDriver> {
  let driver: typeof pg;
  try {
    driver = (await import('pg')).default;
  } catch (error) {
    throw new StorageError('driver', `cannot load pg, the PostgreSQL driver: ${errorText(error)}`, {
      cause: error,
    });
  }
  const pool = new driver.Pool({
    connectionString: url.toString(),
    max: options.poolSize,
    connectionTimeoutMillis: options.connectTimeout,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        TEXT_TYPES.has(oid)
          ? (value: string) => value
          : driver.types.getTypeParser(oid, format)) as typeof driver.types.getTypeParser,
    },
  });
  // an idle connection that breaks (server restart) must not end the process; the next query reports it
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new StorageError('connect', `cannot connect to ${display}: ${errorText(error)}`, { cause: error });
  }
  return new PostgresDriver(pool);
}

class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  private readonly pooled: SqlSession;

  constructor(private readonly pool: pg.Pool) {
    this.pooled = session(pool);
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.pooled.all(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return this.pooled.run(sql, params);
  }

  /** A transaction holding no lock, olelo's migration lock (`true`) or the named lock `lock`. */
  private async held<T>(lock: boolean | string, fn: (session: SqlSession) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      rethrow(error);
    }
    try {
      await client.query('BEGIN');
      // released by COMMIT or ROLLBACK
      if (lock === true) await client.query("SELECT pg_advisory_xact_lock(hashtext('olelo migrations'))");
      // named locks use the two-key space, apart from the migration lock's single key
      else if (lock !== false)
        await client.query("SELECT pg_advisory_xact_lock(hashtext('olelo'), hashtext($1))", [lock]);
      const result = await fn(session(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      rethrow(error);
    } finally {
      client.release();
    }
  }

  transaction<T>(fn: (session: SqlSession) => Promise<T>, lock?: string): Promise<T> {
    return this.held(lock ?? false, fn);
  }

  exclusive<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    return this.held(true, fn);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
