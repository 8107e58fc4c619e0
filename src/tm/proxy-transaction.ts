/**
 * The stateful proxy core (RFC 3261 §16): one server transaction, its branches (client transactions),
 * response selection, CANCEL, final-response timers and the failure route — Kamailio's tm "cell".
 */
import {
  type BranchTarget,
  ReplyContext,
  type RequestContext,
  type TransactionHandle,
} from '../core/context.js';
import type { Candidate, Route } from '../core/pipeline.js';
import { createResponse, createResponseBytes, type HeaderList, reasonPhrase } from '../sip/build.js';
import type { MessageSnapshot, SipRequest, SipResponse } from '../sip/message.js';
import type { Destination, Source } from '../transport/types.js';
import {
  buildFromTemplate,
  type ClientTransaction,
  type ClientTransactionUser,
  type LateResponseSink,
} from './client-transaction.js';
import type { ServerTransaction } from './server-transaction.js';
import { TimerKind } from './timer-values.js';
import type { Timer, TimerOwner } from './timers.js';
import type { TransactionLayer } from './transaction-layer.js';

/** A reply handler armed for one transaction (Kamailio's `t_on_reply`). */
export type ReplyHandler = (res: ReplyContext) => void | Promise<void>;
/** A failure handler armed for one transaction (Kamailio's `t_on_failure`). */
export type FailureHandler = (failure: FailureContext) => void | Promise<void>;
/** A branch handler armed for one transaction (Kamailio's `t_on_branch`): per branch, before it is sent. */
export type BranchHandler = (branch: BranchInfo, req: RequestContext) => void | Promise<void>;

/** What a branch handler learns about the branch being sent. */
export interface BranchInfo {
  readonly index: number;
  readonly uri: string;
  readonly destination: Destination;
  /** Drop this branch (it is not sent). */
  drop(): void;
}

export type { BranchTarget } from '../core/context.js';

/** One branch: a target and the client transaction(s) sent to it. Owns its final-response timer. */
class Branch implements TimerOwner {
  ct: ClientTransaction | undefined;
  /** Final status of the branch (0 while pending). */
  status = 0;
  response: SipResponse | undefined;
  /** A provisional response came (so a CANCEL may be sent, RFC 3261 §9.1). */
  provisional = false;
  timedOut = false;
  cancelSent = false;
  cancelWanted = false;
  frTimer: Timer | undefined;
  /** Destinations to try, in order (RFC 3263 §4.3 failover), and the one in use. */
  candidates: readonly Candidate[] = [];
  attempt = 0;
  /** The branch's request before our Record-Route and Via, to build each attempt from. */
  prepared: MessageSnapshot | undefined;
  constructor(
    readonly tx: ProxyTransaction,
    readonly index: number,
    readonly target: BranchTarget,
  ) {}

  onTimer(): void {
    this.frTimer = undefined;
    this.tx.branchTimedOut(this);
  }
}

/** The failure route's view of the transaction (Kamailio's failure_route functions). */
export class FailureContext {
  constructor(
    private readonly tx: ProxyTransaction,
    /** The request route's context: its variables and flags persist (Kamailio's AVPs). */
    readonly req: RequestContext,
    /** The response that would go upstream now (the best final response, RFC 3261 §16.7 step 6). */
    readonly response: SipResponse,
  ) {}

  /** The status of the best final response. */
  get status(): number {
    return this.response.status;
  }

  /** True when the status matches (Kamailio's `t_check_status`). */
  checkStatus(pattern: RegExp | number): boolean {
    return typeof pattern === 'number' ? this.status === pattern : pattern.test(String(this.status));
  }

  /** True when the last branch failed because no final response came in time (local 408). */
  branchTimeout(): boolean {
    return this.tx.lastFailedBranch?.timedOut === true;
  }

  /** True when the last failed branch received any response from downstream. */
  branchReplied(): boolean {
    const b = this.tx.lastFailedBranch;
    return b !== undefined && (b.provisional || (b.response !== undefined && !b.timedOut));
  }

  /** True when the transaction was canceled by the caller. */
  isCanceled(): boolean {
    return this.tx.canceled;
  }

  /** Adds a target for the next `relay()`. */
  appendBranch(uri: string, q = 1, nextHop?: string): void {
    this.tx.appendBranch(uri, q, nextHop);
  }

  /** Relays again to the appended targets (or the request's current Request-URI). */
  relay(): Promise<boolean> {
    return this.tx.relay();
  }

  /** Replies upstream instead of the best response. */
  reply(status: number, reason?: string, headers?: HeaderList): void {
    this.tx.reply(status, reason, headers);
  }
}

/** One proxied (or locally answered) request and everything it started. */
export class ProxyTransaction implements ClientTransactionUser, TransactionHandle {
  readonly st: ServerTransaction;
  readonly ctx: RequestContext;
  readonly isInvite: boolean;
  private readonly layer: TransactionLayer;
  private readonly id: string;
  private branches: Branch[] = [];
  /** Targets appended for the next relay. */
  private pending: BranchTarget[] = [];
  /** Serial forking: q-value groups still to try. */
  private laterGroups: BranchTarget[][] = NO_GROUPS;
  /** A final response went upstream. */
  private finalSent = false;
  private inFailureRoute = false;
  canceled = false;
  lastFailedBranch: Branch | undefined;
  onReply: ReplyHandler | undefined;
  onFailure: FailureHandler | undefined;
  onBranch: BranchHandler | undefined;
  /** Final-response timers in ms (Kamailio's fr_timer, fr_inv_timer). */
  frTimeout: number;
  frInviteTimeout: number;
  /** Used by the layer to count live transactions. */
  ended = false;

  constructor(layer: TransactionLayer, st: ServerTransaction, ctx: RequestContext, id: string) {
    this.layer = layer;
    this.st = st;
    this.ctx = ctx;
    this.id = id;
    this.isInvite = st.isInvite;
    this.frTimeout = layer.config.frTimeout;
    this.frInviteTimeout = layer.config.frInviteTimeout;
  }

  /** The request, while a final response has not been sent. */
  private get request(): SipRequest {
    const r = this.st.request;
    if (r === undefined) throw new Error('transaction already answered');
    return r;
  }

  /** True once at least one branch was started. */
  get relayed(): boolean {
    return this.branches.length > 0;
  }

  /** True once a final response was sent upstream. */
  get answered(): boolean {
    return this.finalSent;
  }

  // ---------------------------------------------------------------- replies

  /** Replies statefully (Kamailio's `t_reply`): the server transaction sends and retransmits it. */
  reply(status: number, reason?: string, headers?: HeaderList): void {
    if (this.finalSent && status >= 200) return;
    const req = this.request;
    const data = createResponseBytes(req, status, {
      reason: reason ?? reasonPhrase(status),
      toTag: this.localTag(),
      ...(headers === undefined ? {} : { headers }),
    });
    this.ctx.disposition = 'replied';
    this.layer.countLocalReply();
    this.sendUpstream(data, status);
  }

  private localTag(): string {
    return `${this.id}`;
  }

  private sendUpstream(data: Buffer, status: number): void {
    if (status >= 200) {
      this.finalSent = true;
      this.layer.countReply(status);
      if (status >= 300) this.stopBranches();
    }
    this.st.respond(data, status);
    this.checkEnded();
  }

  // ---------------------------------------------------------------- relaying

  /** Adds a target for the next relay (Kamailio's `append_branch`). */
  appendBranch(uri: string, q = 1, nextHop?: string): void {
    this.pending.push(nextHop === undefined ? { uri, q } : { uri, q, nextHop });
  }

  /**
   * Relays to the pending targets — or, when there are none, to the request's current Request-URI (with
   * `ctx.nextHop`, `ctx.uriQ`, `ctx.uriRoutes`) — plus the destination set `ctx.branches`, which it
   * consumes. Targets with different q-values are tried in groups, highest q first (serial forking);
   * targets with equal q in parallel. Resolves true when at least one branch was sent.
   */
  relay(): Promise<boolean> {
    try {
      const r = this.relayNow();
      return typeof r === 'boolean' ? (r ? SENT : NOT_SENT) : r;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link relay}, without a Promise when every next hop is an IP address (the common case). */
  private relayNow(): boolean | Promise<boolean> {
    if (this.finalSent) return false;
    const ctx = this.ctx;
    let targets = this.pending;
    if (targets.length === 0) {
      // the Request-URI branch; `req.nextHop` (Kamailio's $du) and `req.uriRoutes` apply to it alone
      const hop = ctx.nextHop;
      const q = ctx.uriQ ?? 1;
      const first: BranchTarget =
        hop === undefined ? { uri: ctx.msg.requestUri, q } : { uri: ctx.msg.requestUri, q, nextHop: hop };
      if (ctx.uriRoutes !== undefined) first.routes = ctx.uriRoutes;
      targets = [first];
    } else this.pending = [];
    const set = ctx.branches;
    if (set !== undefined) {
      // the destination set (Kamailio's dset) forks along, and is used up
      ctx.branches = undefined;
      for (const t of set) targets.push(t);
    }
    // one target (the common case): one group, nothing later
    const groups = targets.length === 1 ? [targets] : groupByQ(targets);
    this.laterGroups = groups.length === 1 ? NO_GROUPS : groups.slice(1);
    if (this.isInvite && this.st.lastStatus === 0) {
      // RFC 3261 §16.2 / §17.2.1: 100 Trying for an INVITE at once, so the caller stops retransmitting
      this.layer.countGeneratedReply();
      this.layer.countReply(100);
      this.st.respond(createResponseBytes(this.request, 100), 100);
    }
    this.ctx.disposition = 'forwarded';
    return this.startGroup(groups[0]!);
  }

  private startGroup(group: BranchTarget[]): boolean | Promise<boolean> {
    let sent = 0;
    for (let i = 0; i < group.length; i++) {
      const r = this.startBranch(group[i]!);
      if (typeof r !== 'boolean') return this.continueGroup(group, i, r, sent);
      if (r) sent++;
    }
    if (sent === 0) this.checkCompletion();
    return sent > 0;
  }

  /** The rest of {@link startGroup} once one branch had to wait (DNS, an async branch handler). */
  private async continueGroup(
    group: BranchTarget[],
    at: number,
    pending: Promise<boolean>,
    sentBefore: number,
  ): Promise<boolean> {
    let sent = sentBefore;
    if (await pending) sent++;
    for (let i = at + 1; i < group.length; i++) if (await this.startBranch(group[i]!)) sent++;
    if (sent === 0) this.checkCompletion();
    return sent > 0;
  }

  /** A relay started outside the script (the next serial group) threw: answer rather than hang. */
  private relayFailed(e: unknown): void {
    this.ctx.log.error('relay failed', { error: e as Error });
    if (!this.finalSent) this.sendBest(this.bestResponse());
  }

  /**
   * Builds and sends one branch (RFC 3261 §16.6). Synchronous when the next hop needs no DNS and no
   * branch handler is armed; otherwise the rest happens in {@link finishBranch}.
   */
  private startBranch(target: BranchTarget): boolean | Promise<boolean> {
    const ctx = this.ctx;
    const msg = ctx.msg;
    const index = this.branches.length;
    const branch = new Branch(this, index, target);
    this.branches.push(branch);
    const saved = msg.snapshot();
    let route: Route | undefined | Promise<Route | undefined>;
    try {
      if (target.uri !== msg.requestUri) msg.setUri(target.uri);
      const routes = target.routes;
      // RFC 3327 §5.3: the registered Path becomes the branch's first Route values
      if (routes !== undefined)
        for (let i = routes.length - 1; i >= 0; i--) msg.prependHeader('Route', routes[i]!);
      route = this.layer.core.routeNow(ctx, target.nextHop, target.socket);
    } catch (e) {
      msg.restore(saved);
      throw e;
    }
    if (route instanceof Promise || this.onBranch !== undefined)
      return this.finishBranch(branch, saved, route);
    try {
      if (route === undefined) {
        // no destination (the core replied if nothing was sent yet): the branch failed locally
        branch.status = 503;
        return false;
      }
      branch.candidates = route.candidates;
      branch.prepared = msg.snapshot();
    } finally {
      msg.restore(saved);
    }
    return this.sendAttempt(branch);
  }

  /** The rest of {@link startBranch} after waiting for the route or running the branch handler. */
  private async finishBranch(
    branch: Branch,
    saved: MessageSnapshot,
    routing: Route | undefined | Promise<Route | undefined>,
  ): Promise<boolean> {
    const ctx = this.ctx;
    const msg = ctx.msg;
    const index = branch.index;
    try {
      const route = await routing;
      if (route === undefined) {
        // no destination (the core replied if nothing was sent yet): the branch failed locally
        branch.status = 503;
        return false;
      }
      let dropped = false;
      if (this.onBranch !== undefined) {
        const first = route.candidates[0]!;
        await this.onBranch(
          {
            index,
            uri: msg.requestUri,
            destination: first.destination,
            drop: () => {
              dropped = true;
            },
          },
          ctx,
        );
      }
      if (dropped) {
        branch.status = 487;
        return false;
      }
      branch.candidates = route.candidates;
      branch.prepared = msg.snapshot();
    } finally {
      msg.restore(saved);
    }
    return this.sendAttempt(branch);
  }

  /** Sends a branch to its current candidate destination, in a new client transaction. */
  private sendAttempt(branch: Branch): boolean {
    const msg = this.ctx.msg;
    const candidate = branch.candidates[branch.attempt]!;
    const saved = msg.snapshot();
    try {
      msg.restore(branch.prepared!);
      // the layer's slot prefix, then what makes it unique (this transaction's id, branch, attempt)
      const via = `${this.layer.clientBranchPrefix()}${this.id}.${branch.index}${branch.attempt === 0 ? '' : `.${branch.attempt}`}`;
      this.layer.core.stamp(this.ctx, candidate.listener, via);
      const template = {
        uri: msg.requestUri,
        via: msg.getHeader('via')!,
        from: msg.getHeader('from') ?? '',
        to: msg.getHeader('to') ?? '',
        callId: msg.getHeader('call-id') ?? '',
        cseq: msg.cseq?.seq ?? 1,
        routes: msg.getHeaders('route'),
      };
      const ct = this.layer.createClient(
        this,
        via,
        msg.method,
        msg.toBuffer(),
        template,
        candidate.destination,
      );
      if (branch.ct !== undefined) branch.ct.context = undefined;
      branch.ct = ct;
      branch.provisional = false;
      ct.context = branch;
      branch.frTimer?.cancel();
      branch.frTimer = this.layer.timers.start(branch, TimerKind.FR, this.frTimeout);
      ct.start();
      return branch.status === 0;
    } finally {
      msg.restore(saved);
    }
  }

  /**
   * RFC 3263 §4.3: after a transport error, a timeout or a 503, the next destination of the branch is
   * tried (the failed one is blacklisted for a while). Returns true when another attempt was started.
   */
  private failover(branch: Branch): boolean {
    const failed = branch.candidates[branch.attempt];
    if (failed !== undefined) this.layer.core.markFailed(failed);
    if (this.canceled || this.finalSent || branch.attempt + 1 >= branch.candidates.length) return false;
    branch.attempt++;
    branch.status = 0;
    branch.response = undefined;
    branch.timedOut = false;
    this.sendAttempt(branch);
    return true;
  }

  // ---------------------------------------------------------------- responses from branches

  clientResponse(ct: ClientTransaction, res: SipResponse, source?: Source): void {
    const branch = ct.context as Branch | undefined;
    if (branch === undefined) return;
    const status = res.status;
    if (status < 200) {
      branch.provisional = true;
      if (this.isInvite && status > 100 && branch.frTimer !== undefined) {
        // after a provisional response the INVITE gets the longer fr_inv_timer
        branch.frTimer.cancel();
        branch.frTimer = this.layer.timers.start(branch, TimerKind.FR, this.frInviteTimeout);
      }
      if (branch.cancelWanted && !branch.cancelSent) this.sendCancel(branch);
    } else {
      branch.frTimer?.cancel();
      if (status === 503 && branch.status === 0 && !branch.provisional && this.failover(branch)) return;
      if (branch.status === 0 || (status < 300 && this.isInvite)) {
        branch.status = status;
        branch.response = res;
      }
    }
    this.runReplyHandler(res, source, () => this.afterResponse(branch, res));
  }

  /**
   * Runs the per-transaction reply route, then `next` (unless the route dropped a provisional). Its
   * context's `source` is where the response came from (nathelper fixes a callee's Contact with it).
   */
  private runReplyHandler(res: SipResponse, source: Source | undefined, next: () => void): void {
    const handler = this.onReply;
    if (handler === undefined) {
      next();
      return;
    }
    const rctx = new ReplyContext(
      res,
      source ?? this.ctx.source,
      this.layer.core.log,
      this.layer.core.myself,
    );
    const done = () => {
      if (rctx.isDropped && res.status < 200) return;
      next();
    };
    let r: void | Promise<void>;
    try {
      r = handler(rctx);
    } catch (e) {
      this.ctx.log.error('reply handler failed', { error: e as Error });
      next();
      return;
    }
    if (r instanceof Promise) {
      r.then(done, (e: unknown) => {
        this.ctx.log.error('reply handler failed', { error: e as Error });
        next();
      });
    } else done();
  }

  private afterResponse(branch: Branch, res: SipResponse): void {
    const status = res.status;
    if (status < 200) {
      // RFC 3261 §16.7 step 5: provisional responses other than 100 go upstream
      if (status > 100 && !this.finalSent) this.forwardUpstream(res);
      return;
    }
    if (status < 300) {
      // RFC 3261 §16.7 step 5: every 2xx goes upstream at once (RFC 6026: later ones too)
      this.forwardUpstream(res);
      if (this.isInvite) this.cancelPending('200 elsewhere');
      this.checkEnded();
      return;
    }
    this.lastFailedBranch = branch;
    if (status >= 600 && this.isInvite) this.cancelPending('6xx elsewhere'); // §16.7 step 5
    this.checkCompletion();
  }

  /** Removes our Via and sends a downstream response upstream (RFC 3261 §16.7 step 9). */
  private forwardUpstream(res: SipResponse): void {
    res.popVia();
    const status = res.status;
    if (status >= 200 && status < 300) {
      this.finalSent = true;
      this.layer.countReply(status);
      this.ctx.disposition = 'forwarded';
      this.st.respond(res.toBuffer(), status);
      return;
    }
    if (status >= 200) {
      this.sendUpstream(res.toBuffer(), status);
      return;
    }
    this.layer.countReply(status);
    this.st.respond(res.toBuffer(), status);
  }

  clientFailed(ct: ClientTransaction, reason: 'timeout' | 'transport'): void {
    const branch = ct.context as Branch | undefined;
    if (branch === undefined || branch.status !== 0) return;
    branch.frTimer?.cancel();
    if (!branch.provisional && this.failover(branch)) return;
    this.failBranch(branch, reason === 'timeout' ? 408 : 503, reason === 'timeout');
  }

  /** A branch ended without a downstream final response: local 408 (timeout) or 503 (transport). */
  private failBranch(branch: Branch, status: number, timedOut: boolean): void {
    branch.status = status;
    branch.timedOut = timedOut;
    if (timedOut) this.layer.countTimeout();
    branch.response = undefined;
    this.lastFailedBranch = branch;
    this.checkCompletion();
  }

  /** A branch's final-response timer fired (fr_timer / fr_inv_timer): local 408 (RFC 3261 §16.8). */
  branchTimedOut(branch: Branch): void {
    if (branch.status !== 0) return;
    if (!branch.provisional) {
      // nothing at all came back: that destination is unreachable, try the next one (RFC 3263 §4.3)
      const ct = branch.ct;
      if (branch.attempt + 1 < branch.candidates.length) {
        ct?.terminate();
        if (this.failover(branch)) return;
      }
    }
    // an INVITE branch with a provisional response gets a CANCEL; otherwise the branch is abandoned
    if (this.isInvite && branch.provisional) this.sendCancel(branch);
    else branch.ct?.terminate();
    this.failBranch(branch, 408, true);
  }

  // ---------------------------------------------------------------- completion

  private allBranchesDone(): boolean {
    for (const b of this.branches) if (b.status === 0) return false;
    return true;
  }

  /** When every branch has a final status: next q group, failure route, or the best response upstream. */
  private checkCompletion(): void {
    if (this.finalSent || this.inFailureRoute || !this.allBranchesDone()) {
      this.checkEnded();
      return;
    }
    const best = this.bestResponse();
    if (!this.canceled && best.status < 600 && this.laterGroups.length > 0) {
      // serial forking: the next q group
      const next = this.laterGroups.shift()!;
      try {
        const r = this.startGroup(next);
        if (typeof r !== 'boolean') r.catch((e: unknown) => this.relayFailed(e));
      } catch (e) {
        this.relayFailed(e);
      }
      return;
    }
    const handler = this.onFailure;
    if (handler !== undefined && !this.canceled) {
      this.onFailure = undefined; // armed once per relay, as in Kamailio
      this.inFailureRoute = true;
      const failure = new FailureContext(this, this.ctx, best);
      const before = this.branches.length;
      const done = () => {
        this.inFailureRoute = false;
        if (this.finalSent) return;
        if (this.branches.length > before && !this.allBranchesDone()) return; // re-routed
        this.sendBest(this.bestResponse());
      };
      let r: void | Promise<void>;
      try {
        r = handler(failure);
      } catch (e) {
        this.ctx.log.error('failure route failed', { error: e as Error });
        done();
        return;
      }
      if (r instanceof Promise) {
        r.then(done, (e: unknown) => {
          this.ctx.log.error('failure route failed', { error: e as Error });
          done();
        });
      } else done();
      return;
    }
    this.sendBest(best);
  }

  /**
   * RFC 3261 §16.7 step 6: the best final response — a 6xx if any, else the lowest class, preferring
   * 401, 407, 415, 420, 484 within 4xx; 487 when canceled. Local failures are built here.
   */
  private bestResponse(): SipResponse {
    let best: Branch | undefined;
    for (const b of this.branches) {
      if (b.status === 0) continue;
      if (best === undefined || rank(b.status) < rank(best.status)) best = b;
    }
    if (this.canceled) {
      return best?.response !== undefined && best.status === 487
        ? best.response
        : createResponse(this.request, 487, { toTag: this.localTag() });
    }
    if (best === undefined)
      return createResponse(this.request, 500, { reason: 'No branch', toTag: this.localTag() });
    if (best.response === undefined)
      return createResponse(this.request, best.status, { toTag: this.localTag() });
    return best.response;
  }

  /** Sends the chosen final response upstream: 503 becomes 500 (§16.7 step 6); challenges are merged (step 7). */
  private sendBest(res: SipResponse): void {
    if (this.finalSent) return;
    // a downstream response still carries our Via on top; a local one has the request's Vias only
    const fromDownstream = res.via.length > this.st.requestViaCount;
    if (fromDownstream) res.popVia();
    else this.layer.countGeneratedReply();
    if (res.status === 503) res.setStatus(500, 'Service Unavailable');
    if (res.status === 401 || res.status === 407) this.mergeChallenges(res);
    this.sendUpstream(res.toBuffer(), res.status);
  }

  private mergeChallenges(res: SipResponse): void {
    for (const b of this.branches) {
      const other = b.response;
      if (other === undefined || other === res || (other.status !== 401 && other.status !== 407)) continue;
      for (const name of ['www-authenticate', 'proxy-authenticate']) {
        for (const v of other.getHeaders(name))
          res.appendHeader(name === 'www-authenticate' ? 'WWW-Authenticate' : 'Proxy-Authenticate', v);
      }
    }
  }

  // ---------------------------------------------------------------- CANCEL

  /** The caller canceled (RFC 3261 §16.10): CANCEL every pending branch; the INVITE ends with 487. */
  cancelFromUpstream(): void {
    this.canceled = true;
    this.laterGroups = NO_GROUPS;
    this.cancelPending('canceled');
    this.checkCompletion();
  }

  /** CANCELs every branch without a final response (§16.10; §9.1: only after a provisional). */
  private cancelPending(_why: string): void {
    for (const b of this.branches) {
      if (b.status !== 0 || b.cancelSent) continue;
      if (b.provisional) this.sendCancel(b);
      else b.cancelWanted = true;
    }
  }

  private sendCancel(branch: Branch): void {
    const ct = branch.ct;
    const template = ct?.template;
    // no template: the branch's transaction already has its final response (nothing to cancel)
    if (ct === undefined || template === undefined || branch.cancelSent) return;
    branch.cancelSent = true;
    ct.canceled();
    const data = buildFromTemplate(template, 'CANCEL');
    const cancel = this.layer.createClient(IGNORE, ct.branch, 'CANCEL', data, template, ct.destination);
    cancel.start();
  }

  /** After a non-2xx final response went upstream: stop pending branches. */
  private stopBranches(): void {
    for (const b of this.branches) {
      b.frTimer?.cancel();
      if (b.status === 0 && this.isInvite) {
        if (b.provisional) this.sendCancel(b);
        else b.cancelWanted = true;
      }
    }
  }

  /**
   * Tells the layer when the final response went upstream, so it counts the transaction as ended; once
   * every branch is final too, hands the client transactions over to a light user and lets the layer
   * forget this transaction, so the request and everything built from it can be collected while the
   * server and client transactions wait out their RFC 3261 timers.
   */
  checkEnded(): void {
    if (!this.finalSent) return;
    if (!this.ended) {
      this.ended = true;
      this.layer.transactionEnded(this);
    }
    if (!this.allBranchesDone()) return;
    // what only waits out its timers hands over to small records, so the transaction objects die young
    const layer = this.layer;
    const upstream = layer.lingerServer(this.st) ?? this.st;
    for (const b of this.branches) {
      const ct = b.ct;
      if (ct === undefined || layer.lingerClient(ct, upstream)) continue;
      ct.user = LATE_RESPONSES;
      ct.context = upstream;
    }
    layer.forget(this);
  }
}

/**
 * The user of a branch's client transaction after the proxy is done, when it did not hand over to a
 * ClientLinger (its context is then the server transaction, or what lingers of it): RFC 6026 — further
 * 2xx of the branch still go upstream, through the server transaction.
 * One object for all, so a finished transaction keeps nothing of its own for it.
 */
const LATE_RESPONSES: ClientTransactionUser = {
  clientResponse(ct, res) {
    const status = res.status;
    if (status < 200 || status >= 300) return;
    res.popVia();
    (ct.context as LateResponseSink).respond(res.toBuffer(), status);
  },
  clientFailed() {},
};

const SENT = Promise.resolve(true);
const NOT_SENT = Promise.resolve(false);

/** The user of CANCEL client transactions: their responses end there (RFC 3261 §16.10). */
const IGNORE: ClientTransactionUser = { clientResponse() {}, clientFailed() {} };

/** Lower is better (RFC 3261 §16.7 step 6). */
function rank(status: number): number {
  if (status >= 600) return 0;
  const cls = Math.floor(status / 100);
  const preferred = status === 401 || status === 407 || status === 415 || status === 420 || status === 484;
  return cls * 1000 + (preferred ? 0 : 500) + (status === 408 ? 400 : 0) + (status % 100);
}

/** No q-value groups left (shared: only ever read, `shift()` is only called on a non-empty list). */
const NO_GROUPS: BranchTarget[][] = [];

function groupByQ(targets: BranchTarget[]): BranchTarget[][] {
  const sorted = [...targets].sort((a, b) => b.q - a.q);
  const groups: BranchTarget[][] = [];
  for (const t of sorted) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[0]!.q === t.q) last.push(t);
    else groups.push([t]);
  }
  return groups;
}
