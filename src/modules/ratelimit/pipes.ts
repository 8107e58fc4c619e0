/**
 * Rate-limit pipes (Kamailio's pipelimit/ratelimit): a named budget of requests per time slot with an
 * algorithm deciding which requests pass. Slots are aligned on the clock (`floor(now / interval)`), like
 * Kamailio's timer resetting its counters every `timer_interval`; a pipe rolls over to a new slot on the
 * first check that sees it, so no timer runs per pipe and a check is O(1) without allocation.
 */

/** The algorithms a pipe may use. */
export const ALGORITHMS = ['TAILDROP', 'RED', 'NOP'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** True when `name` is an algorithm (names are upper case, as in Kamailio). */
export function isAlgorithm(name: string): name is Algorithm {
  return (ALGORITHMS as readonly string[]).includes(name);
}

/** One pipe. Counters are plain fields, read by the RPC methods. */
export class Pipe {
  /** The slot `counter` counts in. */
  slot = -1;
  /** Requests checked in the current slot (passed or not), Kamailio's `counter`. */
  counter = 0;
  /** Requests checked in the previous slot (0 when that slot saw none), Kamailio's `last_counter`. */
  lastCounter = 0;
  /** Requests passed and refused since the pipe was created. */
  passed = 0;
  dropped = 0;
  /** The last slot a check was made in, for the removal of unused pipes. */
  lastUsedSlot = -1;

  constructor(
    readonly name: string,
    public algorithm: Algorithm,
    public limit: number,
    /** Created by the script or at runtime (removed when unused); false for pipes of the config. */
    readonly dynamic: boolean,
  ) {}

  /** Percent of the limit used in the previous slot (Kamailio's `load`). */
  get load(): number {
    return this.limit <= 0 ? 0 : Math.round((this.lastCounter * 100) / this.limit);
  }
}

/** How a script creates a pipe on its first check (Kamailio's `pl_check(name, algorithm, limit)`). */
export interface PipeSpec {
  algorithm?: Algorithm;
  limit: number;
}

/**
 * The pipes of a server, with an injectable clock and random source (tests control both). Pipes the
 * script creates are named by it, often after a source address or a user, so their number is capped:
 * beyond `maxDynamic`, a new one evicts the dynamic pipe whose last slot with a check is the oldest.
 */
export class PipeTable {
  private readonly pipes = new Map<string, Pipe>();
  /** The dynamic pipes, least recently used (by slot) first. */
  private readonly dynamicPipes = new Map<string, Pipe>();
  /** Dynamic pipes evicted to stay within `maxDynamic`. */
  evicted = 0;

  constructor(
    /** The slot length in milliseconds. */
    public interval: number,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
    /** Most dynamic pipes held at once. */
    public maxDynamic = 65_536,
  ) {}

  get size(): number {
    return this.pipes.size;
  }

  get(name: string): Pipe | undefined {
    return this.pipes.get(name);
  }

  /** Every pipe, in creation order. */
  list(): IterableIterator<Pipe> {
    return this.pipes.values();
  }

  /** Creates a pipe or changes an existing one's algorithm and limit. */
  set(name: string, algorithm: Algorithm, limit: number, dynamic: boolean): Pipe {
    const existing = this.pipes.get(name);
    if (existing !== undefined) {
      existing.algorithm = algorithm;
      existing.limit = limit;
      return existing;
    }
    if (dynamic && this.dynamicPipes.size >= this.maxDynamic) this.evictOldestDynamic();
    const pipe = new Pipe(name, algorithm, limit, dynamic);
    this.pipes.set(name, pipe);
    if (dynamic) this.dynamicPipes.set(name, pipe);
    return pipe;
  }

  remove(name: string): boolean {
    this.dynamicPipes.delete(name);
    return this.pipes.delete(name);
  }

  /** Dynamic pipes held. */
  get dynamicSize(): number {
    return this.dynamicPipes.size;
  }

  private evictOldestDynamic(): void {
    for (const name of this.dynamicPipes.keys()) {
      this.remove(name);
      this.evicted++;
      return;
    }
  }

  /** Zeroes a pipe's counters (Kamailio's `pl.reset_pipe`). */
  reset(pipe: Pipe): void {
    pipe.counter = 0;
    pipe.lastCounter = 0;
    pipe.passed = 0;
    pipe.dropped = 0;
  }

  /**
   * Counts a request in the pipe and says whether it may pass. An unknown pipe is created from `spec`
   * when given (an existing pipe takes `spec.limit` when it is above 0, as Kamailio's pl_check), else the
   * answer is `undefined`.
   */
  check(name: string, spec?: PipeSpec): boolean | undefined {
    let pipe = this.pipes.get(name);
    if (spec !== undefined) {
      if (pipe === undefined) pipe = this.set(name, spec.algorithm ?? 'TAILDROP', spec.limit, true);
      else if (spec.limit > 0) pipe.limit = spec.limit;
    }
    if (pipe === undefined) return undefined;
    return this.checkPipe(pipe);
  }

  /** Counts a request in `pipe` and says whether it may pass. */
  checkPipe(pipe: Pipe): boolean {
    const slot = Math.floor(this.now() / this.interval);
    if (slot !== pipe.slot) {
      pipe.lastCounter = slot === pipe.slot + 1 ? pipe.counter : 0;
      pipe.counter = 0;
      pipe.slot = slot;
      if (pipe.dynamic) {
        // once a slot, not per check: a pipe in use moves to the young end, evicted last
        this.dynamicPipes.delete(pipe.name);
        this.dynamicPipes.set(pipe.name, pipe);
      }
    }
    pipe.lastUsedSlot = slot;
    const n = ++pipe.counter;
    const pass = this.decide(pipe, n);
    if (pass) pipe.passed++;
    else pipe.dropped++;
    return pass;
  }

  private decide(pipe: Pipe, n: number): boolean {
    const limit = pipe.limit;
    switch (pipe.algorithm) {
      case 'NOP':
        return true;
      case 'TAILDROP':
        return n <= limit;
      case 'RED': {
        // random early detection: the first half of the budget always passes; above it a request is
        // refused with a probability growing linearly with the budget used, all of them past the limit
        if (n > limit) return false;
        const threshold = Math.floor(limit / 2);
        if (n <= threshold) return true;
        return this.random() >= (n - threshold) / (limit - threshold + 1);
      }
    }
  }

  /** Removes dynamic pipes without a check for `slots` whole slots; returns how many were removed. */
  removeUnused(slots: number): number {
    const current = Math.floor(this.now() / this.interval);
    let removed = 0;
    for (const pipe of this.pipes.values()) {
      if (pipe.dynamic && current - pipe.lastUsedSlot > slots) {
        this.remove(pipe.name);
        removed++;
      }
    }
    return removed;
  }
}
