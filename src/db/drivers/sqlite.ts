/**
 * SQLite through better-sqlite3: the embedded default. One connection per process, in WAL mode so other
 * processes (the CLI) read and write the same file while the server runs; a write waits up to
 * `busyTimeout` for another process's write lock. better-sqlite3 is synchronous: statements run in
 * turn on a queue, and a transaction holds the queue until it ends. Connections of one process to the
 * same file share the queue: a second connection waiting for the write lock would block the thread (the
 * busy wait is synchronous) while the transaction holding it could never go on.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { errorText, StorageError } from '../errors.js';
import type { DriverOptions, Row, RunResult, SqlDriver, SqlSession, SqlValue } from '../sql.js';

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement<unknown[], Row>;

/** The turn queue of each open file, shared by the connections of this process. */
class TurnQueue {
  private tail: Promise<unknown> = Promise.resolve();
  users = 0;

  /** Queues `work`; the next one starts when it has settled. */
  turn<T>(work: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => {});
    return result;
  }
}

const queues = new Map<string, TurnQueue>();

function queueFor(file: string): TurnQueue {
  if (file === ':memory:') return new TurnQueue(); // every connection is its own database
  let queue = queues.get(file);
  if (queue === undefined) {
    queue = new TurnQueue();
    queues.set(file, queue);
  }
  queue.users++;
  return queue;
}

function releaseQueue(file: string): void {
  const queue = queues.get(file);
  if (queue !== undefined && --queue.users <= 0) queues.delete(file);
}

async function loadBetterSqlite3(): Promise<typeof BetterSqlite3> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (error) {
    throw new StorageError('driver', `cannot load better-sqlite3, the SQLite driver: ${errorText(error)}`, {
      cause: error,
    });
  }
}

/** Opens (creating when missing) a SQLite database file, or `:memory:`. */
export async function openSqlite(file: string, display: string, options: DriverOptions): Promise<SqlDriver> {
  const Database = await loadBetterSqlite3();
  let db: Database;
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new Database(file, { timeout: options.busyTimeout });
    db.pragma('journal_mode = WAL');
    // WAL with synchronous=NORMAL: a power cut may lose the last commits, never the file
    db.pragma('synchronous = NORMAL');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_DLOPEN_FAILED' || /NODE_MODULE_VERSION|compiled against/.test(errorText(error))) {
      throw new StorageError(
        'driver',
        `cannot load better-sqlite3, the SQLite driver, in Node ${process.version}: ${errorText(error)} ` +
          '(it is a native addon built for one Node version: run npm rebuild better-sqlite3)',
        { cause: error },
      );
    }
    throw new StorageError('connect', `cannot open ${display}: ${errorText(error)}`, { cause: error });
  }
  return new SqliteDriver(db, file, display);
}

function rethrow(error: unknown, display: string): never {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
    throw new StorageError('conflict', errorText(error), { cause: error });
  if (code === 'SQLITE_BUSY')
    throw new StorageError('query', `${display}: the database stayed locked by another process`, {
      cause: error,
    });
  throw new StorageError('query', `${display}: ${errorText(error)}`, { cause: error });
}

class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();
  private readonly queue: TurnQueue;
  /** Runs statements directly on the connection (inside a queued turn). */
  private readonly direct: SqlSession = {
    all: (sql, params) => Promise.resolve(this.allNow(sql, params)),
    run: (sql, params) => Promise.resolve(this.runNow(sql, params)),
  };

  constructor(
    private readonly db: Database,
    private readonly file: string,
    private readonly display: string,
  ) {
    this.queue = queueFor(file);
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], Row>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private allNow(sql: string, params: readonly SqlValue[] = []): Row[] {
    try {
      return this.statement(sql).all(...params);
    } catch (error) {
      rethrow(error, this.display);
    }
  }

  private runNow(sql: string, params: readonly SqlValue[] = []): RunResult {
    try {
      return { changes: this.statement(sql).run(...params).changes };
    } catch (error) {
      rethrow(error, this.display);
    }
  }

  private turn<T>(work: () => T | Promise<T>): Promise<T> {
    return this.queue.turn(work);
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.turn(() => this.allNow(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    return this.turn(() => this.runNow(sql, params));
  }

  /** `lock` needs nothing more: BEGIN IMMEDIATE holds the database's write lock for the whole transaction. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>, _lock?: string): Promise<T> {
    return this.turn(async () => {
      // IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so the commit cannot fail
      // on a lock another process took in between
      this.runNow('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        this.runNow('COMMIT');
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  exclusive<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    // the write lock of BEGIN IMMEDIATE is the cross-process lock; SQLite's DDL is transactional
    return this.transaction(fn);
  }

  close(): Promise<void> {
    return this.turn(() => {
      this.statements.clear();
      this.db.close();
      releaseQueue(this.file);
    });
  }
}
