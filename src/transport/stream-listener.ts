/**
 * A stream listener: TCP, TLS, WS or WSS. A plain net.Server accepts every connection, so the connection
 * limits are checked before any TLS or HTTP work; accepted sockets are then handed to a tls.Server (tls,
 * wss) and an http.Server (ws, wss) that never listen themselves, and the WebSocket upgrade is done by
 * `ws` (RFC 7118).
 */
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import { type WebSocket, WebSocketServer } from 'ws';
import { Connection, type TransportContext } from './connection.js';
import type { Listener, ListenerOptions, Protocol, TlsOptions, TransportEvent } from './types.js';

/** Why an inbound connection is refused before it is accepted. */
export type RefusalReason = Extract<TransportEvent, { type: 'connection-refused' }>['reason'];

/** What a stream listener needs beyond a connection's context. */
export interface StreamContext extends TransportContext {
  /** Why a new inbound connection from `address` must be refused, if it must. */
  refusal(address: string): RefusalReason | undefined;
  /** A connection entered the table. */
  connectionAdded(conn: Connection): void;
  /** A connection became usable (handshake or upgrade done). */
  connectionOpened(conn: Connection): void;
}

/** The RFC 7118 §4 WebSocket subprotocol. */
const SIP_SUBPROTOCOL = 'sip';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** One listening stream socket. */
export class StreamListener implements Listener {
  readonly id: number;
  readonly protocol: Exclude<Protocol, 'udp'>;
  readonly address: string;
  readonly family: 4 | 6;
  port: number;
  advertisedHost: string;
  advertisedPort: number;
  private readonly requestedPort: number;
  private readonly advertise: ListenerOptions['advertise'];
  private readonly context: StreamContext;
  private server: NetServer | undefined;
  private tlsServer: TlsServer | undefined;
  private httpServer: HttpServer | undefined;
  private wsServer: WebSocketServer | undefined;
  /** tls/wss connections whose handshake is under way, by `remoteAddress remotePort localAddress`. */
  private readonly handshakes = new Map<string, Connection>();
  /** ws/wss: the connection behind the socket the HTTP server sees. */
  private readonly owners = new WeakMap<Duplex, Connection>();

  constructor(
    id: number,
    options: ListenerOptions,
    address: string,
    family: 4 | 6,
    context: StreamContext,
    tls: TlsOptions | undefined,
  ) {
    this.id = id;
    this.protocol = options.protocol as Exclude<Protocol, 'udp'>;
    this.address = address;
    this.family = family;
    this.port = options.port;
    this.requestedPort = options.port;
    this.advertise = options.advertise;
    this.context = context;
    this.advertisedHost = '';
    this.advertisedPort = 0;
    this.updateAdvertised();
    if (this.protocol === 'tls' || this.protocol === 'wss') this.tlsServer = this.createTlsServer(tls!);
    if (this.protocol === 'ws' || this.protocol === 'wss') this.createWebSocketServer();
  }

  private updateAdvertised(): void {
    this.advertisedHost = this.advertise?.host ?? (this.family === 6 ? `[${this.address}]` : this.address);
    this.advertisedPort = this.advertise?.port ?? this.port;
  }

  private createTlsServer(tls: TlsOptions): TlsServer {
    const server = createTlsServer({
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      minVersion: tls.minVersion,
      ...(tls.ciphers === undefined ? {} : { ciphers: tls.ciphers }),
      requestCert: tls.verifyClient !== 'none',
      rejectUnauthorized: tls.verifyClient === 'required',
      handshakeTimeout: this.context.limits.messageReadTimeout,
    });
    server.on('secureConnection', this.onSecureConnection);
    server.on('tlsClientError', this.onTlsClientError);
    server.on('error', this.onServerError);
    return server;
  }

  private createWebSocketServer(): void {
    this.wsServer = new WebSocketServer({
      noServer: true,
      maxPayload: this.context.limits.maxMessageSize,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (offered: Set<string>) => (offered.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    this.wsServer.on('error', this.onServerError);
    const http = createHttpServer();
    http.on('upgrade', this.onUpgrade);
    http.on('request', (_req, res) => {
      // RFC 7118 §4: only WebSocket upgrades are served here
      res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Length': '0' });
      res.end();
    });
    http.on('clientError', (_err: Error, socket: Duplex) => socket.destroy());
    this.httpServer = http;
  }

  /** Binds and listens; rejects with the system error (EADDRINUSE, EADDRNOTAVAIL, EACCES...). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createNetServer({ noDelay: true });
      const onListenError = (err: Error): void => {
        server.close();
        reject(err);
      };
      server.once('error', onListenError);
      server.on('connection', this.onConnection);
      server.listen(
        {
          host: this.address,
          port: this.requestedPort,
          ipv6Only: this.family === 6,
          exclusive: true,
          backlog: 511,
        },
        () => {
          server.off('error', onListenError);
          server.on('error', this.onServerError);
          const bound = server.address();
          if (bound !== null && typeof bound === 'object') this.port = bound.port;
          this.updateAdvertised();
          this.server = server;
          resolve();
        },
      );
    });
  }

  private readonly onServerError = (error: Error): void => {
    this.context.emit({ type: 'socket-error', listener: this, error });
  };

  /** Accept gate: limits first, then the protocol's handshake. */
  private readonly onConnection = (raw: Socket): void => {
    const address = raw.remoteAddress;
    const port = raw.remotePort;
    if (address === undefined || port === undefined) {
      raw.destroy(); // already gone
      return;
    }
    const refusal = this.context.refusal(address);
    if (refusal !== undefined) {
      raw.on('error', ignore);
      raw.destroy();
      this.context.stats.connections.refused[this.protocol]++;
      this.context.emit({
        type: 'connection-refused',
        protocol: this.protocol,
        address,
        port,
        reason: refusal,
      });
      return;
    }
    const tcp = this.protocol === 'tcp';
    const conn = new Connection(
      this.context,
      raw,
      this.protocol,
      'inbound',
      this,
      address,
      port,
      tcp ? 'open' : 'handshaking',
    );
    this.context.connectionAdded(conn);
    if (tcp) {
      conn.attachStream(raw);
      this.context.connectionOpened(conn);
    } else if (this.tlsServer !== undefined) {
      this.handshakes.set(handshakeKey(raw), conn);
      this.tlsServer.emit('connection', raw);
    } else {
      this.owners.set(raw, conn);
      this.httpServer!.emit('connection', raw);
    }
  };

  private readonly onSecureConnection = (socket: TLSSocket): void => {
    const key = handshakeKey(socket);
    const conn = this.handshakes.get(key);
    this.handshakes.delete(key);
    if (conn === undefined || conn.state === 'closed') {
      socket.destroy();
      return;
    }
    conn.authorized = socket.authorized;
    if (this.protocol === 'tls') {
      conn.attachStream(socket);
      conn.markOpen();
      this.context.connectionOpened(conn);
    } else {
      conn.attachSecureLayer(socket);
      this.owners.set(socket, conn);
      this.httpServer!.emit('connection', socket);
    }
  };

  private readonly onTlsClientError = (error: Error, socket: TLSSocket): void => {
    const key = handshakeKey(socket);
    const conn = this.handshakes.get(key);
    this.handshakes.delete(key);
    const timeout = (error as { code?: string }).code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
    this.context.stats.tlsHandshakeFailures++;
    conn?.close(timeout ? 'slowloris' : 'error', error);
  };

  /** tls/wss: new handshakes use this certificate, key, CA and ciphers; open connections keep theirs. */
  setSecureContext(options: SecureContextOptions): void {
    this.tlsServer?.setSecureContext(options);
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const conn = this.owners.get(socket);
    if (conn === undefined || conn.state === 'closed') {
      socket.destroy();
      return;
    }
    // RFC 7118 §4: the client must offer the "sip" subprotocol
    if (!offersSip(req.headers['sec-websocket-protocol'])) {
      this.context.stats.connections.refused[this.protocol]++;
      this.context.emit({
        type: 'connection-refused',
        protocol: this.protocol,
        address: conn.remoteAddress,
        port: conn.remotePort,
        reason: 'ws-subprotocol',
      });
      socket.end(BAD_REQUEST);
      return;
    }
    this.wsServer!.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (conn.state === 'closed') {
        ws.terminate();
        return;
      }
      conn.attachWebSocket(ws);
      conn.markOpen();
      this.context.connectionOpened(conn);
    });
  };

  /** Forgets a connection that closed during its handshake. */
  release(conn: Connection): void {
    if (this.handshakes.size === 0) return;
    const key = `${conn.remoteAddress} ${conn.remotePort} ${conn.localAddress}`;
    if (this.handshakes.get(key) === conn) this.handshakes.delete(key);
  }

  /** Stops accepting connections (existing ones are closed by the transport). */
  stopAccepting(): void {
    this.server?.close(ignore);
  }

  /** Closes the listening socket and the helper servers. */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.wsServer?.close();
    this.httpServer?.close(ignore);
    this.tlsServer?.close(ignore);
    this.handshakes.clear();
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

function ignore(): void {}

function handshakeKey(socket: Socket): string {
  return `${socket.remoteAddress} ${socket.remotePort} ${socket.localAddress ?? ''}`;
}

/** Sec-WebSocket-Protocol is a comma-separated list; it may be repeated (joined by Node with ", "). */
function offersSip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  for (const token of value.split(',')) if (token.trim() === SIP_SUBPROTOCOL) return true;
  return false;
}
