/**
 * One stream connection (TCP, TLS, WS or WSS), accepted or opened by us: its sockets, framing, write
 * queue while connecting, activity timestamps for the sweep, and counters.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import type { ConnectionTable } from './connection-table.js';
import { type FramerSink, type FramingErrorReason, StreamFramer } from './framing.js';
import {
  type CloseReason,
  type ConnectionInfo,
  type Listener,
  type Protocol,
  type SendFailureHandler,
  type Source,
  TransportError,
  type TransportEvent,
  type TransportLimits,
  type TransportStats,
} from './types.js';

/** What a connection needs from the transport that owns it. */
export interface TransportContext {
  readonly stats: TransportStats;
  readonly limits: Readonly<Required<TransportLimits>>;
  readonly table: ConnectionTable;
  /** Hands a message to onMessage (exceptions caught and counted). */
  deliver(data: Buffer, source: Source): void;
  /** True when someone listens to events: snapshots are only built then. */
  readonly observed: boolean;
  emit(event: TransportEvent): void;
  /** Called once when the connection leaves the table. */
  connectionClosed(conn: Connection, reason: CloseReason, error: Error | undefined): void;
}

/** Messages queued on a connection that is still connecting, at most. */
const MAX_QUEUED_MESSAGES = 256;
const PONG = Buffer.from('\r\n', 'latin1');
const WS_TEXT = Object.freeze({ binary: false });
const WS_BINARY = Object.freeze({ binary: true });

/** Lifecycle of a connection. */
export type ConnectionState = 'connecting' | 'handshaking' | 'open' | 'closed';

/**
 * A stream connection. States: `connecting` (outbound, until TCP connect and TLS handshake complete),
 * `handshaking` (inbound, until the TLS handshake or WebSocket upgrade completes), `open`, `closed`.
 */
export class Connection implements FramerSink {
  readonly id: number;
  readonly protocol: Protocol;
  readonly direction: 'inbound' | 'outbound';
  readonly listener: Listener;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly family: 4 | 6;
  /** What errors about this connection name. */
  readonly peer: { protocol: Protocol; address: string; port: number };
  localAddress = '';
  localPort = 0;
  state: ConnectionState;
  readonly createdAt: number;
  lastActivity: number;
  /** Date.now() when the message being read started; 0 between messages (slowloris bound). */
  partialSince = 0;
  /** Date.now() when the write buffer was first found above maxWriteBuffer; 0 when below. */
  stuckSince = 0;
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** TLS: peer certificate verified. */
  authorized: boolean | undefined;
  /** (address, port) pairs this connection is indexed under; maintained by the table. */
  readonly remoteKeys: (string | number)[] = [];
  /** The socket whose 'close' ends the connection (the TCP socket, or the TLSSocket we opened). */
  readonly raw: Socket;
  /** Where SIP bytes are read and written: the TCP socket or a TLSSocket; undefined for WebSockets. */
  stream: Socket | TLSSocket | undefined;
  ws: WebSocket | undefined;
  /** wss: the TLSSocket carrying the WebSocket. */
  private secure: TLSSocket | undefined;
  /** ws: answer in the frame type the peer uses (RFC 7118 §5 allows both). */
  private wsBinary = false;
  private framer: StreamFramer | undefined;
  private queue: Buffer[] | undefined;
  private queueFailures: (SendFailureHandler | undefined)[] | undefined;
  private queueBytes = 0;
  private closingReason: CloseReason | undefined;
  private lastError: Error | undefined;
  private readonly context: TransportContext;

  constructor(
    context: TransportContext,
    raw: Socket,
    protocol: Protocol,
    direction: 'inbound' | 'outbound',
    listener: Listener,
    remoteAddress: string,
    remotePort: number,
    state: ConnectionState,
  ) {
    this.context = context;
    this.id = context.table.allocateId();
    this.raw = raw;
    this.protocol = protocol;
    this.direction = direction;
    this.listener = listener;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.family = remoteAddress.includes(':') ? 6 : 4;
    this.peer = { protocol, address: remoteAddress, port: remotePort };
    this.state = state;
    this.createdAt = this.lastActivity = Date.now();
    raw.on('error', this.onError);
    raw.on('close', this.onClose);
    this.readAddresses(raw);
  }

  // ------------------------------------------------------------------ attaching sockets

  /** Starts reading SIP from a TCP socket or an established TLSSocket. */
  attachStream(stream: Socket | TLSSocket): void {
    this.stream = stream;
    this.framer = new StreamFramer(this, { maxMessageSize: this.context.limits.maxMessageSize });
    if (stream !== this.raw) {
      stream.on('error', this.onError);
      stream.on('close', this.onClose);
    }
    stream.on('data', this.onData);
    this.readAddresses(stream);
  }

  /** wss: the TLS layer under the HTTP upgrade; closed with the connection. */
  attachSecureLayer(socket: TLSSocket): void {
    this.secure = socket;
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  /** Starts reading SIP from an upgraded WebSocket (RFC 7118). */
  attachWebSocket(ws: WebSocket): void {
    this.ws = ws;
    ws.on('message', this.onWsMessage);
    ws.on('error', this.onError);
    ws.on('close', this.onClose);
    this.readAddresses(this.raw);
  }

  private readAddresses(socket: Socket): void {
    const address = socket.localAddress;
    if (address === undefined) return;
    this.localAddress = address;
    this.localPort = socket.localPort ?? 0;
  }

  /** The connection is usable: flush what was queued while connecting. */
  markOpen(): void {
    if (this.state === 'closed') return;
    this.state = 'open';
    this.lastActivity = Date.now();
    const queue = this.queue;
    if (queue === undefined) return;
    const failures = this.queueFailures!;
    this.queue = this.queueFailures = undefined;
    this.queueBytes = 0;
    for (let i = 0; i < queue.length; i++) {
      const error = this.write(queue[i]!, failures[i]);
      if (error !== undefined) this.reportFailure(failures[i], error);
    }
  }

  // ------------------------------------------------------------------ sending

  /**
   * Writes one message, or queues it while the connection is being opened. Returns the error when it
   * cannot be accepted; failures of a queued message (the connection does not open) go to `onFailure`.
   */
  write(data: Buffer, onFailure: SendFailureHandler | undefined): TransportError | undefined {
    const limits = this.context.limits;
    if (this.state === 'closed') {
      return new TransportError('CONNECTION_CLOSED', 'connection closed', this.peer);
    }
    if (this.state !== 'open') {
      // RFC 3261 §18.1.1: the request waits for the connection; bounded
      if (this.queue === undefined) {
        this.queue = [];
        this.queueFailures = [];
      }
      if (this.queue.length >= MAX_QUEUED_MESSAGES || this.queueBytes + data.length > limits.maxWriteBuffer) {
        this.context.stats.writeQueueDrops++;
        return new TransportError('WRITE_BUFFER_FULL', 'connect queue full', this.peer);
      }
      this.queue.push(data);
      this.queueFailures!.push(onFailure);
      this.queueBytes += data.length;
      return undefined;
    }
    const buffered = this.ws !== undefined ? this.ws.bufferedAmount : this.stream!.writableLength;
    if (buffered > limits.maxWriteBuffer) {
      if (this.stuckSince === 0) this.stuckSince = Date.now();
      this.context.stats.writeQueueDrops++;
      return new TransportError('WRITE_BUFFER_FULL', 'write buffer full', this.peer);
    }
    this.stuckSince = 0;
    if (this.ws !== undefined) this.ws.send(data, this.wsBinary ? WS_BINARY : WS_TEXT);
    else this.stream!.write(data);
    this.lastActivity = Date.now();
    this.messagesOut++;
    this.bytesOut += data.length;
    const stats = this.context.stats;
    stats.sent[this.protocol]++;
    stats.sentBytes[this.protocol] += data.length;
    return undefined;
  }

  private reportFailure(handler: SendFailureHandler | undefined, error: TransportError): void {
    this.context.stats.sendFailures[this.protocol]++;
    if (this.context.observed) this.context.emit({ type: 'send-failed', error });
    if (handler === undefined) return;
    try {
      handler(error);
    } catch (e) {
      this.context.stats.handlerErrors++;
      this.context.emit({ type: 'handler-error', error: e });
    }
  }

  /** Bytes waiting to be written (kernel-side excluded). */
  get writeQueue(): number {
    if (this.state !== 'open') return this.queueBytes;
    if (this.ws !== undefined) return this.ws.bufferedAmount;
    return this.stream?.writableLength ?? 0;
  }

  // ------------------------------------------------------------------ receiving

  private readonly onData = (chunk: Buffer): void => {
    const now = Date.now();
    this.lastActivity = now;
    this.bytesIn += chunk.length;
    this.context.stats.receivedBytes[this.protocol] += chunk.length;
    const framer = this.framer!;
    if (!framer.push(chunk)) {
      this.framingError(framer.error!);
      return;
    }
    if (framer.pendingBytes > 0) {
      if (this.partialSince === 0) this.partialSince = now;
    } else {
      this.partialSince = 0;
    }
  };

  /** FramerSink: one message framed from the stream. */
  onFrame(message: Buffer): void {
    if (this.state === 'closed') return;
    this.partialSince = 0;
    this.messagesIn++;
    this.context.stats.received[this.protocol]++;
    this.context.deliver(message, this.source());
  }

  /** FramerSink: RFC 5626 §3.5.1 ping; pong with one CRLF. */
  onPing(): void {
    const stats = this.context.stats;
    stats.keepalives.pingsReceived++;
    if (this.state !== 'open' || this.stream === undefined) return;
    if (this.stream.writableLength <= this.context.limits.maxWriteBuffer) {
      this.stream.write(PONG);
      stats.keepalives.pongsSent++;
    }
  }

  private framingError(reason: FramingErrorReason): void {
    this.context.stats.framingErrors[reason]++;
    if (this.context.observed) this.context.emit({ type: 'framing-error', connection: this.info(), reason });
    this.close(reason === 'garbage' ? 'garbage' : 'framing');
  }

  private readonly onWsMessage = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void => {
    if (this.state === 'closed') return;
    const message = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data as ArrayBuffer);
    this.wsBinary = isBinary;
    this.lastActivity = Date.now();
    this.bytesIn += message.length;
    this.messagesIn++;
    const stats = this.context.stats;
    stats.receivedBytes[this.protocol] += message.length;
    stats.received[this.protocol]++;
    this.context.deliver(message, this.source());
  };

  private source(): Source {
    return {
      protocol: this.protocol,
      address: this.remoteAddress,
      port: this.remotePort,
      family: this.family,
      listener: this.listener,
      connectionId: this.id,
      receivedAt: Date.now(),
    };
  }

  // ------------------------------------------------------------------ closing

  private readonly onError = (err: Error): void => {
    if (this.lastError === undefined) this.lastError = err;
    if (this.state === 'closed') return;
    if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // RFC 7118 / RFC 6455 §7.4.1: ws has already closed with 1009
      this.close('limit', err);
      return;
    }
    this.close(this.state === 'connecting' ? 'connect-failed' : 'error', err);
  };

  private readonly onClose = (): void => {
    if (this.state === 'closed') return;
    this.close(
      this.closingReason ?? (this.state === 'connecting' ? 'connect-failed' : 'peer'),
      this.lastError,
    );
  };

  /**
   * Closes gracefully: pending writes are flushed, then the socket ends. The connection leaves the table
   * when the socket closes (or when the caller gives up and calls {@link close}).
   */
  end(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.closingReason = reason;
    if (this.state !== 'open') {
      this.close(reason);
    } else if (this.ws !== undefined) {
      this.ws.close(1001);
    } else {
      this.stream!.end();
    }
  }

  /** Closes at once, fails queued messages, and removes the connection from the table. Idempotent. */
  close(reason: CloseReason, error?: Error): void {
    if (this.state === 'closed') return;
    const wasConnecting = this.state === 'connecting';
    this.state = 'closed';
    this.framer?.stop();
    if (this.ws !== undefined && reason === 'limit') {
      // ws is sending the 1009 close frame: let it leave, then make sure the socket goes
      this.raw.end();
      this.raw.setTimeout(1000);
      this.raw.once('timeout', this.raw.destroy);
    } else {
      this.ws?.terminate();
      this.stream?.destroy();
      this.secure?.destroy();
      this.raw.destroy();
    }
    const queue = this.queue;
    if (queue !== undefined) {
      const failures = this.queueFailures!;
      this.queue = this.queueFailures = undefined;
      this.queueBytes = 0;
      let failure: TransportError;
      if (reason === 'stopped') {
        failure = new TransportError('STOPPED', 'transport stopping', this.peer);
      } else if (reason === 'connect-timeout') {
        failure = new TransportError('CONNECT_TIMEOUT', 'connect timed out', this.peer);
      } else if (wasConnecting) {
        const detail = error === undefined ? '' : `: ${(error as { code?: string }).code ?? error.message}`;
        failure = new TransportError('CONNECT_FAILED', `connect failed${detail}`, this.peer, error);
      } else {
        failure = new TransportError('CONNECTION_CLOSED', `connection closed (${reason})`, this.peer, error);
      }
      for (const handler of failures) this.reportFailure(handler, failure);
    }
    this.context.connectionClosed(this, reason, error);
  }

  /** A snapshot for events and connectionInfo(). */
  info(): ConnectionInfo {
    const aliases: string[] = [];
    for (let i = 2; i < this.remoteKeys.length; i += 2) {
      aliases.push(hostPort(this.remoteKeys[i] as string, this.remoteKeys[i + 1] as number));
    }
    const info: ConnectionInfo = {
      id: this.id,
      protocol: this.protocol,
      direction: this.direction,
      state: this.state,
      local: hostPort(this.localAddress, this.localPort),
      remote: hostPort(this.remoteAddress, this.remotePort),
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      listenerId: this.listener.id,
      createdAt: this.createdAt,
      idleMs: Date.now() - this.lastActivity,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      writeQueue: this.writeQueue,
      aliases,
    };
    if (this.authorized !== undefined) info.authorized = this.authorized;
    return info;
  }
}

/** `address:port`, with IPv6 addresses bracketed. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
