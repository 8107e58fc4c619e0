/**
 * MySQL and MariaDB through `mysql2`: a pool; DATETIME comes back as text; migrations hold a named lock
 * (GET_LOCK), as DDL is not transactional there.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { errorText, StorageError } from '../errors.js';
import type { DriverOptions, Row, RunResult, SqlDriver, SqlSession, SqlValue } from '../sql.js';

const LOCK = 'olelo migrations';
/** Longest wait for another process's migrations, seconds. */
const LOCK_WAIT = 120;
/** Longest wait for a named lock of {@link SqlDriver.transaction}, seconds. */
const NAMED_LOCK_WAIT = 10;

/** A GET_LOCK name for any text: names are at most 64 characters. */
function lockName(lock: string): string {
  return `olelo:${createHash('sha1').update(lock).digest('hex')}`;
}

function rethrow(error: unknown): never {
  if (error instanceof StorageError) throw error;
  if ((error as { code?: unknown }).code === 'ER_DUP_ENTRY')
    throw new StorageError('conflict', errorText(error), { cause: error });
  throw new StorageError('query', errorText(error), { cause: error });
}

function session(client: Pool | PoolConnection): SqlSession {
  return {
    async all(sql, params = []) {
      try {
        const [rows] = await client.query(sql, params as SqlValue[]);
        return rows as Row[];
      } catch (error) {
        rethrow(error);
      }
    },
    async run(sql, params = []) {
      try {
        const [result] = await client.query<ResultSetHeader>(sql, params as SqlValue[]);
        return { changes: result.affectedRows };
      } catch (error) {
        rethrow(error);
      }
    },
  };
}

/** Connects a pool and checks the server answers; errors name the URL without its password. */
export async function openMysql(url: URL, display: string, options: DriverOptions): Promise<SqlDriver> {
  let createPool: typeof import('mysql2/promise').createPool;
  try {
    const driver = await import('mysql2/promise');
    createPool = driver.createPool ?? (driver as unknown as { default: typeof driver }).default.createPool;
  } catch (error) {
    throw new StorageError('driver', `cannot load mysql2, the MySQL/MariaDB driver: ${errorText(error)}`, {
      cause: error,
    });
  }
  const pool = createPool({
    uri: url.toString(),
    connectionLimit: options.poolSize,
    connectTimeout: options.connectTimeout,
    // DATETIME as written ('2030-05-28 21:32:15'), read in local time like Kamailio does
    dateStrings: true,
    supportBigNumbers: true,
    // UPDATE reports the rows it matched, not only those it changed
    flags: ['FOUND_ROWS'],
  });
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new StorageError('connect', `cannot connect to ${display}: ${errorText(error)}`, { cause: error });
  }
  return new MysqlDriver(pool);
}

class MysqlDriver implements SqlDriver {
  readonly dialect = 'mysql' as const;
  private readonly pooled: SqlSession;

  constructor(private readonly pool: Pool) {
    this.pooled = session(pool);
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.pooled.all(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return this.pooled.run(sql, params);
  }

  private async connection(): Promise<PoolConnection> {
    try {
      return await this.pool.getConnection();
    } catch (error) {
      rethrow(error);
    }
  }

  async transaction<T>(fn: (session: SqlSession) => Promise<T>, lock?: string): Promise<T> {
    const connection = await this.connection();
    const name = lock === undefined ? undefined : lockName(lock);
    let locked = false;
    try {
      if (name !== undefined) {
        // taken before the transaction starts, so its snapshot sees what the previous holder committed
        const [rows] = await connection.query('SELECT GET_LOCK(?, ?) AS locked', [name, NAMED_LOCK_WAIT]);
        if (Number((rows as Row[])[0]?.locked) !== 1)
          throw new StorageError(
            'query',
            `another connection held the lock '${lock}' for over ${NAMED_LOCK_WAIT} s`,
          );
        locked = true;
      }
      await connection.query('START TRANSACTION');
      const result = await fn(session(connection));
      await connection.query('COMMIT');
      return result;
    } catch (error) {
      await connection.query('ROLLBACK').catch(() => {});
      return rethrow(error);
    } finally {
      if (locked) await connection.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => {});
      connection.release();
    }
  }

  async exclusive<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    const connection = await this.connection();
    try {
      const [rows] = await connection.query('SELECT GET_LOCK(?, ?) AS locked', [LOCK, LOCK_WAIT]);
      if (Number((rows as Row[])[0]?.locked) !== 1)
        throw new StorageError('schema', `another process held the migration lock for over ${LOCK_WAIT} s`);
      try {
        return await fn(session(connection));
      } finally {
        await connection.query('SELECT RELEASE_LOCK(?)', [LOCK]).catch(() => {});
      }
    } catch (error) {
      rethrow(error);
    } finally {
      connection.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
