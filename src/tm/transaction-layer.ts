/**
 * The transaction layer: the tables of server and client transactions, matching (RFC 3261 §17.1.3,
 * §17.2.3 with the RFC 2543 fallback), CANCEL handling (§9.2, §16.10), and the hooks the receive
 * pipeline calls before the script.
 */
import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import { replyDestination } from '../core/next-hop.js';
import type { Pipeline, TransactionHooks } from '../core/pipeline.js';
import type { Stat, StatsRegistry } from '../core/stats.js';
import { createResponseBytes, generateTag } from '../sip/build.js';
import type { Via } from '../sip/headers/via.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Destination, Source, TransportError } from '../transport/types.js';
import {
  ClientTransaction,
  type ClientTransactionHost,
  type ClientTransactionUser,
  type RequestTemplate,
} from './client-transaction.js';
import { ProxyTransaction } from './proxy-transaction.js';
import { ServerTransaction, type ServerTransactionHost } from './server-transaction.js';
import { DEFAULT_TIMERS, type TimerSettings } from './timer-values.js';
import { TimerService } from './timers.js';

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

/** Matching key of a server transaction (RFC 3261 §17.2.3); ACK and CANCEL look up the INVITE's. */
export function serverKey(msg: SipRequest, via: Via, method: string): string {
  const branch = via.branch;
  if (branch !== undefined && branch.length > 7 && branch.startsWith('z9hG4bK')) {
    return `${branch}\u0000${via.host}:${via.port ?? ''}\u0000${method}`;
  }
  // RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number and the top Via
  const from = msg.getHeader('from') ?? '';
  const tag = from.indexOf('tag=');
  return `2543\u0000${msg.requestUri}\u0000${tag === -1 ? '' : from.slice(tag)}\u0000${msg.getHeader('call-id') ?? ''}\u0000${msg.cseq?.seq ?? ''}\u0000${via.host}:${via.port ?? ''}\u0000${method}`;
}

/**
 * Makes a string built by concatenation flat, for keeping: V8 then lets go of its parts. A part cut out
 * of a received message (the Via branch) is a slice that keeps the whole message text alive, which a
 * transaction waiting out its timers (32 s) must not do.
 */
function detached(key: string): string {
  key.charCodeAt(0); // flattens a concatenated string in place
  return key;
}

/** The transaction layer of one server. */
export class TransactionLayer implements ServerTransactionHost, ClientTransactionHost, TransactionHooks {
  readonly timers = new TimerService();
  readonly settings: TimerSettings;
  readonly config: TransactionConfig;
  readonly core: Pipeline;
  readonly log: Logger;
  private readonly servers = new Map<string, ServerTransaction>();
  /**
   * Client transactions by branch (RFC 3261 §17.1.3: branch and CSeq method): the CANCELs we send share
   * their INVITE's branch, so they have a table of their own; any other method is checked on the match.
   * Our branches are unique, so no other key is needed, and a response's branch is looked up as it is.
   */
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly cancels = new Map<string, ClientTransaction>();
  /** The To-tag of our 200 to CANCELs of an INVITE: the same for every retransmission of the CANCEL. */
  private readonly cancelTags = new WeakMap<ServerTransaction, string>();
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
    | 'canceled',
    Stat
  >;

  constructor(options: TransactionLayerOptions) {
    this.core = options.core;
    this.sender = options.send;
    this.log = options.log;
    this.config = { ...DEFAULT_TRANSACTION_CONFIG, ...options.config };
    this.settings = this.config;
    const c = (name: string, doc: string) => options.stats.counter('tm', name, doc);
    this.s = {
      current: options.stats.gauge('tm', 'current', 'transactions in progress'),
      total: c('total', 'transactions created'),
      retransmissions: c('rpl_retransmissions', 'retransmissions sent or absorbed'),
      localReplies: c('local_replies', 'replies generated by olelo'),
      r1xx: c('1xx_replies', 'provisional replies'),
      r2xx: c('2xx_replies', 'final replies 2xx'),
      r3xx: c('3xx_replies', 'final replies 3xx'),
      r4xx: c('4xx_replies', 'final replies 4xx'),
      r5xx: c('5xx_replies', 'final replies 5xx'),
      r6xx: c('6xx_replies', 'final replies 6xx'),
      absorbed: c('absorbed_requests', 'request retransmissions and ACKs absorbed'),
      canceled: c('canceled', 'transactions canceled by the caller'),
    };
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
    if (this.servers.get(st.key) === st) this.servers.delete(st.key);
    const tx = st.proxy as ProxyTransaction | undefined;
    if (tx !== undefined) {
      st.proxy = undefined;
      if (!tx.ended) {
        tx.ended = true;
        this.transactionEnded(tx);
      }
    }
  }

  clientTerminated(ct: ClientTransaction): void {
    const table = ct.method === 'CANCEL' ? this.cancels : this.clients;
    if (table.get(ct.branch) === ct) table.delete(ct.branch);
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
    (method === 'CANCEL' ? this.cancels : this.clients).set(ct.branch, ct);
    return ct;
  }

  // ---------------------------------------------------------------- pipeline hooks

  /** Retransmissions, ACKs for non-2xx and CANCELs of known transactions never reach the script. */
  request(msg: SipRequest, via: Via, source: Source): boolean {
    // nothing to match (a stateless deployment): no key to build
    if (this.servers.size === 0) return false;
    const method = msg.method;
    if (method === 'ACK') {
      const st = this.servers.get(serverKey(msg, via, 'INVITE'));
      if (st === undefined) return false; // an ACK for a 2xx: end to end, through the script
      // RFC 3261 §17.2.1: the ACK for a non-2xx final response is absorbed; for a 2xx it passes
      if (st.lastStatus >= 300 && st.receiveAck()) {
        this.s.absorbed.value++;
        return true;
      }
      return false;
    }
    const st = this.servers.get(serverKey(msg, via, method));
    if (st !== undefined) {
      st.receiveRetransmission();
      this.s.absorbed.value++;
      return true;
    }
    if (method === 'CANCEL') return this.cancel(msg, via, source);
    return false;
  }

  /** RFC 3261 §9.2, §16.10: a CANCEL for a transaction we proxy: 200 to it, CANCEL downstream. */
  private cancel(msg: SipRequest, via: Via, source: Source): boolean {
    const invite = this.servers.get(serverKey(msg, via, 'INVITE'));
    if (invite === undefined) return false; // unknown: the script decides (forward statelessly or 481)
    const tx = invite.proxy as ProxyTransaction | undefined;
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
    const ct = (method === 'CANCEL' ? this.cancels : this.clients).get(branch);
    if (ct === undefined || ct.method !== method) return false;
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
    const st = new ServerTransaction(
      this,
      detached(serverKey(msg, via, msg.method)),
      msg,
      ctx.source,
      replyDestination(via, ctx.source),
    );
    // unique within this process (counter) and across restarts (random prefix); alphanumeric only
    const id = `${this.prefix}${(this.counter++).toString(36)}`;
    const tx = new ProxyTransaction(this, st, ctx, id);
    this.servers.set(st.key, st);
    st.proxy = tx;
    ctx.transaction = tx;
    this.s.total.value++;
    this.s.current.value++;
    return tx;
  }

  /** Numbers for RPC and tests. */
  get size(): { servers: number; clients: number; timers: number } {
    return {
      servers: this.servers.size,
      clients: this.clients.size + this.cancels.size,
      timers: this.timers.size,
    };
  }

  /** Stops every timer (shutdown). */
  stop(): void {
    this.timers.stop();
  }
}
