/**
 * Server transactions (RFC 3261 §17.2, RFC 6026 §7.1 for the INVITE Accepted state).
 *
 * A server transaction absorbs request retransmissions, replays its last response, retransmits final
 * INVITE responses over unreliable transports until the ACK comes, and goes away when its timers say so.
 */
import { ownString } from '../sip/keep.js';
import type { SipRequest } from '../sip/message.js';
import type { Destination, Source, TransportError } from '../transport/types.js';
import type { ProxyTransaction } from './proxy-transaction.js';
import { TimerKind, type TimerSettings, waitTime } from './timer-values.js';
import { cancelTimer, Timer, type TimerOwner, type TimerService } from './timers.js';

/** States of a server transaction (INVITE: Proceeding, Completed, Confirmed, Accepted; non-INVITE: Trying, Proceeding, Completed). */
export type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** Legal transitions, per RFC 3261 Figures 7 and 8 and RFC 6026 Figure 5. */
const INVITE_TRANSITIONS: Record<ServerState, readonly ServerState[]> = {
  trying: [],
  proceeding: ['proceeding', 'completed', 'accepted', 'terminated'],
  completed: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  accepted: ['terminated'],
  terminated: [],
};
const NON_INVITE_TRANSITIONS: Record<ServerState, readonly ServerState[]> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['proceeding', 'completed', 'terminated'],
  completed: ['terminated'],
  confirmed: [],
  accepted: [],
  terminated: [],
};

/** How a server transaction sends. */
export interface ServerTransactionHost {
  readonly timers: TimerService;
  readonly settings: TimerSettings;
  send(data: Buffer, dest: Destination, onFailure?: (e: TransportError) => void): TransportError | undefined;
  /** Called once when the transaction reaches Terminated. */
  serverTerminated(st: ServerTransaction): void;
  /** Called when a {@link ServerLinger}'s timer ran out. */
  lingerEnded(linger: ServerLinger): void;
  /** Counters. */
  countRetransmission(): void;
  countReplySent(): void;
}

/** One server transaction. */
export class ServerTransaction implements TimerOwner {
  /** The RFC 2543 fallback key ({@link serverKey}); '' for a transaction matched by its branch. */
  readonly key: string;
  /** The method it matches (ACK and CANCEL look up the INVITE's). */
  readonly method: string;
  /** The request's RFC 3261 branch and sent-by, as the layer's table matches them (own strings). */
  branch: string | undefined = undefined;
  branchHash = 0;
  sentHost = '';
  sentPort: number | undefined = undefined;
  /** The next transaction in the same bucket of the layer's branch table. */
  nextSame: ServerTransaction | ServerLinger | undefined = undefined;
  /** In the layer's table (until it ends, or a new transaction for the same request replaced it). */
  inTable = false;
  /** The request, until the final response is sent (then released: only retransmissions remain). */
  request: SipRequest | undefined;
  readonly isInvite: boolean;
  readonly reliable: boolean;
  /** How many Via values the request had (a downstream response has one more: ours). */
  readonly requestViaCount: number;
  /** Where responses go (RFC 3261 §18.2.2). */
  readonly replyDestination: Destination;
  state: ServerState;
  /**
   * The last response sent, for retransmissions. Not kept where nothing replays it (Accepted: a 2xx is
   * the UAS's to retransmit, RFC 6026 §7.1; Confirmed). Kept as text while a non-INVITE transaction waits
   * out Timer J (32 s): one string, rather than a Buffer that may pin an 8 KiB pool slab all that time.
   */
  lastResponse: Buffer | string | undefined;
  lastStatus = 0;
  /** The proxy transaction working on this request, while it does (the transaction layer's link). */
  proxy: ProxyTransaction | undefined = undefined;
  private readonly host: ServerTransactionHost;
  private retransmitTimer: Timer | undefined;
  private waitTimer: Timer | undefined;
  private retransmitInterval = 0;
  /** Told when a message queued on a connection being opened fails (streams only: UDP fails at once). */
  private readonly onSendFailure: ((e: TransportError) => void) | undefined;

  constructor(
    host: ServerTransactionHost,
    key: string,
    request: SipRequest,
    source: Source,
    replyDestination: Destination,
  ) {
    this.host = host;
    this.key = key;
    this.method = ownString(request.method);
    this.request = request;
    this.isInvite = request.method === 'INVITE';
    this.requestViaCount = request.via.length;
    this.reliable = source.protocol !== 'udp';
    this.replyDestination = replyDestination;
    // RFC 3261 §17.2.1: an INVITE server transaction starts in Proceeding; §17.2.2 non-INVITE in Trying
    this.state = this.isInvite ? 'proceeding' : 'trying';
    this.onSendFailure = this.reliable ? () => this.sendFailed() : undefined;
  }

  /** Moves to `next`, asserting the transition is legal. */
  private to(next: ServerState): void {
    const allowed = (this.isInvite ? INVITE_TRANSITIONS : NON_INVITE_TRANSITIONS)[this.state];
    if (!allowed.includes(next)) {
      throw new Error(
        `illegal ${this.isInvite ? 'INVITE' : 'non-INVITE'} server transition ${this.state} -> ${next}`,
      );
    }
    this.state = next;
    if (next === 'terminated') {
      this.retransmitTimer = cancelTimer(this.retransmitTimer);
      this.waitTimer = cancelTimer(this.waitTimer);
      this.host.serverTerminated(this);
    }
  }

  /** A retransmission of the request arrived (RFC 3261 §17.2.1, §17.2.2). */
  receiveRetransmission(): void {
    this.host.countRetransmission();
    const s = this.state;
    if (this.lastResponse === undefined) return; // Trying: absorbed
    if (s === 'proceeding' || s === 'completed') this.transmit(this.lastResponse);
  }

  /** An ACK matched this INVITE transaction (RFC 3261 §17.2.1). Returns true when it was absorbed. */
  receiveAck(): boolean {
    if (this.state === 'completed') {
      this.retransmitTimer = cancelTimer(this.retransmitTimer);
      this.waitTimer = cancelTimer(this.waitTimer);
      this.lastResponse = undefined; // Confirmed replays nothing
      this.to('confirmed');
      // Timer I: absorb ACK retransmissions for T4 (0 over reliable transports)
      if (this.reliable) this.to('terminated');
      else this.waitTimer = this.host.timers.start(this, TimerKind.I, this.host.settings.t4);
      return true;
    }
    return this.state === 'confirmed';
  }

  /** Sends a response through the transaction; `status` is its code. */
  respond(data: Buffer, status: number): void {
    const s = this.state;
    if (s === 'terminated' || s === 'completed' || s === 'confirmed') return;
    if (s === 'accepted') {
      // RFC 6026 §7.1: further 2xx pass to the transport; nothing is kept for retransmission
      if (status >= 200 && status < 300) {
        this.host.countReplySent();
        this.transmit(data);
      }
      return;
    }
    this.lastStatus = status;
    if (this.isInvite && status >= 200 && status < 300) {
      // Accepted (below) never replays its response: the 2xx is not kept
      this.lastResponse = undefined;
    } else this.lastResponse = data;
    this.host.countReplySent();
    this.transmit(data);
    if (this.state === 'terminated') return; // the send failed
    if (status >= 200) this.request = undefined;
    if (status < 200) {
      if (!this.isInvite) this.to('proceeding');
      return;
    }
    const t1 = this.host.settings.t1;
    if (this.isInvite) {
      if (status < 300) {
        // RFC 6026 §7.1: Accepted; 2xx retransmissions are the UAS's job, passed on end to end
        this.to('accepted');
        this.waitTimer = this.host.timers.start(this, TimerKind.L, waitTime(this.host.settings));
        return;
      }
      this.to('completed');
      if (!this.reliable) {
        this.retransmitInterval = t1;
        this.retransmitTimer = this.host.timers.start(this, TimerKind.G, t1);
      }
      this.waitTimer = this.host.timers.start(this, TimerKind.H, 64 * t1);
      return;
    }
    this.to('completed');
    // Timer J: absorb request retransmissions for 64*T1, or `wait` (0 over reliable transports)
    if (this.reliable) this.to('terminated');
    else {
      this.lastResponse = data.toString('latin1');
      this.waitTimer = this.host.timers.start(this, TimerKind.J, waitTime(this.host.settings));
    }
  }

  private transmit(response: Buffer | string): void {
    const data = typeof response === 'string' ? Buffer.from(response, 'latin1') : response;
    const error = this.host.send(data, this.replyDestination, this.onSendFailure);
    if (error !== undefined) this.sendFailed();
  }

  /** RFC 3261 §17.2.4: a transport failure while sending a response terminates the transaction. */
  private sendFailed(): void {
    if (this.state !== 'terminated') this.to('terminated');
  }

  onTimer(kind: number): void {
    if (this.state === 'terminated') return;
    switch (kind) {
      case TimerKind.G:
        if (this.state !== 'completed' || this.lastResponse === undefined) return;
        this.host.countRetransmission();
        this.transmit(this.lastResponse);
        this.retransmitInterval = Math.min(2 * this.retransmitInterval, this.host.settings.t2);
        this.retransmitTimer = this.host.timers.start(this, TimerKind.G, this.retransmitInterval);
        return;
      case TimerKind.H: // no ACK came: RFC 3261 §17.2.1
      case TimerKind.I:
      case TimerKind.J:
      case TimerKind.L:
        this.to('terminated');
        return;
    }
  }

  /** Ends the transaction now (shutdown). */
  terminate(): void {
    if (this.state !== 'terminated') this.to('terminated');
  }

  /**
   * When all that is left is waiting out Timer J (non-INVITE, Completed) or L (INVITE, Accepted): a
   * {@link ServerLinger} that takes over the timer, holding only what matching, replaying and RFC 6026's
   * late 2xx need. The transaction then owns no timer and is out of the table (the layer swaps the
   * entries), so it and everything it references can be collected young instead of being copied to the
   * old generation for 32 s. Undefined when the transaction is in any other state.
   */
  toLinger(): ServerLinger | undefined {
    const timer = this.waitTimer;
    const s = this.state;
    if (timer === undefined || !this.inTable || !(s === 'accepted' || (s === 'completed' && !this.isInvite)))
      return undefined;
    const response = typeof this.lastResponse === 'string' ? this.lastResponse : undefined;
    const linger = new ServerLinger(this.host, this, response);
    if (!this.host.timers.replace(timer, linger)) return undefined;
    this.waitTimer = undefined;
    this.lastResponse = undefined;
    return linger;
  }
}

/**
 * A server transaction that has only its last timer to wait out (J: absorb and answer request
 * retransmissions; L: absorb INVITE retransmissions, pass further 2xx of the INVITE upstream), in its
 * place in the layer's table, and its own timer node. It keeps the matching fields, the response to replay
 * (as text) and where responses go; nothing else.
 */
export class ServerLinger extends Timer implements TimerOwner {
  readonly key: string;
  readonly method: string;
  readonly branch: string | undefined;
  readonly branchHash: number;
  readonly sentHost: string;
  readonly sentPort: number | undefined;
  readonly lastStatus: number;
  nextSame: ServerTransaction | ServerLinger | undefined = undefined;
  inTable = false;
  /** The final response of a non-INVITE transaction, replayed on every retransmission of the request. */
  private readonly response: string | undefined;
  private readonly destination: Destination;
  private readonly host: ServerTransactionHost;

  constructor(host: ServerTransactionHost, st: ServerTransaction, response: string | undefined) {
    super(undefined, 0, 0, undefined);
    this.owner = this;
    this.host = host;
    this.key = st.key;
    this.method = st.method;
    this.branch = st.branch;
    this.branchHash = st.branchHash;
    this.sentHost = st.sentHost;
    this.sentPort = st.sentPort;
    this.lastStatus = st.lastStatus;
    this.response = response;
    this.destination = st.replyDestination;
  }

  /** A retransmission of the request: the final response again (J), or nothing (L, RFC 6026 §7.1). */
  receiveRetransmission(): void {
    this.host.countRetransmission();
    if (this.response !== undefined)
      this.host.send(Buffer.from(this.response, 'latin1'), this.destination, undefined);
  }

  /** An ACK matched: for a 2xx, it is not absorbed (end to end). */
  receiveAck(): boolean {
    return false;
  }

  /** RFC 6026 §7.1: a further 2xx for the INVITE (a late branch's) goes to the transport. */
  respond(data: Buffer, status: number): void {
    if (this.method !== 'INVITE' || status < 200 || status >= 300) return;
    this.host.countReplySent();
    this.host.send(data, this.destination, undefined);
  }

  onTimer(): void {
    this.host.lingerEnded(this);
  }
}
