/**
 * Transaction timers in coarse buckets: timers of the same duration sit in one FIFO queue (they expire
 * in the order they were started), and each queue has one Node timer for its head. Thousands of
 * transactions cost a handful of Node timers; cancelling is O(1) (the entry is marked and skipped).
 */

/** Something that owns timers: it is called back with the kind it scheduled. */
export interface TimerOwner {
  onTimer(kind: number): void;
}

/** A scheduled timer; `cancel()` it when it is no longer needed. */
export class Timer {
  /** @internal */
  next: Timer | undefined = undefined;
  /** @internal */
  cancelled = false;

  constructor(
    readonly owner: TimerOwner,
    readonly kind: number,
    readonly due: number,
  ) {}

  /** Stops the timer from firing. */
  cancel(): void {
    this.cancelled = true;
  }
}

class DurationQueue {
  head: Timer | undefined = undefined;
  tail: Timer | undefined = undefined;
  size = 0;
  handle: NodeJS.Timeout | undefined = undefined;
}

/** The timer service of one transaction layer. */
export class TimerService {
  private readonly queues = new Map<number, DurationQueue>();
  private stopped = false;
  /** Injected for tests; `Date.now`-like. */
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Calls `owner.onTimer(kind)` after `delayMs` (rounded to whole ms). */
  start(owner: TimerOwner, kind: number, delayMs: number): Timer {
    const delay = Math.max(0, Math.round(delayMs));
    const t = new Timer(owner, kind, this.now() + delay);
    if (this.stopped) {
      t.cancelled = true;
      return t;
    }
    let q = this.queues.get(delay);
    if (q === undefined) {
      q = new DurationQueue();
      this.queues.set(delay, q);
    }
    if (q.tail === undefined) q.head = t;
    else q.tail.next = t;
    q.tail = t;
    q.size++;
    if (q.handle === undefined) this.arm(q, delay);
    return t;
  }

  private arm(q: DurationQueue, delay: number): void {
    const head = q.head;
    if (head === undefined) {
      q.handle = undefined;
      if (q.size === 0) this.queues.delete(delay);
      return;
    }
    q.handle = setTimeout(() => this.fire(q, delay), Math.max(0, head.due - this.now()));
    q.handle.unref();
  }

  private fire(q: DurationQueue, delay: number): void {
    const now = this.now();
    let t = q.head;
    // fire everything due; owners may start new timers (into this or other queues) as they go
    while (t !== undefined && t.due <= now) {
      q.head = t.next;
      if (q.head === undefined) q.tail = undefined;
      q.size--;
      t.next = undefined;
      if (!t.cancelled) {
        t.cancelled = true;
        t.owner.onTimer(t.kind);
      }
      t = q.head;
    }
    // skip cancelled heads so a queue of dead timers does not keep waking up
    while (q.head?.cancelled === true) {
      const dead = q.head;
      q.head = dead.next;
      if (q.head === undefined) q.tail = undefined;
      q.size--;
      dead.next = undefined;
    }
    this.arm(q, delay);
  }

  /** Timers waiting (including cancelled ones not yet reaped). */
  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.size;
    return n;
  }

  /** Cancels everything; no timer fires afterwards. */
  stop(): void {
    this.stopped = true;
    for (const q of this.queues.values()) {
      if (q.handle !== undefined) clearTimeout(q.handle);
      for (let t = q.head; t !== undefined; t = t.next) t.cancelled = true;
    }
    this.queues.clear();
  }
}
