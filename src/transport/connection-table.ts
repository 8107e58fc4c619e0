/**
 * The connection table: every stream connection (TCP, TLS, WS, WSS; accepted or opened by us) by id, and
 * by remote (protocol, address, port) for reuse — RFC 5923 §5: an inbound connection is indexed under the
 * peer's address and port and reused for requests to it, as are any aliases the core adds.
 */
import type { Connection } from './connection.js';
import type { Protocol } from './types.js';

/** Index of each protocol in per-protocol arrays. */
export const PROTOCOL_INDEX: Readonly<Record<Protocol, number>> = Object.freeze({
  udp: 0,
  tcp: 1,
  tls: 2,
  ws: 3,
  wss: 4,
});

/** At most this many (address, port) keys per connection: its remote address and RFC 5923 aliases. */
export const MAX_KEYS_PER_CONNECTION = 4;

/** Connections by id and by remote address; counts per remote IP for maxConnectionsPerIp. */
export class ConnectionTable {
  private nextId = 1;
  private readonly byId = new Map<number, Connection>();
  /** Per protocol: address -> port -> connection. Nested maps: a lookup allocates no key string. */
  private readonly byRemote: Map<string, Map<number, Connection>>[] = [
    new Map(),
    new Map(),
    new Map(),
    new Map(),
    new Map(),
  ];
  private readonly inboundPerIp = new Map<string, number>();

  /** Connections in the table, in every state. */
  get size(): number {
    return this.byId.size;
  }

  /** A fresh connection id; ids are never reused within a process. */
  allocateId(): number {
    return this.nextId++;
  }

  /** Inbound connections currently open from `address`. */
  inboundFrom(address: string): number {
    return this.inboundPerIp.get(address) ?? 0;
  }

  /** Adds a connection (by id, and to its IP's count when inbound). */
  add(conn: Connection): void {
    this.byId.set(conn.id, conn);
    if (conn.direction === 'inbound') {
      this.inboundPerIp.set(conn.remoteAddress, (this.inboundPerIp.get(conn.remoteAddress) ?? 0) + 1);
    }
  }

  /** The connection with this id, unless it is closed. */
  get(id: number): Connection | undefined {
    return this.byId.get(id);
  }

  /** Every connection. */
  values(): IterableIterator<Connection> {
    return this.byId.values();
  }

  /**
   * Indexes `conn` under (its protocol, address, port) so sends to that address reuse it. A newer
   * connection replaces an older one under the same key. Returns false when the connection already
   * has {@link MAX_KEYS_PER_CONNECTION} keys.
   */
  index(conn: Connection, address: string, port: number): boolean {
    const keys = conn.remoteKeys;
    for (let i = 0; i < keys.length; i += 2) if (keys[i] === address && keys[i + 1] === port) return true;
    if (keys.length >= MAX_KEYS_PER_CONNECTION * 2) return false;
    const table = this.byRemote[PROTOCOL_INDEX[conn.protocol]]!;
    let ports = table.get(address);
    if (ports === undefined) {
      ports = new Map();
      table.set(address, ports);
    }
    ports.set(port, conn);
    keys.push(address, port);
    return true;
  }

  /** The open or opening connection to reuse for (protocol, address, port). */
  find(protocol: Protocol, address: string, port: number): Connection | undefined {
    return this.byRemote[PROTOCOL_INDEX[protocol]]!.get(address)?.get(port);
  }

  /** Removes a connection from every index. */
  remove(conn: Connection): void {
    if (this.byId.get(conn.id) !== conn) return;
    this.byId.delete(conn.id);
    const table = this.byRemote[PROTOCOL_INDEX[conn.protocol]]!;
    const keys = conn.remoteKeys;
    for (let i = 0; i < keys.length; i += 2) {
      const ports = table.get(keys[i] as string);
      if (ports?.get(keys[i + 1] as number) === conn) {
        ports.delete(keys[i + 1] as number);
        if (ports.size === 0) table.delete(keys[i] as string);
      }
    }
    if (conn.direction === 'inbound') {
      const n = (this.inboundPerIp.get(conn.remoteAddress) ?? 1) - 1;
      if (n <= 0) this.inboundPerIp.delete(conn.remoteAddress);
      else this.inboundPerIp.set(conn.remoteAddress, n);
    }
  }
}
