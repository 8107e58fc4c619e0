/**
 * Statistics: named counters and gauges, grouped like Kamailio's (`core`, `sl`, `tm`, `usrloc`...).
 * A counter is a plain object with a number field, so the hot path increments it without a lookup.
 * Figures another layer already keeps (the transport's connections, the DNS cache, the process's memory)
 * are computed stats: their value is read from a function when asked, nothing is copied on the hot path.
 */

export type StatKind = 'counter' | 'gauge';

/**
 * How a statistic is exposed to Prometheus as one member of a labelled family: `core.rcv_requests_invite`
 * with `{ family: 'core_rcv_requests_by_method', labels: { method: 'INVITE' } }` becomes
 * `olelo_core_rcv_requests_by_method_total{method="INVITE"}`.
 */
export interface StatMetric {
  /** The family's name after the prefix (`olelo_`) and before `_total`. */
  readonly family: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The family's HELP text; by default the doc of its first member. */
  readonly help?: string;
}

/** Options of a statistic. */
export interface StatOptions {
  /** Makes the stat computed: its value is `read()` when asked. */
  read?: () => number;
  /** Prometheus family and labels (see {@link StatMetric}). */
  metric?: StatMetric;
}

/** One counter or gauge. Increment `value` directly on hot paths (computed stats cannot be written). */
export interface Stat {
  readonly group: string;
  readonly name: string;
  readonly kind: StatKind;
  readonly doc: string;
  value: number;
  /** True when the value is read from a function (see {@link StatOptions.read}). */
  readonly computed: boolean;
  readonly metric: StatMetric | undefined;
}

/**
 * A stat whose value is read when asked. A computed counter can still be reset: it then counts from the
 * value it had (and from zero again if the figure it reads restarted below that value).
 */
class ComputedStat implements Stat {
  readonly computed = true;
  private base = 0;

  constructor(
    readonly group: string,
    readonly name: string,
    readonly kind: StatKind,
    readonly doc: string,
    readonly metric: StatMetric | undefined,
    private readonly read: () => number,
  ) {}

  get value(): number {
    const raw = this.read();
    if (raw < this.base) this.base = 0;
    return raw - this.base;
  }

  set value(_v: number) {
    throw new TypeError(`${this.group}.${this.name} is computed: it cannot be written`);
  }

  reset(): void {
    this.base = this.read();
  }
}

/** The registry of every statistic the server keeps. */
export class StatsRegistry {
  private readonly stats = new Map<string, Stat>();

  /**
   * Registers (or returns the existing) counter `group.name`. With `read` (or `options.read`), a computed
   * counter: registering it again replaces the reading function.
   */
  counter(group: string, name: string, doc = '', options?: StatOptions | (() => number)): Stat {
    return this.register(group, name, 'counter', doc, options);
  }

  /** Registers (or returns the existing) gauge `group.name`; computed with `read`, as {@link counter}. */
  gauge(group: string, name: string, doc = '', options?: StatOptions | (() => number)): Stat {
    return this.register(group, name, 'gauge', doc, options);
  }

  private register(
    group: string,
    name: string,
    kind: StatKind,
    doc: string,
    options: StatOptions | (() => number) | undefined,
  ): Stat {
    const o: StatOptions = typeof options === 'function' ? { read: options } : (options ?? {});
    const key = `${group}.${name}`;
    const existing = this.stats.get(key);
    if (o.read !== undefined) {
      if (existing !== undefined && !existing.computed)
        throw new Error(`statistic ${key} exists and is not computed`);
      const s = new ComputedStat(group, name, kind, doc, o.metric, o.read);
      this.stats.set(key, s);
      return s;
    }
    if (existing !== undefined) {
      if (existing.computed) throw new Error(`statistic ${key} exists and is computed`);
      return existing;
    }
    // one shape for every plain stat, so `s.value++` stays monomorphic
    const s: Stat = { group, name, kind, doc, value: 0, computed: false, metric: o.metric };
    this.stats.set(key, s);
    return s;
  }

  /** The value of `group.name`, or undefined when no such statistic exists. */
  get(key: string): number | undefined {
    return this.stats.get(key)?.value;
  }

  /** The statistic object `group.name`. */
  find(key: string): Stat | undefined {
    return this.stats.get(key);
  }

  /** Every statistic, optionally of one group, as `group.name → value`. */
  snapshot(group?: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, s] of this.stats) if (group === undefined || s.group === group) out[key] = s.value;
    return out;
  }

  /** Every statistic object (for exporters), in registration order. */
  all(): Iterable<Stat> {
    return this.stats.values();
  }

  /** The group names, in registration order. */
  groups(): string[] {
    const out = new Set<string>();
    for (const s of this.stats.values()) out.add(s.group);
    return [...out];
  }

  /**
   * Resets counters (not gauges) to zero: every one, those of a group, or the one named `group.name`.
   * Returns how many were reset.
   */
  reset(key?: string): number {
    const one = key === undefined ? undefined : this.stats.get(key);
    if (one !== undefined) return resetStat(one) ? 1 : 0;
    let n = 0;
    for (const s of this.stats.values()) if ((key === undefined || s.group === key) && resetStat(s)) n++;
    return n;
  }
}

function resetStat(s: Stat): boolean {
  if (s.kind !== 'counter') return false;
  if (s instanceof ComputedStat) s.reset();
  else s.value = 0;
  return true;
}

/**
 * Wraps a reader of a whole counters object (a copy the transport or the resolver hands out) so the
 * computed stats reading its fields during one synchronous turn (one snapshot, one scrape) share one copy.
 */
export function readOncePerTurn<T>(read: () => T): () => T {
  let cached: T | undefined;
  return () => {
    if (cached === undefined) {
      cached = read();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };
}
