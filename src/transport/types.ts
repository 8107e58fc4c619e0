/**
 * Public types of the transport layer: listeners, sources, destinations, options, events and errors.
 */
import type { FramingErrorReason } from './framing.js';

/** A SIP transport (RFC 3261 §18, RFC 7118 for ws/wss). */
export type Protocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Every protocol, in a fixed order (used to index per-protocol tables). */
export const PROTOCOLS: readonly Protocol[] = Object.freeze(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** One socket to listen on. */
export interface ListenerOptions {
  protocol: Protocol;
  /** An IP literal to bind: `0.0.0.0`, `::`, `192.0.2.10`, `2001:db8::1` (brackets tolerated). */
  address: string;
  /** Port to bind; 0 lets the OS pick (tests). */
  port: number;
  /** What to put in Via/Record-Route/Contact instead of the bound address (NAT, DNS name). */
  advertise?: { host: string; port?: number };
}

/** A bound listening socket. */
export interface Listener {
  /** Stable index of the listener, from 0 in configuration order. */
  readonly id: number;
  readonly protocol: Protocol;
  /** The bound address as configured (IP literal, no brackets). */
  readonly address: string;
  /** The actually bound port (known after start()). */
  readonly port: number;
  readonly family: 4 | 6;
  /** Host to write in Via/Record-Route/Contact: the advertised host, or the bound address (`[v6]` bracketed). */
  readonly advertisedHost: string;
  /** Port to write in Via/Record-Route/Contact: the advertised port, or the bound port. */
  readonly advertisedPort: number;
}

/** Where a received message came from. */
export interface Source {
  protocol: Protocol;
  /** Remote IP address as reported by the socket. */
  address: string;
  port: number;
  family: 4 | 6;
  /** The listener it arrived on (for an outbound connection: the listener it was opened for). */
  listener: Listener;
  /** The stream connection it arrived on; undefined for UDP. Pass it back in a Destination to reply on it. */
  connectionId: number | undefined;
  /** Date.now() when the message was complete. */
  receivedAt: number;
}

/** Where to send a message. */
export interface Destination {
  protocol: Protocol;
  /** An IP literal (names are resolved before the transport, RFC 3263). */
  address: string;
  port: number;
  /**
   * Send over this connection when it is still open (RFC 3261 §18.2.2: responses go back over the
   * connection the request came on). When it is gone, the (protocol, address, port) rules apply.
   */
  connectionId?: number;
  /** Send from this listener (its socket for UDP, its address as source for new connections). */
  listener?: Listener;
  /** TLS only: name to send in SNI and to verify the server certificate against. Without it the IP is verified. */
  servername?: string;
}

/** Configuration of a {@link TransportLayer}. */
export interface TransportOptions {
  listeners: ListenerOptions[];
  /** Certificate and policies for tls and wss listeners, and for outbound TLS connections. */
  tls?: TlsOptions;
  limits: TransportLimits;
  /** One complete SIP message: a datagram, a message framed from a stream, or a WebSocket message. */
  onMessage(data: Buffer, source: Source): void;
  /** Connection and error events, for logs and statistics. */
  onEvent?(event: TransportEvent): void;
}

/** TLS material and policy. */
export interface TlsOptions {
  cert: Buffer | string;
  key: Buffer | string;
  /** Trusted CAs, for client certificates and for servers we connect to; the system CAs when absent. */
  ca?: Buffer | string;
  /** Client certificate policy on tls/wss listeners. */
  verifyClient: 'none' | 'optional' | 'required';
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list (node:tls `ciphers`); the Node.js default when absent. */
  ciphers?: string;
  /** Verify servers we connect to (default true). Turning it off is for lab setups only. */
  verifyServer?: boolean;
}

/** Bounds on resources; every one is enforced. */
export interface TransportLimits {
  /** Largest message, in bytes: datagrams above it are dropped, streams sending one are closed. */
  maxMessageSize: number;
  /** Stream connections open at once, inbound and outbound together. */
  maxConnections: number;
  /** Inbound stream connections open at once from one IP address. */
  maxConnectionsPerIp: number;
  /** A connection without traffic in either direction for this long (ms) is closed. */
  connectionIdleTimeout: number;
  /** A started message, TLS handshake or WebSocket upgrade not complete after this long (ms) closes the connection. */
  messageReadTimeout: number;
  /** Bytes queued on one connection before sends to it fail (default 1 MiB). */
  maxWriteBuffer?: number;
  /** Outbound connection (TCP connect and TLS handshake) deadline in ms (default 10 000). */
  connectTimeout?: number;
}

/** Why a connection was closed. */
export type CloseReason =
  /** The peer closed it. */
  | 'peer'
  /** closeConnection() was called. */
  | 'local'
  /** The transport is stopping. */
  | 'stopped'
  /** No traffic for connectionIdleTimeout. */
  | 'idle'
  /** A message, handshake or upgrade not completed within messageReadTimeout. */
  | 'slowloris'
  /** The stream is not SIP. */
  | 'garbage'
  /** Framing failed: sizes or Content-Length. */
  | 'framing'
  /** A size limit: oversized WebSocket message, or a write buffer stuck above maxWriteBuffer. */
  | 'limit'
  /** A socket or TLS error. */
  | 'error'
  /** An outbound connection could not be established (refused, unreachable, TLS failure). */
  | 'connect-failed'
  /** An outbound connection was not established within connectTimeout. */
  | 'connect-timeout';

/** A snapshot of one connection. */
export interface ConnectionInfo {
  id: number;
  protocol: Protocol;
  direction: 'inbound' | 'outbound';
  state: 'connecting' | 'handshaking' | 'open' | 'closed';
  /** `address:port` (`[v6]:port`) of our end. */
  local: string;
  /** `address:port` (`[v6]:port`) of the peer. */
  remote: string;
  remoteAddress: string;
  remotePort: number;
  listenerId: number;
  /** Date.now() when it was accepted or opened. */
  createdAt: number;
  /** ms since the last byte in either direction. */
  idleMs: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Bytes waiting to be written. */
  writeQueue: number;
  /** RFC 5923 aliases (`address:port`) this connection is also reused for. */
  aliases: string[];
  /** TLS: whether the peer certificate verified (client certificates with verifyClient 'optional'). */
  authorized?: boolean;
}

/** Something worth a log line or a counter. */
export type TransportEvent =
  | { type: 'listening'; listener: Listener }
  | { type: 'connection-opened'; connection: ConnectionInfo }
  | { type: 'connection-closed'; connection: ConnectionInfo; reason: CloseReason; error?: Error }
  | {
      type: 'connection-refused';
      protocol: Protocol;
      address: string;
      port: number;
      reason: 'max-connections' | 'max-connections-per-ip' | 'stopping' | 'ws-subprotocol' | 'not-websocket';
    }
  | { type: 'framing-error'; connection: ConnectionInfo; reason: FramingErrorReason }
  | {
      type: 'datagram-dropped';
      listener: Listener;
      address: string;
      port: number;
      reason: 'oversize' | 'garbage';
    }
  | { type: 'send-failed'; error: TransportError }
  | { type: 'socket-error'; listener: Listener; error: Error }
  | { type: 'handler-error'; error: unknown };

/** Why a send failed. */
export type TransportErrorCode =
  /** The transport is not started, or is stopping. */
  | 'STOPPED'
  /** No listener for the protocol and address family (or the forced listener does not fit). */
  | 'NO_LISTENER'
  /** ws/wss: no open connection to the destination (outbound WebSocket connections are not made). */
  | 'NO_CONNECTION'
  /** Opening the connection failed: refused, unreachable, TLS handshake or certificate. */
  | 'CONNECT_FAILED'
  /** Opening the connection took longer than connectTimeout. */
  | 'CONNECT_TIMEOUT'
  /** The connection closed before the message was written. */
  | 'CONNECTION_CLOSED'
  /** More than maxWriteBuffer bytes already queued on the connection. */
  | 'WRITE_BUFFER_FULL'
  /** maxConnections reached; no new outbound connection. */
  | 'TOO_MANY_CONNECTIONS'
  /** The socket reported an error while sending (UDP EMSGSIZE, ENETUNREACH, ...). */
  | 'SOCKET_ERROR'
  /** The destination is not usable (bad address or port, protocol/listener mismatch). */
  | 'INVALID_DESTINATION';

/** A failed send. `code` says why; the transaction layer fails the branch on it (RFC 3261 §17.1.4). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code: TransportErrorCode;
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;

  constructor(code: TransportErrorCode, message: string, dest: Destination, cause?: unknown) {
    super(
      `${message} (${dest.protocol}:${dest.address}:${dest.port})`,
      cause === undefined ? undefined : { cause },
    );
    this.code = code;
    this.protocol = dest.protocol;
    this.address = dest.address;
    this.port = dest.port;
  }
}

/**
 * Told about a failure found after send() returned: the connection being opened for the message failed
 * (refused, unreachable, TLS verification, connectTimeout), or closed before the message was written.
 * Never called for a failure send() returned.
 */
export type SendFailureHandler = (error: TransportError) => void;

/** Counters per protocol. */
export type ProtocolCounters = Record<Protocol, number>;

/** Counters since start(). */
export interface TransportStats {
  /** Messages handed to onMessage. */
  received: ProtocolCounters;
  /** Messages handed to a socket. */
  sent: ProtocolCounters;
  /** Sends that failed, at once or later. */
  sendFailures: ProtocolCounters;
  receivedBytes: ProtocolCounters;
  sentBytes: ProtocolCounters;
  /** Stream framing errors by reason; each closed its connection. */
  framingErrors: Record<FramingErrorReason, number>;
  /** Datagrams not handed on: larger than maxMessageSize, or not starting like SIP. */
  datagramsDropped: { oversize: number; garbage: number };
  keepalives: { pingsReceived: number; pongsSent: number; udpKeepalives: number };
  connections: { current: ProtocolCounters; total: ProtocolCounters; refused: ProtocolCounters };
  /** Connections closed, by reason. */
  closed: Record<CloseReason, number>;
  /** Sends refused because the connection's write buffer was full. */
  writeQueueDrops: number;
  /** Exceptions thrown by onMessage/onEvent (caught, never crash the process). */
  handlerErrors: number;
  /** Inbound TLS handshakes that failed (not TLS, no shared cipher or version, bad client certificate, aborted, too slow). */
  tlsHandshakeFailures: number;
}
