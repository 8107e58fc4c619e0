/**
 * The storage interface over any SQL driver: the statements are written once, with the dialect's
 * identifier quoting and upsert form.
 */
import { randomUUID } from 'node:crypto';
import { type AddressStore, SqlAddressStore } from './address-store.js';
import { hashAdminPassword, subscriberHashes, verifyAdminPassword } from './credentials.js';
import { type DatetimeCodec, datetimeCodec, unixNow } from './datetime.js';
import { StorageError } from './errors.js';
import { type HtableStore, SqlHtableStore } from './htable-store.js';
import { migrate, readTableVersions } from './migrate.js';
import { dispatcherTable, quoteIdentifier } from './schema.js';
import type { Row, SqlDriver, SqlSession, SqlValue } from './sql.js';
import type {
  AdminRecord,
  AdminStore,
  AliasRecord,
  AliasStore,
  AppliedMigration,
  Dialect,
  DispatcherDestination,
  DispatcherTable,
  DomainRecord,
  DomainStore,
  LocationCounts,
  LocationRow,
  LocationTable,
  LocationWrites,
  MigrationReport,
  NewAlias,
  NewDispatcherDestination,
  NewSubscriber,
  Storage,
  Subscriber,
  SubscriberStore,
} from './types.js';

/** Most placeholders in one `IN (...)` list. */
const BATCH = 500;

const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));
const optionalText = (value: unknown): string | undefined =>
  value === null || value === undefined || value === '' ? undefined : String(value);
const integer = (value: unknown, fallback = 0): number =>
  value === null || value === undefined ? fallback : Number(value);

/** Turns a unique-constraint refusal into `exists` with a message about the row. */
async function unlessExists<T>(write: () => Promise<T>, what: string): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof StorageError && error.code === 'conflict')
      throw new StorageError('exists', `${what} exists already`, { cause: error });
    throw error;
  }
}

class SqlSubscribers implements SubscriberStore {
  private readonly select: string;

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    private readonly time: DatetimeCodec,
  ) {
    const columns = [
      'id',
      'username',
      'domain',
      'password',
      'ha1',
      'ha1b',
      'email_address',
      'datetime_created',
    ];
    this.select = `SELECT ${columns.map(q).join(', ')} FROM ${q('subscriber')}`;
  }

  private record(row: Row): Subscriber {
    return {
      id: Number(row.id),
      username: text(row.username),
      domain: text(row.domain),
      password: optionalText(row.password),
      ha1: text(row.ha1),
      ha1b: text(row.ha1b),
      emailAddress: optionalText(row.email_address),
      created:
        row.datetime_created === null || row.datetime_created === undefined
          ? undefined
          : this.time.fromSql(row.datetime_created),
    };
  }

  async add(subscriber: NewSubscriber): Promise<Subscriber> {
    const { username, password } = subscriber;
    const domain = subscriber.domain.toLowerCase();
    let ha1 = subscriber.ha1 ?? '';
    let ha1b = subscriber.ha1b ?? '';
    if (password !== undefined) ({ ha1, ha1b } = subscriberHashes(username, domain, password));
    else if (ha1 === '') throw new StorageError('query', 'a subscriber needs a password or its ha1');
    const stored = password !== undefined && subscriber.storePassword !== false ? password : '';
    const q = this.q;
    const columns = ['username', 'domain', 'password', 'ha1', 'ha1b', 'datetime_created'];
    const values: SqlValue[] = [username, domain, stored, ha1, ha1b, this.time.toSql(unixNow())];
    // left out when absent, so the column's default applies (NULL, or '' in Kamailio 4.x's NOT NULL column)
    if (subscriber.emailAddress !== undefined) {
      columns.push('email_address');
      values.push(subscriber.emailAddress);
    }
    await unlessExists(
      () =>
        this.db.run(
          `INSERT INTO ${q('subscriber')} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
          values,
        ),
      `user ${username}@${domain}`,
    );
    const added = await this.get(username, domain);
    if (added === undefined)
      throw new StorageError('query', `user ${username}@${domain} vanished after insert`);
    return added;
  }

  async get(username: string, domain: string): Promise<Subscriber | undefined> {
    const q = this.q;
    const rows = await this.db.all(`${this.select} WHERE ${q('username')} = ? AND ${q('domain')} = ?`, [
      username,
      domain.toLowerCase(),
    ]);
    return rows.length === 0 ? undefined : this.record(rows[0]!);
  }

  async setPassword(
    username: string,
    domain: string,
    password: string,
    storePassword = true,
  ): Promise<boolean> {
    const q = this.q;
    const lower = domain.toLowerCase();
    const { ha1, ha1b } = subscriberHashes(username, lower, password);
    const result = await this.db.run(
      `UPDATE ${q('subscriber')} SET ${q('password')} = ?, ${q('ha1')} = ?, ${q('ha1b')} = ? WHERE ${q('username')} = ? AND ${q('domain')} = ?`,
      [storePassword ? password : '', ha1, ha1b, username, lower],
    );
    return result.changes > 0;
  }

  async remove(username: string, domain: string): Promise<boolean> {
    const q = this.q;
    const result = await this.db.run(
      `DELETE FROM ${q('subscriber')} WHERE ${q('username')} = ? AND ${q('domain')} = ?`,
      [username, domain.toLowerCase()],
    );
    return result.changes > 0;
  }

  async list(filter: { domain?: string } = {}): Promise<Subscriber[]> {
    const q = this.q;
    const order = ` ORDER BY ${q('domain')}, ${q('username')}`;
    const rows =
      filter.domain === undefined
        ? await this.db.all(this.select + order)
        : await this.db.all(`${this.select} WHERE ${q('domain')} = ?${order}`, [filter.domain.toLowerCase()]);
    return rows.map((row) => this.record(row));
  }
}

class SqlDomains implements DomainStore {
  private readonly select: string;

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    private readonly time: DatetimeCodec,
  ) {
    this.select = `SELECT ${['id', 'domain', 'did', 'last_modified'].map(q).join(', ')} FROM ${q('domain')}`;
  }

  private record(row: Row): DomainRecord {
    return {
      id: Number(row.id),
      domain: text(row.domain),
      did: optionalText(row.did),
      lastModified: this.time.fromSql(row.last_modified),
    };
  }

  async add(domain: string, did?: string): Promise<DomainRecord> {
    const q = this.q;
    const lower = domain.toLowerCase();
    await unlessExists(
      () =>
        this.db.run(
          `INSERT INTO ${q('domain')} (${q('domain')}, ${q('did')}, ${q('last_modified')}) VALUES (?, ?, ?)`,
          [lower, did ?? null, this.time.toSql(unixNow())],
        ),
      `domain ${lower}`,
    );
    const rows = await this.db.all(`${this.select} WHERE ${q('domain')} = ?`, [lower]);
    return this.record(rows[0]!);
  }

  async remove(domain: string): Promise<boolean> {
    const q = this.q;
    const result = await this.db.run(`DELETE FROM ${q('domain')} WHERE ${q('domain')} = ?`, [
      domain.toLowerCase(),
    ]);
    return result.changes > 0;
  }

  async has(domain: string): Promise<boolean> {
    const q = this.q;
    const rows = await this.db.all(`SELECT 1 AS x FROM ${q('domain')} WHERE ${q('domain')} = ?`, [
      domain.toLowerCase(),
    ]);
    return rows.length > 0;
  }

  async list(): Promise<DomainRecord[]> {
    return (await this.db.all(`${this.select} ORDER BY ${this.q('domain')}`)).map((row) => this.record(row));
  }
}

class SqlAliases implements AliasStore {
  private readonly select: string;

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
  ) {
    const columns = ['id', 'alias_username', 'alias_domain', 'username', 'domain'];
    this.select = `SELECT ${columns.map(q).join(', ')} FROM ${q('dbaliases')}`;
  }

  private record(row: Row): AliasRecord {
    return {
      id: Number(row.id),
      aliasUsername: text(row.alias_username),
      aliasDomain: text(row.alias_domain),
      username: text(row.username),
      domain: text(row.domain),
    };
  }

  async add(alias: NewAlias): Promise<AliasRecord> {
    const q = this.q;
    const aliasDomain = alias.aliasDomain.toLowerCase();
    const domain = alias.domain.toLowerCase();
    // dbaliases has no unique index (Kamailio allows several targets); olelo keeps one per alias
    if ((await this.lookup(alias.aliasUsername, aliasDomain)).length > 0)
      throw new StorageError('exists', `alias ${alias.aliasUsername}@${aliasDomain} exists already`);
    await this.db.run(
      `INSERT INTO ${q('dbaliases')} (${['alias_username', 'alias_domain', 'username', 'domain'].map(q).join(', ')}) VALUES (?, ?, ?, ?)`,
      [alias.aliasUsername, aliasDomain, alias.username, domain],
    );
    const added = await this.lookup(alias.aliasUsername, aliasDomain);
    return added[added.length - 1]!;
  }

  async remove(aliasUsername: string, aliasDomain: string): Promise<number> {
    const q = this.q;
    const result = await this.db.run(
      `DELETE FROM ${q('dbaliases')} WHERE ${q('alias_username')} = ? AND ${q('alias_domain')} = ?`,
      [aliasUsername, aliasDomain.toLowerCase()],
    );
    return result.changes;
  }

  async lookup(aliasUsername: string, aliasDomain: string): Promise<AliasRecord[]> {
    const q = this.q;
    const rows = await this.db.all(
      `${this.select} WHERE ${q('alias_username')} = ? AND ${q('alias_domain')} = ? ORDER BY ${q('id')}`,
      [aliasUsername, aliasDomain.toLowerCase()],
    );
    return rows.map((row) => this.record(row));
  }

  async list(target?: { username: string; domain: string }): Promise<AliasRecord[]> {
    const q = this.q;
    const order = ` ORDER BY ${q('alias_domain')}, ${q('alias_username')}, ${q('id')}`;
    const rows =
      target === undefined
        ? await this.db.all(this.select + order)
        : await this.db.all(`${this.select} WHERE ${q('username')} = ? AND ${q('domain')} = ?${order}`, [
            target.username,
            target.domain.toLowerCase(),
          ]);
    return rows.map((row) => this.record(row));
  }
}

/** The `location` columns in the order of {@link locationValues}. */
const LOCATION_COLUMNS = [
  'ruid',
  'username',
  'domain',
  'contact',
  'received',
  'path',
  'expires',
  'q',
  'callid',
  'cseq',
  'last_modified',
  'flags',
  'cflags',
  'user_agent',
  'socket',
  'methods',
  'instance',
  'reg_id',
  'server_id',
  'connection_id',
  'keepalive',
  'partition',
] as const;

const nullIfEmpty = (value: string): string | null => (value === '' ? null : value);

function locationValues(row: LocationRow, time: DatetimeCodec): SqlValue[] {
  return [
    row.ruid,
    row.username,
    nullIfEmpty(row.domain),
    row.contact,
    nullIfEmpty(row.received),
    nullIfEmpty(row.path),
    time.toSql(row.expires),
    // Kamailio's q2double: -1 (no q) is kept as -1
    row.q < 0 ? -1 : row.q / 1000,
    row.callId,
    row.cseq,
    time.toSql(row.lastModified),
    row.flags,
    row.cflags,
    row.userAgent,
    nullIfEmpty(row.socket),
    row.methods < 0 ? null : row.methods,
    nullIfEmpty(row.instance),
    row.regId,
    row.serverId,
    row.connectionId,
    row.keepalive,
    row.partition ?? 0,
  ];
}

function locationRow(row: Row, time: DatetimeCodec): LocationRow {
  const q = Number(row.q ?? 1);
  return {
    ruid: text(row.ruid),
    username: text(row.username),
    domain: text(row.domain),
    contact: text(row.contact),
    received: text(row.received),
    path: text(row.path),
    expires: time.fromSql(row.expires),
    q: q < 0 ? -1 : Math.round(q * 1000),
    callId: text(row.callid),
    cseq: integer(row.cseq),
    lastModified: time.fromSql(row.last_modified),
    flags: integer(row.flags),
    cflags: integer(row.cflags),
    userAgent: text(row.user_agent),
    socket: text(row.socket),
    methods: integer(row.methods, -1),
    instance: text(row.instance),
    regId: integer(row.reg_id),
    serverId: integer(row.server_id),
    connectionId: integer(row.connection_id),
    keepalive: integer(row.keepalive),
    partition: integer(row.partition),
  };
}

class SqlLocation implements LocationTable {
  private readonly select: string;
  private readonly upsertSql: string;
  private readonly aorWhere: { withDomain: string; withoutDomain: string };

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    private readonly time: DatetimeCodec,
    dialect: Dialect,
  ) {
    const columns = LOCATION_COLUMNS.map(q);
    this.select = `SELECT ${columns.join(', ')} FROM ${q('location')}`;
    const insert = `INSERT INTO ${q('location')} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
    const updated = columns.slice(1);
    this.upsertSql =
      dialect === 'mysql'
        ? `${insert} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${c} = VALUES(${c})`).join(', ')}`
        : `${insert} ON CONFLICT (${q('ruid')}) DO UPDATE SET ${updated.map((c) => `${c} = excluded.${c}`).join(', ')}`;
    this.aorWhere = {
      withDomain: `WHERE ${q('username')} = ? AND ${q('domain')} = ?`,
      // usrloc without domains writes NULL; '' is accepted too
      withoutDomain: `WHERE ${q('username')} = ? AND (${q('domain')} IS NULL OR ${q('domain')} = '')`,
    };
  }

  private aor(username: string, domain: string): { where: string; params: SqlValue[] } {
    return domain === ''
      ? { where: this.aorWhere.withoutDomain, params: [username] }
      : { where: this.aorWhere.withDomain, params: [username, domain] };
  }

  async loadAll(): Promise<LocationRow[]> {
    const q = this.q;
    const rows = await this.db.all(`${this.select} ORDER BY ${q('username')}, ${q('domain')}, ${q('id')}`);
    return rows.map((row) => locationRow(row, this.time));
  }

  async lookup(username: string, domain: string): Promise<LocationRow[]> {
    const { where, params } = this.aor(username, domain);
    const rows = await this.db.all(`${this.select} ${where} ORDER BY ${this.q('id')}`, params);
    return rows.map((row) => locationRow(row, this.time));
  }

  async upsert(rows: readonly LocationRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction(async (session: SqlSession) => {
      for (const row of rows) await session.run(this.upsertSql, locationValues(row, this.time));
    });
  }

  delete(ruids: readonly string[]): Promise<void> {
    return this.deleteRuids(this.db, ruids);
  }

  private async deleteRuids(session: SqlSession, ruids: readonly string[]): Promise<void> {
    const q = this.q;
    for (let i = 0; i < ruids.length; i += BATCH) {
      const batch = ruids.slice(i, i + BATCH);
      await session.run(
        `DELETE FROM ${q('location')} WHERE ${q('ruid')} IN (${batch.map(() => '?').join(', ')})`,
        batch,
      );
    }
  }

  async deleteAor(username: string, domain: string): Promise<number> {
    const { where, params } = this.aor(username, domain);
    return (await this.db.run(`DELETE FROM ${this.q('location')} ${where}`, params)).changes;
  }

  async deleteExpired(now: number): Promise<number> {
    // expires 0 (permanent) is stored as the epoch, rendered as every other time
    const result = await this.db.run(`DELETE FROM ${this.q('location')} WHERE ${this.expired}`, [
      this.time.toSql(0),
      this.time.toSql(now),
    ]);
    return result.changes;
  }

  updateAor<T>(
    username: string,
    domain: string,
    fn: (rows: LocationRow[], writes: LocationWrites) => Promise<T>,
  ): Promise<T> {
    const { where, params } = this.aor(username, domain);
    return this.db.transaction(
      async (session) => {
        const rows = await session.all(`${this.select} ${where} ORDER BY ${this.q('id')}`, params);
        return fn(
          rows.map((row) => locationRow(row, this.time)),
          {
            upsert: async (changed) => {
              for (const row of changed) await session.run(this.upsertSql, locationValues(row, this.time));
            },
            delete: (ruids) => this.deleteRuids(session, ruids),
          },
        );
      },
      // one lock name per AOR: servers writing other AORs do not wait
      `location:${username}@${domain}`,
    );
  }

  takeExpired(now: number, limit: number): Promise<LocationRow[]> {
    const q = this.q;
    const bounds = [this.time.toSql(0), this.time.toSql(now)];
    const count = Math.max(1, Math.floor(limit));
    return this.db.transaction(async (session) => {
      const rows = await session.all(
        `${this.select} WHERE ${this.expired} ORDER BY ${q('expires')}, ${q('ruid')} LIMIT ${count}`,
        bounds,
      );
      const taken: LocationRow[] = [];
      // one row at a time, in a fixed order: a row another server deleted (or refreshed) after the read
      // is not deleted here, and two servers sweeping together lock rows in the same order
      for (const row of rows) {
        const deleted = await session.run(
          `DELETE FROM ${q('location')} WHERE ${q('ruid')} = ? AND ${this.expired}`,
          [text(row.ruid), ...bounds],
        );
        if (deleted.changes > 0) taken.push(locationRow(row, this.time));
      }
      return taken;
    });
  }

  async counts(now: number): Promise<LocationCounts> {
    const q = this.q;
    const rows = await this.db.all(
      `SELECT COUNT(*) AS ${q('users')}, SUM(${q('n')}) AS ${q('contacts')} FROM (SELECT COUNT(*) AS ${q('n')} FROM ${q('location')} WHERE NOT (${this.expired}) GROUP BY ${q('username')}, ${q('domain')}) ${q('aors')}`,
      [this.time.toSql(0), this.time.toSql(now)],
    );
    return { users: integer(rows[0]?.users), contacts: integer(rows[0]?.contacts) };
  }

  /** Rows with `0 < expires <= ?2` (placeholders: the epoch, then now). */
  private get expired(): string {
    const expires = this.q('expires');
    return `${expires} > ? AND ${expires} <= ?`;
  }
}

/** The length of a text column of `dispatcher`, from the schema. */
function dispatcherLength(column: string): number {
  const type = dispatcherTable.columns.find((c) => c.name === column)?.type;
  return type?.kind === 'string' ? type.length : 0;
}

/** Integers of the `dispatcher` columns (INT: signed 32 bits). */
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

class SqlDispatcher implements DispatcherTable {
  private readonly select: string;

  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    private readonly dialect: Dialect,
  ) {
    const columns = ['id', 'setid', 'destination', 'flags', 'priority', 'attrs', 'description'];
    this.select = `SELECT ${columns.map(q).join(', ')} FROM ${q('dispatcher')}`;
  }

  private record(row: Row): DispatcherDestination {
    return {
      id: Number(row.id),
      setid: integer(row.setid),
      destination: text(row.destination),
      flags: integer(row.flags),
      priority: integer(row.priority),
      attrs: text(row.attrs),
      description: text(row.description),
    };
  }

  async list(filter: { setid?: number } = {}): Promise<DispatcherDestination[]> {
    const q = this.q;
    const order = ` ORDER BY ${q('setid')}, ${q('id')}`;
    const rows =
      filter.setid === undefined
        ? await this.db.all(this.select + order)
        : await this.db.all(`${this.select} WHERE ${q('setid')} = ?${order}`, [filter.setid]);
    return rows.map((row) => this.record(row));
  }

  async get(id: number): Promise<DispatcherDestination | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    const rows = await this.db.all(`${this.select} WHERE ${this.q('id')} = ?`, [id]);
    return rows.length === 0 ? undefined : this.record(rows[0]!);
  }

  async add(destination: NewDispatcherDestination): Promise<DispatcherDestination> {
    const values: SqlValue[] = [
      this.int('setid', destination.setid),
      this.str('destination', destination.destination),
      this.int('flags', destination.flags ?? 0),
      this.int('priority', destination.priority ?? 0),
      this.str('attrs', destination.attrs ?? ''),
      this.str('description', destination.description ?? ''),
    ];
    if (values[1] === '') throw new StorageError('query', 'a dispatcher destination needs a URI');
    const q = this.q;
    const columns = ['setid', 'destination', 'flags', 'priority', 'attrs', 'description'];
    const insert = `INSERT INTO ${q('dispatcher')} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
    const id =
      this.dialect === 'mysql'
        ? // LAST_INSERT_ID() is per connection: asked on the one that inserted
          await this.db.transaction(async (session) => {
            await session.run(insert, values);
            return Number((await session.all('SELECT LAST_INSERT_ID() AS id'))[0]?.id);
          })
        : Number((await this.db.all(`${insert} RETURNING ${q('id')}`, values))[0]?.id);
    const added = await this.get(id);
    if (added === undefined)
      throw new StorageError('query', `dispatcher destination ${id} vanished after insert`);
    return added;
  }

  async remove(id: number): Promise<boolean> {
    if (!Number.isSafeInteger(id)) return false;
    const result = await this.db.run(`DELETE FROM ${this.q('dispatcher')} WHERE ${this.q('id')} = ?`, [id]);
    return result.changes > 0;
  }

  private int(column: string, value: number): number {
    if (!Number.isInteger(value) || value < INT_MIN || value > INT_MAX)
      throw new StorageError('query', `dispatcher ${column} must be an integer of 32 bits: ${value}`);
    return value;
  }

  private str(column: string, value: string): string {
    const max = dispatcherLength(column);
    // VARCHAR lengths count characters (code points) in PostgreSQL and MySQL
    if ([...value].length > max)
      throw new StorageError('query', `dispatcher ${column} is longer than ${max} characters`);
    return value;
  }
}

class SqlAdmins implements AdminStore {
  constructor(
    private readonly db: SqlDriver,
    private readonly q: (name: string) => string,
    private readonly time: DatetimeCodec,
  ) {}

  async add(username: string, password: string): Promise<AdminRecord> {
    const q = this.q;
    const created = unixNow();
    const hash = await hashAdminPassword(password);
    await unlessExists(
      () =>
        this.db.run(
          `INSERT INTO ${q('olelo_admin')} (${q('username')}, ${q('password_hash')}, ${q('datetime_created')}) VALUES (?, ?, ?)`,
          [username, hash, this.time.toSql(created)],
        ),
      `administrator ${username}`,
    );
    return { username, created };
  }

  async verify(username: string, password: string): Promise<boolean> {
    const q = this.q;
    const rows = await this.db.all(
      `SELECT ${q('password_hash')} FROM ${q('olelo_admin')} WHERE ${q('username')} = ?`,
      [username],
    );
    // an unknown name costs the same hashing as a wrong password, so timing does not tell names apart
    const stored = rows.length === 1 ? text(rows[0]!.password_hash) : await unknownAdminHash();
    const ok = await verifyAdminPassword(password, stored);
    return ok && rows.length === 1;
  }

  async credentialStamp(username: string): Promise<string | undefined> {
    const q = this.q;
    const rows = await this.db.all(
      `SELECT ${q('password_hash')} FROM ${q('olelo_admin')} WHERE ${q('username')} = ?`,
      [username],
    );
    return rows.length === 1 ? text(rows[0]!.password_hash) : undefined;
  }

  async setPassword(username: string, password: string): Promise<boolean> {
    const q = this.q;
    const hash = await hashAdminPassword(password);
    const result = await this.db.run(
      `UPDATE ${q('olelo_admin')} SET ${q('password_hash')} = ? WHERE ${q('username')} = ?`,
      [hash, username],
    );
    return result.changes > 0;
  }

  async remove(username: string): Promise<boolean> {
    const q = this.q;
    const result = await this.db.run(`DELETE FROM ${q('olelo_admin')} WHERE ${q('username')} = ?`, [
      username,
    ]);
    return result.changes > 0;
  }

  async list(): Promise<AdminRecord[]> {
    const q = this.q;
    const rows = await this.db.all(
      `SELECT ${q('username')}, ${q('datetime_created')} FROM ${q('olelo_admin')} ORDER BY ${q('username')}`,
    );
    return rows.map((row) => ({
      username: text(row.username),
      created: this.time.fromSql(row.datetime_created),
    }));
  }
}

/** A hash no password matches in practice, verified for unknown names (made once, lazily). */
let unknownHash: Promise<string> | undefined;
function unknownAdminHash(): Promise<string> {
  unknownHash ??= hashAdminPassword(randomUUID());
  return unknownHash;
}

/** {@link Storage} over a SQL driver. */
export class SqlStorage implements Storage {
  readonly dialect: Dialect;
  readonly subscribers: SubscriberStore;
  readonly domains: DomainStore;
  readonly aliases: AliasStore;
  readonly location: LocationTable;
  readonly dispatcher: DispatcherTable;
  readonly admins: AdminStore;
  readonly addresses: AddressStore;
  readonly htables: HtableStore;
  private readonly time: DatetimeCodec;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly driver: SqlDriver,
    readonly url: string,
  ) {
    this.dialect = driver.dialect;
    const q = (name: string) => quoteIdentifier(driver.dialect, name);
    this.time = datetimeCodec(driver.dialect);
    this.subscribers = new SqlSubscribers(driver, q, this.time);
    this.domains = new SqlDomains(driver, q, this.time);
    this.aliases = new SqlAliases(driver, q);
    this.location = new SqlLocation(driver, q, this.time, driver.dialect);
    this.dispatcher = new SqlDispatcher(driver, q, driver.dialect);
    this.admins = new SqlAdmins(driver, q, this.time);
    this.addresses = new SqlAddressStore(driver, q, driver.dialect);
    this.htables = new SqlHtableStore(driver, q, driver.dialect);
  }

  migrate(): Promise<MigrationReport> {
    return this.driver.exclusive((session) => migrate(session, this.dialect));
  }

  tableVersions(): Promise<Record<string, number>> {
    return readTableVersions(this.driver, this.dialect);
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    const q = (name: string) => quoteIdentifier(this.dialect, name);
    const rows = await this.driver.all(
      `SELECT ${q('id')}, ${q('name')}, ${q('applied_at')} FROM ${q('olelo_migrations')} ORDER BY ${q('id')}`,
    );
    return rows.map((row) => ({
      id: Number(row.id),
      name: text(row.name),
      appliedAt: this.time.fromSql(row.applied_at),
    }));
  }

  close(): Promise<void> {
    this.closing ??= this.driver.close();
    return this.closing;
  }
}
