/**
 * The receive pipeline: bytes from a transport become a parsed message, get the checks and Via
 * edits every message needs, run through the operator's route script, and leave as stateless replies
 * or forwards (RFC 3261 §16.11 stateless proxy, §18).
 */
import { randomBytes } from 'node:crypto';
import type { Storage } from '../db/types.js';
import type { ResolvedTarget, SipResolver } from '../dns/index.js';
import { createResponseBytes, type HeaderList, reasonPhrase } from '../sip/build.js';
import { SipParseError } from '../sip/errors.js';
import { headerKey } from '../sip/header-names.js';
import { parseVia, type Via } from '../sip/headers/via.js';
import type { ParseLimits } from '../sip/limits.js';
import { HeaderField, type SipRequest, type SipResponse } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import { formatUri, isSipUri, parseUri, type SipUri } from '../sip/uri.js';
import type { Destination, Listener, Source, TransportError } from '../transport/types.js';
import { type NextHop, ReplyContext, RequestContext } from './context.js';
import type { Logger } from './logger.js';
import { ReceivedCounters, StatelessReplyCounters } from './message-stats.js';
import type { CoreServices } from './module.js';
import type { Myself } from './myself.js';
import {
  bareHost,
  defaultPort,
  replyDestination,
  resolveTarget,
  responseTarget,
  viaProtocol,
  viaTransport,
} from './next-hop.js';
import type { OverloadGuard } from './overload.js';
import type { Stat, StatsRegistry } from './stats.js';

/** The route handlers of a loaded script, bound to the module APIs. */
export interface ActiveRoutes {
  request(ctx: RequestContext): void | Promise<void>;
  reply?(ctx: ReplyContext): void | Promise<void>;
  /** Runs just before a request is sent by a stateless forward; `ctx.drop()` stops it. */
  onsend?(ctx: RequestContext, destination: Destination): void;
}

/** A destination to try for a next hop, with the listener to send from. */
export interface Candidate {
  readonly target: ResolvedTarget;
  readonly destination: Destination;
  readonly listener: Listener;
}

/** The resolved next hop of a request: its URI and the destinations to try, in order. */
export interface Route {
  readonly uri: SipUri;
  readonly candidates: readonly Candidate[];
}

/** How the transaction layer sees messages before the script (see tm/transaction-layer.ts). */
export interface TransactionHooks {
  /** A request before the script: true when a transaction took it (retransmission, ACK, CANCEL). */
  request(msg: SipRequest, via: Via, source: Source): boolean;
  /** A response whose top Via is ours: true when a client transaction took it. */
  response(msg: SipResponse, via: Via, source: Source): boolean;
  /** The request route went async. */
  scriptSuspended(ctx: RequestContext): void;
  /** The request route finished (after going async, or with a transaction). */
  scriptDone(ctx: RequestContext): void;
  /** Transactions in progress (`tm.current`), for `limits.maxTransactions`. */
  readonly inProgress: number;
}

/**
 * A filter over every message the pipeline receives and sends (topology hiding). `received` runs right
 * after parsing, before anything else looks at the message; `sending` runs on the bytes of every message
 * the pipeline or the transaction layer sends, retransmissions included, as the last step before the
 * transport. With no filter registered, each path pays one length check.
 */
export interface MessageFilter {
  /** May edit the message; false drops it (the filter counts and logs why; the core counts the drop). */
  received(msg: SipRequest | SipResponse, source: Source): boolean;
  /** The bytes to send instead (or `data` itself); `undefined` drops the message. */
  sending(data: Buffer, destination: Destination): Buffer | undefined;
}

/** What the pipeline needs from the transport layer. */
export interface PacketSender {
  readonly listeners: readonly Listener[];
  /** Sends; returns an error when the send failed at once; later failures go to `onFailure`. */
  send(
    data: Buffer,
    dest: Destination,
    onFailure?: (error: TransportError) => void,
  ): TransportError | undefined;
  selectListener(dest: { protocol: Destination['protocol']; address: string }): Listener | undefined;
}

/** Dependencies of the pipeline. */
export interface PipelineOptions {
  transport: PacketSender;
  myself: Myself;
  log: Logger;
  stats: StatsRegistry;
  limits: ParseLimits;
  routes(): ActiveRoutes;
  /** RFC 3263 resolver for next hops. */
  resolver: SipResolver;
  /** Overload protection: new requests refused with 503 before the script (see core/overload.ts). */
  overload?: OverloadGuard;
}

/** The base-32 digits, as char codes. */
const BASE32 = Array.from('0123456789abcdefghijklmnopqrstuv', (c) => c.charCodeAt(0));

/** 32 bits as 7 base-32 digits, lowest first (Number#toString(36) takes a slow floating-point path). */
function base32(n: number): string {
  const d = BASE32;
  return String.fromCharCode(
    d[n & 31]!,
    d[(n >>> 5) & 31]!,
    d[(n >>> 10) & 31]!,
    d[(n >>> 15) & 31]!,
    d[(n >>> 20) & 31]!,
    d[(n >>> 25) & 31]!,
    d[n >>> 30]!,
  );
}

/**
 * Two 32-bit FNV-1a hashes of `s` with different seeds, computed in one pass, as 14 base-32 digits: a
 * stateless branch or To-tag that is the same for every retransmission of a request.
 */
function hash64(s: string, secret: number): string {
  let a = (0x811c9dc5 ^ secret) >>> 0;
  let b = (0x2f7a1d3b ^ secret) >>> 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return base32(a >>> 0) + base32(b >>> 0);
}

/** The receive pipeline and the stateless actions of the core. */
export class Pipeline implements CoreServices {
  readonly myself: Myself;
  readonly stats: StatsRegistry;
  readonly log: Logger;
  private readonly transport: PacketSender;
  private readonly limits: ParseLimits;
  private readonly routes: () => ActiveRoutes;
  private readonly resolver: SipResolver;
  private readonly overload: OverloadGuard | undefined;
  /** Secret mixed into stateless To-tags and branches, so they cannot be predicted from outside. */
  private readonly secret = randomBytes(4).readUInt32LE(0);
  private inFlight = 0;
  /** Set by the transaction layer. */
  hooks: TransactionHooks | undefined;
  /** Registered by modules (topoh); empty unless one is in use. */
  private readonly filters: MessageFilter[] = [];
  /** Set by the server before it creates the modules (see {@link db}). */
  database: Storage | undefined;
  /** The APIs of the modules created so far, by name (see {@link module}). */
  private readonly moduleApis = new Map<string, unknown>();
  private idleWaiters: Array<() => void> = [];
  private readonly s: Record<
    | 'received'
    | 'requests'
    | 'replies'
    | 'parseErrors'
    | 'badRequestsReplied'
    | 'dropped'
    | 'droppedRequests'
    | 'droppedReplies'
    | 'forwardedRequests'
    | 'forwardedReplies'
    | 'slReplies'
    | 'scriptErrors'
    | 'sendErrors',
    Stat
  >;
  /** Requests by method, replies by class (`core.rcv_requests_<method>`, `core.rcv_replies_<N>xx`). */
  private readonly receivedBy: ReceivedCounters;
  /** Kamailio's `sl` group. */
  private readonly sl: StatelessReplyCounters;

  constructor(options: PipelineOptions) {
    this.transport = options.transport;
    this.myself = options.myself;
    this.log = options.log;
    this.stats = options.stats;
    this.limits = options.limits;
    this.routes = options.routes;
    this.resolver = options.resolver;
    this.overload = options.overload;
    const c = (name: string, doc: string) => options.stats.counter('core', name, doc);
    this.s = {
      received: c('rcv_messages', 'messages received'),
      requests: c('rcv_requests', 'requests received'),
      replies: c('rcv_replies', 'replies received'),
      parseErrors: c('parse_errors', 'messages that failed to parse'),
      badRequestsReplied: c('bad_msg_replied', 'unparsable requests answered with 400'),
      dropped: c('drop_messages', 'messages dropped by the core'),
      droppedRequests: c('drop_requests', 'requests dropped, by the core or the route script'),
      droppedReplies: c('drop_replies', 'replies dropped, by the core or the reply route'),
      forwardedRequests: c('fwd_requests', 'requests forwarded statelessly'),
      forwardedReplies: c('fwd_replies', 'replies forwarded'),
      slReplies: c('sl_replies', 'stateless replies sent'),
      scriptErrors: c('script_errors', 'route script handlers that threw'),
      sendErrors: c('send_errors', 'sends that failed'),
    };
    this.receivedBy = new ReceivedCounters(options.stats);
    this.sl = new StatelessReplyCounters(options.stats);
    options.stats.gauge(
      'core',
      'in_flight',
      'messages being processed by the route script',
      () => this.inFlight,
    );
  }

  get listeners(): readonly Listener[] {
    return this.transport.listeners;
  }

  /** The database; throws when the pipeline has none (pipelines built without a server, in tests). */
  get db(): Storage {
    if (this.database === undefined) throw new Error('no database: the pipeline was created without one');
    return this.database;
  }

  /** Makes a module's API reachable through {@link module}; the server calls it as it creates each module. */
  addModule(name: string, api: unknown): void {
    this.moduleApis.set(name, api);
  }

  module<Api>(name: string): Api {
    if (!this.moduleApis.has(name)) {
      throw new Error(
        `module '${name}' does not exist (or is created later: modules are created in builtinModules order)`,
      );
    }
    return this.moduleApis.get(name) as Api;
  }

  /** Messages whose route handlers have not finished yet. */
  get pending(): number {
    return this.inFlight;
  }

  /** Resolves when no route handler is running (or after `timeoutMs`). */
  idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ------------------------------------------------------------------ receive

  /** Entry point for every message a transport delivers. */
  receive(data: Buffer, source: Source): void {
    this.s.received.value++;
    let msg: SipRequest | SipResponse;
    try {
      msg = parseMessage(data, { limits: this.limits });
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      this.s.parseErrors.value++;
      this.replyToUnparsable(data, source, e);
      return;
    }
    if (this.filters.length !== 0 && !this.filterReceived(msg, source)) return;
    if (msg.kind === 'request') this.receiveRequest(msg, source);
    else this.receiveResponse(msg, source);
  }

  private receiveRequest(msg: SipRequest, source: Source): void {
    this.s.requests.value++;
    this.receivedBy.request(msg.method);
    let via: Via | undefined;
    try {
      via = msg.topVia;
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
    if (via === undefined) {
      // no readable Via: no way to reply (RFC 3261 §18.2.2)
      this.dropRequest('request without a readable Via', source);
      return;
    }
    if (this.hooks?.request(msg, via, source) === true) return;
    // RFC 3261 §18.2.1 received; RFC 3581 §4 rport (received is then mandatory)
    if (via.rport !== undefined) msg.setTopViaReceived(source.address, source.port);
    else if (bareHost(via.host) !== source.address) msg.setTopViaReceived(source.address, undefined);
    // the ACK for a negative reply this server sent statelessly (a 407 challenge, a 404) is hop by hop
    // (RFC 3261 §17.1.1.3) and ends here, as Kamailio's sl module absorbs it: routed on like an in-dialog
    // ACK it would reach the Request-URI, which never saw the INVITE
    if (msg.method === 'ACK' && this.acksStatelessReply(msg)) {
      this.sl.receivedAcks.value++;
      this.dropRequest('ACK for a stateless reply', source);
      return;
    }
    // overload: new requests get 503 before the script; ACK, CANCEL and in-dialog requests pass
    const overload = this.overload;
    if (
      overload !== undefined &&
      msg.method !== 'ACK' &&
      msg.method !== 'CANCEL' &&
      overload.engaged &&
      !this.inDialog(msg) &&
      overload.refuse(this.hooks?.inProgress ?? 0) !== undefined
    ) {
      this.replyOverloaded(msg, via, source, overload);
      return;
    }

    const ctx = new RequestContext(msg, source, this.log, this.myself);
    this.run(ctx, this.routes().request);
  }

  /** A request with a To-tag belongs to a dialog (RFC 3261 §12.2); a malformed To counts as none. */
  private inDialog(msg: SipRequest): boolean {
    try {
      return msg.to?.params.get('tag') != null;
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      return false;
    }
  }

  /** RFC 3261 §21.5.4: 503 with Retry-After, stateless, the script not run. */
  private replyOverloaded(msg: SipRequest, via: Via, source: Source, overload: OverloadGuard): void {
    const data = createResponseBytes(msg, 503, {
      toTag: this.statelessTag(msg),
      headers: overload.headers,
    });
    this.s.slReplies.value++;
    this.sl.reply(503);
    if (!this.sendTo(data, replyDestination(msg.topVia ?? via, source))) this.sl.failures.value++;
  }

  /** True when an ACK's To-tag is the one {@link reply} gave its INVITE (same Call-ID, From, Via, CSeq number). */
  private acksStatelessReply(ack: SipRequest): boolean {
    let tag: string | undefined;
    let seq: number | undefined;
    try {
      tag = ack.to?.params.get('tag') ?? undefined;
      seq = ack.cseq?.seq;
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      return false;
    }
    if (tag === undefined || seq === undefined || !tag.startsWith('sl')) return false;
    return tag === this.statelessTag(ack, `${seq} INVITE`);
  }

  private receiveResponse(msg: SipResponse, source: Source): void {
    this.s.replies.value++;
    this.receivedBy.reply(msg.status);
    let via: Via | undefined;
    try {
      via = msg.topVia;
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
    // RFC 3261 §18.1.2: a response whose top Via is not ours is discarded
    if (
      via === undefined ||
      !this.myself.matches(via.host, via.port ?? defaultPort(viaProtocol(via) ?? 'udp'))
    ) {
      this.dropReply('response whose top Via is not ours', source);
      return;
    }
    if (this.hooks?.response(msg, via, source) === true) return;
    const ctx = new ReplyContext(msg, source, this.log, this.myself);
    const reply = this.routes().reply;
    if (reply === undefined) {
      void this.forwardResponse(ctx);
      return;
    }
    this.run(ctx, reply, () => {
      if (ctx.disposition === 'pending') return this.forwardResponse(ctx);
      return undefined;
    });
  }

  /** Runs a route handler; awaits it when it is async; turns its failures into replies and counts. */
  private run<C extends RequestContext | ReplyContext>(
    ctx: C,
    handler: (ctx: C) => void | Promise<void>,
    after?: () => void | Promise<void>,
  ): void {
    this.inFlight++;
    let result: void | Promise<void>;
    try {
      result = handler(ctx);
    } catch (e) {
      this.handlerFailed(ctx, e);
      this.done(ctx);
      return;
    }
    if (result instanceof Promise) {
      let settled = false;
      const hooks = this.hooks;
      if (
        hooks !== undefined &&
        ctx.kind === 'request' &&
        ctx.transaction === undefined &&
        ctx.disposition === 'pending'
      ) {
        // A route that is still running when the event loop turns is really waiting (DNS, a database):
        // its request gets a server transaction then, to absorb retransmissions meanwhile. One that only
        // awaited values already there (an in-memory registrar or credential check) has finished by then
        // and stays stateless.
        setImmediate(() => {
          if (!settled) hooks.scriptSuspended(ctx);
        });
      }
      result.then(
        () => {
          settled = true;
          this.finish(ctx, after);
        },
        (e: unknown) => {
          settled = true;
          this.handlerFailed(ctx, e);
          this.done(ctx);
        },
      );
    } else {
      this.finish(ctx, after);
    }
  }

  private finish(ctx: RequestContext | ReplyContext, after: (() => void | Promise<void>) | undefined): void {
    if (after === undefined) {
      this.done(ctx);
      return;
    }
    let r: void | Promise<void>;
    try {
      r = after();
    } catch (e) {
      this.handlerFailed(ctx, e);
      this.done(ctx);
      return;
    }
    if (r instanceof Promise) {
      r.then(
        () => this.done(ctx),
        (e: unknown) => {
          this.handlerFailed(ctx, e);
          this.done(ctx);
        },
      );
    } else this.done(ctx);
  }

  private done(ctx: RequestContext | ReplyContext): void {
    if (ctx.disposition === 'dropped') {
      if (ctx.kind === 'request') this.s.droppedRequests.value++;
      else this.s.droppedReplies.value++;
    }
    if (ctx.kind === 'request' && ctx.transaction !== undefined) this.hooks?.scriptDone(ctx);
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * A handler threw: a SipParseError from reading a malformed header gets 400 with its reason; anything
   * else is logged with the message's context and, for a request nothing was sent for, answered 500.
   */
  private handlerFailed(ctx: RequestContext | ReplyContext, e: unknown): void {
    if (e instanceof SipParseError) {
      this.s.parseErrors.value++;
      if (ctx.kind === 'request' && ctx.disposition === 'pending') {
        // debug: a peer sending junk must not be able to flood the log (counted in core.parse_errors)
        ctx.log.debug('bad request', { reason: e.reason, header: e.header });
        this.reply(ctx, 400, e.reason);
      } else {
        ctx.log.debug('dropping malformed message', { reason: e.reason, header: e.header });
        ctx.disposition = 'dropped';
      }
      return;
    }
    this.s.scriptErrors.value++;
    ctx.log.error('route handler failed', { error: e instanceof Error ? e : String(e) });
    if (ctx.kind === 'request' && ctx.disposition === 'pending') this.reply(ctx, 500);
  }

  private dropRequest(reason: string, source: Source): void {
    this.s.droppedRequests.value++;
    this.drop(reason, source);
  }

  private dropReply(reason: string, source: Source): void {
    this.s.droppedReplies.value++;
    this.drop(reason, source);
  }

  private drop(reason: string, source: Source): void {
    this.s.dropped.value++;
    if (this.log.enabled('debug')) {
      this.log.debug('dropped message', {
        reason,
        src: `${source.protocol}:${source.address}:${source.port}`,
      });
    }
  }

  // ------------------------------------------------------------------ replies

  /** Stateless reply to a request (Kamailio's `sl_send_reply`). */
  reply(ctx: RequestContext, status: number, reason?: string, headers?: HeaderList): void {
    if (ctx.transaction !== undefined) {
      ctx.transaction.reply(status, reason, headers);
      return;
    }
    const req = ctx.msg;
    if (req.method === 'ACK') {
      ctx.disposition = 'dropped'; // RFC 3261 §17.2.1: ACK is never answered
      return;
    }
    const data = createResponseBytes(req, status, {
      reason: reason ?? reasonPhrase(status),
      toTag: this.statelessTag(req),
      ...(headers === undefined ? {} : { headers }),
    });
    ctx.disposition = 'replied';
    this.s.slReplies.value++;
    this.sl.reply(status);
    if (!this.sendTo(data, replyDestination(req.topVia, ctx.source))) this.sl.failures.value++;
  }

  /**
   * A To-tag that is the same for every retransmission of a request (raw values: they may not parse);
   * `cseq` stands for the request's CSeq (an ACK's tag is checked against its INVITE's).
   */
  private statelessTag(req: SipRequest, cseq = req.getHeader('cseq') ?? ''): string {
    const key = `${req.getHeader('call-id') ?? ''}|${req.getHeader('from') ?? ''}|${req.getHeader('via') ?? ''}|${cseq}`;
    return `sl${hash64(key, this.secret)}`;
  }

  /**
   * Answers a request that failed to parse with 400 and the defect in the reason phrase, when its header
   * lines still hold a readable Via (and From, To, Call-ID, CSeq to copy); otherwise the message is dropped.
   */
  private replyToUnparsable(data: Buffer, source: Source, error: SipParseError): void {
    const text = data.toString('latin1', 0, Math.min(data.length, this.limits.maxMessageSize));
    if (text.startsWith('SIP/') || text.length === 0) {
      this.dropReply(`unparsable response: ${error.reason}`, source);
      return;
    }
    let via: Via | undefined;
    const copied: string[] = [];
    const lines = text.split(/\r?\n/, this.limits.maxHeaderCount + 1);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') break;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const key = headerKey(line.slice(0, colon).trim());
      const value = line.slice(colon + 1).trim();
      if (key === 'via') {
        if (via === undefined) {
          try {
            via = parseVia(value)[0];
          } catch {
            break;
          }
        }
        copied.push(`Via: ${value}`);
      } else if (key === 'from' || key === 'to' || key === 'call-id' || key === 'cseq') {
        copied.push(`${line.slice(0, colon).trim()}: ${value}`);
      }
    }
    if (via === undefined) {
      this.dropRequest(`unparsable request without a readable Via: ${error.reason}`, source);
      return;
    }
    const reason = error.reason.replace(/[\r\n]/g, ' ');
    const status = error.status === 505 ? 505 : 400;
    const res = `SIP/2.0 ${status} ${reason}\r\n${copied.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
    this.s.badRequestsReplied.value++;
    this.sl.reply(status);
    this.sl.sentErrors.value++;
    // debug: junk from scanners must not flood the log (counted in core.bad_msg_replied)
    if (this.log.enabled('debug')) {
      this.log.debug('bad request', {
        reason: error.reason,
        src: `${source.protocol}:${source.address}:${source.port}`,
      });
    }
    if (!this.sendTo(Buffer.from(res, 'latin1'), replyDestination(via, source))) this.sl.failures.value++;
  }

  // ------------------------------------------------------------------ forwarding

  /**
   * Forwards a request statelessly (RFC 3261 §16.6, §16.11): to `nextHop`, else the request's next hop
   * (`ctx.nextHop`), else its top Route, else its Request-URI. Adds our Via (a branch derived from the
   * incoming one, so retransmissions get the same) and the Record-Route asked for by `rr.recordRoute()`.
   */
  async forward(ctx: RequestContext, nextHop?: NextHop): Promise<void> {
    if (ctx.disposition !== 'pending') throw new Error(`request already ${ctx.disposition}`);
    // stateless from here on: no transaction is created while the next hop is resolved
    ctx.disposition = 'forwarding';
    const routing = this.routeNow(ctx, nextHop ?? ctx.nextHop);
    const route = routing instanceof Promise ? await routing : routing;
    if (route === undefined) return;
    const msg = ctx.msg;
    const first = route.candidates[0]!;
    const branch = this.statelessBranch(msg);
    this.stamp(ctx, first.listener, branch);
    const onsend = this.routes().onsend;
    if (onsend !== undefined) {
      onsend(ctx, first.destination);
      if (ctx.isDropped) return;
    }
    ctx.disposition = 'forwarded';
    this.s.forwardedRequests.value++;
    if (!this.sendTo(msg.toBuffer(), first.destination)) this.markFailed(first);
  }

  /**
   * The next hop of a request (RFC 3261 §16.6 steps 6-7): `nextHop` when given, else the top Route (a
   * strict router gets the Request-URI rewritten, step 6), else the Request-URI. Resolves it (RFC 3263)
   * into candidate destinations, each with the listener to send from, in the order to try them. On
   * failure, replies (416, 478, 503) unless something was sent already, and returns `undefined`.
   */
  async route(ctx: RequestContext, nextHop: NextHop | undefined): Promise<Route | undefined> {
    return this.routeNow(ctx, nextHop);
  }

  /**
   * {@link route} without waiting when it need not: a next hop that is an IP address (no DNS) gives its
   * Route (or `undefined`) at once; a host name gives a Promise. The hot path of proxying. `sendSocket`
   * names the listener to send from (`ctx.sendSocket` by default; `''` lets the destination choose).
   */
  routeNow(
    ctx: RequestContext,
    nextHop: NextHop | undefined,
    sendSocket: string | undefined = ctx.sendSocket,
  ): Route | undefined | Promise<Route | undefined> {
    const msg = ctx.msg;
    let uri: SipUri;
    if (nextHop !== undefined) {
      const u = typeof nextHop === 'string' ? parseUri(nextHop) : nextHop;
      if (!isSipUri(u)) throw new TypeError(`next hop is not a SIP URI: ${String(nextHop)}`);
      uri = u;
    } else {
      const routes = msg.route;
      const top = routes[0];
      if (top !== undefined && isSipUri(top.uri)) {
        uri = top.uri;
        if (!uri.params.has('lr')) {
          // RFC 3261 §16.6 step 6: the next hop is a strict router
          msg.appendHeader('Route', `<${msg.requestUri}>`);
          msg.setUri(uri);
          msg.removeHeaderValue('route', 'first');
        }
      } else {
        const r = msg.uri;
        if (!isSipUri(r)) {
          this.replyIfPending(ctx, 416);
          return undefined;
        }
        uri = r;
      }
    }
    let literal: ResolvedTarget | undefined;
    try {
      literal = this.resolver.literal(uri);
    } catch (e) {
      return this.unresolvable(ctx, uri, e);
    }
    if (literal !== undefined) return this.routeTo(ctx, uri, this.candidatesOf([literal], sendSocket));
    return this.candidates(uri, sendSocket).then(
      (candidates) => this.routeTo(ctx, uri, candidates),
      (e: unknown) => this.unresolvable(ctx, uri, e),
    );
  }

  private unresolvable(ctx: RequestContext, uri: SipUri, e: unknown): undefined {
    ctx.log.info('cannot resolve next hop', { host: uri.host, error: (e as Error).message });
    this.replyIfPending(ctx, 478, 'Unresolvable destination');
    return undefined;
  }

  private routeTo(ctx: RequestContext, uri: SipUri, candidates: Candidate[]): Route | undefined {
    if (candidates.length === 0) {
      ctx.log.warn('no listener for next hop', { uri: formatUri(uri) });
      this.replyIfPending(ctx, 503, 'No route to destination');
      return undefined;
    }
    return { uri, candidates };
  }

  /**
   * The destinations to try for a SIP URI (RFC 3263), each with the listener to send from: the one named
   * by `sendSocket` (`proto:address:port`), or (none, or `''`) the first matching the destination's
   * protocol and family.
   * Destinations no listener can reach are left out. Rejects when the name does not resolve.
   */
  async candidates(uri: SipUri, sendSocket?: string): Promise<Candidate[]> {
    return this.candidatesOf(await this.resolver.resolve(uri), sendSocket);
  }

  private candidatesOf(targets: readonly ResolvedTarget[], sendSocket: string | undefined): Candidate[] {
    const out: Candidate[] = [];
    for (const t of targets) {
      // every field written in the literal: one added afterwards would give each destination (kept by
      // its client transaction for 32 s) a separate out-of-object property store
      const dest: Destination = {
        protocol: t.protocol,
        address: t.address,
        port: t.port,
        listener: undefined,
        servername: t.protocol === 'tls' && t.domain !== t.address ? t.domain : undefined,
      };
      const listener =
        sendSocket === undefined || sendSocket === ''
          ? this.transport.selectListener(dest)
          : this.forcedListener(sendSocket, dest);
      if (listener === undefined) continue;
      dest.listener = listener;
      out.push({ target: t, destination: dest, listener });
    }
    return out;
  }

  /** A destination that failed (transport error, timeout, 503): skipped for a while (RFC 3263 §4.3). */
  markFailed(candidate: Candidate): void {
    this.resolver.markFailed(candidate.target);
  }

  /** Writes the Record-Route values asked for and our Via with `branch` (RFC 3261 §16.6 steps 4 and 8). */
  stamp(ctx: RequestContext, listener: Listener, branch: string): void {
    if (ctx.recordRouteParams !== undefined) this.insertRecordRoute(ctx, listener);
    // built from the listener's address and a generated branch: no line break to check for
    ctx.msg.prependField(
      HeaderField.trusted(
        'Via',
        'via',
        `SIP/2.0/${viaTransport(listener.protocol)} ${listener.advertisedHost}:${listener.advertisedPort};branch=${branch}`,
      ),
    );
  }

  private replyIfPending(ctx: RequestContext, status: number, reason?: string): void {
    if (ctx.disposition === 'pending' || ctx.disposition === 'forwarding') this.reply(ctx, status, reason);
  }

  /** The listener named `proto:address:port`, if it exists and can reach `dest`. */
  private forcedListener(spec: string, dest: Destination): Listener | undefined {
    const l = this.transport.listeners.find((x) => listenerName(x) === spec);
    if (
      l === undefined ||
      l.protocol !== dest.protocol ||
      l.family !== (dest.address.includes(':') ? 6 : 4)
    ) {
      return undefined;
    }
    return l;
  }

  /** RFC 3261 §16.11: the same branch for every retransmission; distinct for distinct requests. */
  private statelessBranch(msg: SipRequest): string {
    const top = msg.topVia;
    const key =
      top?.branch?.startsWith('z9hG4bK') === true
        ? `${top.branch}|${top.host}|${top.port ?? ''}|${msg.requestUri}`
        : `${msg.callId ?? ''}|${msg.from?.params.get('tag') ?? ''}|${msg.cseq?.seq ?? ''}|${msg.requestUri}`;
    return `z9hG4bKsl${hash64(key, this.secret)}`;
  }

  /** Writes the Record-Route values (two when the request changes listener, RFC 5658). */
  private insertRecordRoute(ctx: RequestContext, out: Listener): void {
    const params = ctx.recordRouteParams ? `;${ctx.recordRouteParams}` : '';
    const inbound = ctx.source.listener;
    if (inbound.id === out.id) {
      ctx.msg.prependHeader('Record-Route', recordRouteUri(out, params));
      return;
    }
    ctx.msg.prependHeader('Record-Route', recordRouteUri(inbound, `;r2=on${params}`));
    ctx.msg.prependHeader('Record-Route', recordRouteUri(out, `;r2=on${params}`));
  }

  /** Removes our Via and sends a response to the next one (RFC 3261 §16.7 step 3, §18.2.2). */
  async forwardResponse(ctx: ReplyContext): Promise<void> {
    const msg = ctx.msg;
    msg.popVia();
    const next = msg.topVia;
    if (next === undefined) {
      this.dropReply('response for this server (no transaction layer yet)', ctx.source);
      return;
    }
    const target = responseTarget(next);
    if (target === undefined) {
      this.dropReply(`response to unsupported transport ${next.transport}`, ctx.source);
      return;
    }
    let dest: Destination;
    try {
      dest = await resolveTarget(target);
    } catch {
      this.dropReply(`cannot resolve ${target.host}`, ctx.source);
      return;
    }
    ctx.disposition = 'forwarded';
    this.s.forwardedReplies.value++;
    this.sendTo(msg.toBuffer(), dest);
  }

  /** Sends through the transport (for the transaction layer, which handles and counts failures). */
  send(
    data: Buffer,
    dest: Destination,
    onFailure?: (error: TransportError) => void,
  ): TransportError | undefined {
    if (this.filters.length !== 0) {
      const filtered = this.filterSending(data, dest);
      if (filtered === undefined) return undefined;
      data = filtered;
    }
    return this.transport.send(data, dest, onFailure);
  }

  /** Sends; failures (now or later, e.g. a refused connection) are counted and logged. */
  private sendTo(data: Buffer, dest: Destination): boolean {
    if (this.filters.length !== 0) {
      const filtered = this.filterSending(data, dest);
      if (filtered === undefined) return true;
      data = filtered;
    }
    const error = this.transport.send(data, dest, this.onSendFailure);
    if (error === undefined) return true;
    this.onSendFailure(error);
    return false;
  }

  /** Registers a {@link MessageFilter}; it sees every message received and sent from now on. */
  addMessageFilter(filter: MessageFilter): void {
    this.filters.push(filter);
  }

  /** How many message filters are registered (0 unless a module such as topoh is enabled). */
  get messageFilterCount(): number {
    return this.filters.length;
  }

  private filterReceived(msg: SipRequest | SipResponse, source: Source): boolean {
    for (const f of this.filters) {
      if (f.received(msg, source)) continue;
      if (msg.kind === 'request') this.s.droppedRequests.value++;
      else this.s.droppedReplies.value++;
      this.s.dropped.value++;
      return false;
    }
    return true;
  }

  private filterSending(data: Buffer, dest: Destination): Buffer | undefined {
    let out: Buffer | undefined = data;
    for (const f of this.filters) {
      out = f.sending(out, dest);
      if (out === undefined) {
        this.s.dropped.value++;
        return undefined;
      }
    }
    return out;
  }

  private readonly onSendFailure = (error: TransportError): void => {
    this.s.sendErrors.value++;
    this.log.info('send failed', {
      dst: `${error.protocol}:${error.address}:${error.port}`,
      error: error.message,
    });
  };
}

/** A listener as `proto:address:port` (IPv6 in brackets). */
export function listenerName(l: Listener): string {
  return `${l.protocol}:${l.family === 6 ? `[${l.address}]` : l.address}:${l.port}`;
}

/** A Record-Route value naming a listener (`<sip:host:port;transport=tcp;lr>`). */
export function recordRouteUri(l: Listener, params: string): string {
  const transport = l.protocol === 'udp' ? '' : `;transport=${l.protocol}`;
  return `<sip:${l.advertisedHost}:${l.advertisedPort}${transport};lr${params}>`;
}
