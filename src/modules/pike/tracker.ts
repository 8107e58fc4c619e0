/**
 * The request counter behind pike: requests per source IP over a sampling window, with a threshold.
 *
 * One record per IP in a Map (insertion order = age, for eviction), two counters per record (this window
 * and the previous one), no timer per IP: one sweep forgets quiet IPs. Counting a request is a Map lookup
 * and a few arithmetic operations; only a new IP allocates.
 */

/** What pike knows about one source. */
export interface PikeRecord {
  /** Index of the window `current` counts (time / samplingTime, floored). */
  window: number;
  /** Requests in that window. */
  current: number;
  /** Requests in the window before it. */
  previous: number;
  /** Time (ms) of the last request. */
  lastSeen: number;
  /** Over the limit at its last request (and not quiet for a whole window since). */
  hot: boolean;
}

/** The tracker's settings. */
export interface PikeSettings {
  /** Length of a sampling window, ms (Kamailio's `sampling_time_unit`). */
  samplingTime: number;
  /** Requests allowed per window (Kamailio's `reqs_density_per_unit`). */
  reqsDensityPerUnit: number;
  /** A source is forgotten after this long without a request, ms (Kamailio's `remove_latency`). */
  removeLatency: number;
  /** Most sources tracked at once; a new one beyond it evicts the oldest. */
  maxTrackedIps: number;
}

/** One source as `pike.top` shows it (Kamailio's field names). */
export interface PikeTopEntry {
  ip_addr: string;
  leaf_hits_prev: number;
  leaf_hits_curr: number;
  /** Seconds until the source is forgotten if it stays quiet. */
  expires: number;
  /** `HOT` while over the limit, `WARM` otherwise. */
  status: 'HOT' | 'WARM';
}

/** Per-IP request rates with a threshold. */
export class PikeTracker {
  private readonly records = new Map<string, PikeRecord>();
  private hotCount = 0;
  /** Sources evicted to stay within `maxTrackedIps`. */
  evicted = 0;
  /** Called when a source goes over the limit (not for each of its requests). */
  onHot: ((ip: string) => void) | undefined;

  constructor(readonly settings: PikeSettings) {}

  /**
   * Counts one request from `ip` at `now` (ms) and returns true when the source is within the limit,
   * false when over it (Kamailio's `pike_check_req`). The rate is a sliding estimate: the requests of
   * this window plus those of the previous one weighted by how much of it is still within one window
   * of `now`, so a burst straddling two windows is caught too.
   */
  check(ip: string, now: number): boolean {
    const { samplingTime, reqsDensityPerUnit } = this.settings;
    const window = Math.floor(now / samplingTime);
    let r = this.records.get(ip);
    if (r === undefined) {
      if (this.records.size >= this.settings.maxTrackedIps) this.evictOldest();
      r = { window, current: 0, previous: 0, lastSeen: now, hot: false };
      this.records.set(ip, r);
    } else if (r.window !== window) {
      r.previous = window === r.window + 1 ? r.current : 0;
      r.current = 0;
      r.window = window;
    }
    r.current++;
    r.lastSeen = now;
    const elapsed = now - window * samplingTime;
    const estimate = r.current + (r.previous * (samplingTime - elapsed)) / samplingTime;
    const over = estimate > reqsDensityPerUnit;
    if (over !== r.hot) {
      r.hot = over;
      if (over) {
        this.hotCount++;
        // a hot source moves to the young end, so a flood of new (spoofed) sources evicts it last
        this.records.delete(ip);
        this.records.set(ip, r);
        this.onHot?.(ip);
      } else this.hotCount--;
    }
    return !over;
  }

  /** True when `ip` is over the limit now (without counting a request). */
  isHot(ip: string): boolean {
    return this.records.get(ip)?.hot === true;
  }

  /** Sources tracked. */
  get size(): number {
    return this.records.size;
  }

  /** Sources over the limit. */
  get hot(): number {
    return this.hotCount;
  }

  /**
   * Forgets sources quiet for `removeLatency` and cools down those quiet for a whole window. Run
   * periodically (one timer for every source).
   */
  sweep(now: number): void {
    const { samplingTime, removeLatency } = this.settings;
    for (const [ip, r] of this.records) {
      const quiet = now - r.lastSeen;
      if (quiet >= removeLatency) {
        if (r.hot) this.hotCount--;
        this.records.delete(ip);
      } else if (r.hot && quiet >= samplingTime) {
        r.hot = false;
        this.hotCount--;
      }
    }
  }

  /** Forgets every source. */
  clear(): void {
    this.records.clear();
    this.hotCount = 0;
  }

  /**
   * The sources as `pike.top` lists them: hot ones only, or all; sorted by requests of the two windows,
   * then of the current one, descending.
   */
  top(now: number, filter: 'HOT' | 'ALL' = 'HOT'): PikeTopEntry[] {
    const { samplingTime, removeLatency } = this.settings;
    const window = Math.floor(now / samplingTime);
    const out: PikeTopEntry[] = [];
    for (const [ip, r] of this.records) {
      if (filter === 'HOT' && !r.hot) continue;
      // counts as of now: a record not touched since an earlier window has moved on
      const current = r.window === window ? r.current : 0;
      const previous = r.window === window ? r.previous : r.window === window - 1 ? r.current : 0;
      out.push({
        ip_addr: ip,
        leaf_hits_prev: previous,
        leaf_hits_curr: current,
        expires: Math.max(0, Math.ceil((r.lastSeen + removeLatency - now) / 1000)),
        status: r.hot ? 'HOT' : 'WARM',
      });
    }
    out.sort(
      (a, b) =>
        b.leaf_hits_prev + b.leaf_hits_curr - (a.leaf_hits_prev + a.leaf_hits_curr) ||
        b.leaf_hits_curr - a.leaf_hits_curr,
    );
    return out;
  }

  private evictOldest(): void {
    for (const [ip, r] of this.records) {
      if (r.hot) this.hotCount--;
      this.records.delete(ip);
      this.evicted++;
      return;
    }
  }
}
