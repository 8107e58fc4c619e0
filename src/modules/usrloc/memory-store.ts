/**
 * The in-memory location store: a Map from AOR key to the AOR's bindings, kept as a short linked list
 * ordered by q. Everything is synchronous, so the lookup path allocates one result array and no promise.
 * With a {@link LocationPersistence} it is the write-back mode: changes are marked and written in
 * batches on the timer (and at stop), and the store is loaded from the persistence at start.
 *
 * Memory: one object per binding (no per-binding timer, index or array), strings copied flat so they pin
 * no message, and repeated values (User-Agent, socket, Path) shared through a bounded interner.
 */
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  aorKeyOf,
  bindingColumns,
  checkContactInput,
  isExpired,
  matchBinding,
  qRank as rank,
} from './binding.js';
import { ownString, StringInterner } from './strings.js';
import type {
  Binding,
  ContactInput,
  ContactKey,
  ExpiredListener,
  LocationCounts,
  LocationPersistence,
  LocationRecord,
  LocationStore,
  RemoveResult,
  RequestOrder,
  SaveResult,
} from './types.js';

/** A counter or gauge the store keeps current (a `Stat` of the server's registry fits). */
export interface StoreCounter {
  value: number;
}

/** Options of {@link MemoryLocationStore}. */
export interface MemoryStoreOptions {
  /** Key AORs by `user@domain` (Kamailio's `use_domain`); otherwise by the user part alone. Default false. */
  useDomain?: boolean;
  /** Most bindings one AOR may hold; 0 = no limit. Default 0. */
  maxContacts?: number;
  /** Period of the expiry sweep and of write-back flushes, in ms. Default 60 000. */
  timerInterval?: number;
  /** AORs looked at per event-loop turn by the sweep. Default 10 000. */
  sweepChunk?: number;
  /** Written in `serverId` of every binding this store creates. Default 0. */
  serverId?: number;
  /** Contacts with `+sip.instance` but no `reg-id` match by instance rather than by URI (RFC 5627 GRUU registrars). Default false. */
  matchInstance?: boolean;
  /** Write-back mode: where bindings are kept across restarts. */
  persistence?: LocationPersistence;
  /** Records per upsert call when flushing. Default 1000. */
  batchSize?: number;
  /** Clock in ms (Date.now by default; tests inject one). */
  clock?: () => number;
  /** Gauges and counters to keep current (the module passes the server's statistics). */
  stats?: {
    users?: StoreCounter;
    contacts?: StoreCounter;
    expired?: StoreCounter;
    persistErrors?: StoreCounter;
  };
  /** Told when a write-back flush or a load fails. */
  onError?: (what: string, error: unknown) => void;
}

/** A binding as the store holds it: the fields of {@link Binding} plus the link to the AOR's next one. */
class StoredBinding implements Binding {
  ruid: string;
  contact = '';
  received = '';
  path = '';
  expires = 0;
  q = -1;
  callId = '';
  cseq = 0;
  lastModified = 0;
  flags = 0;
  cflags = 0;
  userAgent = '';
  socket = '';
  methods = -1;
  instance = '';
  regId = 0;
  serverId: number;
  connectionId = -1;
  keepalive = 0;
  /** The next binding of the same AOR (lower or equal q). */
  next: StoredBinding | undefined = undefined;

  constructor(ruid: string, serverId: number) {
    this.ruid = ruid;
    this.serverId = serverId;
  }
}

const NO_BINDINGS: readonly Binding[] = Object.freeze([]);
/** Values shared across bindings are interned up to this many distinct strings. */
const INTERN_LIMIT = 50_000;

/** The step of an AOR's list, for {@link matchBinding}. */
const nextStored = (b: StoredBinding): StoredBinding | undefined => b.next;

/** The in-memory store (memory mode), and with a persistence the write-back mode. */
export class MemoryLocationStore implements LocationStore {
  readonly useDomain: boolean;
  readonly maxContacts: number;
  private readonly timerInterval: number;
  private readonly sweepChunk: number;
  private readonly serverId: number;
  private readonly matchInstance: boolean;
  private readonly persistence: LocationPersistence | undefined;
  private readonly batchSize: number;
  private readonly clock: () => number;
  private readonly usersStat: StoreCounter;
  private readonly contactsStat: StoreCounter;
  private readonly expiredStat: StoreCounter;
  private readonly persistErrorsStat: StoreCounter;
  private readonly onError: (what: string, error: unknown) => void;

  /** AOR key → its first binding. */
  private readonly aors = new Map<string, StoredBinding>();
  private contactCount = 0;
  private readonly shared = new StringInterner(INTERN_LIMIT);
  private readonly expiredListeners: ExpiredListener[] = [];
  private readonly ruidPrefix = `uloc-${randomBytes(6).toString('hex')}-`;
  private ruidCounter = 0;

  /** Write-back: AORs changed since the last flush, and ruids removed since then. */
  private dirty = new Set<string>();
  private removedRuids: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The timer's work in progress (sweep, flush), so stop() can wait for it. */
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.useDomain = options.useDomain ?? false;
    this.maxContacts = options.maxContacts ?? 0;
    this.timerInterval = options.timerInterval ?? 60_000;
    this.sweepChunk = Math.max(1, options.sweepChunk ?? 10_000);
    this.serverId = options.serverId ?? 0;
    this.matchInstance = options.matchInstance ?? false;
    this.persistence = options.persistence;
    this.batchSize = Math.max(1, options.batchSize ?? 1000);
    this.clock = options.clock ?? Date.now;
    this.usersStat = options.stats?.users ?? { value: 0 };
    this.contactsStat = options.stats?.contacts ?? { value: 0 };
    this.expiredStat = options.stats?.expired ?? { value: 0 };
    this.persistErrorsStat = options.stats?.persistErrors ?? { value: 0 };
    this.onError = options.onError ?? (() => {});
  }

  now(): number {
    return Math.floor(this.clock() / 1000);
  }

  aorKey(aor: string): string {
    return aorKeyOf(aor, this.useDomain);
  }

  lookup(aor: string): readonly Binding[] {
    const head = this.aors.get(this.aorKey(aor));
    if (head === undefined) return NO_BINDINGS;
    const now = this.now();
    const out: Binding[] = [];
    for (let b: StoredBinding | undefined = head; b !== undefined; b = b.next) {
      if (!isExpired(b, now)) out.push(b);
    }
    return out;
  }

  find(aor: string, key: ContactKey): Binding | undefined {
    const head = this.aors.get(this.aorKey(aor));
    if (head === undefined) return undefined;
    const b = this.match(head, key);
    return b === undefined || isExpired(b, this.now()) ? undefined : b;
  }

  save(aor: string, input: ContactInput): SaveResult {
    checkContactInput(input);
    const key = this.aorKey(aor);
    const now = this.now();
    const head = this.purge(key, this.aors.get(key), now);
    const found = head === undefined ? undefined : this.match(head, input);
    if (found !== undefined) {
      // RFC 3261 §10.3 step 7: same Call-ID needs a higher CSeq, else the update is out of order
      if (found.callId === input.callId && input.cseq <= found.cseq) {
        return { status: 'out-of-order', binding: found };
      }
      this.assign(found, input, now);
      this.reorder(key, found);
      this.markDirty(key);
      return { status: 'updated', binding: found };
    }
    if (this.maxContacts > 0 && head !== undefined) {
      let n = 0;
      for (let b: StoredBinding | undefined = head; b !== undefined; b = b.next) n++;
      if (n >= this.maxContacts) return { status: 'too-many', limit: this.maxContacts };
    }
    const binding = new StoredBinding(
      ownString(this.ruidPrefix + (++this.ruidCounter).toString(36)),
      this.serverId,
    );
    this.assign(binding, input, now);
    this.link(head === undefined ? ownString(key) : key, head, binding);
    this.contactCount++;
    this.contactsStat.value = this.contactCount;
    this.markDirty(key);
    return { status: 'inserted', binding };
  }

  remove(aor: string, key: ContactKey, order?: RequestOrder): RemoveResult {
    const k = this.aorKey(aor);
    const head = this.purge(k, this.aors.get(k), this.now());
    const found = head === undefined ? undefined : this.match(head, key);
    if (found === undefined) return 'not-found';
    if (order !== undefined && order.callId === found.callId && order.cseq <= found.cseq) {
      return 'out-of-order';
    }
    this.unlink(k, found);
    this.dropped(found);
    return 'removed';
  }

  removeAor(aor: string): number {
    const key = this.aorKey(aor);
    let b = this.purge(key, this.aors.get(key), this.now());
    if (b === undefined) return 0;
    this.aors.delete(key);
    this.usersStat.value = this.aors.size;
    let n = 0;
    for (; b !== undefined; b = b.next) {
      this.dropped(b);
      n++;
    }
    return n;
  }

  expire(): number {
    const now = this.now();
    const before = this.expiredStat.value;
    for (const [key, head] of this.aors) this.purge(key, head, now);
    return this.expiredStat.value - before;
  }

  /**
   * One sweep that yields to the event loop every `sweepChunk` AORs, so a million bindings never stall
   * message handling for long. Resolves with the number of bindings that expired.
   */
  async sweep(): Promise<number> {
    const before = this.expiredStat.value;
    let seen = 0;
    let now = this.now();
    for (const [key, head] of this.aors) {
      this.purge(key, head, now);
      if (++seen % this.sweepChunk === 0) {
        await nextTurn();
        if (this.stopped) break;
        now = this.now();
      }
    }
    return this.expiredStat.value - before;
  }

  *records(): IterableIterator<LocationRecord> {
    const now = this.now();
    for (const [key, head] of this.aors) {
      for (let b: StoredBinding | undefined = head; b !== undefined; b = b.next) {
        if (!isExpired(b, now)) yield this.toRecord(key, b);
      }
    }
  }

  counts(): LocationCounts {
    return { users: this.aors.size, contacts: this.contactCount };
  }

  onExpired(listener: ExpiredListener): void {
    this.expiredListeners.push(listener);
  }

  /** Loads the persistence (write-back mode) and starts the sweep timer. */
  async start(): Promise<void> {
    if (this.persistence !== undefined) await this.load();
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
    if (this.persistence !== undefined) {
      await this.flush();
      await this.persistence.close?.();
    }
  }

  /** The timer's work: sweep, then (write-back) write the changes and drop expired rows. */
  private async tick(): Promise<void> {
    await this.sweep();
    const p = this.persistence;
    if (p === undefined || this.stopped) return;
    // flush first, so a refreshed binding is rewritten before its old row could count as expired
    if (!(await this.flush())) return;
    try {
      await p.deleteExpired(this.now());
    } catch (e) {
      this.persistErrorsStat.value++;
      this.onError('deleting expired bindings from the persistence failed', e);
    }
  }

  /**
   * Write-back: writes the bindings of every AOR changed since the last flush and deletes removed ones.
   * On failure the changes stay queued for the next flush. Resolves false when it failed.
   */
  async flush(): Promise<boolean> {
    const p = this.persistence;
    if (p === undefined || (this.dirty.size === 0 && this.removedRuids.length === 0)) return true;
    const dirty = this.dirty;
    const removed = this.removedRuids;
    this.dirty = new Set();
    this.removedRuids = [];
    try {
      if (removed.length > 0) await p.delete(removed);
      let batch: LocationRecord[] = [];
      for (const key of dirty) {
        // an AOR's list is read whole before any await, so changes meanwhile cannot cut it short
        for (let b = this.aors.get(key); b !== undefined; b = b.next) batch.push(this.toRecord(key, b));
        if (batch.length >= this.batchSize) {
          await p.upsert(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await p.upsert(batch);
      return true;
    } catch (e) {
      for (const key of dirty) this.dirty.add(key);
      for (const ruid of removed) this.removedRuids.push(ruid);
      this.persistErrorsStat.value++;
      this.onError('writing bindings to the persistence failed', e);
      return false;
    }
  }

  /** Write-back: reads every binding the persistence holds into memory (expired ones are skipped). */
  async load(): Promise<number> {
    const p = this.persistence;
    if (p === undefined) return 0;
    const now = this.now();
    let loaded = 0;
    try {
      const source = await p.loadAll();
      for await (const rec of source) {
        if (rec.expires !== 0 && rec.expires <= now) continue;
        if (this.insertLoaded(rec)) loaded++;
      }
    } catch (e) {
      this.persistErrorsStat.value++;
      this.onError('loading bindings from the persistence failed', e);
      throw e;
    }
    return loaded;
  }

  // ------------------------------------------------------------------------------------------------

  /** The binding of the list matching `key`: an RFC 5626 flow, else the URI (RFC 3261 §10.3 step 7). */
  private match(head: StoredBinding, key: ContactKey): StoredBinding | undefined {
    return matchBinding(head, nextStored, key, this.matchInstance);
  }

  private assign(b: StoredBinding, input: ContactInput, now: number): void {
    // refreshes usually repeat the stored strings: keep those and copy only what changed
    if (input.contact !== b.contact) b.contact = ownString(input.contact);
    const received = input.received ?? '';
    if (received !== b.received) b.received = ownString(received);
    if (input.callId !== b.callId) b.callId = ownString(input.callId);
    const path = input.path ?? '';
    if (path !== b.path) b.path = this.shared.intern(path);
    const userAgent = input.userAgent ?? '';
    if (userAgent !== b.userAgent) b.userAgent = this.shared.intern(userAgent);
    const socket = input.socket ?? '';
    if (socket !== b.socket) b.socket = this.shared.intern(socket);
    const instance = input.instance ?? '';
    if (instance !== b.instance) b.instance = ownString(instance);
    b.expires = input.expires;
    b.q = input.q ?? -1;
    b.cseq = input.cseq;
    b.lastModified = now;
    b.flags = input.flags ?? 0;
    b.cflags = input.cflags ?? 0;
    b.methods = input.methods ?? -1;
    b.regId = input.regId ?? 0;
    b.connectionId = input.connectionId ?? -1;
    b.keepalive = input.keepalive ?? 0;
  }

  /** Inserts `b` into its AOR's list: after bindings of higher q, before those of equal or lower q. */
  private link(key: string, head: StoredBinding | undefined, b: StoredBinding): void {
    const r = rank(b.q);
    if (head === undefined || rank(head.q) <= r) {
      b.next = head;
      this.aors.set(key, b);
      if (head === undefined) this.usersStat.value = this.aors.size;
      return;
    }
    let prev = head;
    while (prev.next !== undefined && rank(prev.next.q) > r) prev = prev.next;
    b.next = prev.next;
    prev.next = b;
  }

  /** Moves a changed binding to its place by q (the AOR's entry, and its key string, stay). */
  private reorder(key: string, b: StoredBinding): void {
    const head = this.aors.get(key);
    if (head === b && b.next === undefined) return;
    this.unlink(key, b);
    this.link(key, this.aors.get(key), b);
  }

  /** Takes `b` out of its AOR's list (the AOR stays, even when empty: callers re-link or delete it). */
  private unlink(key: string, b: StoredBinding): void {
    const head = this.aors.get(key);
    if (head === b) {
      if (b.next === undefined) {
        this.aors.delete(key);
        this.usersStat.value = this.aors.size;
      } else {
        this.aors.set(key, b.next);
      }
    } else {
      let prev = head;
      while (prev !== undefined && prev.next !== b) prev = prev.next;
      if (prev !== undefined) prev.next = b.next;
    }
    b.next = undefined;
  }

  /** Bookkeeping for a binding that left by removal (not expiry). */
  private dropped(b: StoredBinding): void {
    this.contactCount--;
    this.contactsStat.value = this.contactCount;
    if (this.persistence !== undefined) this.removedRuids.push(b.ruid);
  }

  /** Removes the AOR's expired bindings, tells the listeners; returns the AOR's first binding left. */
  private purge(key: string, head: StoredBinding | undefined, now: number): StoredBinding | undefined {
    let probe = head;
    while (probe !== undefined && !isExpired(probe, now)) probe = probe.next;
    if (probe === undefined) return head;
    let expired: StoredBinding[] | undefined;
    let first: StoredBinding | undefined;
    let last: StoredBinding | undefined;
    for (let b = head; b !== undefined; ) {
      const next: StoredBinding | undefined = b.next;
      if (isExpired(b, now)) {
        b.next = undefined;
        if (expired === undefined) expired = [b];
        else expired.push(b);
      } else {
        if (last === undefined) first = b;
        else last.next = b;
        last = b;
      }
      b = next;
    }
    if (expired === undefined) return head;
    if (last !== undefined) last.next = undefined;
    if (first === undefined) this.aors.delete(key);
    else if (first !== head) this.aors.set(key, first);
    this.contactCount -= expired.length;
    this.contactsStat.value = this.contactCount;
    this.usersStat.value = this.aors.size;
    this.expiredStat.value += expired.length;
    // the persistence drops expired rows itself (deleteExpired), one statement per sweep
    for (const listener of this.expiredListeners) {
      for (const b of expired) {
        try {
          listener(key, b);
        } catch (e) {
          this.onError('an expired-binding listener failed', e);
        }
      }
    }
    return first;
  }

  private markDirty(key: string): void {
    if (this.persistence !== undefined) this.dirty.add(key);
  }

  private toRecord(key: string, b: StoredBinding): LocationRecord {
    let username = key;
    let domain = '';
    if (this.useDomain) {
      const at = key.lastIndexOf('@');
      if (at >= 0) {
        username = key.slice(0, at);
        domain = key.slice(at + 1);
      }
    }
    return { username, domain, ...bindingColumns(b) };
  }

  /** Puts a loaded record in memory; a binding already there for the same contact keeps the newer one. */
  private insertLoaded(rec: LocationRecord): boolean {
    const key = this.aorKey(
      this.useDomain && rec.domain !== '' ? `${rec.username}@${rec.domain}` : rec.username,
    );
    const head = this.aors.get(key);
    if (head !== undefined) {
      const same = this.match(head, rec);
      if (same !== undefined) {
        if (same.lastModified >= rec.lastModified) {
          if (same.ruid !== rec.ruid) this.removedRuids.push(rec.ruid);
          return false;
        }
        this.unlink(key, same);
        this.dropped(same);
      }
    }
    const b = new StoredBinding(ownString(rec.ruid), rec.serverId);
    this.assign(b, rec, rec.lastModified);
    const current = this.aors.get(key);
    this.link(current === undefined ? ownString(key) : key, current, b);
    this.contactCount++;
    this.contactsStat.value = this.contactCount;
    return true;
  }
}
