/**
 * The database-only location store (Kamailio's usrloc `db_mode` 3): no binding is kept in memory; every
 * lookup reads the `location` table and every change writes it, so several servers sharing the table see
 * one set of bindings. Results are Promises (one database round trip per lookup, find and removal; a
 * transaction per save).
 *
 * Consistency: `save`, `remove` and `removeAor` read the AOR's rows and write them in one transaction
 * holding a lock on the AOR (`LocationTable.updateAor`), so two servers changing one AOR at once take
 * turns: a contact saved by both ends up in one row, and `maxContacts` holds across servers.
 *
 * Expiry: expired rows are never returned and never count; they are deleted by the timer sweep only
 * (`LocationTable.takeExpired`), on every server or on the one whose serverId is `expiryServerId`. Each
 * row is deleted by one sweep, whichever server runs it, and the `onExpired` listeners of that server are
 * told of it.
 */
import { randomBytes } from 'node:crypto';
import type { LocationRow, LocationTable } from '../../db/types.js';
import { aorKeyOf, bindingColumns, checkContactInput, isExpired, matchBinding, qRank } from './binding.js';
import type { StoreCounter } from './memory-store.js';
import type {
  Binding,
  ContactInput,
  ContactKey,
  ExpiredListener,
  LocationCounts,
  LocationRecord,
  LocationStore,
  RemoveResult,
  RequestOrder,
  SaveResult,
} from './types.js';

/** Options of {@link DatabaseLocationStore}. */
export interface DatabaseStoreOptions {
  /** Key AORs by `user@domain` (Kamailio's `use_domain`); otherwise by the user part alone. Default false. */
  useDomain?: boolean;
  /** Most bindings one AOR may hold, across every server; 0 = no limit. Default 0. */
  maxContacts?: number;
  /** Period of the expiry sweep and of the statistics refresh, in ms. Default 60 000. */
  timerInterval?: number;
  /** Expired rows deleted per transaction of the sweep. Default 1000. */
  sweepChunk?: number;
  /** This server: written in `server_id` of every row it writes, and part of every ruid it makes. Default 0. */
  serverId?: number;
  /** The serverId of the one server whose timer deletes expired rows; absent = every server's timer does. */
  expiryServerId?: number;
  /** Contacts with `+sip.instance` but no `reg-id` match by instance rather than by URI (RFC 5627 GRUU registrars). Default false. */
  matchInstance?: boolean;
  /** Clock in ms (Date.now by default; tests inject one). */
  clock?: () => number;
  /** Gauges and counters to keep current; users and contacts are the whole table's, refreshed by the timer. */
  stats?: {
    users?: StoreCounter;
    contacts?: StoreCounter;
    expired?: StoreCounter;
    persistErrors?: StoreCounter;
  };
  /** Told when the timer's work fails (the next tick tries again). */
  onError?: (what: string, error: unknown) => void;
}

/** The `user_agent` column's size: longer values are cut (the column is informational). */
const USER_AGENT_SIZE = 255;

/** A binding read from the table, linked to the next one of its AOR (best q first) for matching. */
interface ReadBinding extends Binding {
  next: ReadBinding | undefined;
  /** Kamailio's `partition` of the row, kept when the row is rewritten. */
  readonly partition: number;
}

const nextRead = (b: ReadBinding): ReadBinding | undefined => b.next;

function readBinding(row: LocationRow): ReadBinding {
  return {
    ruid: row.ruid,
    contact: row.contact,
    received: row.received,
    path: row.path,
    expires: row.expires,
    q: row.q,
    callId: row.callId,
    cseq: row.cseq,
    lastModified: row.lastModified,
    flags: row.flags,
    cflags: row.cflags,
    userAgent: row.userAgent,
    socket: row.socket,
    methods: row.methods,
    instance: row.instance,
    regId: row.regId,
    serverId: row.serverId,
    connectionId: row.connectionId,
    keepalive: row.keepalive,
    next: undefined,
    partition: row.partition ?? 0,
  };
}

/** The location store of db-only mode, over a database's `location` table. */
export class DatabaseLocationStore implements LocationStore {
  readonly useDomain: boolean;
  readonly maxContacts: number;
  private readonly timerInterval: number;
  private readonly sweepChunk: number;
  private readonly serverId: number;
  private readonly expiryServerId: number | undefined;
  private readonly matchInstance: boolean;
  private readonly clock: () => number;
  private readonly usersStat: StoreCounter;
  private readonly contactsStat: StoreCounter;
  private readonly expiredStat: StoreCounter;
  private readonly errorsStat: StoreCounter;
  private readonly onError: (what: string, error: unknown) => void;
  private readonly expiredListeners: ExpiredListener[] = [];
  /** Unique across servers and restarts: the serverId, random bytes per start, a counter. */
  private readonly ruidPrefix: string;
  private ruidCounter = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly table: LocationTable,
    options: DatabaseStoreOptions = {},
  ) {
    this.useDomain = options.useDomain ?? false;
    this.maxContacts = options.maxContacts ?? 0;
    this.timerInterval = options.timerInterval ?? 60_000;
    this.sweepChunk = Math.max(1, options.sweepChunk ?? 1000);
    this.serverId = options.serverId ?? 0;
    this.expiryServerId = options.expiryServerId;
    this.matchInstance = options.matchInstance ?? false;
    this.clock = options.clock ?? Date.now;
    this.usersStat = options.stats?.users ?? { value: 0 };
    this.contactsStat = options.stats?.contacts ?? { value: 0 };
    this.expiredStat = options.stats?.expired ?? { value: 0 };
    this.errorsStat = options.stats?.persistErrors ?? { value: 0 };
    this.onError = options.onError ?? (() => {});
    this.ruidPrefix = `uloc-${this.serverId.toString(36)}-${randomBytes(6).toString('hex')}-`;
  }

  /** Whether this server's timer deletes expired rows. */
  get sweeps(): boolean {
    return this.expiryServerId === undefined || this.expiryServerId === this.serverId;
  }

  now(): number {
    return Math.floor(this.clock() / 1000);
  }

  aorKey(aor: string): string {
    return aorKeyOf(aor, this.useDomain);
  }

  async lookup(aor: string): Promise<readonly Binding[]> {
    const [username, domain] = this.split(this.aorKey(aor));
    const rows = await this.table.lookup(username, domain);
    const bindings: Binding[] = [];
    for (let b = this.live(rows, username); b !== undefined; b = b.next) bindings.push(bindingColumns(b));
    return bindings;
  }

  async find(aor: string, key: ContactKey): Promise<Binding | undefined> {
    const [username, domain] = this.split(this.aorKey(aor));
    const found = this.match(this.live(await this.table.lookup(username, domain), username), key);
    return found === undefined ? undefined : bindingColumns(found);
  }

  save(aor: string, input: ContactInput): Promise<SaveResult> {
    try {
      checkContactInput(input);
    } catch (e) {
      return Promise.reject(e);
    }
    const [username, domain] = this.split(this.aorKey(aor));
    return this.table.updateAor(username, domain, async (rows, writes): Promise<SaveResult> => {
      const head = this.live(rows, username);
      const found = this.match(head, input);
      if (found !== undefined) {
        // RFC 3261 §10.3 step 7: same Call-ID needs a higher CSeq, else the update is out of order
        if (found.callId === input.callId && input.cseq <= found.cseq) {
          return { status: 'out-of-order', binding: bindingColumns(found) };
        }
        const row = this.row(found.ruid, username, domain, input, found.partition);
        await writes.upsert([row]);
        return { status: 'updated', binding: bindingColumns(readBinding(row)) };
      }
      if (this.maxContacts > 0) {
        let n = 0;
        for (let b = head; b !== undefined; b = b.next) n++;
        if (n >= this.maxContacts) return { status: 'too-many', limit: this.maxContacts };
      }
      const row = this.row(this.ruidPrefix + (++this.ruidCounter).toString(36), username, domain, input, 0);
      await writes.upsert([row]);
      return { status: 'inserted', binding: bindingColumns(readBinding(row)) };
    });
  }

  remove(aor: string, key: ContactKey, order?: RequestOrder): Promise<RemoveResult> {
    const [username, domain] = this.split(this.aorKey(aor));
    return this.table.updateAor(username, domain, async (rows, writes): Promise<RemoveResult> => {
      const found = this.match(this.live(rows, username), key);
      if (found === undefined) return 'not-found';
      if (order !== undefined && order.callId === found.callId && order.cseq <= found.cseq) {
        return 'out-of-order';
      }
      await writes.delete([found.ruid]);
      return 'removed';
    });
  }

  removeAor(aor: string): Promise<number> {
    const [username, domain] = this.split(this.aorKey(aor));
    return this.table.updateAor(username, domain, async (rows, writes) => {
      // expired rows stay for the sweep, which tells the onExpired listeners
      const ruids: string[] = [];
      for (let b = this.live(rows, username); b !== undefined; b = b.next) ruids.push(b.ruid);
      if (ruids.length > 0) await writes.delete(ruids);
      return ruids.length;
    });
  }

  /**
   * Deletes every expired row of the table now, `sweepChunk` per transaction, and tells the listeners of
   * each row this call deleted (not those another server's sweep took first). Runs whatever
   * `expiryServerId` says: that setting only chooses whose timer calls it.
   */
  async expire(): Promise<number> {
    let total = 0;
    for (;;) {
      const taken = await this.table.takeExpired(this.now(), this.sweepChunk);
      total += taken.length;
      this.expiredStat.value += taken.length;
      for (const row of taken) {
        const aor = this.recordAor(row);
        const binding = bindingColumns(readBinding(row));
        for (const listener of this.expiredListeners) {
          try {
            listener(aor, binding);
          } catch (e) {
            this.onError('an expired-binding listener failed', e);
          }
        }
      }
      if (taken.length < this.sweepChunk || this.stopped) return total;
    }
  }

  /** Every live row of the table (every server's), the rows of one AOR one after another. */
  async *records(): AsyncIterableIterator<LocationRecord> {
    const now = this.now();
    for (const row of await this.table.loadAll()) {
      if (isExpired(row, now)) continue;
      const { partition: _partition, ...record } = row;
      yield record;
    }
  }

  /** The whole table's live AORs and rows (every server's). */
  counts(): Promise<LocationCounts> {
    return this.table.counts(this.now());
  }

  onExpired(listener: ExpiredListener): void {
    this.expiredListeners.push(listener);
  }

  /** Checks the table answers (a start fails rather than run without it) and starts the timer. */
  async start(): Promise<void> {
    await this.refreshCounts(false);
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setInterval(() => {
      if (this.running === undefined) this.running = this.tick().finally(() => (this.running = undefined));
    }, this.timerInterval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  // ------------------------------------------------------------------------------------------------

  private async tick(): Promise<void> {
    if (this.sweeps) {
      try {
        await this.expire();
      } catch (e) {
        this.errorsStat.value++;
        this.onError('deleting expired bindings from the database failed', e);
      }
    }
    if (!this.stopped) await this.refreshCounts(true);
  }

  /** Sets the users and contacts gauges from the table; `quiet` reports a failure instead of throwing. */
  private async refreshCounts(quiet: boolean): Promise<void> {
    try {
      const { users, contacts } = await this.counts();
      this.usersStat.value = users;
      this.contactsStat.value = contacts;
    } catch (e) {
      this.errorsStat.value++;
      if (!quiet) throw e;
      this.onError('counting bindings in the database failed', e);
    }
  }

  /** An AOR key as the table's username and domain (`''` without domains). */
  private split(key: string): [string, string] {
    if (!this.useDomain) return [key, ''];
    const at = key.lastIndexOf('@');
    return at < 0 ? [key, ''] : [key.slice(0, at), key.slice(at + 1)];
  }

  private recordAor(row: LocationRow): string {
    return this.useDomain && row.domain !== '' ? `${row.username}@${row.domain}` : row.username;
  }

  /**
   * The AOR's live bindings as a list, best q first and among equals the most recently written (rows
   * written within the same second: the newer row first). Rows of another user part are dropped: MySQL
   * compares user names case-insensitively, SIP does not.
   */
  private live(rows: readonly LocationRow[], username: string): ReadBinding | undefined {
    const now = this.now();
    const list: ReadBinding[] = [];
    // the table returns rows oldest first: walk it backwards so the stable sort puts newer rows first
    for (let i = rows.length - 1; i >= 0; i--) {
      const row = rows[i]!;
      if (row.username === username && !isExpired(row, now)) list.push(readBinding(row));
    }
    list.sort((a, b) => qRank(b.q) - qRank(a.q) || b.lastModified - a.lastModified);
    for (let i = 0; i + 1 < list.length; i++) list[i]!.next = list[i + 1];
    return list[0];
  }

  private match(head: ReadBinding | undefined, key: ContactKey): ReadBinding | undefined {
    return matchBinding(head, nextRead, key, this.matchInstance);
  }

  /** The row a save writes: the input, this server's id, now as last change. */
  private row(
    ruid: string,
    username: string,
    domain: string,
    input: ContactInput,
    partition: number,
  ): LocationRow {
    const userAgent = input.userAgent ?? '';
    return {
      ruid,
      username,
      domain,
      contact: input.contact,
      received: input.received ?? '',
      path: input.path ?? '',
      expires: input.expires,
      q: input.q ?? -1,
      callId: input.callId,
      cseq: input.cseq,
      lastModified: this.now(),
      flags: input.flags ?? 0,
      cflags: input.cflags ?? 0,
      userAgent: userAgent.length > USER_AGENT_SIZE ? userAgent.slice(0, USER_AGENT_SIZE) : userAgent,
      socket: input.socket ?? '',
      methods: input.methods ?? -1,
      instance: input.instance ?? '',
      regId: input.regId ?? 0,
      // the server the REGISTER came through: its connection id and socket are that server's
      serverId: this.serverId,
      connectionId: input.connectionId ?? -1,
      keepalive: input.keepalive ?? 0,
      partition,
    };
  }
}
