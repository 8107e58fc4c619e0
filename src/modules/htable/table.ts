/**
 * One named key/value table of the htable module: values are strings or numbers, each item may expire
 * (its own time, or the table's autoExpire), the table holds at most `size` items.
 *
 * A Map in insertion order: the first item is the oldest, so evicting it is O(1). Expired items are
 * removed when read and by a periodic sweep (one timer for every table); nothing is allocated per read.
 */

/** A value of a table. */
export type HtableValue = string | number;

/** What a table does with a new key when it holds `size` items already. */
export type WhenFull = 'evict-oldest' | 'refuse';

/** A table's settings (`modules.htable.tables.<name>`). */
export interface TableSettings {
  /** Most items held. */
  size: number;
  /** Items expire this long (ms) after they are set; 0: never (Kamailio's `autoexpire`). */
  autoExpire: number;
  /** Setting an item again restarts its expiry (Kamailio's `updateexpire`). */
  updateExpire: boolean;
  /** A new key in a full table: evict the oldest item, or refuse the new one. */
  whenFull: WhenFull;
  /** Load from and write to the database's `olelo_htable` table. */
  persist: boolean;
}

/** One item. `expires` is a time in ms, 0 for never. */
export interface HtableItem {
  value: HtableValue;
  expires: number;
}

/** An item with its key, as iteration returns it. */
export interface HtableEntry {
  readonly key: string;
  readonly value: HtableValue;
  /** Time (ms) it expires, 0 for never. */
  readonly expires: number;
}

/** A key filter: a RegExp tested against the key, or a prefix the key starts with. */
export type KeyPattern = RegExp | string;

function matches(pattern: KeyPattern, key: string): boolean {
  if (typeof pattern === 'string') return key.startsWith(pattern);
  pattern.lastIndex = 0;
  return pattern.test(key);
}

/** A named table. Every operation is synchronous, so it is atomic within the process. */
export class HashTable {
  private readonly items = new Map<string, HtableItem>();
  /** Reads (`get`, `has`) that found a live item. */
  hits = 0;
  /** Items removed because they expired. */
  expired = 0;
  /** Items evicted to make room (`whenFull: evict-oldest`). */
  evicted = 0;
  /** New keys refused because the table was full (`whenFull: refuse`). */
  refused = 0;
  /** Called after every change of a key (undefined: removed), for persistence; unset otherwise. */
  onChange: ((key: string, item: HtableItem | undefined) => void) | undefined;

  constructor(
    readonly name: string,
    readonly settings: TableSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** The item's value, or undefined when absent or expired. */
  get(key: string): HtableValue | undefined {
    const item = this.items.get(key);
    if (item === undefined) return undefined;
    if (item.expires !== 0 && item.expires <= this.now()) {
      this.remove(key, true);
      return undefined;
    }
    this.hits++;
    return item.value;
  }

  /** True when the key is present and not expired. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Time (ms) the item expires: 0 for never, undefined when absent. */
  expiresAt(key: string): number | undefined {
    return this.live(key)?.expires;
  }

  /**
   * Sets an item. `expireMs`: undefined for the table's autoExpire, 0 for never, else ms from now. An
   * existing item keeps its expiry when the table's updateExpire is off and no `expireMs` is given.
   * Returns false when the key is new, the table full and its policy `refuse`.
   */
  set(key: string, value: HtableValue, expireMs?: number): boolean {
    const item = this.live(key);
    if (item !== undefined) {
      item.value = value;
      if (expireMs !== undefined || this.settings.updateExpire) item.expires = this.expiry(expireMs);
      this.onChange?.(key, item);
      return true;
    }
    return this.insert(key, value, this.expiry(expireMs));
  }

  /**
   * Adds `by` to a number item, creating it (from 0) when absent; returns the new value, or undefined
   * when the key is new and the table full with policy `refuse`. A new item gets `expireMs` (or the
   * table's autoExpire); an existing one keeps its expiry unless `expireMs` is given. Throws a TypeError
   * when the item holds a string.
   */
  inc(key: string, by = 1, expireMs?: number): number | undefined {
    const item = this.live(key);
    if (item === undefined) return this.insert(key, by, this.expiry(expireMs)) ? by : undefined;
    if (typeof item.value !== 'number')
      throw new TypeError(`htable ${this.name}: ${key} holds a string, it cannot be counted`);
    item.value += by;
    if (expireMs !== undefined) item.expires = this.expiry(expireMs);
    this.onChange?.(key, item);
    return item.value;
  }

  /** Subtracts `by`; see {@link inc}. */
  dec(key: string, by = 1, expireMs?: number): number | undefined {
    return this.inc(key, -by, expireMs);
  }

  /** Removes an item; true when it was there (and not expired). */
  delete(key: string): boolean {
    const there = this.live(key) !== undefined;
    if (there) this.remove(key, false);
    return there;
  }

  /** Removes the items whose key matches; returns how many (Kamailio's `sht_rm_name_re`). */
  deleteMatching(pattern: KeyPattern): number {
    let n = 0;
    for (const key of this.items.keys()) {
      if (!matches(pattern, key)) continue;
      this.remove(key, false);
      n++;
    }
    return n;
  }

  /** The live items, oldest first; only those whose key matches when `pattern` is given. */
  entries(pattern?: KeyPattern): HtableEntry[] {
    const now = this.now();
    const out: HtableEntry[] = [];
    for (const [key, item] of this.items) {
      if (item.expires !== 0 && item.expires <= now) continue;
      if (pattern !== undefined && !matches(pattern, key)) continue;
      out.push({ key, value: item.value, expires: item.expires });
    }
    return out;
  }

  /** Live items. */
  count(): number {
    this.sweep();
    return this.items.size;
  }

  /** Items held, expired ones not yet swept included (O(1)). */
  get size(): number {
    return this.items.size;
  }

  /** Removes every item (Kamailio's `sht_reset`). */
  flush(): void {
    if (this.onChange !== undefined) for (const key of this.items.keys()) this.onChange(key, undefined);
    this.items.clear();
  }

  /** Removes expired items; returns how many. */
  sweep(now = this.now()): number {
    let n = 0;
    for (const [key, item] of this.items) {
      if (item.expires === 0 || item.expires > now) continue;
      this.remove(key, true);
      n++;
    }
    return n;
  }

  /**
   * Puts an item as it was stored (persistence): no change is reported, an expired one is skipped, the
   * size limit applies.
   */
  restore(key: string, item: HtableItem): void {
    if (item.expires !== 0 && item.expires <= this.now()) return;
    const onChange = this.onChange;
    this.onChange = undefined;
    try {
      this.remove(key, false);
      this.insert(key, item.value, item.expires);
    } finally {
      this.onChange = onChange;
    }
  }

  /** The item when present and not expired (an expired one is removed). */
  private live(key: string): HtableItem | undefined {
    const item = this.items.get(key);
    if (item === undefined) return undefined;
    if (item.expires !== 0 && item.expires <= this.now()) {
      this.remove(key, true);
      return undefined;
    }
    return item;
  }

  private insert(key: string, value: HtableValue, expires: number): boolean {
    if (this.items.size >= this.settings.size) {
      if (this.settings.whenFull === 'refuse') {
        this.refused++;
        return false;
      }
      for (const oldest of this.items.keys()) {
        this.remove(oldest, false);
        this.evicted++;
        break;
      }
    }
    const item: HtableItem = { value, expires };
    this.items.set(key, item);
    this.onChange?.(key, item);
    return true;
  }

  private remove(key: string, expired: boolean): void {
    if (!this.items.delete(key)) return;
    if (expired) this.expired++;
    this.onChange?.(key, undefined);
  }

  private expiry(expireMs: number | undefined): number {
    const ms = expireMs ?? this.settings.autoExpire;
    return ms > 0 ? this.now() + ms : 0;
  }
}
