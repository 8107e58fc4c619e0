/**
 * Statistics: named counters and gauges, grouped like Kamailio's (`core`, `sl`, `tm`, `usrloc`...).
 * A counter is a plain object with a number field, so the hot path increments it without a lookup.
 */

/** One counter or gauge. Increment `value` directly on hot paths. */
export interface Stat {
  readonly group: string;
  readonly name: string;
  readonly kind: 'counter' | 'gauge';
  readonly doc: string;
  value: number;
}

/** The registry of every statistic the server keeps. */
export class StatsRegistry {
  private readonly stats = new Map<string, Stat>();

  /** Registers (or returns the existing) counter `group.name`. */
  counter(group: string, name: string, doc = ''): Stat {
    return this.register(group, name, 'counter', doc);
  }

  /** Registers (or returns the existing) gauge `group.name`. */
  gauge(group: string, name: string, doc = ''): Stat {
    return this.register(group, name, 'gauge', doc);
  }

  private register(group: string, name: string, kind: Stat['kind'], doc: string): Stat {
    const key = `${group}.${name}`;
    let s = this.stats.get(key);
    if (s === undefined) {
      s = { group, name, kind, doc, value: 0 };
      this.stats.set(key, s);
    }
    return s;
  }

  /** The value of `group.name`, or undefined when no such statistic exists. */
  get(key: string): number | undefined {
    return this.stats.get(key)?.value;
  }

  /** Every statistic, optionally of one group, as `group.name → value`. */
  snapshot(group?: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, s] of this.stats) if (group === undefined || s.group === group) out[key] = s.value;
    return out;
  }

  /** Every statistic object (for exporters). */
  all(): Iterable<Stat> {
    return this.stats.values();
  }

  /** Resets counters (not gauges) to zero. */
  reset(group?: string): void {
    for (const s of this.stats.values())
      if (s.kind === 'counter' && (group === undefined || s.group === group)) s.value = 0;
  }
}
