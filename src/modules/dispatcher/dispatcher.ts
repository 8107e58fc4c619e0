/**
 * The dispatcher: destination sets, the selection algorithms (numbered as Kamailio numbers them), the
 * failover list kept on the request, marking, call load and `isFromList`. Probing lives in health.ts.
 */
import { RequestContext } from '../../core/context.js';
import { ownString } from '../../sip/keep.js';
import { isSipUri, parseUri, type Uri } from '../../sip/uri.js';
import type { FailureContext, ProxyTransaction } from '../../tm/proxy-transaction.js';
import { buildSets, type Destination, type DestinationSets, type DestinationState } from './destination.js';
import { DestinationFlag, type DestinationRecord } from './list.js';

/** Kamailio's algorithm numbers (`ds_select_dst(set, alg)`). */
export const Algorithm = {
  hashCallId: 0,
  hashFromUri: 1,
  hashToUri: 2,
  hashRequestUri: 3,
  roundRobin: 4,
  hashAuthUsername: 5,
  random: 6,
  hashValue: 7,
  priority: 8,
  weight: 9,
  callLoad: 10,
  relativeWeight: 11,
  parallel: 12,
  latency: 13,
} as const;

export type AlgorithmNumber = (typeof Algorithm)[keyof typeof Algorithm];

/** The request variable algorithm 7 hashes (Kamailio's `hash_pvar`): `req.set(HASH_VARIABLE, value)`. */
export const HASH_VARIABLE = 'dispatcher.hash';

/** The request variable holding a selection (it survives into the failure route). */
const SELECTION = 'dispatcher.selection';

/** What a selection left on the request: the destination in use and those still to try. */
interface Selection {
  readonly setId: number;
  readonly candidates: readonly Destination[];
  /** The algorithm that chose them: only call-load (10) counts calls per destination. */
  readonly algorithm: number;
  index: number;
}

/** One call counted in a destination's load. */
interface LoadEntry {
  destination: Destination;
  /** The INVITE's transaction until its final response is known. */
  request: RequestContext | undefined;
  confirmed: boolean;
  since: number;
}

/** What a script reads of a destination. */
export interface DestinationInfo {
  readonly setId: number;
  readonly uri: string;
  readonly state: DestinationState;
  readonly probing: boolean;
  readonly priority: number;
  readonly flags: number;
  /** Every attribute as written (`weight`, `duid`, your own...). */
  readonly attrs: ReadonlyMap<string, string>;
  readonly attrsBody: string;
  readonly load: number;
}

export function destinationInfo(d: Destination): DestinationInfo {
  return {
    setId: d.setId,
    uri: d.uri,
    state: d.state,
    probing: d.probing,
    priority: d.priority,
    flags: d.flags,
    attrs: d.attrs.all,
    attrsBody: d.attrs.body,
    load: d.load,
  };
}

/** 32-bit FNV-1a: stable across runs and servers, so a key always lands on the same destination. */
export function hashKey(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The part of a URI that is hashed: user, host (lower-cased), port; parameters are not. */
function uriKey(uri: Uri | undefined): string | undefined {
  if (uri === undefined || !isSipUri(uri)) return undefined;
  return `${uri.user ?? ''}@${uri.host.toLowerCase()}:${uri.port ?? ''}`;
}

function authUsername(req: RequestContext): string | undefined {
  const value = req.header('proxy-authorization') ?? req.header('authorization');
  if (value === undefined) return undefined;
  const m = /username\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/i.exec(value);
  return m === null ? undefined : (m[1] ?? m[2]);
}

function requestOf(target: RequestContext | FailureContext): RequestContext {
  return target instanceof RequestContext ? target : target.req;
}

/** The destination sets and everything selection keeps between requests. */
export class Dispatcher {
  #sets: DestinationSets = new Map();
  readonly #roundRobin = new Map<number, number>();
  /** Weight (algorithm 9): per set, 100 slots filled by weight and a cursor; rebuilt on reload. */
  #weightSlots = new Map<number, { slots: number[]; cursor: number }>();
  /** Relative weight (algorithm 11): smooth weighted round-robin scores per destination. */
  readonly #rweightScore = new WeakMap<Destination, number>();
  readonly #loads = new Map<string, LoadEntry>();
  /** Called when a destination changes state (for logs and statistics). */
  onStateChange: ((d: Destination, from: DestinationState, why: string) => void) | undefined;
  /** Milliseconds since the epoch (tests may replace it). */
  now: () => number = Date.now;

  get sets(): DestinationSets {
    return this.#sets;
  }

  /** Swaps in new sets at once; unchanged destinations keep their state, latency and load. */
  load(records: readonly DestinationRecord[]): DestinationSets {
    const sets = buildSets(records, this.#sets);
    this.#sets = sets;
    this.#weightSlots = new Map();
    return sets;
  }

  /** Every destination of every set, set by set. */
  *all(): Generator<Destination> {
    for (const list of this.#sets.values()) yield* list;
  }

  // ---------------------------------------------------------------- selection

  /**
   * Picks a destination of `setId` with `algorithm`, sets `req.nextHop` (and `req.sendSocket` when the
   * destination has a `socket`), and keeps up to `limit` destinations (the chosen one included) for
   * {@link next}. False when the set is unknown or has no active destination.
   */
  select(req: RequestContext, setId: number, algorithm: number, limit = Number.POSITIVE_INFINITY): boolean {
    const list = this.#sets.get(setId);
    if (list === undefined || list.length === 0) return false;
    const order = this.order(req, setId, list, algorithm);
    const candidates: Destination[] = [];
    for (const d of order) {
      if (candidates.length >= limit) break;
      if (d.active && (algorithm !== Algorithm.callLoad || d.hasCapacity)) candidates.push(d);
    }
    const first = candidates[0];
    if (first === undefined) return false;
    if (algorithm === Algorithm.parallel) {
      // every destination at once: the first as the Request-URI branch's next hop, the others as branches
      const branches = req.branches ?? [];
      const q = req.uriQ ?? 1;
      for (const d of candidates.slice(1)) {
        branches.push({
          uri: req.msg.requestUri,
          q,
          nextHop: d.uri,
          ...(d.attrs.socket === undefined ? {} : { socket: d.attrs.socket }),
        });
        d.selected++;
      }
      req.branches = branches;
      req.set(SELECTION, { setId, candidates: [first], algorithm, index: 0 } satisfies Selection);
    } else {
      req.set(SELECTION, { setId, candidates, algorithm, index: 0 } satisfies Selection);
    }
    this.use(req, first, algorithm);
    return true;
  }

  /** The set in the order `algorithm` would try it (inactive destinations still in it). */
  private order(
    req: RequestContext,
    setId: number,
    list: readonly Destination[],
    algorithm: number,
  ): readonly Destination[] {
    const n = list.length;
    switch (algorithm) {
      case Algorithm.hashCallId:
        return rotate(list, hashKey(req.msg.callId ?? ''));
      case Algorithm.hashFromUri:
        return rotate(list, hashKey(uriKey(req.msg.from?.uri) ?? ''));
      case Algorithm.hashToUri:
        return rotate(list, hashKey(uriKey(req.msg.to?.uri) ?? ''));
      case Algorithm.hashRequestUri:
        return rotate(list, hashKey(uriKey(req.msg.uri) ?? req.msg.requestUri));
      case Algorithm.hashAuthUsername:
        // no credentials: the Call-ID is hashed instead
        return rotate(list, hashKey(authUsername(req) ?? req.msg.callId ?? ''));
      case Algorithm.hashValue: {
        const v = req.get(HASH_VARIABLE);
        return rotate(list, hashKey(v === undefined ? (req.msg.callId ?? '') : String(v)));
      }
      case Algorithm.roundRobin: {
        // the cursor moves past the destination actually used, so inactive ones do not skew the cycle
        const start = this.#roundRobin.get(setId) ?? 0;
        const order = rotate(list, start);
        const used = order.findIndex((d) => d.active);
        this.#roundRobin.set(setId, (start + (used === -1 ? 0 : used) + 1) % n);
        return order;
      }
      case Algorithm.random:
        return rotate(list, Math.floor(Math.random() * n));
      case Algorithm.priority:
      case Algorithm.parallel:
        return list;
      case Algorithm.weight: {
        let w = this.#weightSlots.get(setId);
        if (w === undefined) {
          w = { slots: weightSlots(list), cursor: 0 };
          this.#weightSlots.set(setId, w);
        }
        const slot = w.slots[w.cursor]!;
        w.cursor = (w.cursor + 1) % w.slots.length;
        return rotate(list, slot);
      }
      case Algorithm.callLoad: {
        // least active calls first; ties keep the set's order
        return [...list].sort((a, b) => a.load - b.load);
      }
      case Algorithm.relativeWeight:
        return rotate(list, this.smoothWeighted(list));
      case Algorithm.latency:
        // lowest estimated probe latency first; never probed counts as 0; ties keep the set's order
        return [...list].sort((a, b) => a.latency.estimate - b.latency.estimate);
      default:
        throw new RangeError(`unknown dispatcher algorithm ${algorithm}`);
    }
  }

  /**
   * Smooth weighted round-robin over the active destinations with `rweight` (nginx's method): every
   * destination gains its weight, the highest score is chosen and pays back the total. Proportional and
   * evenly interleaved; weights are redistributed among the active ones as states change.
   */
  private smoothWeighted(list: readonly Destination[]): number {
    let total = 0;
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < list.length; i++) {
      const d = list[i]!;
      const w = d.attrs.rweight ?? 0;
      if (!d.active || w <= 0) continue;
      const score = (this.#rweightScore.get(d) ?? 0) + w;
      this.#rweightScore.set(d, score);
      total += w;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    if (best === -1) return 0;
    const chosen = list[best]!;
    this.#rweightScore.set(chosen, bestScore - total);
    return best;
  }

  /** Points the request at `d` and moves the call's load there. */
  private use(req: RequestContext, d: Destination, algorithm: number): void {
    req.nextHop = d.uri;
    if (d.attrs.socket !== undefined) req.sendSocket = d.attrs.socket;
    d.selected++;
    // as in Kamailio, calls are counted for the call-load algorithm only: other selections keep nothing
    // per call (a table of every call in progress would cost memory and GC time for no use)
    if (algorithm === Algorithm.callLoad && req.method === 'INVITE' && !req.hasToTag) this.loadSet(req, d);
  }

  /**
   * Moves a request (or the request of a failure route) to the next destination kept by
   * {@link select} that is still active. False when none is left.
   */
  next(target: RequestContext | FailureContext): boolean {
    const req = requestOf(target);
    const sel = req.get(SELECTION) as Selection | undefined;
    if (sel === undefined) return false;
    while (++sel.index < sel.candidates.length) {
      const d = sel.candidates[sel.index]!;
      if (d.active) {
        this.use(req, d, sel.algorithm);
        return true;
      }
    }
    this.loadUnset(req);
    return false;
  }

  /** The destination the request was last sent to by selection. */
  current(target: RequestContext | FailureContext): Destination | undefined {
    const sel = requestOf(target).get(SELECTION) as Selection | undefined;
    return sel?.candidates[sel.index];
  }

  /** Marks the request's current destination (Kamailio's `ds_mark_dst`). False when it has none. */
  mark(target: RequestContext | FailureContext, state: DestinationState | 'probing'): boolean {
    const d = this.current(target);
    if (d === undefined) return false;
    this.setState(d, state, 'marked by the script');
    return true;
  }

  /** Changes a destination's state; `probing` means inactive and probed (Kamailio's `ip`). */
  setState(d: Destination, state: DestinationState | 'probing', why: string, probing?: boolean): void {
    const from = d.state;
    if (state === 'probing') {
      d.state = 'inactive';
      d.probing = true;
    } else {
      d.state = state;
      // back to active: probed again only if the list says so
      d.probing = probing ?? (state === 'active' ? (d.flags & DestinationFlag.probing) !== 0 : d.probing);
    }
    d.failures = 0;
    d.successes = 0;
    if (from !== d.state) this.onStateChange?.(d, from, why);
  }

  /**
   * True when the request comes from a member of `setId` (any set when absent): source address equal to
   * the destination's host and source port to its port (5060/5061 when the URI has none).
   */
  isFromList(req: RequestContext, setId?: number): boolean {
    const src = req.source;
    const lists = setId === undefined ? this.#sets.values() : [this.#sets.get(setId) ?? []];
    for (const list of lists)
      for (const d of list) {
        const host = d.sipUri.host.startsWith('[') ? d.sipUri.host.slice(1, -1) : d.sipUri.host;
        if (host.toLowerCase() === src.address.toLowerCase() && d.port === src.port) return true;
      }
    return false;
  }

  // ---------------------------------------------------------------- call load

  /** Counts the call (by Call-ID) on `d`, moving it off the destination it was on. */
  private loadSet(req: RequestContext, d: Destination): void {
    const callId = req.msg.callId;
    if (callId === undefined) return;
    const old = this.#loads.get(callId);
    if (old !== undefined) old.destination.load--;
    d.load++;
    // the key is kept for the whole call: a flat copy, not a slice that would keep the INVITE's text alive
    this.#loads.set(old === undefined ? ownString(callId) : callId, {
      destination: d,
      request: req,
      confirmed: false,
      since: this.now(),
    });
  }

  /** Stops counting the request's call (Kamailio's `ds_load_unset`). */
  loadUnset(target: RequestContext | FailureContext): void {
    const callId = requestOf(target).msg.callId;
    if (callId !== undefined) this.release(callId);
  }

  /** A BYE or CANCEL ends the call it belongs to (Kamailio's `ds_load_update`). True when it was counted. */
  loadUpdate(req: RequestContext): boolean {
    if (req.method !== 'BYE' && req.method !== 'CANCEL') return false;
    const callId = req.msg.callId;
    return callId !== undefined && this.release(callId);
  }

  private release(callId: string): boolean {
    const e = this.#loads.get(callId);
    if (e === undefined) return false;
    this.#loads.delete(callId);
    e.destination.load--;
    return true;
  }

  /** Calls counted now. */
  get activeCalls(): number {
    return this.#loads.size;
  }

  /**
   * The periodic check of counted calls: a call whose INVITE got a final non-2xx (failed, canceled,
   * answered by the failure route) is released, a 2xx confirms it (then only its BYE or `maxAge` ends it).
   */
  sweepLoads(maxAge: number): void {
    const now = this.now();
    for (const [callId, e] of this.#loads) {
      if (now - e.since > maxAge) {
        this.release(callId);
        continue;
      }
      if (e.confirmed || e.request === undefined) continue;
      const tx = e.request.transaction as ProxyTransaction | undefined;
      const status = tx?.st.lastStatus ?? 0;
      if (status >= 300 && tx?.answered === true) this.release(callId);
      else if (status >= 200 && status < 300) {
        e.confirmed = true;
        e.request = undefined;
      }
    }
  }
}

/** `list` starting at `start % length`, wrapping around. */
function rotate(list: readonly Destination[], start: number): Destination[] {
  const n = list.length;
  const s = start % n;
  return s === 0 ? [...list] : [...list.slice(s), ...list.slice(0, s)];
}

/**
 * 100 slots, each the index of a destination, in proportion to the `weight` attributes (largest
 * remainder; no weights at all: equal shares), interleaved so a short run is proportional too.
 */
export function weightSlots(list: readonly Destination[]): number[] {
  const weights = list.map((d) => d.attrs.weight ?? 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const shares = total === 0 ? list.map(() => 100 / list.length) : weights.map((w) => (w * 100) / total);
  const counts = shares.map(Math.floor);
  let left = 100 - counts.reduce((a, b) => a + b, 0);
  const byRemainder = shares.map((s, i) => [s - Math.floor(s), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of byRemainder) {
    if (left-- <= 0) break;
    counts[i]!++;
  }
  // interleave: each slot goes to the destination furthest behind its share (smooth weighted order)
  const slots: number[] = [];
  const score = counts.map(() => 0);
  for (let k = 0; k < 100; k++) {
    let best = 0;
    for (let i = 0; i < counts.length; i++) {
      score[i]! += counts[i]!;
      if (score[i]! > score[best]!) best = i;
    }
    score[best]! -= 100;
    slots.push(best);
  }
  return slots;
}

/** A destination URI from a control command, compared as written and parsed. */
export function sameUri(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const ua = parseUri(a);
    const ub = parseUri(b);
    return (
      isSipUri(ua) &&
      isSipUri(ub) &&
      ua.host.toLowerCase() === ub.host.toLowerCase() &&
      (ua.port ?? 5060) === (ub.port ?? 5060) &&
      (ua.user ?? '') === (ub.user ?? '')
    );
  } catch {
    return false;
  }
}
