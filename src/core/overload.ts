/**
 * Overload protection: before the request route runs, a new request is refused with `503 Service
 * Unavailable` and `Retry-After` (RFC 3261 §21.5.4) while too many transactions are in progress
 * (`limits.maxTransactions`), the JavaScript heap is above its high watermark
 * (`limits.memoryHighWatermark`) or the event loop has been busy for more than a share of the time
 * (`limits.maxEventLoopUtilization`: the CPU is used up, and past that point datagrams queue in the socket
 * until they are dropped and retransmitted, which adds load: refusing new work cheaply keeps the calls in
 * progress going). The per-message check is a few comparisons; memory and load are sampled by timers.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { HeaderList } from '../sip/build.js';
import type { Stat, StatsRegistry } from './stats.js';

/** The settings (the `limits` section's overload fields). */
export interface OverloadSettings {
  /** Transactions in progress at most; 0 = no limit. */
  maxTransactions: number;
  /** Fraction of V8's heap limit in use above which new requests are refused; 0 = off. */
  memoryHighWatermark: number;
  /** Share of time the event loop was busy (over the last sample) above which new requests are refused; 0 = off. */
  maxEventLoopUtilization: number;
  /** Seconds in the Retry-After of the 503. */
  retryAfter: number;
}

/** How often memory is sampled (ms): cheap enough to ignore, fast enough to catch a flood. */
export const MEMORY_SAMPLE_INTERVAL = 250;
/** How often the event loop's utilization is sampled (ms): a backlog of datagrams builds up within ~100 ms. */
export const LOAD_SAMPLE_INTERVAL = 100;
/** Under overload at least this share of new requests is still admitted (the load is measured on them). */
const MIN_ADMIT_SHARE = 0.02;
/** Memory stays "high" until usage falls below this share of the watermark (no flapping on every GC). */
const HYSTERESIS = 0.9;

/** Why a request was refused. */
export type OverloadReason = 'transactions' | 'memory' | 'load';

/** The overload state of one server and its counters. */
export class OverloadGuard {
  maxTransactions: number;
  memoryHighWatermark: number;
  maxEventLoopUtilization: number;
  /** Set by the sampler: heap above the watermark. Read per message. */
  memoryHigh = false;
  /**
   * The share of new requests admitted while `loadHigh` (0-1): cut in proportion when the loop is busier
   * than the limit, raised again when it is below 90% of it — so the admitted load settles near the limit
   * instead of swinging between all and nothing every sample.
   */
  admitShare = 1;
  /** Admission credit: each new request adds `admitShare`; one whole credit admits it. */
  private credit = 0;
  /** The event loop's utilization over the last sample (0-1). */
  loopUtilization = 0;

  /** The event loop was busier than `maxEventLoopUtilization`: new requests are thinned. */
  get loadHigh(): boolean {
    return this.admitShare < 1;
  }

  /** Whether {@link refuse} can refuse anything now: the pipeline's cheap test before it looks further. */
  get engaged(): boolean {
    return this.memoryHigh || this.admitShare < 1 || this.maxTransactions > 0;
  }
  /** The Retry-After header for the 503, built once per setting. */
  headers: HeaderList;
  /** The last sampled heap use, as a fraction of the heap limit. */
  heapFraction = 0;
  private retryAfterSeconds: number;
  private timer: NodeJS.Timeout | undefined;
  private loadTimer: NodeJS.Timeout | undefined;
  private lastLoop = performance.eventLoopUtilization();
  private readonly rejectedTransactions: Stat;
  private readonly rejectedMemory: Stat;
  private readonly rejectedLoad: Stat;
  private readonly heapLimit = getHeapStatistics().heap_size_limit;

  constructor(settings: OverloadSettings, stats: StatsRegistry) {
    this.maxTransactions = settings.maxTransactions;
    this.memoryHighWatermark = settings.memoryHighWatermark;
    this.maxEventLoopUtilization = settings.maxEventLoopUtilization;
    this.retryAfterSeconds = settings.retryAfter;
    this.headers = [['Retry-After', String(settings.retryAfter)]];
    const doc = 'new requests refused with 503 because the server is overloaded';
    const byReason = (reason: OverloadReason) =>
      stats.counter('core', `overload_rejected_${reason}`, `${doc} (${reason})`, {
        metric: { family: 'core_overload_rejected', labels: { reason }, help: doc },
      });
    this.rejectedTransactions = byReason('transactions');
    this.rejectedMemory = byReason('memory');
    this.rejectedLoad = byReason('load');
    const transactions = this.rejectedTransactions;
    const memory = this.rejectedMemory;
    const load = this.rejectedLoad;
    stats.counter('core', 'overload_rejected', doc, () => transactions.value + memory.value + load.value);
    stats.gauge('core', 'memory_high', '1 while the heap is above limits.memoryHighWatermark', () =>
      this.memoryHigh ? 1 : 0,
    );
    stats.gauge(
      'core',
      'load_high',
      '1 while the event loop is busier than limits.maxEventLoopUtilization',
      () => (this.loadHigh ? 1 : 0),
    );
    stats.gauge(
      'core',
      'event_loop_utilization',
      `share of time the event loop was busy, over the last ${LOAD_SAMPLE_INTERVAL} ms`,
      () => this.loopUtilization,
    );
  }

  get retryAfter(): number {
    return this.retryAfterSeconds;
  }

  set retryAfter(seconds: number) {
    this.retryAfterSeconds = seconds;
    this.headers = [['Retry-After', String(seconds)]];
  }

  /** Why a new request must be refused now (counted), or undefined. O(1), no allocation. */
  refuse(transactionsInProgress: number): OverloadReason | undefined {
    if (this.memoryHigh) {
      this.rejectedMemory.value++;
      return 'memory';
    }
    if (this.admitShare < 1) {
      // spread the admitted share evenly over the requests (no randomness: a steady, testable rate)
      this.credit += this.admitShare;
      if (this.credit >= 1) this.credit -= 1;
      else {
        this.rejectedLoad.value++;
        return 'load';
      }
    }
    if (this.maxTransactions > 0 && transactionsInProgress >= this.maxTransactions) {
      this.rejectedTransactions.value++;
      return 'transactions';
    }
    return undefined;
  }

  /** Takes one memory sample (the timer calls it; `used` overrides the reading in tests). */
  sample(used = getHeapStatistics().used_heap_size): void {
    this.heapFraction = used / this.heapLimit;
    const mark = this.memoryHighWatermark;
    if (mark <= 0) this.memoryHigh = false;
    else if (this.heapFraction >= mark) this.memoryHigh = true;
    else if (this.heapFraction < mark * HYSTERESIS) this.memoryHigh = false;
  }

  /**
   * Takes one load sample: the event loop's utilization since the previous one (the timer calls it;
   * `utilization` overrides the reading in tests), and adjusts the share of new requests admitted: cut
   * in proportion (`share × limit / utilization`) at or above `maxEventLoopUtilization`, raised by a
   * quarter below 90% of it, all admitted again once it is back to 1.
   */
  sampleLoad(utilization?: number): void {
    const now = performance.eventLoopUtilization();
    const u = utilization ?? performance.eventLoopUtilization(now, this.lastLoop).utilization;
    this.loopUtilization = u;
    this.lastLoop = now;
    const max = this.maxEventLoopUtilization;
    if (max <= 0) this.admitShare = 1;
    else if (u >= max) this.admitShare = Math.max(MIN_ADMIT_SHARE, (this.admitShare * max) / u);
    else if (u < max * HYSTERESIS) this.admitShare = Math.min(1, this.admitShare * 1.25 + 0.01);
    if (this.admitShare === 1) this.credit = 0;
  }

  /** Starts sampling memory and load. */
  start(): void {
    if (this.timer !== undefined) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), MEMORY_SAMPLE_INTERVAL);
    this.timer.unref();
    this.lastLoop = performance.eventLoopUtilization();
    this.loadTimer = setInterval(() => this.sampleLoad(), LOAD_SAMPLE_INTERVAL);
    this.loadTimer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.loadTimer);
    this.timer = undefined;
    this.loadTimer = undefined;
  }
}
