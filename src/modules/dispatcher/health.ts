/**
 * Health checks: OPTIONS probes of the destinations (Kamailio's keepalives) through tm's `newRequest`,
 * with the state changes they cause and the latency statistics they feed.
 */
import type { SipResponse } from '../../sip/message.js';
import type { NewRequestOptions } from '../tm/index.js';
import type { Destination } from './destination.js';
import type { Dispatcher } from './dispatcher.js';

export interface ProbeOptions {
  /** `inactive`: inactive destinations (and those flagged 8); `all`: every one not disabled. */
  mode: 'inactive' | 'all';
  method: string;
  from: string;
  /** Replies that count as alive besides 2xx. */
  accepted: (status: number) => boolean;
  /** Failed probes in a row before an active destination becomes inactive. */
  failuresToInactive: number;
  /** Successful probes in a row before an inactive destination becomes active. */
  successesToActive: number;
  /** A probe without a final response within this many ms failed (a timeout). */
  timeout: number;
}

type Send = (options: NewRequestOptions) => Promise<SipResponse>;

/** Parses Kamailio's `ping_reply_codes` (`class=2;code=403;code=488`) into a test. */
export function acceptedCodes(spec: string): (status: number) => boolean {
  const codes = new Set<number>();
  const classes = new Set<number>([2]);
  for (const part of spec.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const m = /^(class|code)\s*=\s*(\d+)$/i.exec(p);
    if (m === null) throw new Error(`pingReplyCodes: expected class=N or code=NNN, got '${p}'`);
    (m[1]!.toLowerCase() === 'class' ? classes : codes).add(Number(m[2]));
  }
  return (status) => codes.has(status) || classes.has(Math.floor(status / 100));
}

export class Prober {
  /** Probing switched on (`dispatcher.ping_active`). */
  active = true;
  probesSent = 0;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly send: Send,
    private readonly options: ProbeOptions,
  ) {}

  /** The destinations a round probes. */
  private due(d: Destination): boolean {
    if (d.state === 'disabled' || d.pinging) return false;
    return this.options.mode === 'all' || d.probing || d.state === 'inactive';
  }

  /** One round: probes every destination due, in parallel; resolves when all answered or timed out. */
  async round(): Promise<void> {
    if (!this.active) return;
    const probes: Promise<void>[] = [];
    for (const d of this.dispatcher.all()) if (this.due(d)) probes.push(this.probe(d));
    await Promise.all(probes);
  }

  /** Probes one destination and applies the outcome. */
  async probe(d: Destination): Promise<void> {
    d.pinging = true;
    this.probesSent++;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let status: number;
    try {
      const res = await Promise.race([
        this.send({
          method: this.options.method,
          uri: d.uri,
          from: `<${d.attrs.pingFrom ?? this.options.from}>`,
          to: `<${d.uri}>`,
        }),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), this.options.timeout);
        }),
      ]);
      status = res === undefined ? 408 : res.status;
      // a local 408 (tm's own timeout) is a timeout too
      if (res === undefined) d.latency.timeouts++;
      else if (status === 408 && res.getHeader('to')?.includes('tag=') !== true) d.latency.timeouts++;
      else d.latency.add(performance.now() - started);
    } catch {
      status = 503;
    } finally {
      clearTimeout(timer);
      d.pinging = false;
    }
    this.apply(d, this.options.accepted(status), status);
  }

  private apply(d: Destination, alive: boolean, status: number): void {
    if (d.state === 'disabled') return;
    if (alive) {
      d.failures = 0;
      d.successes++;
      if (d.state === 'inactive' && d.successes >= this.options.successesToActive)
        this.dispatcher.setState(d, 'active', `probe answered ${status}`);
    } else {
      d.successes = 0;
      d.failures++;
      if (d.state === 'active' && d.failures >= this.options.failuresToInactive)
        // probed from now on, so it comes back by itself whatever the mode
        this.dispatcher.setState(d, 'probing', `probe failed (${status})`);
    }
  }
}
