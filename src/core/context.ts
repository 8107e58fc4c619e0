/**
 * The objects route scripts work on: one per received request or response.
 */
import type { SipRequest, SipResponse } from '../sip/message.js';
import { formatUri, isSipUri, parseUri, type SipUri, type Uri } from '../sip/uri.js';
import type { Source } from '../transport/types.js';
import type { Logger } from './logger.js';
import type { Myself } from './myself.js';

/** What happened to a message; set by the action that handled it. */
export type Disposition = 'pending' | 'forwarding' | 'replied' | 'forwarded' | 'dropped';

/** Where to send a request instead of the Request-URI (Kamailio's `$du`): a SIP URI. */
export type NextHop = string | SipUri;

/**
 * A target to relay to (RFC 3261 §16.5-16.6): a Request-URI with its q-value, and how to reach it for
 * this branch alone. tm forks to targets of equal q in parallel and to groups of decreasing q serially.
 */
export interface BranchTarget {
  uri: string;
  q: number;
  /** Next hop for this branch only (a SIP URI), instead of the Route set / Request-URI. */
  nextHop?: NextHop;
  /** Route values put on top of the request's Route set for this branch only (a registered Path, RFC 3327 §5.3). */
  routes?: readonly string[];
  /**
   * The listener to send this branch from (`proto:address:port`, as `sendSocket`); `''` lets the
   * destination choose; absent: `sendSocket` applies.
   */
  socket?: string;
}

/** What the core needs of a request's transaction (the tm layer's proxy transaction). */
export interface TransactionHandle {
  /** Replies through the server transaction (retransmitted and absorbed as RFC 3261 §17.2 says). */
  reply(status: number, reason?: string, headers?: ReadonlyArray<readonly [string, string]>): void;
}

/** State shared by request and reply contexts. */
abstract class MessageContext<M extends SipRequest | SipResponse> {
  /** The message as received (and as edited by the script so far). */
  readonly msg: M;
  /** Where it came from: protocol, address, port, listener, connection. */
  readonly source: Source;
  /** What happened to it so far. */
  disposition: Disposition = 'pending';
  /** Script flags (Kamailio's `setflag`/`isflagset`): 32 bits. */
  flags = 0;
  private vars: Map<string, unknown> | undefined;
  private logger: Logger | undefined;
  private readonly rootLogger: Logger;
  private readonly myself: Myself;

  constructor(msg: M, source: Source, logger: Logger, myself: Myself) {
    this.msg = msg;
    this.source = source;
    this.rootLogger = logger;
    this.myself = myself;
  }

  /** True when a SIP URI names this server (host and port; no port means the default one). */
  isMyselfUri(uri: SipUri): boolean {
    return this.myself.matchesUri(uri);
  }

  /** True when `host` (and `port`, if given) name this server (Kamailio's `myself`). */
  isMyself(host: string, port?: number): boolean {
    return this.myself.matches(host, port);
  }

  /** A logger whose lines carry this message's Call-ID, method and source. */
  get log(): Logger {
    let l = this.logger;
    if (l === undefined) {
      let callId: string | undefined;
      try {
        callId = this.msg.callId;
      } catch {
        callId = this.msg.getHeader('call-id');
      }
      const src = this.source;
      l = this.rootLogger.child({
        callId,
        method: this.msg.kind === 'request' ? this.msg.method : this.msg.cseq?.method,
        ...(this.msg.kind === 'response' ? { status: this.msg.status } : {}),
        src: `${src.protocol}:${src.family === 6 ? `[${src.address}]` : src.address}:${src.port}`,
      });
      this.logger = l;
    }
    return l;
  }

  /** Sets script flag `n` (0-31). */
  setFlag(n: number): void {
    this.flags |= 1 << n;
  }

  /** Clears script flag `n`. */
  resetFlag(n: number): void {
    this.flags &= ~(1 << n);
  }

  /** True when script flag `n` is set. */
  isFlagSet(n: number): boolean {
    return (this.flags & (1 << n)) !== 0;
  }

  /** Per-message variables (Kamailio's `$var`/`$avp` for this message). */
  get(name: string): unknown {
    return this.vars?.get(name);
  }

  /** Sets a per-message variable. */
  set(name: string, value: unknown): void {
    if (this.vars === undefined) this.vars = new Map();
    this.vars.set(name, value);
  }

  /** A header value (first field), by any spelling. */
  header(name: string): string | undefined {
    return this.msg.getHeader(name);
  }

  /** True when the header is present. */
  hasHeader(name: string): boolean {
    return this.msg.hasHeader(name);
  }

  /** Appends a header. */
  addHeader(name: string, value: string): void {
    this.msg.appendHeader(name, value);
  }

  /** Removes every field of a header; returns how many. */
  removeHeader(name: string): number {
    return this.msg.removeHeader(name);
  }

  /** Replaces a header with one value (or adds it). */
  setHeader(name: string, value: string): void {
    this.msg.setHeader(name, value);
  }

  /** The body as a Buffer. */
  get body(): Buffer {
    return this.msg.body;
  }

  /** True once the message was dropped (by the script or an onsend route). */
  get isDropped(): boolean {
    return this.disposition === 'dropped';
  }

  /** Drops the message: nothing is sent for it. */
  drop(): void {
    this.disposition = 'dropped';
  }
}

/** A received request on its way through the request route. */
export class RequestContext extends MessageContext<SipRequest> {
  readonly kind = 'request' as const;
  /** Next hop overriding the Request-URI for forwarding (Kamailio's `$du`). */
  nextHop: NextHop | undefined;
  /** Record-Route requested by `rr.recordRoute()`: the extra parameters, inserted when forwarding. */
  recordRouteParams: string | undefined;
  /** The request's transaction, once it has one (the script relayed it, replied statefully, or awaited). */
  transaction: TransactionHandle | undefined;
  /**
   * The listener to send from, as `proto:address:port` (Kamailio's `force_send_socket`); by default the
   * first listener matching the destination's protocol and address family.
   */
  sendSocket: string | undefined;
  /**
   * The destination set (Kamailio's dset): targets a stateful relay forks to besides the Request-URI
   * branch, e.g. the other contacts of a location lookup. `m.tm.relay` consumes it.
   */
  branches: BranchTarget[] | undefined;
  /** The q-value of the Request-URI branch when it forks with the destination set (default 1). */
  uriQ: number | undefined;
  /** Route values for the Request-URI branch only (Kamailio's path vector: the contact's Path, RFC 3327). */
  uriRoutes: readonly string[] | undefined;

  /** The method. */
  get method(): string {
    return this.msg.method;
  }

  /** The Request-URI. */
  get uri(): Uri {
    return this.msg.uri;
  }

  /** The Request-URI as a SIP URI, or `undefined` for tel: and other schemes. */
  get sipUri(): SipUri | undefined {
    const u = this.msg.uri;
    return isSipUri(u) ? u : undefined;
  }

  /** Replaces the Request-URI (Kamailio's `$ru`). */
  setUri(uri: string | Uri): void {
    this.msg.setUri(typeof uri === 'string' ? parseUri(uri) : uri);
  }

  /** Rewrites the user part of the Request-URI (Kamailio's `$rU`). */
  setUriUser(user: string | undefined): void {
    this.editSipUri((u) => ({ ...u, user }));
  }

  /** Rewrites the host of the Request-URI (Kamailio's `$rd`). */
  setUriHost(host: string): void {
    this.editSipUri((u) => ({ ...u, host, hostKind: host.includes(':') ? 'ipv6' : u.hostKind }));
  }

  /** Rewrites the port of the Request-URI (Kamailio's `$rp`); `undefined` removes it. */
  setUriPort(port: number | undefined): void {
    this.editSipUri((u) => ({ ...u, port }));
  }

  /** Sets or removes (`null` value: flag; `undefined`: remove) a Request-URI parameter. */
  setUriParam(name: string, value: string | null | undefined): void {
    this.editSipUri((u) => {
      const params = new Map(u.params);
      if (value === undefined) params.delete(name.toLowerCase());
      else params.set(name.toLowerCase(), value);
      return { ...u, params };
    });
  }

  private editSipUri(edit: (u: SipUri) => SipUri): void {
    const u = this.sipUri;
    if (u === undefined) throw new TypeError(`Request-URI is not a SIP URI: ${this.msg.requestUri}`);
    this.msg.setUri(formatUri(edit(u)));
  }

  /** True when the request carries a To-tag (an in-dialog request). */
  get hasToTag(): boolean {
    return this.msg.to?.params.get('tag') != null;
  }
}

/** A received response on its way through the reply route. */
export class ReplyContext extends MessageContext<SipResponse> {
  readonly kind = 'response' as const;

  /** The status code. */
  get status(): number {
    return this.msg.status;
  }
}
