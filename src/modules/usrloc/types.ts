/**
 * The user location contract: what one binding holds, the store the registrar talks to, and the narrow
 * persistence interface the in-memory store writes through. Field names follow Kamailio's `location`
 * table column by column (camel-cased), so a database driver maps them one to one.
 */

/** A value now, or later when the store has to ask a database. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * One contact bound to an AOR (RFC 3261 §10): the `location` columns except username and domain. Absent
 * strings are `''` (NULL in the table), absent numbers are the defaults named per field. Times are Unix
 * seconds.
 */
export interface Binding {
  /** Unique record id (the `ruid` column); stable for the life of the binding, refreshes keep it. */
  readonly ruid: string;
  /** The Contact URI as registered. */
  readonly contact: string;
  /** Where the REGISTER really came from, as a URI (`sip:203.0.113.7:5060;transport=tcp`); `''` when it matched the contact. */
  readonly received: string;
  /** The Path header values (RFC 3327), comma-joined as received; `''` when none. */
  readonly path: string;
  /** When the binding expires (Unix seconds); 0 = permanent (Kamailio's convention). */
  readonly expires: number;
  /** The q-value in thousandths (0..1000), Kamailio's `qvalue_t`; -1 when the Contact had none. The column holds q/1000. */
  readonly q: number;
  readonly callId: string;
  readonly cseq: number;
  /** Last time the binding was written (Unix seconds). */
  readonly lastModified: number;
  /** Flags of the registrar (Kamailio's `flags`). */
  readonly flags: number;
  /** Branch flags stored with the contact (Kamailio's `cflags`), restored on lookup. */
  readonly cflags: number;
  readonly userAgent: string;
  /** The listener the REGISTER arrived on (`udp:192.0.2.10:5060`, `[v6]` bracketed); `''` when unknown. */
  readonly socket: string;
  /** Methods the contact accepts, as a bitmask; -1 when not known (the column holds NULL). */
  readonly methods: number;
  /** The `+sip.instance` value (RFC 5626 §4.1), `''` when absent. */
  readonly instance: string;
  /** The `reg-id` (RFC 5626 §4.2); 0 when absent. */
  readonly regId: number;
  /** The server that wrote the binding (several servers sharing one table). */
  readonly serverId: number;
  /** The stream connection the REGISTER came on (transport connection id); -1 for UDP or none. */
  readonly connectionId: number;
  /** Keepalive mode towards the contact (Kamailio's `keepalive`): 0 none, 1 send keepalives. */
  readonly keepalive: number;
}

/** A row of the `location` table: a binding with its AOR split into username and domain. */
export interface LocationRecord extends Binding {
  /** The user part of the AOR (the whole AOR when the store does not use domains). */
  readonly username: string;
  /** The lower-cased domain of the AOR; `''` when the store does not use domains. */
  readonly domain: string;
}

/**
 * What the registrar writes for one contact. Fields left out take the {@link Binding} defaults; `ruid`,
 * `lastModified` and `serverId` are the store's.
 */
export interface ContactInput {
  contact: string;
  /** Absolute expiry (Unix seconds, {@link LocationStore.now} + the granted interval); 0 = permanent. */
  expires: number;
  callId: string;
  cseq: number;
  q?: number;
  received?: string;
  path?: string;
  flags?: number;
  cflags?: number;
  userAgent?: string;
  socket?: string;
  methods?: number;
  instance?: string;
  regId?: number;
  connectionId?: number;
  keepalive?: number;
}

/**
 * Identifies a binding of an AOR: an RFC 5626 flow (`instance` and `regId` > 0) or else the Contact URI
 * compared per RFC 3261 §19.1.4 (§10.3 step 7).
 */
export interface ContactKey {
  contact: string;
  instance?: string;
  regId?: number;
}

/** The REGISTER a change comes from, for RFC 3261 §10.3 step 7 ordering. */
export interface RequestOrder {
  callId: string;
  cseq: number;
}

/** What {@link LocationStore.save} did. */
export type SaveResult =
  /** A new binding. */
  | { status: 'inserted'; binding: Binding }
  /** An existing binding (same contact or flow) took the new values; its ruid is unchanged. */
  | { status: 'updated'; binding: Binding }
  /** RFC 3261 §10.3 step 7: same Call-ID and a CSeq not above the stored one; nothing changed. */
  | { status: 'out-of-order'; binding: Binding }
  /** The AOR already holds `maxContacts` bindings; nothing changed. */
  | { status: 'too-many'; limit: number };

/** What {@link LocationStore.remove} did. */
export type RemoveResult = 'removed' | 'not-found' | 'out-of-order';

/** Bindings and AORs held. */
export interface LocationCounts {
  /** AORs with at least one binding. */
  users: number;
  contacts: number;
}

/** Called when a binding leaves because its time ran out (not when it is removed or replaced). */
export type ExpiredListener = (aor: string, binding: Binding) => void;

/**
 * The user location service as the registrar sees it. The in-memory store answers synchronously (no
 * promise on the lookup path); a store backed by a shared database (db-only mode, Redis) returns promises.
 * Callers handle both: `const r = store.lookup(aor); const list = r instanceof Promise ? await r : r;`.
 *
 * AOR arguments are `user@domain` (or `user`); the store turns them into its key (see `useDomain`).
 */
export interface LocationStore {
  /** Whether AORs are keyed by `user@domain` (true) or by the user alone (false). */
  readonly useDomain: boolean;
  /** Most bindings one AOR may hold (`save` answers `too-many` beyond it); 0 = no limit. */
  readonly maxContacts: number;
  /** The store's clock in Unix seconds (what `expires` is compared with). */
  now(): number;
  /** The key an AOR is stored under: `user@domain` with the domain lower-cased, or `user`. */
  aorKey(aor: string): string;
  /** The AOR's bindings that have not expired, highest q first (no q counts as 1.0), then the most recently written. */
  lookup(aor: string): MaybePromise<readonly Binding[]>;
  /** The binding of the AOR matching `key` (RFC 5626 flow, else RFC 3261 §19.1.4 URI comparison). */
  find(aor: string, key: ContactKey): MaybePromise<Binding | undefined>;
  /**
   * Inserts or refreshes one binding (RFC 3261 §10.3 step 7): a matching binding with the same Call-ID
   * and a CSeq not above the new one is left alone (`out-of-order`); otherwise it takes the new values.
   * A new binding beyond `maxContacts` is refused (`too-many`).
   */
  save(aor: string, input: ContactInput): MaybePromise<SaveResult>;
  /** Removes the binding matching `key`; with `order`, only when the §10.3 step 7 ordering allows it. */
  remove(aor: string, key: ContactKey, order?: RequestOrder): MaybePromise<RemoveResult>;
  /** Removes every binding of the AOR; resolves with how many there were. */
  removeAor(aor: string): MaybePromise<number>;
  /** Removes every expired binding now (one full sweep); resolves with how many. */
  expire(): MaybePromise<number>;
  /** Every binding, the bindings of one AOR one after another. */
  records(): Iterable<LocationRecord> | AsyncIterable<LocationRecord>;
  counts(): MaybePromise<LocationCounts>;
  /** Adds a listener told of every binding that expires. */
  onExpired(listener: ExpiredListener): void;
  /** Loads what the persistence holds, then starts the expiry (and write-back) timer. */
  start(): Promise<void>;
  /** Stops the timer and writes what is not written yet. */
  stop(): Promise<void>;
}

/**
 * Where the in-memory store keeps bindings across restarts (write-back mode): the `location` table of a
 * database, a file. Calls come in batches from one timer; a failed call is retried with the next batch.
 */
export interface LocationPersistence {
  /** Every stored binding (at start). */
  loadAll(): AsyncIterable<LocationRecord> | Promise<Iterable<LocationRecord>>;
  /** Inserts or replaces bindings by ruid. The records are snapshots the persistence may keep. */
  upsert(records: readonly LocationRecord[]): Promise<void>;
  /** Deletes bindings by ruid; unknown ruids are ignored. */
  delete(ruids: readonly string[]): Promise<void>;
  /** Deletes bindings with `0 < expires <= now` (permanent ones stay); resolves with how many. */
  deleteExpired(now: number): Promise<number>;
  /** Releases files or connections. */
  close?(): Promise<void>;
}
