/**
 * The tables olelo uses, described once and rendered as DDL for each dialect. Names, types, defaults and
 * indexes are those of Kamailio 5.x's standard schema (the facts, not its files), so a database either
 * side created serves both. `version` is the number Kamailio records for the table in its `version` table.
 */
import type { Dialect } from './types.js';

/** A column's type, independent of the dialect. */
export type ColumnType =
  /** The auto-increment primary key `id`. */
  | { kind: 'id' }
  | { kind: 'string'; length: number }
  | { kind: 'int'; unsigned?: boolean }
  /** A float; MySQL's is `FLOAT(10,2)` as in Kamailio (so q keeps two decimals there). */
  | { kind: 'real' }
  /** Date and time without zone, written `YYYY-MM-DD HH:MM:SS` in local time (as Kamailio writes it). */
  | { kind: 'datetime' };

/** A column. Without `nullable` it is NOT NULL. */
export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable?: boolean;
  /** The DEFAULT; `null` is DEFAULT NULL; absent is no DEFAULT clause. */
  readonly default?: string | number | null;
  /** A primary key that is not the auto-increment `id`. */
  readonly primaryKey?: boolean;
}

/**
 * An index. `name` is its stem: Kamailio calls it `<name>_idx` in MySQL (index names are per table there)
 * and `<table>_<name>_idx` in PostgreSQL and SQLite (names are per schema).
 */
export interface IndexDef {
  readonly name: string;
  readonly columns: readonly string[];
  readonly unique?: boolean;
}

/** A table. */
export interface TableDef {
  readonly name: string;
  /** What Kamailio writes into `version` for this table; absent for olelo's own tables. */
  readonly version?: number;
  readonly columns: readonly ColumnDef[];
  readonly indexes: readonly IndexDef[];
}

const id: ColumnDef = { name: 'id', type: { kind: 'id' } };
const str = (name: string, length: number, fallback: string | null = ''): ColumnDef =>
  fallback === null
    ? { name, type: { kind: 'string', length }, nullable: true, default: null }
    : { name, type: { kind: 'string', length }, default: fallback };
const int = (name: string, fallback: number | null = 0): ColumnDef =>
  fallback === null
    ? { name, type: { kind: 'int' }, nullable: true, default: null }
    : { name, type: { kind: 'int' }, default: fallback };
const datetime = (name: string, fallback: string): ColumnDef => ({
  name,
  type: { kind: 'datetime' },
  default: fallback,
});

/** Kamailio's `version`: the schema version of each table, checked by its modules at start. */
export const versionTable: TableDef = {
  name: 'version',
  version: 1,
  columns: [
    id,
    { name: 'table_name', type: { kind: 'string', length: 32 } },
    { name: 'table_version', type: { kind: 'int', unsigned: true }, default: 0 },
  ],
  indexes: [{ name: 'table_name', columns: ['table_name'], unique: true }],
};

/** Kamailio's `subscriber` (auth_db): accounts with their password and digest hashes. */
export const subscriberTable: TableDef = {
  name: 'subscriber',
  version: 7,
  columns: [
    id,
    str('username', 64),
    str('domain', 64),
    str('password', 64),
    str('ha1', 128),
    str('ha1b', 128),
  ],
  indexes: [
    { name: 'account', columns: ['username', 'domain'], unique: true },
    { name: 'username', columns: ['username'] },
  ],
};

/** Kamailio's `domain`: the domains served (multi-domain). */
export const domainTable: TableDef = {
  name: 'domain',
  version: 2,
  columns: [
    id,
    { name: 'domain', type: { kind: 'string', length: 64 } },
    str('did', 64, null),
    datetime('last_modified', '2000-01-01 00:00:01'),
  ],
  indexes: [{ name: 'domain', columns: ['domain'], unique: true }],
};

/** Kamailio's `domain_attrs`: attributes of a domain id; Kamailio's domain module checks it is there. */
export const domainAttrsTable: TableDef = {
  name: 'domain_attrs',
  version: 1,
  columns: [
    id,
    { name: 'did', type: { kind: 'string', length: 64 } },
    { name: 'name', type: { kind: 'string', length: 32 } },
    { name: 'type', type: { kind: 'int', unsigned: true } },
    { name: 'value', type: { kind: 'string', length: 255 } },
    datetime('last_modified', '2000-01-01 00:00:01'),
  ],
  indexes: [{ name: 'domain_attrs', columns: ['did', 'name'] }],
};

/** Kamailio's `dbaliases` (alias_db): alias AOR to account. */
export const aliasTable: TableDef = {
  name: 'dbaliases',
  version: 1,
  columns: [id, str('alias_username', 64), str('alias_domain', 64), str('username', 64), str('domain', 64)],
  indexes: [
    { name: 'alias_user', columns: ['alias_username'] },
    { name: 'alias', columns: ['alias_username', 'alias_domain'] },
    { name: 'target', columns: ['username', 'domain'] },
  ],
};

/** Kamailio's `location` (usrloc): registered contacts. */
export const locationTable: TableDef = {
  name: 'location',
  version: 9,
  columns: [
    id,
    str('ruid', 64),
    str('username', 64),
    str('domain', 64, null),
    str('contact', 512),
    str('received', 128, null),
    str('path', 512, null),
    datetime('expires', '2030-05-28 21:32:15'),
    { name: 'q', type: { kind: 'real' }, default: 1.0 },
    str('callid', 255, 'Default-Call-ID'),
    int('cseq', 1),
    datetime('last_modified', '2000-01-01 00:00:01'),
    int('flags'),
    int('cflags'),
    str('user_agent', 255),
    str('socket', 64, null),
    int('methods', null),
    str('instance', 255, null),
    int('reg_id'),
    int('server_id'),
    int('connection_id'),
    int('keepalive'),
    int('partition'),
  ],
  indexes: [
    { name: 'ruid', columns: ['ruid'], unique: true },
    { name: 'account_contact', columns: ['username', 'domain', 'contact'] },
    { name: 'expires', columns: ['expires'] },
    { name: 'tcpcon', columns: ['connection_id'] },
    { name: 'connection', columns: ['server_id', 'connection_id'] },
  ],
};

/** Kamailio's `location_attrs` (usrloc): attributes of a contact, by ruid. */
export const locationAttrsTable: TableDef = {
  name: 'location_attrs',
  version: 1,
  columns: [
    id,
    str('ruid', 64),
    str('username', 64),
    str('domain', 64, null),
    str('aname', 64),
    int('atype'),
    str('avalue', 512),
    datetime('last_modified', '2000-01-01 00:00:01'),
  ],
  indexes: [
    { name: 'account_record', columns: ['username', 'domain', 'ruid'] },
    { name: 'last_modified', columns: ['last_modified'] },
  ],
};

/**
 * Kamailio's `dispatcher`: destinations of the dispatcher module, one row a destination (what a line of
 * `dispatcher.list` says). Version 4 is Kamailio 4.x and 5.x's; no index.
 */
export const dispatcherTable: TableDef = {
  name: 'dispatcher',
  version: 4,
  columns: [
    id,
    int('setid'),
    str('destination', 192),
    int('flags'),
    int('priority'),
    str('attrs', 128),
    str('description', 64),
  ],
  indexes: [],
};

/** The `version` of `dispatcher` whose columns olelo reads; older tables lack some (checked when read). */
export const MIN_DISPATCHER_VERSION = 4;

/** olelo's record of applied migrations. */
export const migrationsTable: TableDef = {
  name: 'olelo_migrations',
  columns: [
    { name: 'id', type: { kind: 'int' }, primaryKey: true },
    { name: 'name', type: { kind: 'string', length: 128 } },
    { name: 'applied_at', type: { kind: 'datetime' } },
  ],
  indexes: [],
};

/** The oldest `version` of each Kamailio table that has every column olelo reads and writes. */
export const MIN_TABLE_VERSIONS: Readonly<Record<string, number>> = {
  version: 1,
  // 6 (Kamailio 4.x) still had email_address and rpid; the columns olelo uses are the same
  subscriber: 6,
  domain: 2,
  dbaliases: 1,
  // 8 (Kamailio 5.0) has every column of 9; 9 only added an index
  location: 8,
};

// ---------------------------------------------------------------------------------------------------
// Rendering

/** Quotes an identifier (`partition` is reserved in MySQL, `domain` and `version` are keywords elsewhere). */
export function quoteIdentifier(dialect: Dialect, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/** The name of an index in a dialect, as Kamailio names it. */
export function indexName(dialect: Dialect, table: string, index: IndexDef): string {
  return dialect === 'mysql' ? `${index.name}_idx` : `${table}_${index.name}_idx`;
}

function typeSql(dialect: Dialect, type: ColumnType): string {
  switch (type.kind) {
    case 'id':
      if (dialect === 'mysql') return 'INT UNSIGNED AUTO_INCREMENT PRIMARY KEY';
      return dialect === 'postgres' ? 'SERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY';
    case 'string':
      return `VARCHAR(${type.length})`;
    case 'int':
      if (dialect === 'mysql') return type.unsigned ? 'INT UNSIGNED' : 'INT';
      return 'INTEGER';
    case 'real':
      return dialect === 'mysql' ? 'FLOAT(10,2)' : 'REAL';
    case 'datetime':
      return dialect === 'mysql' ? 'DATETIME' : 'TIMESTAMP WITHOUT TIME ZONE';
  }
}

function literal(value: string | number | null, type: ColumnType): string {
  if (value === null) return 'NULL';
  // a float default reads `1.0`, as in Kamailio's schema
  if (typeof value === 'number')
    return type.kind === 'real' && Number.isInteger(value) ? value.toFixed(1) : String(value);
  return `'${value.replace(/'/g, "''")}'`;
}

/** A column's definition in CREATE TABLE or ALTER TABLE ADD. */
export function columnSql(dialect: Dialect, column: ColumnDef): string {
  let sql = `${quoteIdentifier(dialect, column.name)} ${typeSql(dialect, column.type)}`;
  if (column.primaryKey) sql += ' PRIMARY KEY';
  if (column.default !== undefined) sql += ` DEFAULT ${literal(column.default, column.type)}`;
  if (!column.nullable) sql += ' NOT NULL';
  return sql;
}

function columnList(dialect: Dialect, columns: readonly string[]): string {
  return columns.map((c) => quoteIdentifier(dialect, c)).join(', ');
}

/** CREATE TABLE with its unique constraints; the other indexes come from {@link createIndexSql}. */
export function createTableSql(dialect: Dialect, table: TableDef): string {
  const lines = table.columns.map((c) => `  ${columnSql(dialect, c)}`);
  for (const index of table.indexes) {
    if (!index.unique) continue;
    lines.push(
      `  CONSTRAINT ${quoteIdentifier(dialect, indexName(dialect, table.name, index))} UNIQUE (${columnList(dialect, index.columns)})`,
    );
  }
  return `CREATE TABLE ${quoteIdentifier(dialect, table.name)} (\n${lines.join(',\n')}\n)`;
}

/** CREATE INDEX for one of the table's non-unique indexes. */
export function createIndexSql(dialect: Dialect, table: TableDef, index: IndexDef): string {
  const name = quoteIdentifier(dialect, indexName(dialect, table.name, index));
  return `CREATE INDEX ${name} ON ${quoteIdentifier(dialect, table.name)} (${columnList(dialect, index.columns)})`;
}

/** olelo's `olelo_admin`: who may log in to the web dashboard (`olelo admin add`); scrypt password hashes. */
export const adminTable: TableDef = {
  name: 'olelo_admin',
  columns: [
    id,
    { name: 'username', type: { kind: 'string', length: 64 } },
    { name: 'password_hash', type: { kind: 'string', length: 255 } },
    datetime('datetime_created', '2000-01-01 00:00:01'),
  ],
  indexes: [{ name: 'olelo_admin_username', columns: ['username'], unique: true }],
};
