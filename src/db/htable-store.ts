/**
 * The `olelo_htable` table: the items of the htable module's persistent tables (`persist: true`), one
 * row per item. Loaded when the server starts, written back by the module (changed keys only).
 */
import type { TableDef } from './schema.js';
import type { SqlDriver, SqlValue } from './sql.js';
import type { Dialect } from './types.js';

/** One stored item. */
export interface HtableRow {
  readonly key: string;
  readonly value: string | number;
  /** Unix seconds it expires; 0 for never. */
  readonly expires: number;
}

/** The stored items of the htable module's tables, by table name. */
export interface HtableStore {
  /** The items of `table` that have not expired. */
  load(table: string): Promise<HtableRow[]>;
  /**
   * Writes changed items and deletes removed keys of `table`, in one transaction. An item whose key or
   * value is longer than the columns hold ({@link HTABLE_KEY_LENGTH}, {@link HTABLE_VALUE_LENGTH}) is
   * left out — PostgreSQL and MySQL would refuse the whole batch for it — and its key is returned.
   */
  write(table: string, changed: readonly HtableRow[], removed: readonly string[]): Promise<string[]>;
  /** Deletes every item of `table`. */
  clear(table: string): Promise<void>;
}

/** Longest key and string value the columns hold (characters). */
export const HTABLE_KEY_LENGTH = 128;
export const HTABLE_VALUE_LENGTH = 255;

/** olelo's own table (Kamailio's htable keeps one table per hash table, with other columns). */
export const htableTable: TableDef = {
  name: 'olelo_htable',
  columns: [
    { name: 'id', type: { kind: 'id' } },
    { name: 'table_name', type: { kind: 'string', length: 64 } },
    { name: 'key_name', type: { kind: 'string', length: HTABLE_KEY_LENGTH } },
    // 0 string, 1 number (Kamailio's value_type)
    { name: 'value_type', type: { kind: 'int' }, default: 0 },
    { name: 'key_value', type: { kind: 'string', length: HTABLE_VALUE_LENGTH }, default: '' },
    // Unix seconds, 0 for never
    { name: 'expires', type: { kind: 'int' }, default: 0 },
  ],
  indexes: [{ name: 'olelo_htable_key', columns: ['table_name', 'key_name'], unique: true }],
};

/** {@link HtableStore} over a SQL driver. */
export class SqlHtableStore implements HtableStore {
  private readonly upsertSql: string;

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    dialect: Dialect,
  ) {
    const columns = ['table_name', 'key_name', 'value_type', 'key_value', 'expires'].map(q);
    const updated = columns.slice(2);
    const insert = `INSERT INTO ${q('olelo_htable')} (${columns.join(', ')}) VALUES (?, ?, ?, ?, ?)`;
    this.upsertSql =
      dialect === 'mysql'
        ? `${insert} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${c} = VALUES(${c})`).join(', ')}`
        : `${insert} ON CONFLICT (${q('table_name')}, ${q('key_name')}) DO UPDATE SET ${updated.map((c) => `${c} = excluded.${c}`).join(', ')}`;
  }

  async load(table: string): Promise<HtableRow[]> {
    const q = this.q;
    const rows = await this.db.all(
      `SELECT ${q('key_name')}, ${q('value_type')}, ${q('key_value')}, ${q('expires')} FROM ${q('olelo_htable')} ` +
        `WHERE ${q('table_name')} = ? AND (${q('expires')} = 0 OR ${q('expires')} > ?) ORDER BY ${q('id')}`,
      [table, Math.floor(Date.now() / 1000)],
    );
    return rows.map((row) => {
      const raw = row.key_value === null || row.key_value === undefined ? '' : String(row.key_value);
      return {
        key: String(row.key_name),
        value: Number(row.value_type) === 1 ? Number(raw) : raw,
        expires: Number(row.expires ?? 0),
      };
    });
  }

  async write(table: string, changed: readonly HtableRow[], removed: readonly string[]): Promise<string[]> {
    const fits = (row: HtableRow) =>
      row.key.length <= HTABLE_KEY_LENGTH && String(row.value).length <= HTABLE_VALUE_LENGTH;
    const kept = changed.filter(fits);
    const skipped = changed.filter((row) => !fits(row)).map((row) => row.key);
    // a key too long for the column was never stored: nothing to delete
    const gone = removed.filter((key) => key.length <= HTABLE_KEY_LENGTH);
    if (kept.length === 0 && gone.length === 0) return skipped;
    const q = this.q;
    const del = `DELETE FROM ${q('olelo_htable')} WHERE ${q('table_name')} = ? AND ${q('key_name')} = ?`;
    await this.db.transaction(async (session) => {
      for (const key of gone) await session.run(del, [table, key]);
      for (const row of kept) await session.run(this.upsertSql, rowValues(table, row));
    });
    return skipped;
  }

  async clear(table: string): Promise<void> {
    await this.db.run(`DELETE FROM ${this.q('olelo_htable')} WHERE ${this.q('table_name')} = ?`, [table]);
  }
}

function rowValues(table: string, row: HtableRow): SqlValue[] {
  const number = typeof row.value === 'number';
  return [table, row.key, number ? 1 : 0, String(row.value), Math.max(0, Math.floor(row.expires))];
}
