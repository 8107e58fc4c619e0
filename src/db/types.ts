/**
 * The storage contract: the records olelo keeps and the one interface every database driver implements.
 * Tables and columns are Kamailio's (`subscriber`, `domain`, `dbaliases`, `location`, `dispatcher`,
 * `version`); record fields are their columns camel-cased. Times are Unix seconds.
 */

import type { AddressStore } from './address-store.js';
import type { HtableStore } from './htable-store.js';

/** The database engines olelo speaks to. */
export type Dialect = 'sqlite' | 'postgres' | 'mysql';

/** An account that can authenticate: a row of `subscriber`. */
export interface Subscriber {
  readonly id: number;
  /** The user part of the AOR (case-sensitive, as SIP user parts are). */
  readonly username: string;
  /** The domain of the AOR, lower-case; also the digest realm olelo uses. */
  readonly domain: string;
  /** The plain password; `undefined` when only the hashes are stored (an empty column). */
  readonly password: string | undefined;
  /** MD5(username:realm:password), lower-case hex (RFC 2617 §3.2.2.2, A1). */
  readonly ha1: string;
  /** MD5(username@domain:realm:password), for clients that send `username="user@domain"`. */
  readonly ha1b: string;
  /** olelo addition (`email_address`); `undefined` when not set. */
  readonly emailAddress: string | undefined;
  /** olelo addition (`datetime_created`); `undefined` for accounts another tool added. */
  readonly created: number | undefined;
}

/** What {@link SubscriberStore.add} takes: a password (hashed here), or hashes computed elsewhere. */
export interface NewSubscriber {
  username: string;
  domain: string;
  /** The plain password; `ha1` and `ha1b` are computed from it with the domain as realm. */
  password?: string;
  /** With a password: keep the plain text too (default), or only its hashes (Kamailio's `STORE_PLAINTEXT_PW=0`). */
  storePassword?: boolean;
  /** Precomputed hashes, when no password is given. */
  ha1?: string;
  ha1b?: string;
  emailAddress?: string;
}

/** The `subscriber` table. */
export interface SubscriberStore {
  /** Adds an account; rejects with a {@link StorageError} `exists` when username@domain is taken. */
  add(subscriber: NewSubscriber): Promise<Subscriber>;
  get(username: string, domain: string): Promise<Subscriber | undefined>;
  /** Sets a new password (and hashes); resolves false for an unknown account. */
  setPassword(username: string, domain: string, password: string, storePassword?: boolean): Promise<boolean>;
  /** Removes an account; resolves false when there was none. */
  remove(username: string, domain: string): Promise<boolean>;
  /** Every account, or those of one domain, ordered by domain then username. */
  list(filter?: { domain?: string }): Promise<Subscriber[]>;
}

/** A web dashboard administrator (`olelo_admin`); the password hash is never handed out. */
export interface AdminRecord {
  readonly username: string;
  /** Unix seconds. */
  readonly created: number;
}

/** The `olelo_admin` table: who may log in to the web dashboard. Passwords are kept as scrypt hashes. */
export interface AdminStore {
  /** Adds an administrator; rejects with a {@link StorageError} `exists` when the name is taken. */
  add(username: string, password: string): Promise<AdminRecord>;
  /** Whether the name and password match an administrator (constant-time comparison of the hash). */
  verify(username: string, password: string): Promise<boolean>;
  /**
   * What changes when the administrator's password changes or the administrator is removed (the stored
   * hash), undefined for an unknown name: a login session lasts only while it stays the same.
   */
  credentialStamp(username: string): Promise<string | undefined>;
  /** Sets a new password; resolves false for an unknown name. */
  setPassword(username: string, password: string): Promise<boolean>;
  remove(username: string): Promise<boolean>;
  list(): Promise<AdminRecord[]>;
}

/** A domain this server is responsible for: a row of `domain` (Kamailio's multi-domain support). */
export interface DomainRecord {
  readonly id: number;
  /** Lower-case. */
  readonly domain: string;
  /** Domain id grouping several names of one domain (`did`); `undefined` when not set. */
  readonly did: string | undefined;
  readonly lastModified: number;
}

/** The `domain` table. */
export interface DomainStore {
  /** Adds a domain; rejects with a {@link StorageError} `exists` when it is there already. */
  add(domain: string, did?: string): Promise<DomainRecord>;
  remove(domain: string): Promise<boolean>;
  has(domain: string): Promise<boolean>;
  list(): Promise<DomainRecord[]>;
}

/** An alias: requests to alias_username@alias_domain go to username@domain (a row of `dbaliases`). */
export interface AliasRecord {
  readonly id: number;
  readonly aliasUsername: string;
  readonly aliasDomain: string;
  readonly username: string;
  readonly domain: string;
}

/** What {@link AliasStore.add} takes. */
export type NewAlias = Omit<AliasRecord, 'id'>;

/** The `dbaliases` table. */
export interface AliasStore {
  /** Adds an alias; rejects with a {@link StorageError} `exists` when the alias is taken. */
  add(alias: NewAlias): Promise<AliasRecord>;
  /** Removes an alias (every target it had); resolves with how many rows went. */
  remove(aliasUsername: string, aliasDomain: string): Promise<number>;
  /** The targets of an alias (Kamailio allows several); empty when it is none. */
  lookup(aliasUsername: string, aliasDomain: string): Promise<AliasRecord[]>;
  /** Every alias, or those pointing at one account. */
  list(target?: { username: string; domain: string }): Promise<AliasRecord[]>;
}

/**
 * A row of `location`: one contact bound to an AOR. Conventions (shared with the usrloc module): an
 * absent string is `''` (NULL in the column), `methods` is -1 for NULL, `q` is in thousandths (the column
 * holds q/1000; -1 = no q), `expires` 0 = permanent.
 */
export interface LocationRow {
  /** Unique record id; the key of upserts and deletes. */
  readonly ruid: string;
  readonly username: string;
  /** `''` when the AOR has no domain (the column is NULL). */
  readonly domain: string;
  readonly contact: string;
  readonly received: string;
  readonly path: string;
  readonly expires: number;
  readonly q: number;
  readonly callId: string;
  readonly cseq: number;
  readonly lastModified: number;
  readonly flags: number;
  readonly cflags: number;
  readonly userAgent: string;
  readonly socket: string;
  readonly methods: number;
  readonly instance: string;
  readonly regId: number;
  readonly serverId: number;
  readonly connectionId: number;
  readonly keepalive: number;
  /** Kamailio's `partition` (0 unless set). */
  readonly partition?: number;
}

/** The writes {@link LocationTable.updateAor} hands its function, inside its transaction. */
export interface LocationWrites {
  /** Inserts or replaces rows by ruid. */
  upsert(rows: readonly LocationRow[]): Promise<void>;
  /** Deletes rows by ruid; unknown ruids are ignored. */
  delete(ruids: readonly string[]): Promise<void>;
}

/** AORs and rows of `location` that have not expired. */
export interface LocationCounts {
  /** Distinct (username, domain) with a live row. */
  readonly users: number;
  readonly contacts: number;
}

/** The `location` table, for user location persistence (write-back and database-only modes). */
export interface LocationTable {
  /** Every row (at start-up), the rows of one AOR one after another. */
  loadAll(): Promise<LocationRow[]>;
  /** The rows of one AOR (`domain` `''` for none), oldest first. */
  lookup(username: string, domain: string): Promise<LocationRow[]>;
  /** Inserts or replaces rows by ruid, in one transaction. */
  upsert(rows: readonly LocationRow[]): Promise<void>;
  /** Deletes rows by ruid; unknown ruids are ignored. */
  delete(ruids: readonly string[]): Promise<void>;
  /** Deletes every row of an AOR; resolves with how many. */
  deleteAor(username: string, domain: string): Promise<number>;
  /** Deletes rows with `0 < expires <= now` (permanent ones stay); resolves with how many. */
  deleteExpired(now: number): Promise<number>;
  /**
   * Reads the rows of one AOR (as {@link lookup}) and runs `fn` with them and the writes it may make, in
   * one transaction holding a lock on the AOR until it commits: servers sharing the table change an AOR
   * one at a time, so what `fn` checked (a contact there or not, how many) still holds when it writes.
   * `fn` must use only `writes` (not other calls of this storage), and should be quick.
   */
  updateAor<T>(
    username: string,
    domain: string,
    fn: (rows: LocationRow[], writes: LocationWrites) => Promise<T>,
  ): Promise<T>;
  /**
   * Deletes up to `limit` rows with `0 < expires <= now`, oldest expiry first, and resolves with the rows
   * this call deleted: when several servers take expired rows at once, each row goes to one of them.
   */
  takeExpired(now: number, limit: number): Promise<LocationRow[]>;
  /** AORs and rows not expired at `now` (permanent rows count). */
  counts(now: number): Promise<LocationCounts>;
}

/**
 * A destination of the dispatcher module: a row of `dispatcher` (what a line of Kamailio's
 * `dispatcher.list` says). Fields are the columns; empty text columns read `''`.
 */
export interface DispatcherDestination {
  readonly id: number;
  /** The destination set (`setid`). */
  readonly setid: number;
  /** The SIP URI (at most 192 characters). */
  readonly destination: string;
  /** Kamailio's destination flags: 1 inactive, 2 trying, 4 disabled, 8 probing. */
  readonly flags: number;
  /** Within a set, higher priority is tried first. */
  readonly priority: number;
  /** `name=value` pairs separated by `;` (`weight=50;duid=a`), at most 128 characters. */
  readonly attrs: string;
  /** Free text, at most 64 characters. */
  readonly description: string;
}

/** What {@link DispatcherTable.add} takes; absent numbers are 0, absent texts `''`. */
export interface NewDispatcherDestination {
  setid: number;
  destination: string;
  flags?: number;
  priority?: number;
  attrs?: string;
  description?: string;
}

/**
 * The `dispatcher` table. The storage checks only what the columns need (integers, lengths); whether the
 * URI and attributes read well is the dispatcher module's business (its parser, used by the CLI too).
 */
export interface DispatcherTable {
  /** Every destination, or those of one set, ordered by set then id (the order they were added). */
  list(filter?: { setid?: number }): Promise<DispatcherDestination[]>;
  get(id: number): Promise<DispatcherDestination | undefined>;
  /** Adds a destination; resolves with it and its new id. Rejects with `query` for a value the columns cannot hold. */
  add(destination: NewDispatcherDestination): Promise<DispatcherDestination>;
  /** Removes a destination by id; resolves false when there was none. */
  remove(id: number): Promise<boolean>;
}

/** One applied olelo migration. */
export interface AppliedMigration {
  readonly id: number;
  readonly name: string;
  readonly appliedAt: number;
}

/** What {@link Storage.migrate} did. */
export interface MigrationReport {
  /** Migrations applied by this call, in order (empty when the schema was current). */
  readonly applied: readonly string[];
  /** Tables this call created. */
  readonly createdTables: readonly string[];
  /** Kamailio's `version` rows of the tables olelo uses, after the run. */
  readonly tableVersions: Readonly<Record<string, number>>;
}

/** A database: the tables olelo keeps, behind one driver. Every method is safe to call concurrently. */
export interface Storage {
  readonly dialect: Dialect;
  /** The database URL without its password (for logs and messages). */
  readonly url: string;
  readonly subscribers: SubscriberStore;
  readonly domains: DomainStore;
  readonly aliases: AliasStore;
  readonly location: LocationTable;
  readonly dispatcher: DispatcherTable;
  readonly admins: AdminStore;
  /** Kamailio's `address`: trusted source addresses of the permissions module. */
  readonly addresses: AddressStore;
  /** `olelo_htable`: the items of the htable module's persistent tables. */
  readonly htables: HtableStore;
  /**
   * Brings the schema up to date: creates missing tables (recording Kamailio's versions in `version`),
   * applies olelo's pending migrations, then checks that existing Kamailio tables are recent enough.
   * Idempotent; concurrent runs (several servers, the CLI) wait for each other.
   */
  migrate(): Promise<MigrationReport>;
  /** Kamailio's `version` table: version by table name. */
  tableVersions(): Promise<Record<string, number>>;
  /** olelo's migrations applied to this database, in order. */
  appliedMigrations(): Promise<AppliedMigration[]>;
  /** Closes connections; pending calls finish first. */
  close(): Promise<void>;
}
