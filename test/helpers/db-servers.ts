/**
 * Test helpers: real PostgreSQL and MariaDB servers from the Debian packages, started on loopback with
 * OS-assigned ports in temp folders, and torn down after. Only the processes started here are ever
 * signalled, by their own pid. A missing server binary is an error (CI installs them), never a skip.
 *
 * Both refuse to run as root: when the tests run as root, the server runs as the `postgres` / `mysql`
 * user the packages create (else `nobody`), with its temp folder handed to that user.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** A running database server. */
export interface DbServer {
  readonly dialect: 'postgres' | 'mysql';
  readonly port: number;
  /** The pid of the server process. */
  readonly pid: number;
  /** A URL of the server for `database` (with user and password); the database need not exist. */
  url(database: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs statements as the administrator in `database`, returning the rows of the last one. */
  sql(database: string, ...statements: string[]): Promise<Record<string, unknown>[]>;
  /** Stops the server (fast shutdown, SIGKILL after 20 s) and removes its folder. */
  stop(): Promise<void>;
}

/** The user and password the servers are set up with. */
export const DB_USER = 'olelo';
export const DB_PASSWORD = 'olelo-test-secret';

const START_TIMEOUT = 60_000;

/** A port the OS just handed out (closed again, so a server can bind it). */
async function freeTcpPort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** uid and gid of a local user, from /etc/passwd. */
function localUser(name: string): { uid: number; gid: number } | undefined {
  if (!existsSync('/etc/passwd')) return undefined;
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return undefined;
}

/** Who the server runs as: ourselves, or when we are root an unprivileged user. */
function serverUser(preferred: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return localUser(preferred) ?? localUser('nobody');
}

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

/** A temp folder owned by `user` (when given). */
function serverDir(prefix: string, user: { uid: number; gid: number } | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), `olelo-${prefix}-`));
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  return dir;
}

function run(
  file: string,
  args: string[],
  options: { uid?: number; gid?: number; cwd: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...options, timeout: START_TIMEOUT, maxBuffer: 8 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** Servers still running, stopped with SIGKILL if the test process exits without stopping them. */
const live = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A child process whose output is kept for error messages. */
function startChild(
  file: string,
  args: string[],
  options: { uid?: number; gid?: number; cwd: string },
  dir: string,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  live.set(child, dir);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
    child.once('error', (error) => {
      output += `\n${error.message}`;
      live.delete(child);
      resolve(-1);
    });
  });
  return { child, output: () => output, exited };
}

/** Retries `probe` until it succeeds, the process exits or the time runs out. */
async function waitReady(
  name: string,
  probe: () => Promise<void>,
  exited: Promise<number | null>,
  output: () => string,
): Promise<void> {
  let gone: number | null | undefined;
  void exited.then((code) => {
    gone = code;
  });
  const deadline = Date.now() + START_TIMEOUT;
  let last: unknown;
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`${name} exited (${gone}) while starting:\n${output()}`);
    try {
      await probe();
      return;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(
    `${name} did not accept connections within ${START_TIMEOUT} ms (${String(last)}):\n${output()}`,
  );
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, signal: NodeJS.Signals) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

let databases = 0;
function databaseName(): string {
  return `olelo_test_${process.pid}_${++databases}`;
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL

/** The folder holding initdb and postgres: $OLELO_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
function postgresBin(): string {
  const candidates: string[] = [];
  if (process.env.OLELO_PG_BIN) candidates.push(process.env.OLELO_PG_BIN);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(join(root, v, 'bin'));
  }
  const bin = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
  if (bin === undefined) {
    throw new Error(
      'PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or $OLELO_PG_BIN: ' +
        'install them (apt-get install postgresql); the storage tests need a real server',
    );
  }
  return bin;
}

/** Starts a PostgreSQL server on 127.0.0.1 with a password-authenticated superuser. */
export async function startPostgres(): Promise<DbServer> {
  const bin = postgresBin();
  const user = serverUser('postgres');
  const ids = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const dir = serverDir('pg', user);
  try {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, DB_PASSWORD);
    if (user !== undefined) chownSync(passwordFile, user.uid, user.gid);
    await run(
      join(bin, 'initdb'),
      [
        '-D',
        join(dir, 'data'),
        '-U',
        DB_USER,
        `--pwfile=${passwordFile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--no-sync',
        '-E',
        'UTF8',
        '--locale=C',
      ],
      { ...ids, cwd: dir },
    );
    for (let attempt = 1; ; attempt++) {
      const port = await freeTcpPort();
      const { child, output, exited } = startChild(
        join(bin, 'postgres'),
        [
          '-D',
          join(dir, 'data'),
          '-k',
          dir,
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
        ],
        { ...ids, cwd: dir },
        dir,
      );
      const url = (database: string) =>
        `postgres://${DB_USER}:${encodeURIComponent(DB_PASSWORD)}@127.0.0.1:${port}/${database}`;
      const sql = async (database: string, ...statements: string[]) => {
        const client = new pg.Client({ connectionString: url(database) });
        await client.connect();
        try {
          let rows: Record<string, unknown>[] = [];
          for (const statement of statements) rows = (await client.query(statement)).rows;
          return rows;
        } finally {
          await client.end();
        }
      };
      try {
        await waitReady('postgres', () => sql('postgres', 'SELECT 1').then(() => {}), exited, output);
      } catch (error) {
        await stopChild(child, exited, 'SIGKILL');
        if (attempt < 3 && /could not bind|already in use/i.test(output())) continue; // the port was taken meanwhile
        throw error;
      }
      return {
        dialect: 'postgres',
        port,
        pid: child.pid!,
        url,
        sql,
        async createDatabase(name = databaseName()) {
          await sql('postgres', `CREATE DATABASE "${name}"`);
          return url(name);
        },
        async stop() {
          await stopChild(child, exited, 'SIGINT'); // fast shutdown
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// MariaDB

function mariadbBinaries(): { server: string; installDb: string } {
  const server = firstExisting(['/usr/sbin/mariadbd', '/usr/bin/mariadbd', '/usr/sbin/mysqld']);
  const installDb = firstExisting(['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db']);
  if (server === undefined || installDb === undefined) {
    throw new Error(
      'MariaDB server binaries (mariadbd, mariadb-install-db) not found in /usr/sbin or /usr/bin: ' +
        'install them (apt-get install mariadb-server); the storage tests need a real server',
    );
  }
  return { server, installDb };
}

/** Starts a MariaDB server on 127.0.0.1 with a password-authenticated user holding every privilege. */
export async function startMariadb(): Promise<DbServer> {
  const { server, installDb } = mariadbBinaries();
  const user = serverUser('mysql');
  const ids = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const dir = serverDir('mariadb', user);
  const data = join(dir, 'data');
  try {
    await run(
      installDb,
      [
        '--no-defaults',
        `--datadir=${data}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
      ],
      { ...ids, cwd: dir },
    );
    for (let attempt = 1; ; attempt++) {
      const port = await freeTcpPort();
      const { child, output, exited } = startChild(
        server,
        [
          '--no-defaults',
          `--datadir=${data}`,
          `--socket=${join(dir, 'mysqld.sock')}`,
          `--pid-file=${join(dir, 'mysqld.pid')}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          '--skip-name-resolve',
          '--skip-log-bin',
          '--innodb-buffer-pool-size=32M',
          '--innodb-flush-log-at-trx-commit=0',
          '--innodb-doublewrite=0',
        ],
        { ...ids, cwd: dir },
        dir,
      );
      const connect = (database: string | undefined, asRoot: boolean) =>
        mysql.createConnection({
          host: '127.0.0.1',
          port,
          user: asRoot ? 'root' : DB_USER,
          ...(asRoot ? {} : { password: DB_PASSWORD }),
          ...(database === undefined ? {} : { database }),
        });
      const sql = async (database: string, ...statements: string[]) => {
        const connection = await connect(database, false);
        try {
          let rows: Record<string, unknown>[] = [];
          for (const statement of statements) {
            const [result] = await connection.query(statement);
            rows = Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
          }
          return rows;
        } finally {
          await connection.end();
        }
      };
      try {
        await waitReady(
          'mariadbd',
          async () => {
            const root = await connect(undefined, true);
            await root.end();
          },
          exited,
          output,
        );
        const root = await connect(undefined, true);
        await root.query(`CREATE USER '${DB_USER}'@'127.0.0.1' IDENTIFIED BY '${DB_PASSWORD}'`);
        await root.query(`GRANT ALL PRIVILEGES ON *.* TO '${DB_USER}'@'127.0.0.1' WITH GRANT OPTION`);
        await root.end();
      } catch (error) {
        await stopChild(child, exited, 'SIGKILL');
        if (attempt < 3 && /bind on TCP\/IP port|already in use/i.test(output())) continue;
        throw error;
      }
      const url = (database: string) =>
        `mysql://${DB_USER}:${encodeURIComponent(DB_PASSWORD)}@127.0.0.1:${port}/${database}`;
      return {
        dialect: 'mysql',
        port,
        pid: child.pid!,
        url,
        sql,
        async createDatabase(name = databaseName()) {
          const connection = await connect(undefined, false);
          await connection.query(`CREATE DATABASE \`${name}\``);
          await connection.end();
          return url(name);
        },
        async stop() {
          await stopChild(child, exited, 'SIGTERM');
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
