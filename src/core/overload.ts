/**
 * Overload protection: before the request route runs, a new request is refused with `503 Service
 * Unavailable` and `Retry-After` (RFC 3261 §21.5.4) while too many transactions are in progress
 * (`limits.maxTransactions`) or the JavaScript heap is above its high watermark
 * (`limits.memoryHighWatermark`). The per-message check is two comparisons; memory is sampled by a timer.
 */
import { getHeapStatistics } from 'node:v8';
import type { HeaderList } from '../sip/build.js';
import type { Stat, StatsRegistry } from './stats.js';

/** The settings (the `limits` section's overload fields). */
export interface OverloadSettings {
  /** Transactions in progress at most; 0 = no limit. */
  maxTransactions: number;
  /** Fraction of V8's heap limit in use above which new requests are refused; 0 = off. */
  memoryHighWatermark: number;
  /** Seconds in the Retry-After of the 503. */
  retryAfter: number;
}

/** How often memory is sampled (ms): cheap enough to ignore, fast enough to catch a flood. */
export const MEMORY_SAMPLE_INTERVAL = 250;
/** Memory stays "high" until usage falls below this share of the watermark (no flapping on every GC). */
const HYSTERESIS = 0.9;

/** Why a request was refused. */
export type OverloadReason = 'transactions' | 'memory';

/** The overload state of one server and its counters. */
export class OverloadGuard {
  maxTransactions: number;
  memoryHighWatermark: number;
  /** Set by the sampler: heap above the watermark. Read per message. */
  memoryHigh = false;
  /** The Retry-After header for the 503, built once per setting. */
  headers: HeaderList;
  /** The last sampled heap use, as a fraction of the heap limit. */
  heapFraction = 0;
  private retryAfterSeconds: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly rejectedTransactions: Stat;
  private readonly rejectedMemory: Stat;
  private readonly heapLimit = getHeapStatistics().heap_size_limit;

  constructor(settings: OverloadSettings, stats: StatsRegistry) {
    this.maxTransactions = settings.maxTransactions;
    this.memoryHighWatermark = settings.memoryHighWatermark;
    this.retryAfterSeconds = settings.retryAfter;
    this.headers = [['Retry-After', String(settings.retryAfter)]];
    const doc = 'new requests refused with 503 because the server is overloaded';
    const byReason = (reason: OverloadReason) =>
      stats.counter('core', `overload_rejected_${reason}`, `${doc} (${reason})`, {
        metric: { family: 'core_overload_rejected', labels: { reason }, help: doc },
      });
    this.rejectedTransactions = byReason('transactions');
    this.rejectedMemory = byReason('memory');
    const transactions = this.rejectedTransactions;
    const memory = this.rejectedMemory;
    stats.counter('core', 'overload_rejected', doc, () => transactions.value + memory.value);
    stats.gauge('core', 'memory_high', '1 while the heap is above limits.memoryHighWatermark', () =>
      this.memoryHigh ? 1 : 0,
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

  /** Starts sampling memory. */
  start(): void {
    if (this.timer !== undefined) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), MEMORY_SAMPLE_INTERVAL);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
