/**
 * Kamailio's `address` table (permissions module): trusted source addresses by group, with a prefix
 * length (`mask`), a port (0 for any) and a tag. Version 6 is Kamailio 4.x and 5.x's.
 */
import { StorageError } from './errors.js';
import type { TableDef } from './schema.js';
import type { Row, SqlDriver, SqlValue } from './sql.js';
import type { Dialect } from './types.js';

/** A row of `address`. */
export interface AddressRow {
  readonly id: number;
  /** The group (`grp`), 1 by default. */
  readonly grp: number;
  /** An IPv4 or IPv6 address (at most 50 characters). */
  readonly ipAddr: string;
  /** Prefix length: 32 for one IPv4 address, 128 for one IPv6 address (Kamailio's default is 32). */
  readonly mask: number;
  /** Source port; 0 for any. */
  readonly port: number;
  /** Free text handed back on a match; `''` when NULL. */
  readonly tag: string;
}

/** What {@link AddressStore.add} takes. */
export interface NewAddressRow {
  grp?: number;
  ipAddr: string;
  mask?: number;
  port?: number;
  tag?: string;
}

/** The `address` table. Whether `ipAddr` is an address is the permissions module's check. */
export interface AddressStore {
  /** Every row, or those of one group, by group then id. */
  list(filter?: { grp?: number }): Promise<AddressRow[]>;
  /** Adds a row; resolves with it and its new id. Rejects with `query` for values the columns cannot hold. */
  add(row: NewAddressRow): Promise<AddressRow>;
  /** Removes a row by id; false when there was none. */
  remove(id: number): Promise<boolean>;
}

/** Kamailio's `address` (version 6); `port` is SMALLINT UNSIGNED there, an INT here. */
export const addressTable: TableDef = {
  name: 'address',
  version: 6,
  columns: [
    { name: 'id', type: { kind: 'id' } },
    { name: 'grp', type: { kind: 'int', unsigned: true }, default: 1 },
    { name: 'ip_addr', type: { kind: 'string', length: 50 } },
    { name: 'mask', type: { kind: 'int' }, default: 32 },
    { name: 'port', type: { kind: 'int', unsigned: true }, default: 0 },
    { name: 'tag', type: { kind: 'string', length: 64 }, nullable: true, default: null },
  ],
  indexes: [],
};

const COLUMNS = ['id', 'grp', 'ip_addr', 'mask', 'port', 'tag'];

/** {@link AddressStore} over a SQL driver. */
export class SqlAddressStore implements AddressStore {
  private readonly select: string;

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    private readonly dialect: Dialect,
  ) {
    this.select = `SELECT ${COLUMNS.map(q).join(', ')} FROM ${q('address')}`;
  }

  private record(row: Row): AddressRow {
    return {
      id: Number(row.id),
      grp: Number(row.grp ?? 1),
      ipAddr: String(row.ip_addr ?? ''),
      mask: Number(row.mask ?? 32),
      port: Number(row.port ?? 0),
      tag: row.tag === null || row.tag === undefined ? '' : String(row.tag),
    };
  }

  async list(filter: { grp?: number } = {}): Promise<AddressRow[]> {
    const q = this.q;
    const order = ` ORDER BY ${q('grp')}, ${q('id')}`;
    const rows =
      filter.grp === undefined
        ? await this.db.all(this.select + order)
        : await this.db.all(`${this.select} WHERE ${q('grp')} = ?${order}`, [filter.grp]);
    return rows.map((r) => this.record(r));
  }

  async add(row: NewAddressRow): Promise<AddressRow> {
    const grp = row.grp ?? 1;
    const mask = row.mask ?? 32;
    const port = row.port ?? 0;
    const tag = row.tag ?? '';
    if (!Number.isInteger(grp) || grp < 0 || grp > 0xffffffff)
      throw new StorageError('query', `address grp must be an unsigned integer: ${grp}`);
    if (!Number.isInteger(mask) || mask < 0 || mask > 128)
      throw new StorageError('query', `address mask must be 0 to 128: ${mask}`);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new StorageError('query', `address port must be 0 to 65535: ${port}`);
    if (row.ipAddr === '' || row.ipAddr.length > 50)
      throw new StorageError('query', 'address ip_addr must be 1 to 50 characters');
    if ([...tag].length > 64) throw new StorageError('query', 'address tag is longer than 64 characters');
    const q = this.q;
    const columns = ['grp', 'ip_addr', 'mask', 'port', 'tag'];
    const values: SqlValue[] = [grp, row.ipAddr, mask, port, tag === '' ? null : tag];
    const insert = `INSERT INTO ${q('address')} (${columns.map(q).join(', ')}) VALUES (?, ?, ?, ?, ?)`;
    const id =
      this.dialect === 'mysql'
        ? // LAST_INSERT_ID() is per connection: asked on the one that inserted
          await this.db.transaction(async (session) => {
            await session.run(insert, values);
            return Number((await session.all('SELECT LAST_INSERT_ID() AS id'))[0]?.id);
          })
        : Number((await this.db.all(`${insert} RETURNING ${q('id')}`, values))[0]?.id);
    const added = await this.db.all(`${this.select} WHERE ${q('id')} = ?`, [id]);
    if (added.length === 0) throw new StorageError('query', `address ${id} vanished after insert`);
    return this.record(added[0]!);
  }

  async remove(id: number): Promise<boolean> {
    if (!Number.isSafeInteger(id)) return false;
    const result = await this.db.run(`DELETE FROM ${this.q('address')} WHERE ${this.q('id')} = ?`, [id]);
    return result.changes > 0;
  }
}
