/**
 * "Is this me?" — Kamailio's `myself`: the hosts and ports this server answers for.
 */
import { networkInterfaces } from 'node:os';
import type { SipUri } from '../sip/uri.js';
import type { Listener } from '../transport/types.js';
import { bareHost, targetOfUri } from './next-hop.js';

/** Decides whether a host (and port) names this server. */
export class Myself {
  private readonly hosts = new Set<string>();
  private readonly ports = new Set<number>();

  /** @param domains configured domains and aliases */
  constructor(domains: readonly string[]) {
    for (const d of domains) this.hosts.add(normalize(d));
  }

  /**
   * Adds bound listeners: their addresses, advertised addresses and ports — and, for wildcard binds,
   * every local interface address.
   */
  addListeners(listeners: readonly Listener[]): void {
    let wildcard = false;
    for (const l of listeners) {
      this.ports.add(l.port);
      this.ports.add(l.advertisedPort);
      this.hosts.add(normalize(l.advertisedHost));
      if (l.address === '0.0.0.0' || l.address === '::') wildcard = true;
      else this.hosts.add(normalize(l.address));
    }
    if (wildcard) {
      for (const list of Object.values(networkInterfaces())) {
        for (const a of list ?? []) this.hosts.add(normalize(a.address));
      }
    }
  }

  /** True when `host` (name or IP, IPv6 with or without brackets) and `port` (if given) are this server's. */
  matches(host: string, port?: number): boolean {
    if (!this.hosts.has(normalize(host))) return false;
    return port === undefined || this.ports.has(port);
  }

  /** True when a SIP URI names this server; a URI without a port means its transport's default port. */
  matchesUri(uri: SipUri): boolean {
    if (!this.hosts.has(normalize(uri.host))) return false;
    return this.ports.has(uri.port ?? targetOfUri(uri).port);
  }

  /** True when `host` is one of this server's hosts, whatever the port. */
  matchesHost(host: string): boolean {
    return this.hosts.has(normalize(host));
  }

  /** Adds a domain at runtime (e.g. from the domain table). */
  addDomain(domain: string): void {
    this.hosts.add(normalize(domain));
  }
}

function normalize(host: string): string {
  let h = bareHost(host).toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  // IPv4-mapped IPv6 addresses name the IPv4 host
  if (h.startsWith('::ffff:') && h.indexOf('.') !== -1) h = h.slice(7);
  return h;
}
