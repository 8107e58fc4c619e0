/**
 * Where to send: the next hop of a request from a URI, and the destination of a response from a Via.
 * (RFC 3261 §18.2.2, RFC 3581 §4, RFC 3263 §4 without NAPTR/SRV — DNS resolution proper comes with tm.)
 */
import { lookup } from 'node:dns/promises';
import type { Via } from '../sip/headers/via.js';
import { isIPv4, isIPv6 } from '../sip/host.js';
import type { SipUri } from '../sip/uri.js';
import type { Destination, Protocol, Source } from '../transport/types.js';

/** A next hop before name resolution. */
export interface Target {
  protocol: Protocol;
  /** Host name or IP literal, without IPv6 brackets. */
  host: string;
  port: number;
}

/** Default port of a transport (RFC 3261 §19.1.2, RFC 7118 §5.1 uses the WS server's port). */
export function defaultPort(protocol: Protocol): number {
  return protocol === 'tls' ? 5061 : protocol === 'wss' ? 443 : protocol === 'ws' ? 80 : 5060;
}

/** Strips the brackets of an IPv6 reference. */
export function bareHost(host: string): string {
  return host.charCodeAt(0) === 0x5b ? host.slice(1, -1) : host;
}

/** The transport a Via's sent-protocol names, or `undefined` when olelo has no such transport. */
export function viaProtocol(via: Via): Protocol | undefined {
  switch (via.transport) {
    case 'UDP':
      return 'udp';
    case 'TCP':
      return 'tcp';
    case 'TLS':
      return 'tls';
    case 'WS':
      return 'ws';
    case 'WSS':
      return 'wss';
    default:
      return undefined;
  }
}

/** The Via transport token of a protocol (`udp` → `UDP`). */
export function viaTransport(protocol: Protocol): string {
  switch (protocol) {
    case 'udp':
      return 'UDP';
    case 'tcp':
      return 'TCP';
    case 'tls':
      return 'TLS';
    case 'ws':
      return 'WS';
    case 'wss':
      return 'WSS';
  }
}

/**
 * The next hop for a SIP URI (RFC 3263 §4.1, §4.2 for explicit transports and ports): `maddr` wins over the
 * host, `transport=` picks the protocol, `sips:` means TLS.
 */
export function targetOfUri(uri: SipUri): Target {
  const transport = uri.params.get('transport')?.toLowerCase();
  let protocol: Protocol;
  if (transport === 'tcp') protocol = uri.scheme === 'sips' ? 'tls' : 'tcp';
  else if (transport === 'tls') protocol = 'tls';
  else if (transport === 'ws') protocol = uri.scheme === 'sips' ? 'wss' : 'ws';
  else if (transport === 'wss') protocol = 'wss';
  else protocol = uri.scheme === 'sips' ? 'tls' : 'udp';
  const maddr = uri.params.get('maddr');
  const host = bareHost(maddr ?? uri.host);
  return { protocol, host, port: uri.port ?? defaultPort(protocol) };
}

/** Resolves a target's host to an address (A/AAAA through the system resolver). */
export async function resolveTarget(target: Target): Promise<Destination> {
  const host = target.host;
  if (isIPv4(host) || isIPv6(host)) return { protocol: target.protocol, address: host, port: target.port };
  const { address } = await lookup(host);
  return { protocol: target.protocol, address, port: target.port };
}

/**
 * Where a locally generated reply to a request goes (RFC 3261 §18.2.2, RFC 3581 §4): back over the
 * connection for streams, otherwise to the source address, at the source port when the client asked for
 * `rport`, else at the Via's port; `maddr` wins over both.
 */
export function replyDestination(via: Via | undefined, source: Source): Destination {
  if (source.protocol !== 'udp') {
    return {
      protocol: source.protocol,
      address: source.address,
      port: source.port,
      connectionId: source.connectionId,
    };
  }
  if (via?.maddr !== undefined) {
    return { protocol: 'udp', address: bareHost(via.maddr), port: via.port ?? 5060 };
  }
  return {
    protocol: 'udp',
    address: source.address,
    port: udpReplyPort(via, source),
    listener: source.listener,
  };
}

/** The port a UDP reply goes to without `maddr`: the source port when the client asked for `rport`, else the Via's. */
export function udpReplyPort(via: Via | undefined, source: Source): number {
  return via === undefined || via.rport !== undefined ? source.port : (via.port ?? 5060);
}

/**
 * Where a response is forwarded to, from the Via that remains on top after ours was removed (RFC 3261
 * §18.2.2, RFC 3581 §4): `maddr`, else `received` (at `rport` if present), else the sent-by.
 * Returns `undefined` for a transport olelo does not have.
 */
export function responseTarget(via: Via): Target | undefined {
  const protocol = viaProtocol(via);
  if (protocol === undefined) return undefined;
  if (via.maddr !== undefined)
    return { protocol, host: bareHost(via.maddr), port: via.port ?? defaultPort(protocol) };
  const host = bareHost(via.received ?? via.host);
  const port = typeof via.rport === 'number' ? via.rport : (via.port ?? defaultPort(protocol));
  return { protocol, host, port };
}
