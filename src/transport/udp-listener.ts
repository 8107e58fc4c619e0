/**
 * A UDP listener (RFC 3261 §18): one dgram socket, receiving datagrams and sending from the same socket
 * so that responses and requests leave from the advertised port.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { type LookupOneOptions, lookup } from 'node:dns';
import { isIP } from 'node:net';
import type { TransportContext } from './connection.js';
import type { Listener, ListenerOptions, Source } from './types.js';

/**
 * Destinations reach the transport already resolved (RFC 3263 happens above), so an address is an IP
 * literal: answer at once instead of going through dns.lookup and a tick for every datagram.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  // dgram passes the family as a number here, which dns.lookup accepts too
  else lookup(hostname, options, callback);
}

/** Receive buffer asked of the kernel (capped by net.core.rmem_max on Linux). */
const RECV_BUFFER_SIZE = 8 * 1024 * 1024;
const CR = 0x0d;
const LF = 0x0a;
/** Peer address strings kept ({@link UdpListener.peerAddress}); the set starts over when full. */
const MAX_KEPT_PEERS = 4096;

/** One bound UDP socket. */
export class UdpListener implements Listener {
  readonly id: number;
  readonly protocol = 'udp' as const;
  readonly address: string;
  readonly family: 4 | 6;
  port: number;
  advertisedHost: string;
  advertisedPort: number;
  /** The dgram socket once bound. */
  socket: Socket | undefined;
  private readonly requestedPort: number;
  private readonly advertise: ListenerOptions['advertise'];
  private readonly context: TransportContext;
  private readonly peers = new Map<string, string>();
  private lastPeer = '';

  constructor(
    id: number,
    options: ListenerOptions,
    address: string,
    family: 4 | 6,
    context: TransportContext,
  ) {
    this.id = id;
    this.address = address;
    this.family = family;
    this.port = options.port;
    this.requestedPort = options.port;
    this.advertise = options.advertise;
    this.context = context;
    this.advertisedHost = '';
    this.advertisedPort = 0;
    this.updateAdvertised();
  }

  private updateAdvertised(): void {
    this.advertisedHost = this.advertise?.host ?? (this.family === 6 ? `[${this.address}]` : this.address);
    this.advertisedPort = this.advertise?.port ?? this.port;
  }

  /** Binds the socket; rejects with the system error (EADDRINUSE, EADDRNOTAVAIL, EACCES...). */
  bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      // ipv6Only on IPv6 sockets, so [::] and 0.0.0.0 can share a port
      const socket =
        this.family === 6
          ? createSocket({ type: 'udp6', reuseAddr: false, ipv6Only: true, lookup: literalLookup })
          : createSocket({ type: 'udp4', reuseAddr: false, lookup: literalLookup });
      const onBindError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onBindError);
      socket.bind({ address: this.address, port: this.requestedPort, exclusive: true }, () => {
        socket.off('error', onBindError);
        socket.on('error', this.onSocketError);
        try {
          socket.setRecvBufferSize(RECV_BUFFER_SIZE);
        } catch {
          // not permitted here: the default buffer will do
        }
        this.port = socket.address().port;
        this.updateAdvertised();
        this.socket = socket;
        socket.on('message', this.onDatagram);
        resolve();
      });
    });
  }

  private readonly onSocketError = (error: Error): void => {
    // after bind, errors come from sends made without a failure handler
    this.context.stats.sendFailures.udp++;
    this.context.emit({ type: 'socket-error', listener: this, error });
  };

  /** Receive path: checks, counters, onMessage. No closure, one Source object per datagram. */
  private readonly onDatagram = (data: Buffer, rinfo: RemoteInfo): void => {
    const stats = this.context.stats;
    const length = data.length;
    if (length > this.context.limits.maxMessageSize) {
      stats.datagramsDropped.oversize++;
      if (this.context.observed) this.dropped(rinfo, 'oversize');
      return;
    }
    // RFC 3261 §7.5 / RFC 5626 §4.4.1: a datagram of CRLFs only is a keepalive
    let i = 0;
    while (i < length && (data[i] === CR || data[i] === LF)) i++;
    if (i === length) {
      stats.keepalives.udpKeepalives++;
      return;
    }
    // a SIP message starts with a letter (method or "SIP/2.0"); STUN and the like do not
    const first = data[i]! | 0x20;
    if (first < 0x61 || first > 0x7a) {
      stats.datagramsDropped.garbage++;
      if (this.context.observed) this.dropped(rinfo, 'garbage');
      return;
    }
    stats.received.udp++;
    stats.receivedBytes.udp += length;
    const source: Source = {
      protocol: 'udp',
      address: this.peerAddress(rinfo.address),
      port: rinfo.port,
      family: this.family,
      listener: this,
      connectionId: undefined,
      receivedAt: Date.now(),
    };
    this.context.deliver(data, source);
  };

  /**
   * The one string kept for each peer address: every datagram brings its own copy, and transactions keep
   * the address for their replies for 32 s (each copy another object for the GC to promote and mark).
   */
  private peerAddress(address: string): string {
    if (address === this.lastPeer) return this.lastPeer;
    let kept = this.peers.get(address);
    if (kept === undefined) {
      if (this.peers.size >= MAX_KEPT_PEERS) this.peers.clear();
      this.peers.set(address, address);
      kept = address;
    }
    this.lastPeer = kept;
    return kept;
  }

  private dropped(rinfo: RemoteInfo, reason: 'oversize' | 'garbage'): void {
    this.context.emit({
      type: 'datagram-dropped',
      listener: this,
      address: rinfo.address,
      port: rinfo.port,
      reason,
    });
  }

  /** Closes the socket. */
  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
