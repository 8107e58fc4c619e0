/**
 * Applies the migrations of ./migrations: under olelo's migration lock, so servers and the CLI starting
 * together wait for each other, then checks the Kamailio tables' versions.
 */
import { datetimeCodec, unixNow } from './datetime.js';
import { errorText, StorageError } from './errors.js';
import { type Migration, type MigrationStep, migrations } from './migrations/index.js';
import {
  columnSql,
  createIndexSql,
  createTableSql,
  MIN_TABLE_VERSIONS,
  migrationsTable,
  quoteIdentifier,
} from './schema.js';
import type { SqlSession } from './sql.js';
import type { Dialect, MigrationReport } from './types.js';

const CURRENT_SCHEMA: Readonly<Record<Dialect, string>> = {
  sqlite: '',
  postgres: 'current_schema()',
  mysql: 'DATABASE()',
};

/** True when the table exists (in the connection's current schema). */
export async function tableExists(session: SqlSession, dialect: Dialect, table: string): Promise<boolean> {
  const rows =
    dialect === 'sqlite'
      ? await session.all("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
      : await session.all(
          `SELECT 1 AS x FROM information_schema.tables WHERE table_schema = ${CURRENT_SCHEMA[dialect]} AND table_name = ?`,
          [table],
        );
  return rows.length > 0;
}

/** True when the table has the column. */
export async function columnExists(
  session: SqlSession,
  dialect: Dialect,
  table: string,
  column: string,
): Promise<boolean> {
  const rows =
    dialect === 'sqlite'
      ? await session.all('SELECT 1 AS x FROM pragma_table_info(?) WHERE name = ?', [table, column])
      : await session.all(
          `SELECT 1 AS x FROM information_schema.columns WHERE table_schema = ${CURRENT_SCHEMA[dialect]} AND table_name = ? AND column_name = ?`,
          [table, column],
        );
  return rows.length > 0;
}

/** Kamailio's `version` rows, by table name (empty when the table does not exist). */
export async function readTableVersions(
  session: SqlSession,
  dialect: Dialect,
): Promise<Record<string, number>> {
  if (!(await tableExists(session, dialect, 'version'))) return {};
  const q = (name: string) => quoteIdentifier(dialect, name);
  const rows = await session.all(`SELECT ${q('table_name')}, ${q('table_version')} FROM ${q('version')}`);
  const out: Record<string, number> = {};
  for (const row of rows) out[String(row.table_name)] = Number(row.table_version);
  return out;
}

async function applyStep(
  session: SqlSession,
  dialect: Dialect,
  step: MigrationStep,
  created: string[],
): Promise<void> {
  const q = (name: string) => quoteIdentifier(dialect, name);
  switch (step.kind) {
    case 'table': {
      const table = step.table;
      if (await tableExists(session, dialect, table.name)) return; // Kamailio's, or ours from before: kept as it is
      await session.run(createTableSql(dialect, table));
      for (const index of table.indexes) {
        if (!index.unique) await session.run(createIndexSql(dialect, table, index));
      }
      if (table.version !== undefined) {
        // a row left by a table dropped earlier would carry the wrong number
        await session.run(`DELETE FROM ${q('version')} WHERE ${q('table_name')} = ?`, [table.name]);
        await session.run(
          `INSERT INTO ${q('version')} (${q('table_name')}, ${q('table_version')}) VALUES (?, ?)`,
          [table.name, table.version],
        );
      }
      created.push(table.name);
      return;
    }
    case 'column':
      if (await columnExists(session, dialect, step.table, step.column.name)) return;
      await session.run(`ALTER TABLE ${q(step.table)} ADD COLUMN ${columnSql(dialect, step.column)}`);
      return;
    case 'sql':
      for (const statement of step.statements[dialect] ?? []) await session.run(statement);
      return;
  }
}

/** Fails when a Kamailio table olelo uses is missing or older than olelo can work with. */
async function checkTables(session: SqlSession, dialect: Dialect, versions: Record<string, number>) {
  const problems: string[] = [];
  for (const [table, min] of Object.entries(MIN_TABLE_VERSIONS)) {
    if (!(await tableExists(session, dialect, table))) {
      problems.push(
        `table ${table} is missing although olelo_migrations says it was created; recreate it, or delete migration 1 from olelo_migrations`,
      );
      continue;
    }
    const version = versions[table];
    if (version !== undefined && version < min) {
      problems.push(
        `table ${table} is at version ${version} (in table version); olelo needs ${min} or later (Kamailio 5.x schema): upgrade the database first`,
      );
    }
  }
  if (problems.length > 0) throw new StorageError('schema', problems.join('\n'));
}

/** Applies pending migrations on a held connection (see {@link SqlDriver.exclusive}). */
export async function migrate(
  session: SqlSession,
  dialect: Dialect,
  list: readonly Migration[] = migrations,
): Promise<MigrationReport> {
  const q = (name: string) => quoteIdentifier(dialect, name);
  const created: string[] = [];
  if (!(await tableExists(session, dialect, migrationsTable.name))) {
    await session.run(createTableSql(dialect, migrationsTable));
    created.push(migrationsTable.name);
  }
  const done = new Set(
    (await session.all(`SELECT ${q('id')} FROM ${q(migrationsTable.name)}`)).map((row) => Number(row.id)),
  );
  const applied: string[] = [];
  for (const migration of list) {
    if (done.has(migration.id)) continue;
    try {
      for (const step of migration.steps) await applyStep(session, dialect, step, created);
    } catch (error) {
      if (error instanceof StorageError && error.code !== 'query') throw error;
      throw new StorageError(
        'schema',
        `migration ${migration.id} (${migration.name}) failed: ${errorText(error)}`,
        {
          cause: error,
        },
      );
    }
    await session.run(
      `INSERT INTO ${q(migrationsTable.name)} (${q('id')}, ${q('name')}, ${q('applied_at')}) VALUES (?, ?, ?)`,
      [migration.id, migration.name, datetimeCodec(dialect).toSql(unixNow())],
    );
    applied.push(`${migration.id}: ${migration.name}`);
  }
  const versions = await readTableVersions(session, dialect);
  await checkTables(session, dialect, versions);
  const tableVersions: Record<string, number> = {};
  for (const table of Object.keys(MIN_TABLE_VERSIONS)) {
    if (versions[table] !== undefined) tableVersions[table] = versions[table];
  }
  return { applied, createdTables: created, tableVersions };
}
