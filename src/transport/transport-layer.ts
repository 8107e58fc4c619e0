/**
 * The transport layer (RFC 3261 §18): listeners, the connection table, sending rules, and one coarse
 * sweep over connections for idle, slowloris and connect timeouts.
 */

import { X509Certificate } from 'node:crypto';
import type { Socket as DgramSocket } from 'node:dgram';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  createSecureContext,
  type SecureContextOptions,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { Connection, hostPort } from './connection.js';
import { ConnectionTable, PROTOCOL_INDEX } from './connection-table.js';
import { copyStats, createStats } from './stats.js';
import { type RefusalReason, type StreamContext, StreamListener } from './stream-listener.js';
import {
  type CloseReason,
  type ConnectionInfo,
  type Destination,
  type Listener,
  type Protocol,
  type SendFailureHandler,
  type Source,
  type TlsOptions,
  TransportError,
  type TransportEvent,
  type TransportLimits,
  type TransportOptions,
  type TransportStats,
} from './types.js';
import { UdpListener } from './udp-listener.js';

const DEFAULT_MAX_WRITE_BUFFER = 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT = 10_000;
const MAX_SWEEP_INTERVAL = 1000;
const MIN_SWEEP_INTERVAL = 25;
/** UDP datagrams queued at most before they are written at once ({@link TransportLayer.send}). */
const MAX_UDP_QUEUE = 64;

type State = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

/** A port a message can be sent to: 1-65535. */
function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/**
 * Every socket of the server. Receives datagrams, stream messages and WebSocket messages and hands each
 * complete message to `onMessage`; sends messages over UDP, over existing connections, or over new
 * TCP/TLS connections it opens.
 *
 * ```ts
 * const transport = new TransportLayer({ listeners: [{ protocol: 'udp', address: '0.0.0.0', port: 5060 }],
 *   limits, onMessage: (data, source) => core.receive(data, source) });
 * await transport.start();
 * const error = transport.send(bytes, { protocol: 'tcp', address: '192.0.2.1', port: 5060 }, onFailure);
 * if (error !== undefined) failBranch(error);
 * ```
 */
export class TransportLayer {
  /** Every listener, in configuration order (ports are the bound ones after start()). */
  readonly listeners: readonly Listener[];
  private readonly udpListeners: UdpListener[] = [];
  private readonly streamListeners: StreamListener[] = [];
  /** First listener per protocol and family: index PROTOCOL_INDEX * 2 + (family === 6 ? 1 : 0). */
  private readonly defaults: (Listener | undefined)[] = new Array(10).fill(undefined);
  private readonly options: TransportOptions;
  private readonly context: StreamContext;
  private readonly table = new ConnectionTable();
  private readonly counters: TransportStats = createStats();
  private limits: Readonly<Required<TransportLimits>>;
  private state: State = 'new';
  private sweepTimer: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  /**
   * UDP datagrams accepted by {@link send} and not yet written: (socket, data, port, address) per
   * datagram, written in order once the event loop's I/O phase is over ({@link flushUdp}).
   */
  private udpQueue: unknown[] = [];
  private udpFlush: NodeJS.Immediate | undefined;

  /** Validates the options and creates the listeners (nothing is bound before {@link start}). */
  constructor(options: TransportOptions) {
    this.options = options;
    const l = options.limits;
    for (const name of ['maxMessageSize', 'maxConnections', 'maxConnectionsPerIp'] as const) {
      if (!Number.isInteger(l[name]) || l[name] < 1)
        throw new RangeError(`limits.${name} must be a positive integer`);
    }
    for (const name of ['connectionIdleTimeout', 'messageReadTimeout'] as const) {
      if (!(l[name] > 0)) throw new RangeError(`limits.${name} must be a positive number of ms`);
    }
    this.limits = Object.freeze({
      ...l,
      maxWriteBuffer: l.maxWriteBuffer ?? DEFAULT_MAX_WRITE_BUFFER,
      connectTimeout: l.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT,
    });
    this.context = this.createContext();
    const listeners: Listener[] = [];
    options.listeners.forEach((lo, id) => {
      const address =
        lo.address.startsWith('[') && lo.address.endsWith(']') ? lo.address.slice(1, -1) : lo.address;
      const family = isIP(address);
      if (family === 0) throw new TypeError(`listener ${id}: address ${lo.address} is not an IP address`);
      if (!Number.isInteger(lo.port) || lo.port < 0 || lo.port > 65535) {
        throw new RangeError(`listener ${id}: port ${lo.port} out of range`);
      }
      if ((lo.protocol === 'tls' || lo.protocol === 'wss') && options.tls === undefined) {
        throw new TypeError(`listener ${id} (${lo.protocol}): TLS options (cert, key) are required`);
      }
      let listener: Listener;
      if (lo.protocol === 'udp') {
        const udp = new UdpListener(id, lo, address, family as 4 | 6, this.context);
        this.udpListeners.push(udp);
        listener = udp;
      } else if (lo.protocol in PROTOCOL_INDEX) {
        const stream = new StreamListener(id, lo, address, family as 4 | 6, this.context, options.tls);
        this.streamListeners.push(stream);
        listener = stream;
      } else {
        throw new TypeError(`listener ${id}: unknown protocol ${String(lo.protocol)}`);
      }
      listeners.push(listener);
      const slot = PROTOCOL_INDEX[listener.protocol] * 2 + (listener.family === 6 ? 1 : 0);
      if (this.defaults[slot] === undefined) this.defaults[slot] = listener;
    });
    this.listeners = Object.freeze(listeners);
  }

  /**
   * Changes connection limits while running (`cfg.set limits ...`): new connections and the next sweep
   * use them; connections over a lowered limit are not closed.
   */
  setLimits(
    changes: Partial<
      Pick<
        TransportLimits,
        'maxConnections' | 'maxConnectionsPerIp' | 'connectionIdleTimeout' | 'messageReadTimeout'
      >
    >,
  ): void {
    for (const [name, value] of Object.entries(changes))
      if (!(typeof value === 'number' && value > 0)) throw new RangeError(`limits.${name} must be positive`);
    this.limits = Object.freeze({ ...this.limits, ...changes });
    // a shorter timeout needs a sweep at least as often as a quarter of it
    if (this.sweepTimer !== undefined) this.armSweep();
  }

  /** (Re)starts the sweep of idle, slow and stuck connections at a quarter of the shortest timeout. */
  private armSweep(): void {
    clearInterval(this.sweepTimer);
    const l = this.limits;
    const interval = Math.max(
      MIN_SWEEP_INTERVAL,
      Math.min(MAX_SWEEP_INTERVAL, Math.floor(Math.min(l.connectionIdleTimeout, l.messageReadTimeout) / 4)),
    );
    this.sweepTimer = setInterval(() => this.sweep(), interval);
    this.sweepTimer.unref();
  }

  /**
   * Replaces the TLS certificate, key, CA and ciphers (certificate reload without restart): new TLS and
   * WSS handshakes and new outbound connections use them; open connections keep theirs. Throws, changing
   * nothing, when the key does not match the certificate, a PEM does not parse, or the certificate has
   * expired. Returns the new certificate's SHA-256 fingerprint and expiry.
   */
  setTls(tls: TlsOptions): { fingerprint256: string; validTo: string } {
    if (this.options.tls === undefined) throw new Error('no TLS is configured');
    const secure: SecureContextOptions = {
      cert: tls.cert,
      key: tls.key,
      minVersion: tls.minVersion,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.ciphers === undefined ? {} : { ciphers: tls.ciphers }),
    };
    createSecureContext(secure); // throws on a bad PEM, a key that does not match, unknown ciphers
    const leaf = new X509Certificate(tls.cert);
    if (Date.parse(leaf.validTo) < Date.now()) throw new Error(`the certificate expired on ${leaf.validTo}`);
    for (const listener of this.streamListeners) listener.setSecureContext(secure);
    this.options.tls = tls;
    return { fingerprint256: leaf.fingerprint256, validTo: leaf.validTo };
  }

  private createContext(): StreamContext {
    const layer = this;
    return {
      stats: this.counters,
      get limits() {
        return layer.limits;
      },
      table: this.table,
      observed: this.options.onEvent !== undefined,
      deliver: (data: Buffer, source: Source) => this.deliver(data, source),
      emit: (event: TransportEvent) => this.emit(event),
      connectionClosed: (conn: Connection, reason: CloseReason, error: Error | undefined) =>
        this.connectionClosed(conn, reason, error),
      refusal: (address: string) => this.refusal(address),
      connectionAdded: (conn: Connection) => this.connectionAdded(conn),
      connectionOpened: (conn: Connection) => this.connectionOpened(conn),
    };
  }

  // ------------------------------------------------------------------ lifecycle

  /** Binds every listener. Rejects, naming the listener, when one cannot be bound; nothing stays bound then. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`transport already ${this.state}`);
    this.state = 'starting';
    for (const listener of this.listeners) {
      try {
        if (listener instanceof UdpListener) await listener.bind();
        else await (listener as StreamListener).listen();
      } catch (err) {
        await this.closeListeners();
        this.state = 'stopped';
        const code = (err as { code?: string }).code;
        throw new Error(
          `cannot listen on ${listener.protocol}:${hostPort(listener.address, listener.port)}` +
            ` (listener ${listener.id}): ${code ?? (err as Error).message}`,
          { cause: err },
        );
      }
      this.emit({ type: 'listening', listener });
    }
    this.armSweep();
    this.state = 'started';
  }

  /**
   * Stops accepting, ends every connection gracefully (queued writes are flushed), waits up to `graceMs`
   * for them to close, then destroys what is left and closes every socket.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.flushUdp();
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const listener of this.streamListeners) listener.stopAccepting();
    for (const conn of [...this.table.values()]) conn.end('stopped');
    if (this.table.size > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.drained = undefined;
    }
    for (const conn of [...this.table.values()]) conn.close('stopped');
    await this.closeListeners();
    this.state = 'stopped';
  }

  private async closeListeners(): Promise<void> {
    await Promise.all([
      ...this.udpListeners.map((l) => l.close()),
      ...this.streamListeners.map((l) => l.close()),
    ]);
  }

  // ------------------------------------------------------------------ sending

  /**
   * Sends one message. Returns undefined when it was handed to a socket, or queued on a connection being
   * opened; returns the {@link TransportError} when nothing was sent (no listener, no WebSocket
   * connection, write buffer full, maxConnections, stopped...).
   *
   * A message queued on a connection being opened can still fail (refused, unreachable, TLS
   * verification, connectTimeout): `onFailure` is told then. Errors a socket reports after a write (a
   * UDP EMSGSIZE, a TCP reset) are counted and emitted, not attributed to a message. Every failure is
   * counted in `sendFailures` and emitted as `send-failed`.
   *
   * UDP datagrams are written once the current turn of the event loop is over (a `setImmediate`; at once
   * when 64 are waiting), in the order sent: what the messages read in one turn produce leaves back to
   * back. `data` must not be changed after the call. `stop()` writes what is waiting first.
   *
   * Rules: UDP leaves from `dest.listener` or the first UDP listener of the address family. Streams use
   * the connection `dest.connectionId` while it is open (RFC 3261 §18.2.2), else a connection to
   * (protocol, address, port) — including one the peer opened (RFC 5923) — else a new TCP/TLS connection
   * (RFC 3261 §18.1.1). WebSocket connections are never opened by us.
   */
  send(data: Buffer, dest: Destination, onFailure?: SendFailureHandler): TransportError | undefined {
    if (this.state !== 'started')
      return this.failed(new TransportError('STOPPED', 'transport not running', dest));
    if (dest.protocol === 'udp') return this.sendUdp(data, dest);
    let conn: Connection | undefined;
    if (dest.connectionId !== undefined) {
      conn = this.table.get(dest.connectionId);
      if (conn !== undefined && (conn.protocol !== dest.protocol || conn.state === 'closed'))
        conn = undefined;
    }
    if (conn === undefined) conn = this.table.find(dest.protocol, dest.address, dest.port);
    if (conn === undefined) {
      if (dest.protocol === 'ws' || dest.protocol === 'wss') {
        return this.failed(new TransportError('NO_CONNECTION', 'no open WebSocket connection', dest));
      }
      const opened = this.connect(dest);
      if (opened instanceof TransportError) return this.failed(opened);
      conn = opened;
    }
    const error = conn.write(data, onFailure);
    return error === undefined ? undefined : this.failed(error);
  }

  private sendUdp(data: Buffer, dest: Destination): TransportError | undefined {
    const family = dest.address.includes(':') ? 6 : 4;
    const listener = (dest.listener ?? this.defaults[family === 6 ? 1 : 0]) as UdpListener | undefined;
    if (listener === undefined || listener.protocol !== 'udp' || listener.family !== family) {
      return this.failed(new TransportError('NO_LISTENER', `no UDP listener for IPv${family}`, dest));
    }
    const socket = listener.socket;
    if (socket === undefined) return this.failed(new TransportError('STOPPED', 'listener closed', dest));
    const port = dest.port;
    if (!isPort(port) || dest.address === '') {
      return this.failed(
        new TransportError('INVALID_DESTINATION', 'destination must be an IP address and a port', dest),
      );
    }
    // Written together after this turn of the event loop: the datagrams of every message read in it
    // leave back to back, so a peer whose CPU went idle is woken once for them, not once per datagram
    // (on a VM each wake-up is an inter-processor interrupt through the hypervisor; docs/performance.md)
    const queue = this.udpQueue;
    queue.push(socket, data, port, dest.address);
    if (queue.length >= MAX_UDP_QUEUE * 4) this.flushUdp();
    else if (this.udpFlush === undefined) this.udpFlush = setImmediate(this.flushUdp);
    this.counters.sent.udp++;
    this.counters.sentBytes.udp += data.length;
    return undefined;
  }

  /** Writes the queued UDP datagrams, in the order they were sent. */
  private readonly flushUdp = (): void => {
    if (this.udpFlush !== undefined) {
      clearImmediate(this.udpFlush);
      this.udpFlush = undefined;
    }
    const queue = this.udpQueue;
    if (queue.length === 0) return;
    this.udpQueue = [];
    for (let i = 0; i < queue.length; i += 4) {
      const port = queue[i + 2] as number;
      const address = queue[i + 3] as string;
      try {
        // errors reported later arrive on the socket's 'error' event (counted by the listener)
        (queue[i] as DgramSocket).send(queue[i + 1] as Buffer, port, address);
      } catch (err) {
        // the socket closed meanwhile: counted and emitted, like an error the socket reports later
        this.failed(
          new TransportError('STOPPED', (err as Error).message, { protocol: 'udp', address, port }, err),
        );
      }
    }
  };

  /** Opens a TCP or TLS connection to `dest`; the message is queued on it until it is established. */
  private connect(dest: Destination): Connection | TransportError {
    const protocol = dest.protocol as 'tcp' | 'tls';
    const family = isIP(dest.address);
    if (family === 0 || !isPort(dest.port)) {
      return new TransportError('INVALID_DESTINATION', 'destination must be an IP address and a port', dest);
    }
    const listener = dest.listener ?? this.selectListener(dest);
    if (listener === undefined || listener.protocol !== protocol || listener.family !== family) {
      return new TransportError('NO_LISTENER', `no ${protocol} listener for IPv${family}`, dest);
    }
    if (this.table.size >= this.limits.maxConnections) {
      return new TransportError('TOO_MANY_CONNECTIONS', 'maxConnections reached', dest);
    }
    const localAddress =
      listener.address === '0.0.0.0' || listener.address === '::' ? undefined : listener.address;
    let socket: Socket | TLSSocket;
    try {
      if (protocol === 'tcp') {
        socket = netConnect({ host: dest.address, port: dest.port, localAddress, noDelay: true });
      } else {
        const tls = this.options.tls;
        // net.connect options (localAddress) pass through tls.connect
        const options: ConnectionOptions & { localAddress?: string } = {
          host: dest.address,
          port: dest.port,
          rejectUnauthorized: tls?.verifyServer !== false,
        };
        if (localAddress !== undefined) options.localAddress = localAddress;
        if (dest.servername !== undefined) options.servername = dest.servername;
        if (tls !== undefined) {
          options.cert = tls.cert;
          options.key = tls.key;
          options.minVersion = tls.minVersion;
          if (tls.ca !== undefined) options.ca = tls.ca;
          if (tls.ciphers !== undefined) options.ciphers = tls.ciphers;
        }
        socket = tlsConnect(options);
      }
    } catch (err) {
      return new TransportError('CONNECT_FAILED', (err as Error).message, dest, err);
    }
    const conn = new Connection(
      this.context,
      socket,
      protocol,
      'outbound',
      listener,
      dest.address,
      dest.port,
      'connecting',
    );
    this.connectionAdded(conn);
    this.table.index(conn, dest.address, dest.port);
    socket.once(protocol === 'tcp' ? 'connect' : 'secureConnect', () => {
      if (conn.state === 'closed') return;
      if (protocol === 'tls') conn.authorized = (socket as TLSSocket).authorized;
      conn.attachStream(socket);
      conn.markOpen();
      this.emitOpened(conn);
    });
    return conn;
  }

  /** The listener to send from: the first one of the protocol and the destination's address family. */
  selectListener(dest: { protocol: Protocol; address: string }): Listener | undefined {
    const family = dest.address.includes(':') ? 1 : 0;
    return this.defaults[PROTOCOL_INDEX[dest.protocol] * 2 + family];
  }

  // ------------------------------------------------------------------ connections

  /**
   * RFC 5923 §5: also reuse connection `id` for requests to (address, port), e.g. the sent-by of a Via
   * with an `alias` parameter. Returns false when the connection is gone or has too many aliases.
   */
  aliasConnection(id: number, address: string, port: number): boolean {
    const conn = this.table.get(id);
    if (conn === undefined || conn.state === 'closed') return false;
    return this.table.index(conn, address, port);
  }

  /** Closes a connection: gracefully (pending writes flushed) unless `immediately`. */
  closeConnection(id: number, immediately = false): boolean {
    const conn = this.table.get(id);
    if (conn === undefined) return false;
    if (immediately) conn.close('local');
    else conn.end('local');
    return true;
  }

  /** Snapshots of every connection (for `core.tcp_info`-like RPC commands). */
  connectionInfo(): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const conn of this.table.values()) out.push(conn.info());
    return out;
  }

  /** A copy of the counters. */
  stats(): TransportStats {
    return copyStats(this.counters);
  }

  private refusal(address: string): RefusalReason | undefined {
    if (this.state !== 'started') return 'stopping';
    if (this.table.size >= this.limits.maxConnections) return 'max-connections';
    if (this.table.inboundFrom(address) >= this.limits.maxConnectionsPerIp) return 'max-connections-per-ip';
    return undefined;
  }

  private connectionAdded(conn: Connection): void {
    this.table.add(conn);
    this.counters.connections.current[conn.protocol]++;
    this.counters.connections.total[conn.protocol]++;
  }

  private connectionOpened(conn: Connection): void {
    // RFC 5923 §5: an inbound connection is reused for requests to the peer's address and port
    this.table.index(conn, conn.remoteAddress, conn.remotePort);
    this.emitOpened(conn);
  }

  private emitOpened(conn: Connection): void {
    if (this.options.onEvent !== undefined) this.emit({ type: 'connection-opened', connection: conn.info() });
  }

  private connectionClosed(conn: Connection, reason: CloseReason, error: Error | undefined): void {
    this.table.remove(conn);
    this.counters.connections.current[conn.protocol]--;
    this.counters.closed[reason]++;
    if (conn.listener instanceof StreamListener) conn.listener.release(conn);
    if (this.options.onEvent !== undefined) {
      const connection = conn.info();
      this.emit(
        error === undefined
          ? { type: 'connection-closed', connection, reason }
          : { type: 'connection-closed', connection, reason, error },
      );
    }
    if (this.drained !== undefined && this.table.size === 0) this.drained();
  }

  /** The one periodic timer: connect, handshake, slowloris, idle and stuck-writer deadlines. */
  private sweep(): void {
    const now = Date.now();
    const l = this.limits;
    for (const conn of this.table.values()) {
      switch (conn.state) {
        case 'connecting':
          if (now - conn.createdAt > l.connectTimeout) conn.close('connect-timeout');
          break;
        case 'handshaking':
          // TLS handshake or WebSocket upgrade not done in time
          if (now - conn.createdAt > l.messageReadTimeout) conn.close('slowloris');
          break;
        case 'open':
          if (conn.partialSince !== 0 && now - conn.partialSince > l.messageReadTimeout) {
            conn.close('slowloris');
          } else if (now - conn.lastActivity > l.connectionIdleTimeout) {
            conn.close('idle');
          } else if (
            conn.stuckSince !== 0 &&
            now - conn.stuckSince > l.messageReadTimeout &&
            conn.writeQueue > l.maxWriteBuffer
          ) {
            conn.close('limit');
          }
          break;
        default:
          break;
      }
    }
  }

  // ------------------------------------------------------------------ callbacks

  private deliver(data: Buffer, source: Source): void {
    try {
      this.options.onMessage(data, source);
    } catch (error) {
      this.counters.handlerErrors++;
      this.emit({ type: 'handler-error', error });
    }
  }

  private emit(event: TransportEvent): void {
    const onEvent = this.options.onEvent;
    if (onEvent === undefined) return;
    try {
      onEvent(event);
    } catch {
      this.counters.handlerErrors++;
    }
  }

  private failed(error: TransportError): TransportError {
    this.counters.sendFailures[error.protocol]++;
    if (this.options.onEvent !== undefined) this.emit({ type: 'send-failed', error });
    return error;
  }
}
