/**
 * A destination at run time: what the list declared, plus its state, probe counters, latency
 * statistics and active calls. Destination sets are immutable snapshots of these objects; a reload builds
 * new sets (reusing the objects of unchanged destinations) and swaps them at once.
 */
import { isSipUri, parseUri, type SipUri } from '../../sip/uri.js';
import { type DestinationAttributes, DestinationFlag, type DestinationRecord } from './list.js';

/** A destination's state (Kamailio's A/I/D; its T, trying, reads as active). */
export type DestinationState = 'active' | 'inactive' | 'disabled';

/** Probe round-trip statistics (ms), Kamailio's LATENCY: average, deviation, estimate, maximum, timeouts. */
export class LatencyStats {
  count = 0;
  average = 0;
  /** Sum of squared deviations (Welford). */
  private m2 = 0;
  /** Exponentially weighted estimate (weight 1/8 per sample, like TCP's SRTT). */
  estimate = 0;
  max = 0;
  timeouts = 0;

  add(ms: number): void {
    this.count++;
    const delta = ms - this.average;
    this.average += delta / this.count;
    this.m2 += delta * (ms - this.average);
    this.estimate = this.count === 1 ? ms : this.estimate + (ms - this.estimate) / 8;
    if (ms > this.max) this.max = ms;
  }

  get deviation(): number {
    return this.count < 2 ? 0 : Math.sqrt(this.m2 / (this.count - 1));
  }
}

export class Destination {
  readonly setId: number;
  readonly uri: string;
  readonly sipUri: SipUri;
  readonly flags: number;
  readonly priority: number;
  readonly attrs: DestinationAttributes;
  readonly description: string | undefined;
  readonly origin: string;
  state: DestinationState;
  /** Probed whatever the probing mode (flag 8, or marked `probing`). */
  probing: boolean;
  /** Consecutive failed / successful probes. */
  failures = 0;
  successes = 0;
  /** A probe is in flight. */
  pinging = false;
  readonly latency = new LatencyStats();
  /** Active calls dispatched here (see the module README for what counts). */
  load = 0;
  /** Requests and calls sent here by selection (for the statistics). */
  selected = 0;

  constructor(record: DestinationRecord) {
    this.setId = record.setId;
    this.uri = record.uri;
    const u = parseUri(record.uri);
    if (!isSipUri(u)) throw new TypeError(`not a SIP URI: ${record.uri}`);
    this.sipUri = u;
    this.flags = record.flags;
    this.priority = record.priority;
    this.attrs = record.attrs;
    this.description = record.description;
    this.origin = record.origin;
    this.state =
      (record.flags & DestinationFlag.disabled) !== 0
        ? 'disabled'
        : (record.flags & DestinationFlag.inactive) !== 0
          ? 'inactive'
          : 'active';
    this.probing = (record.flags & DestinationFlag.probing) !== 0;
  }

  /** Same declaration (a reload keeps this object, and with it state, latency and load). */
  sameAs(record: DestinationRecord): boolean {
    return (
      record.setId === this.setId &&
      record.uri === this.uri &&
      record.flags === this.flags &&
      record.priority === this.priority &&
      record.attrs.body === this.attrs.body
    );
  }

  get active(): boolean {
    return this.state === 'active';
  }

  /** Under its `maxload` (0 or absent: no limit). */
  get hasCapacity(): boolean {
    const max = this.attrs.maxload;
    return max === undefined || max === 0 || this.load < max;
  }

  /** Kamailio's flag letters: A/I/D for the state, P when probed, X when not. */
  get stateLetters(): string {
    return `${this.state === 'active' ? 'A' : this.state === 'inactive' ? 'I' : 'D'}${this.probing ? 'P' : 'X'}`;
  }

  /** The transport, address and port it is reached at (for `isFromList`). */
  get port(): number {
    return this.sipUri.port ?? (this.sipUri.scheme === 'sips' ? 5061 : 5060);
  }
}

/** Destination sets by id, each ordered by priority (highest first), then as listed. */
export type DestinationSets = ReadonlyMap<number, readonly Destination[]>;

/** Builds sets from records, reusing the objects of `previous` whose declaration did not change. */
export function buildSets(
  records: readonly DestinationRecord[],
  previous?: DestinationSets,
): DestinationSets {
  const reusable = new Map<string, Destination[]>();
  if (previous !== undefined)
    for (const list of previous.values())
      for (const d of list) {
        const key = `${d.setId} ${d.uri}`;
        const same = reusable.get(key);
        if (same === undefined) reusable.set(key, [d]);
        else same.push(d);
      }
  const sets = new Map<number, Destination[]>();
  for (const r of records) {
    const candidates = reusable.get(`${r.setId} ${r.uri}`);
    const i = candidates?.findIndex((d) => d.sameAs(r)) ?? -1;
    const d = i === -1 ? new Destination(r) : candidates!.splice(i, 1)[0]!;
    let list = sets.get(r.setId);
    if (list === undefined) {
      list = [];
      sets.set(r.setId, list);
    }
    list.push(d);
  }
  // stable sort: priority decides, the list order breaks ties
  for (const list of sets.values()) list.sort((a, b) => b.priority - a.priority);
  return sets;
}
