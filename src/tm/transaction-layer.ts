/**
 * The transaction layer: the tables of server and client transactions, matching (RFC 3261 §17.1.3,
 * §17.2.3 with the RFC 2543 fallback), CANCEL handling (§9.2, §16.10), and the hooks the receive
 * pipeline calls before the script.
 */
import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import { replyDestination, udpReplyPort } from '../core/next-hop.js';
import type { Pipeline, TransactionHooks } from '../core/pipeline.js';
import type { Stat, StatsRegistry } from '../core/stats.js';
import { createResponseBytes, generateTag } from '../sip/build.js';
import type { Via } from '../sip/headers/via.js';
import { flattened, ownString } from '../sip/keep.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Destination, Source, TransportError } from '../transport/types.js';
import {
  type ClientLinger,
  ClientTransaction,
  type ClientTransactionHost,
  type ClientTransactionUser,
  type LateResponseSink,
  type RequestTemplate,
} from './client-transaction.js';
import { ProxyTransaction } from './proxy-transaction.js';
import { type ServerLinger, ServerTransaction, type ServerTransactionHost } from './server-transaction.js';
import { DEFAULT_TIMERS, type TimerSettings } from './timer-values.js';
import { TimerService } from './timers.js';

/** An entry of the server tables: a transaction, or what lingers of a finished one. */
type ServerEntry = ServerTransaction | ServerLinger;
/** An entry of the client tables. */
type ClientEntry = ClientTransaction | ClientLinger;

/** Settings of the transaction layer. */
export interface TransactionConfig extends TimerSettings {
  /** Final-response timer for non-INVITE branches and INVITE branches before a provisional, ms. */
  frTimeout: number;
  /** Final-response timer for INVITE branches after a provisional, ms. */
  frInviteTimeout: number;
}

/** The defaults: RFC 3261 timers, Kamailio's fr_timer 30 s and fr_inv_timer 120 s. */
export const DEFAULT_TRANSACTION_CONFIG: Readonly<TransactionConfig> = Object.freeze({
  ...DEFAULT_TIMERS,
  frTimeout: 30_000,
  frInviteTimeout: 120_000,
});

/** What the layer needs from the server. */
export interface TransactionLayerOptions {
  core: Pipeline;
  send(data: Buffer, dest: Destination, onFailure?: (e: TransportError) => void): TransportError | undefined;
  stats: StatsRegistry;
  log: Logger;
  config?: Partial<TransactionConfig>;
}

/** True when a Via's branch is RFC 3261's (the magic cookie and something after it). */
function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.length > 7 && branch.startsWith('z9hG4bK');
}

/**
 * Matching key of a server transaction (RFC 3261 §17.2.3); ACK and CANCEL look up the INVITE's. The
 * layer's own tables key RFC 3261 transactions by branch alone and compare sent-by and method on the
 * entry found; this string is the key of the RFC 2543 fallback table.
 */
export function serverKey(msg: SipRequest, via: Via, method: string): string {
  const branch = via.branch;
  if (isRfc3261Branch(branch)) {
    return `${branch}\u0000${via.host}:${via.port ?? ''}\u0000${method}`;
  }
  // RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number and the top Via
  const from = msg.getHeader('from') ?? '';
  const tag = from.indexOf('tag=');
  return `2543\u0000${msg.requestUri}\u0000${tag === -1 ? '' : from.slice(tag)}\u0000${msg.getHeader('call-id') ?? ''}\u0000${msg.cseq?.seq ?? ''}\u0000${via.host}:${via.port ?? ''}\u0000${method}`;
}

/** Reply destinations shared at most ({@link TransactionLayer.replyTo}). */
const MAX_SHARED_DESTINATIONS = 4096;

/** Buckets of the server transactions' branch table, at least (a power of two). */
const MIN_BUCKETS = 1024;

/** A random offset basis per process, so branches that pile up in one bucket cannot be chosen offline. */
const HASH_SEED = randomBytes(4).readUInt32LE(0);

/** FNV-1a (seeded) of a branch after its magic cookie: the server transactions' table key. */
export function branchHash(branch: string): number {
  let h = HASH_SEED;
  for (let i = 7; i < branch.length; i++) h = Math.imul(h ^ branch.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff; // a small integer on every platform
}

/**
 * The slot number a branch of ours starts with (`z9hG4bK` + base 36 digits + `.`), or -1. Any branch may
 * look like one: the transaction found at the slot is only the one if its whole branch is equal.
 */
export function slotOf(branch: string): number {
  const len = branch.length;
  let n = 0;
  let i = 7;
  // at most 8 digits: 36^8 is below 2^53
  for (; i < len && i < 15; i++) {
    const c = branch.charCodeAt(i);
    if (c >= 48 && c <= 57) n = n * 36 + c - 48;
    else if (c >= 97 && c <= 122) n = n * 36 + c - 87;
    else break;
  }
  if (i === 7 || i >= len || branch.charCodeAt(i) !== 46) return -1;
  return n;
}

/** The transaction layer of one server. */
export class TransactionLayer implements ServerTransactionHost, ClientTransactionHost, TransactionHooks {
  readonly timers = new TimerService();
  readonly settings: TimerSettings;
  readonly config: TransactionConfig;
  readonly core: Pipeline;
  readonly log: Logger;
  /**
   * Server transactions with an RFC 3261 branch, in a hash table of their own keyed by the branch alone
   * (no key string to build per request, and a request that matches nothing — most do — usually costs
   * one look at an empty bucket instead of a probe of a `Map` of 100k+ strings): chained through
   * `ServerTransaction.nextSame`, the entry's branch hash, branch, method and sent-by compared on the
   * match (§17.2.3), so transactions sharing a branch (two UAs that chose the same one) coexist.
   */
  private buckets: Array<ServerEntry | undefined> = new Array<ServerEntry | undefined>(MIN_BUCKETS).fill(
    undefined,
  );
  private bucketMask = MIN_BUCKETS - 1;
  private branchCount = 0;
  /** Server transactions matched by the RFC 2543 fallback, by {@link serverKey}. */
  private readonly servers2543 = new Map<string, ServerEntry>();
  /** Entries of both tables. */
  private serverCount = 0;
  /**
   * Client transactions by branch (RFC 3261 §17.1.3: branch and CSeq method). The branches olelo builds
   * start with a slot number ({@link clientBranchPrefix}, Kamailio's hash index and label): the
   * transaction sits at that index of `clientSlots`, and a response's whole branch is compared with the
   * one found there, so a freed or reused slot, or a forged number, matches nothing. The CANCELs we send
   * share their INVITE's branch, so they sit in `cancelSlots` at the INVITE's slot; a slot goes back to
   * the free list once both are gone. Branches without a slot (tm.newRequest's random ones) are in the
   * `Map`s. Any method other than CANCEL is checked on the match.
   */
  private readonly clientSlots: Array<ClientEntry | undefined> = [];
  private readonly cancelSlots: Array<ClientEntry | undefined> = [];
  /** Free slots (LIFO). */
  private readonly freeSlots: number[] = [];
  private clientCount = 0;
  private readonly clients = new Map<string, ClientEntry>();
  private readonly cancels = new Map<string, ClientEntry>();
  /** The To-tag of our 200 to CANCELs of an INVITE: the same for every retransmission of the CANCEL. */
  private readonly cancelTags = new WeakMap<ServerEntry, string>();
  /** Shared UDP reply destinations ({@link replyTo}), by address and port; started over when full. */
  private readonly destinations = new Map<string, Map<number, Destination>>();
  private destinationCount = 0;
  private readonly sender: TransactionLayerOptions['send'];
  private readonly prefix = randomBytes(3).toString('hex');
  private counter = 0;
  private readonly s: Record<
    | 'current'
    | 'total'
    | 'retransmissions'
    | 'localReplies'
    | 'r1xx'
    | 'r2xx'
    | 'r3xx'
    | 'r4xx'
    | 'r5xx'
    | 'r6xx'
    | 'absorbed'
    | 'canceled'
    | 'rplReceived'
    | 'rplGenerated'
    | 'rplSent'
    | 'timeouts'
    | 'totalLocal'
    | 'freed',
    Stat
  >;

  constructor(options: TransactionLayerOptions) {
    this.core = options.core;
    this.sender = options.send;
    this.log = options.log;
    this.config = { ...DEFAULT_TRANSACTION_CONFIG, ...options.config };
    this.settings = this.config;
    const stats = options.stats;
    const c = (name: string, doc: string) => stats.counter('tm', name, doc);
    const byClass = (cls: string, doc: string) =>
      stats.counter('tm', `${cls}_replies`, doc, {
        metric: {
          family: 'tm_replies_by_class',
          labels: { class: cls },
          help: 'replies sent by transactions, by class',
        },
      });
    this.s = {
      current: options.stats.gauge('tm', 'current', 'transactions in progress'),
      total: c('total', 'transactions created'),
      retransmissions: c('rpl_retransmissions', 'retransmissions sent or absorbed'),
      localReplies: c('local_replies', 'replies generated by olelo'),
      r1xx: byClass('1xx', 'provisional replies'),
      r2xx: byClass('2xx', 'final replies 2xx'),
      r3xx: byClass('3xx', 'final replies 3xx'),
      r4xx: byClass('4xx', 'final replies 4xx'),
      r5xx: byClass('5xx', 'final replies 5xx'),
      r6xx: byClass('6xx', 'final replies 6xx'),
      absorbed: c('absorbed_requests', 'request retransmissions and ACKs absorbed'),
      canceled: c('canceled', 'transactions canceled by the caller'),
      rplReceived: c('rpl_received', 'responses received that matched a client transaction'),
      rplGenerated: c(
        'rpl_generated',
        'replies built by olelo for a transaction: t_reply, 200 to CANCEL, local 408/487/500',
      ),
      rplSent: c(
        'rpl_sent',
        'replies sent upstream by transactions, relayed or generated (retransmissions not counted)',
      ),
      timeouts: c('timeouts', 'branches ended by a timeout (fr_timer, fr_inv_timer, Timer B/F): a local 408'),
      totalLocal: c('total_local', 'client transactions olelo originated (tm.newRequest: probes, ...)'),
      freed: c('freed', 'server transactions ended and removed from the table'),
    };
    const current = this.s.current;
    stats.gauge('tm', 'waiting', 'ended server transactions waiting out their timers (G/H/I/J/L)', () =>
      Math.max(0, this.serverCount - current.value),
    );
    const total = this.s.total;
    stats.counter('tm', 'created', 'transactions created (tm.total)', () => total.value);
    stats.gauge(
      'tm',
      'delayed_free',
      'always 0: a transaction is freed when it ends (kept for Kamailio’s tm.stats)',
      () => 0,
    );
  }

  // ---------------------------------------------------------------- hosts

  send(data: Buffer, dest: Destination, onFailure?: (e: TransportError) => void): TransportError | undefined {
    return this.sender(data, dest, onFailure);
  }

  countRetransmission(): void {
    this.s.retransmissions.value++;
  }

  countLocalReply(): void {
    this.s.localReplies.value++;
    this.s.rplGenerated.value++;
  }

  /** A final response built here for a transaction whose branches gave none (408, 487, 500). */
  countGeneratedReply(): void {
    this.s.rplGenerated.value++;
  }

  /** A server transaction sent a response (not a retransmission). */
  countReplySent(): void {
    this.s.rplSent.value++;
  }

  /** A branch ended by a timeout: fr_timer, fr_inv_timer or the client transaction's Timer B/F. */
  countTimeout(): void {
    this.s.timeouts.value++;
  }

  /** olelo originated a request (tm.newRequest). */
  countLocalTransaction(): void {
    this.s.totalLocal.value++;
  }

  countReply(status: number): void {
    const s = this.s;
    if (status < 200) s.r1xx.value++;
    else if (status < 300) s.r2xx.value++;
    else if (status < 400) s.r3xx.value++;
    else if (status < 500) s.r4xx.value++;
    else if (status < 600) s.r5xx.value++;
    else s.r6xx.value++;
  }

  serverTerminated(st: ServerTransaction): void {
    if (st.inTable) {
      this.removeServer(st);
      this.s.freed.value++;
    }
    const tx = st.proxy;
    if (tx !== undefined) {
      st.proxy = undefined;
      if (!tx.ended) {
        tx.ended = true;
        this.transactionEnded(tx);
      }
    }
  }

  clientTerminated(ct: ClientEntry): void {
    const slot = ct.slot;
    if (slot >= 0) {
      const table = ct.method === 'CANCEL' ? this.cancelSlots : this.clientSlots;
      if (table[slot] !== ct) return;
      table[slot] = undefined;
      this.clientCount--;
      if (this.clientSlots[slot] === undefined && this.cancelSlots[slot] === undefined)
        this.freeSlots.push(slot);
      return;
    }
    const table = ct.method === 'CANCEL' ? this.cancels : this.clients;
    if (table.get(ct.branch) === ct) table.delete(ct.branch);
  }

  lingerEnded(linger: ServerLinger): void {
    if (linger.inTable) {
      this.removeServer(linger);
      this.s.freed.value++;
    }
  }

  /**
   * A finished server transaction that only waits out Timer J or L gives its place in the table to a
   * {@link ServerLinger}; returns it, or undefined when `st` is not in such a state.
   */
  lingerServer(st: ServerTransaction): ServerLinger | undefined {
    const linger = st.toLinger();
    if (linger === undefined) return undefined;
    this.removeServer(st);
    this.insertServer(linger);
    // a CANCEL retransmitted from now on gets the same To-tag in its 200
    const tag = this.cancelTags.get(st);
    if (tag !== undefined) this.cancelTags.set(linger, tag);
    return linger;
  }

  /**
   * A finished client transaction that only waits out Timer M or K gives its place in its table to a
   * {@link ClientLinger} (further 2xx of an INVITE go to `upstream`). False when `ct` is in no such state.
   */
  lingerClient(ct: ClientTransaction, upstream: LateResponseSink | undefined): boolean {
    const slot = ct.slot;
    const linger = ct.toLinger(upstream);
    if (linger === undefined) return false;
    const cancel = ct.method === 'CANCEL';
    if (slot >= 0) {
      const table = cancel ? this.cancelSlots : this.clientSlots;
      if (table[slot] === ct) table[slot] = linger;
      else linger.slot = -1;
    } else {
      const map = cancel ? this.cancels : this.clients;
      if (map.get(ct.branch) === ct) map.set(ct.branch, linger);
    }
    return true;
  }

  /**
   * The start of the branch of the next client transaction created (`z9hG4bK<slot>.`): the caller
   * appends something unique and passes the branch to {@link createClient} before creating any other.
   */
  clientBranchPrefix(): string {
    const free = this.freeSlots;
    const slot = free.length > 0 ? free[free.length - 1]! : this.clientSlots.length;
    return `z9hG4bK${slot.toString(36)}.`;
  }

  /** A proxy transaction has nothing left to do; its server transaction stays for retransmissions. */
  forget(tx: ProxyTransaction): void {
    if (tx.st.proxy === tx) tx.st.proxy = undefined;
  }

  /** A proxy transaction sent its final response (it stays for retransmissions until its ST ends). */
  transactionEnded(_tx: ProxyTransaction): void {
    this.s.current.value--;
  }

  /** Creates and registers a client transaction. */
  createClient(
    user: ClientTransactionUser,
    branch: string,
    method: string,
    data: Buffer,
    template: RequestTemplate,
    dest: Destination,
  ): ClientTransaction {
    const ct = new ClientTransaction(this, user, branch, method, data, template, dest);
    const slot = slotOf(branch);
    if (slot >= 0) {
      if (method === 'CANCEL') {
        // at its INVITE's slot, while the INVITE transaction holds it
        if (slot < this.clientSlots.length && this.clientSlots[slot]?.branch === branch) {
          ct.slot = slot;
          const old = this.cancelSlots[slot];
          if (old !== undefined)
            old.slot = -1; // replaced, as in a Map: its end frees nothing
          else this.clientCount++;
          this.cancelSlots[slot] = ct;
          return ct;
        }
      } else {
        const free = this.freeSlots;
        if (free.length > 0 && free[free.length - 1] === slot) {
          free.pop();
          this.clientSlots[slot] = ct;
          ct.slot = slot;
          this.clientCount++;
          return ct;
        }
        if (slot === this.clientSlots.length) {
          this.clientSlots.push(ct);
          this.cancelSlots.push(undefined);
          ct.slot = slot;
          this.clientCount++;
          return ct;
        }
      }
    }
    (method === 'CANCEL' ? this.cancels : this.clients).set(branch, ct);
    return ct;
  }

  // ---------------------------------------------------------------- pipeline hooks

  /** Retransmissions, ACKs for non-2xx and CANCELs of known transactions never reach the script. */
  request(msg: SipRequest, via: Via, source: Source): boolean {
    // nothing to match (a stateless deployment): no key to build
    if (this.serverCount === 0) return false;
    const method = msg.method;
    if (method === 'ACK') {
      const st = this.findServer(msg, via, 'INVITE');
      if (st === undefined) return false; // an ACK for a 2xx: end to end, through the script
      // RFC 3261 §17.2.1: the ACK for a non-2xx final response is absorbed; for a 2xx it passes
      if (st.lastStatus >= 300 && st.receiveAck()) {
        this.s.absorbed.value++;
        return true;
      }
      return false;
    }
    const st = this.findServer(msg, via, method);
    if (st !== undefined) {
      st.receiveRetransmission();
      this.s.absorbed.value++;
      return true;
    }
    if (method === 'CANCEL') return this.cancel(msg, via, source);
    return false;
  }

  /** The server transaction a request with this top Via and `method` matches (RFC 3261 §17.2.3). */
  private findServer(msg: SipRequest, via: Via, method: string): ServerEntry | undefined {
    const branch = via.branch;
    if (!isRfc3261Branch(branch)) {
      return this.servers2543.size === 0 ? undefined : this.servers2543.get(serverKey(msg, via, method));
    }
    if (this.branchCount === 0) return undefined;
    const hash = branchHash(branch);
    let st = this.buckets[hash & this.bucketMask];
    if (st === undefined) return undefined;
    const host = via.host;
    const port = via.port;
    while (
      st !== undefined &&
      (st.branchHash !== hash ||
        st.method !== method ||
        st.branch !== branch ||
        st.sentHost !== host ||
        st.sentPort !== port)
    ) {
      st = st.nextSame;
    }
    return st;
  }

  /** Enters `st` in its table; one already there for the same request is replaced (and stays out). */
  private insertServer(st: ServerEntry): void {
    const branch = st.branch;
    if (branch === undefined) {
      const old = this.servers2543.get(st.key);
      if (old !== undefined) old.inTable = false;
      else this.serverCount++;
      this.servers2543.set(st.key, st);
      st.inTable = true;
      return;
    }
    const hash = st.branchHash;
    let same = this.buckets[hash & this.bucketMask];
    while (
      same !== undefined &&
      (same.branchHash !== hash ||
        same.method !== st.method ||
        same.branch !== branch ||
        same.sentHost !== st.sentHost ||
        same.sentPort !== st.sentPort)
    ) {
      same = same.nextSame;
    }
    if (same !== undefined) this.removeServer(same);
    if (this.branchCount >= this.buckets.length >> 1) this.resize(this.buckets.length << 1);
    const index = hash & this.bucketMask;
    st.nextSame = this.buckets[index];
    this.buckets[index] = st;
    st.inTable = true;
    this.branchCount++;
    this.serverCount++;
  }

  private removeServer(st: ServerEntry): void {
    st.inTable = false;
    this.serverCount--;
    if (st.branch === undefined) {
      this.servers2543.delete(st.key);
      return;
    }
    this.branchCount--;
    const index = st.branchHash & this.bucketMask;
    const head = this.buckets[index]!;
    if (head === st) this.buckets[index] = st.nextSame;
    else {
      let prev = head;
      while (prev.nextSame !== st) prev = prev.nextSame!;
      prev.nextSame = st.nextSame;
    }
    st.nextSame = undefined;
    // give memory back after a burst: halved when an eighth full
    const size = this.buckets.length;
    if (size > MIN_BUCKETS && this.branchCount < size >> 3) this.resize(size >> 1);
  }

  /** Rehashes the branch table into `size` buckets (a power of two). */
  private resize(size: number): void {
    const old = this.buckets;
    const buckets = new Array<ServerEntry | undefined>(size).fill(undefined);
    const mask = size - 1;
    for (let i = 0; i < old.length; i++) {
      let st = old[i];
      while (st !== undefined) {
        const next = st.nextSame;
        const index = st.branchHash & mask;
        st.nextSame = buckets[index];
        buckets[index] = st;
        st = next;
      }
    }
    this.buckets = buckets;
    this.bucketMask = mask;
  }

  /** RFC 3261 §9.2, §16.10: a CANCEL for a transaction we proxy: 200 to it, CANCEL downstream. */
  private cancel(msg: SipRequest, via: Via, source: Source): boolean {
    const invite = this.findServer(msg, via, 'INVITE');
    if (invite === undefined) return false; // unknown: the script decides (forward statelessly or 481)
    const tx = invite instanceof ServerTransaction ? invite.proxy : undefined;
    let toTag = this.cancelTags.get(invite);
    if (toTag === undefined) {
      toTag = generateTag();
      this.cancelTags.set(invite, toTag);
    }
    const ok = createResponseBytes(msg, 200, { toTag });
    const dest = replyDestination(via, source);
    const error = this.send(ok, dest, () => {});
    if (error !== undefined) this.log.info('cannot answer CANCEL', { error: error.message });
    this.countLocalReply();
    this.countReplySent();
    // a retransmitted CANCEL gets the same 200, and cancels (and counts) nothing more
    if (tx !== undefined && !tx.answered && !tx.canceled) {
      this.s.canceled.value++;
      tx.cancelFromUpstream();
    }
    return true;
  }

  /** Responses that match a client transaction go to it (RFC 3261 §17.1.3). */
  response(msg: SipResponse, via: Via, source: Source): boolean {
    const branch = via.branch;
    const method = msg.cseq?.method;
    if (branch === undefined || method === undefined) return false;
    const cancel = method === 'CANCEL';
    const slot = slotOf(branch);
    let ct: ClientEntry | undefined;
    if (slot >= 0 && slot < this.clientSlots.length) {
      ct = (cancel ? this.cancelSlots : this.clientSlots)[slot];
      if (ct !== undefined && ct.branch !== branch) ct = undefined;
    }
    if (ct === undefined) {
      const map = cancel ? this.cancels : this.clients;
      if (map.size === 0) return false;
      ct = map.get(branch);
    }
    if (ct === undefined || ct.method !== method) return false;
    this.s.rplReceived.value++;
    ct.receiveResponse(msg, source);
    return true;
  }

  /** The request route went async: a server transaction now absorbs retransmissions meanwhile. */
  scriptSuspended(ctx: RequestContext): void {
    if (ctx.method === 'ACK' || ctx.transaction !== undefined || ctx.disposition !== 'pending') return;
    this.proxyFor(ctx);
  }

  /** The request route finished: a transaction that sent nothing and relayed nothing is dropped again. */
  scriptDone(ctx: RequestContext): void {
    const tx = ctx.transaction as ProxyTransaction | undefined;
    if (tx !== undefined && !tx.relayed && tx.st.lastStatus === 0) tx.st.terminate();
  }

  // ---------------------------------------------------------------- script API support

  /** The proxy transaction of a request, created on first use (Kamailio's `t_newtran`). */
  proxyFor(ctx: RequestContext): ProxyTransaction {
    const existing = ctx.transaction as ProxyTransaction | undefined;
    if (existing !== undefined) return existing;
    const msg = ctx.msg;
    const via = msg.topVia!;
    const branch = via.branch;
    const rfc3261 = isRfc3261Branch(branch);
    const st = new ServerTransaction(
      this,
      // kept while the transaction waits out its timers: none of them (the Via branch) pins the message
      rfc3261 ? '' : flattened(serverKey(msg, via, msg.method)),
      msg,
      ctx.source,
      this.replyTo(via, ctx.source),
    );
    if (rfc3261) {
      st.branch = ownString(branch);
      st.branchHash = branchHash(branch);
      st.sentHost = ownString(via.host);
      st.sentPort = via.port;
    }
    // unique within this process (counter) and across restarts (random prefix); alphanumeric only
    const id = `${this.prefix}${(this.counter++).toString(36)}`;
    const tx = new ProxyTransaction(this, st, ctx, id);
    this.insertServer(st);
    st.proxy = tx;
    ctx.transaction = tx;
    this.s.total.value++;
    this.s.current.value++;
    return tx;
  }

  /**
   * Where a server transaction's responses go: for UDP peers one shared object per (address, port,
   * listener), since a finished transaction keeps it for 32 s and the same peers send most requests;
   * nothing is built when the peer's is there already.
   */
  private replyTo(via: Via, source: Source): Destination {
    const listener = source.listener;
    if (source.protocol !== 'udp' || via.maddr !== undefined || listener === undefined)
      return replyDestination(via, source);
    const address = source.address;
    const port = udpReplyPort(via, source);
    let byPort = this.destinations.get(address);
    const shared = byPort?.get(port);
    if (shared !== undefined && shared.listener === listener) return shared;
    if (shared === undefined) {
      // many peers (or one NAT with many ports): start over rather than grow without bound
      if (this.destinationCount >= MAX_SHARED_DESTINATIONS) {
        this.destinations.clear();
        this.destinationCount = 0;
        byPort = undefined;
      }
      this.destinationCount++;
    }
    if (byPort === undefined) {
      byPort = new Map();
      this.destinations.set(address, byPort);
    }
    const d: Destination = { protocol: 'udp', address, port, listener };
    byPort.set(port, d);
    return d;
  }

  /** Transactions in progress (`tm.current`): what `limits.maxTransactions` bounds. */
  get inProgress(): number {
    return this.s.current.value;
  }

  /** Numbers for RPC and tests. */
  get size(): { servers: number; clients: number; timers: number } {
    return {
      servers: this.serverCount,
      clients: this.clientCount + this.clients.size + this.cancels.size,
      timers: this.timers.size,
    };
  }

  /** Stops every timer (shutdown). */
  stop(): void {
    this.timers.stop();
  }
}
