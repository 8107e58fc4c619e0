/**
 * Bounded maps with expiry: the record cache (LRU) and the destination blacklist.
 */

interface CacheEntry<V> {
  value: V;
  /** performance.now() after which the entry is stale. */
  expires: number;
}

/**
 * A map of at most `capacity` entries, each valid until its expiry time, evicting the least recently
 * used entry when full. A `Map` keeps insertion order, so a hit moves its key to the end and the first
 * key is the eviction candidate. Expired entries are removed when met.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, CacheEntry<V>>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(0, Math.floor(capacity));
  }

  /** The value of `key` if present and not expired at `now`. */
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= now) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `expires` (a performance.now() time), evicting the least recently used entry when full. */
  set(key: string, value: V, expires: number): void {
    if (this.#capacity === 0) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expires });
  }

  /** Number of entries, expired ones not yet removed included. */
  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * Keys marked bad until a time, at most `capacity` of them (the oldest mark is dropped when full).
 */
export class ExpiringSet {
  readonly #until = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(0, Math.floor(capacity));
  }

  /** Marks `key` until `until`; marking again extends it. */
  add(key: string, until: number): void {
    if (this.#capacity === 0) return;
    this.#until.delete(key);
    if (this.#until.size >= this.#capacity) {
      const oldest = this.#until.keys().next();
      if (oldest.done !== true) this.#until.delete(oldest.value);
    }
    this.#until.set(key, until);
  }

  /** Whether `key` is marked at `now`. */
  has(key: string, now: number): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#until.delete(key);
    return false;
  }

  /** Number of keys marked at `now` (removes the expired ones). */
  count(now: number): number {
    for (const [key, until] of this.#until) if (until <= now) this.#until.delete(key);
    return this.#until.size;
  }

  clear(): void {
    this.#until.clear();
  }
}
