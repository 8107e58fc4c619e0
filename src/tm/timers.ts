/**
 * Transaction timers in coarse buckets: timers of the same duration sit in one FIFO list (they expire in
 * the order they were started), and each list has one Node timer for its head. Thousands of
 * transactions cost a handful of Node timers; starting and cancelling are O(1), and a cancelled timer is
 * unlinked at once, so it holds no reference to its owner.
 */

/** Something that owns timers: it is called back with the kind it scheduled. */
export interface TimerOwner {
  onTimer(kind: number): void;
}

/**
 * A scheduled timer; `cancel()` it when it is no longer needed. A long-lived record may extend it and be
 * its own timer ({@link TimerService.replace}): one object instead of two for every waiting transaction.
 */
export class Timer {
  /** @internal */
  prev: Timer | undefined = undefined;
  /** @internal */
  next: Timer | undefined = undefined;
  /** @internal */
  queue: DurationQueue | undefined;
  /** @internal */
  owner: TimerOwner | undefined;
  /** What it was scheduled for (the owner's own numbering). */
  kind: number;
  /** @internal ms since its service started */
  due: number;

  constructor(owner: TimerOwner | undefined, kind: number, due: number, queue: DurationQueue | undefined) {
    this.owner = owner;
    this.kind = kind;
    this.due = due;
    this.queue = queue;
  }

  /** True once the timer fired or was cancelled. */
  get cancelled(): boolean {
    return this.owner === undefined;
  }

  /** Stops the timer from firing. */
  cancel(): void {
    this.owner = undefined;
    const q = this.queue;
    if (q !== undefined) q.unlink(this);
  }
}

/** Cancels `t` if set, and returns undefined: `this.t = cancelTimer(this.t)` lets the Timer object go too. */
export function cancelTimer(t: Timer | undefined): undefined {
  if (t !== undefined) t.cancel();
  return undefined;
}

/** @internal One list of timers of the same duration. */
export class DurationQueue {
  head: Timer | undefined = undefined;
  tail: Timer | undefined = undefined;
  size = 0;
  handle: NodeJS.Timeout | undefined = undefined;
  /**
   * How late a timer of this list may fire, ms: the list's Node timer is re-armed at most this often, so
   * thousands of transactions ending per second cost a few dozen wake-ups, not one each. A 32 s Timer J
   * firing 20 ms late changes nothing; short retransmission timers stay precise.
   */
  readonly slack: number;
  /** The list's Node timer callback (one per list, not one per arming). */
  onDue: () => void = () => {};

  constructor(readonly delay: number) {
    this.slack = delay >= 1000 ? 20 : delay >= 100 ? 5 : 0;
  }

  push(t: Timer): void {
    t.prev = this.tail;
    if (this.tail === undefined) this.head = t;
    else this.tail.next = t;
    this.tail = t;
    this.size++;
  }

  unlink(t: Timer): void {
    if (t.prev === undefined) this.head = t.next;
    else t.prev.next = t.next;
    if (t.next === undefined) this.tail = t.prev;
    else t.next.prev = t.prev;
    t.prev = undefined;
    t.next = undefined;
    t.queue = undefined;
    this.size--;
  }
}

/**
 * The timer service of one transaction layer. Due times are kept in ms since the service started, so
 * they stay small integers (a timestamp in ms would be a boxed number on every Timer for 12 days).
 */
export class TimerService {
  private readonly queues = new Map<number, DurationQueue>();
  private stopped = false;
  private readonly clock: () => number;
  private readonly epoch: number;
  /**
   * The clock read once for every timer started in one turn of the event loop (a message's processing
   * starts several: Timers A, B and fr_timer for a relayed INVITE); -1 once the turn's microtasks ran.
   */
  private turnNow = -1;
  private readonly endTurn = () => {
    this.turnNow = -1;
  };

  /** @param now clock in ms (`Date.now` by default; tests may inject one) */
  constructor(now: () => number = Date.now) {
    this.clock = now;
    this.epoch = now();
  }

  /** ms since the service started. */
  private now(): number {
    return this.clock() - this.epoch;
  }

  /** {@link now}, read at most once per turn of the event loop for starting timers. */
  private startNow(): number {
    let now = this.turnNow;
    if (now < 0) {
      now = this.turnNow = this.now();
      queueMicrotask(this.endTurn);
    }
    return now;
  }

  /** Calls `owner.onTimer(kind)` after `delayMs` (rounded to whole ms). */
  start(owner: TimerOwner, kind: number, delayMs: number): Timer {
    const delay = Math.max(0, Math.round(delayMs));
    if (this.stopped) {
      const dead = new Timer(owner, kind, 0, undefined);
      dead.owner = undefined;
      return dead;
    }
    let q = this.queues.get(delay);
    if (q === undefined) {
      q = new DurationQueue(delay);
      const list = q;
      q.onDue = () => this.fire(list);
      this.queues.set(delay, q);
    }
    const t = new Timer(owner, kind, this.startNow() + delay, q);
    q.push(t);
    if (q.handle === undefined) this.arm(q);
    return t;
  }

  /**
   * Puts `node` in the place of the running timer `old` (its list, its position, its due time and kind:
   * it fires exactly when `old` would have, calling `node.owner`) and cancels `old`. Returns false, and
   * schedules nothing, when `old` is not running.
   */
  replace(old: Timer, node: Timer): boolean {
    const q = old.queue;
    if (q === undefined || old.owner === undefined) return false;
    node.kind = old.kind;
    node.due = old.due;
    node.queue = q;
    node.prev = old.prev;
    node.next = old.next;
    if (old.prev === undefined) q.head = node;
    else old.prev.next = node;
    if (old.next === undefined) q.tail = node;
    else old.next.prev = node;
    old.prev = undefined;
    old.next = undefined;
    old.queue = undefined;
    old.owner = undefined;
    return true;
  }

  private arm(q: DurationQueue): void {
    const head = q.head;
    if (head === undefined) {
      q.handle = undefined;
      this.queues.delete(q.delay);
      return;
    }
    q.handle = setTimeout(q.onDue, Math.max(q.slack, head.due - this.now()));
    q.handle.unref();
  }

  private fire(q: DurationQueue): void {
    q.handle = undefined;
    const now = this.now();
    // fire everything due; owners may start new timers (into this or other lists) as they go
    let t = q.head;
    while (t !== undefined && t.due <= now) {
      const owner = t.owner;
      q.unlink(t);
      t.owner = undefined;
      owner?.onTimer(t.kind);
      t = q.head;
    }
    if (q.handle === undefined) this.arm(q);
  }

  /** Timers waiting. */
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
      while (q.head !== undefined) q.head.cancel();
    }
    this.queues.clear();
  }
}
