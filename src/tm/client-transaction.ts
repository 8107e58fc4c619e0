/**
 * Client transactions (RFC 3261 §17.1, RFC 6026 §7.2 for the INVITE Accepted state, RFC 4320 for
 * non-INVITE: no 408 is ever sent upstream for a timeout, the transaction simply times out).
 */
import type { SipResponse } from '../sip/message.js';
import type { Destination, Source, TransportError } from '../transport/types.js';
import { TimerKind, type TimerSettings, timerD, waitTime } from './timer-values.js';
import { cancelTimer, Timer, type TimerOwner, type TimerService } from './timers.js';

/** States of a client transaction (INVITE: Calling, Proceeding, Completed, Accepted; non-INVITE: Trying, Proceeding, Completed). */
export type ClientState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** Legal transitions, per RFC 3261 Figures 5 and 6 and RFC 6026 Figure 4. */
const INVITE_TRANSITIONS: Record<ClientState, readonly ClientState[]> = {
  calling: ['proceeding', 'completed', 'accepted', 'terminated'],
  trying: [],
  proceeding: ['proceeding', 'completed', 'accepted', 'terminated'],
  completed: ['terminated'],
  accepted: ['terminated'],
  terminated: [],
};
const NON_INVITE_TRANSITIONS: Record<ClientState, readonly ClientState[]> = {
  calling: [],
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['proceeding', 'completed', 'terminated'],
  completed: ['terminated'],
  accepted: [],
  terminated: [],
};

const NO_BYTES = Buffer.alloc(0);

/** What a client transaction reports to its user (the proxy branch). */
export interface ClientTransactionUser {
  /** A response to pass up (1xx, first final, and for INVITE every 2xx), with where it came from. */
  clientResponse(ct: ClientTransaction, res: SipResponse, source?: Source): void;
  /** Timer B / F fired, or the request could not be sent: no final response will come. */
  clientFailed(ct: ClientTransaction, reason: 'timeout' | 'transport'): void;
}

/** How a client transaction sends. */
export interface ClientTransactionHost {
  readonly timers: TimerService;
  readonly settings: TimerSettings;
  send(data: Buffer, dest: Destination, onFailure?: (e: TransportError) => void): TransportError | undefined;
  /** A transaction reached Terminated, or a {@link ClientLinger}'s timer ran out. */
  clientTerminated(ct: ClientTransaction | ClientLinger): void;
  countRetransmission(): void;
}

/** One client transaction. */
export class ClientTransaction implements TimerOwner {
  readonly branch: string;
  readonly method: string;
  readonly isInvite: boolean;
  readonly reliable: boolean;
  readonly destination: Destination;
  /** The request as sent (kept for retransmissions; released once they are over). */
  request: Buffer;
  /**
   * What ACK and CANCEL for this request repeat of it; released with the request once a final response
   * came (nothing is built from it after that, and its strings may hold the whole message).
   */
  template: RequestTemplate | undefined;
  state: ClientState;
  /** Status of the last response received (0 before any). */
  lastStatus = 0;
  /** @internal */
  readonly host: ClientTransactionHost;
  /** Who gets the responses; the proxy hands over to a lighter user once its work is done. */
  user: ClientTransactionUser;
  /** Index in the transaction layer's slot table, or -1 when it is in a table by branch. */
  slot = -1;
  /** The user's own data about this transaction (the proxy's branch). */
  context: unknown = undefined;
  private retransmitTimer: Timer | undefined;
  private timeoutTimer: Timer | undefined;
  private waitTimer: Timer | undefined;
  private retransmitInterval = 0;
  /** ACK sent for a non-2xx final response (retransmitted on response retransmissions). */
  private ack: Buffer | undefined;
  /** A CANCEL was sent for this INVITE (RFC 3261 §9.1). */
  private cancelSent = false;
  /** Told when a message queued on a connection being opened fails (streams only: UDP fails at once). */
  private readonly onSendFailure: ((e: TransportError) => void) | undefined;

  constructor(
    host: ClientTransactionHost,
    user: ClientTransactionUser,
    branch: string,
    method: string,
    request: Buffer,
    template: RequestTemplate,
    destination: Destination,
  ) {
    this.host = host;
    this.user = user;
    this.branch = branch;
    this.method = method;
    this.isInvite = method === 'INVITE';
    this.reliable = destination.protocol !== 'udp';
    this.destination = destination;
    this.request = request;
    this.template = template;
    this.state = this.isInvite ? 'calling' : 'trying';
    this.onSendFailure = this.reliable ? () => this.transportFailed() : undefined;
  }

  /** Moves to `next`, asserting the transition is legal. */
  private to(next: ClientState): void {
    const allowed = (this.isInvite ? INVITE_TRANSITIONS : NON_INVITE_TRANSITIONS)[this.state];
    if (!allowed.includes(next)) {
      throw new Error(
        `illegal ${this.isInvite ? 'INVITE' : 'non-INVITE'} client transition ${this.state} -> ${next}`,
      );
    }
    this.state = next;
    // no more retransmissions of the request after a final response: let its bytes go
    if (next === 'completed' || next === 'accepted' || next === 'terminated') {
      this.request = NO_BYTES;
      this.template = undefined;
    }
    if (next === 'terminated') {
      this.retransmitTimer = cancelTimer(this.retransmitTimer);
      this.timeoutTimer = cancelTimer(this.timeoutTimer);
      this.waitTimer = cancelTimer(this.waitTimer);
      this.host.clientTerminated(this);
    }
  }

  /** Sends the request and starts the timers (RFC 3261 §17.1.1.2, §17.1.2.2). */
  start(): void {
    const t1 = this.host.settings.t1;
    if (!this.reliable) {
      this.retransmitInterval = t1;
      this.retransmitTimer = this.host.timers.start(this, this.isInvite ? TimerKind.A : TimerKind.E, t1);
    }
    this.timeoutTimer = this.host.timers.start(this, this.isInvite ? TimerKind.B : TimerKind.F, 64 * t1);
    this.transmit(this.request);
  }

  private transmit(data: Buffer): void {
    const error = this.host.send(data, this.destination, this.onSendFailure);
    if (error !== undefined) this.transportFailed();
  }

  /** RFC 3261 §17.1.4: a transport error is reported to the user as a failure (it answers 503 locally). */
  private transportFailed(): void {
    const s = this.state;
    if (s === 'terminated' || s === 'completed' || s === 'accepted') return;
    this.to('terminated');
    this.user.clientFailed(this, 'transport');
  }

  /** A response matched this transaction (RFC 3261 §17.1.1.2, §17.1.2.2, RFC 6026 §7.2). */
  receiveResponse(res: SipResponse, source?: Source): void {
    const status = res.status;
    const s = this.state;
    if (s === 'terminated') return;
    if (this.isInvite) {
      if (s === 'completed') {
        // a retransmitted final response: ACK again, do not pass up
        if (status >= 300 && this.ack !== undefined) this.transmit(this.ack);
        return;
      }
      if (s === 'accepted') {
        if (status >= 200 && status < 300) this.user.clientResponse(this, res, source); // RFC 6026: 2xx retransmissions pass
        return;
      }
      this.lastStatus = status;
      if (status < 200) {
        this.retransmitTimer = cancelTimer(this.retransmitTimer);
        // RFC 3261 §17.1.1.2: Timer B only applies in Calling; from now on the proxy's Timer C
        // (fr_inv_timer, §16.8) decides how long the branch may ring
        if (s === 'calling' && !this.cancelSent) this.timeoutTimer = cancelTimer(this.timeoutTimer);
        this.to('proceeding');
        this.user.clientResponse(this, res, source);
        return;
      }
      this.retransmitTimer = cancelTimer(this.retransmitTimer);
      this.timeoutTimer = cancelTimer(this.timeoutTimer);
      if (status < 300) {
        this.to('accepted');
        this.waitTimer = this.host.timers.start(this, TimerKind.M, waitTime(this.host.settings));
        this.user.clientResponse(this, res, source);
        return;
      }
      // RFC 3261 §17.1.1.3: ACK for a non-2xx final response, hop by hop
      const t = this.template!;
      this.ack = buildFromTemplate(t, 'ACK', res.getHeader('to') ?? t.to);
      this.transmit(this.ack);
      this.to('completed');
      // Timer D: 32 s over unreliable transports (at least 64*T1 would also do), or `wait`; 0 over reliable ones
      if (this.reliable) this.to('terminated');
      else this.waitTimer = this.host.timers.start(this, TimerKind.D, timerD(this.host.settings));
      this.user.clientResponse(this, res, source);
      return;
    }
    if (s === 'completed') return;
    this.lastStatus = status;
    if (status < 200) {
      this.to('proceeding');
      this.user.clientResponse(this, res, source);
      return;
    }
    this.retransmitTimer = cancelTimer(this.retransmitTimer);
    this.timeoutTimer = cancelTimer(this.timeoutTimer);
    this.to('completed');
    // Timer K: T4 over unreliable transports, 0 over reliable ones
    if (this.reliable) this.to('terminated');
    else this.waitTimer = this.host.timers.start(this, TimerKind.K, this.host.settings.t4);
    this.user.clientResponse(this, res, source);
  }

  onTimer(kind: number): void {
    const s = this.state;
    if (s === 'terminated') return;
    switch (kind) {
      case TimerKind.A:
        if (s !== 'calling') return;
        this.host.countRetransmission();
        this.transmit(this.request);
        this.retransmitInterval *= 2;
        this.retransmitTimer = this.host.timers.start(this, TimerKind.A, this.retransmitInterval);
        return;
      case TimerKind.E:
        if (s !== 'trying' && s !== 'proceeding') return;
        this.host.countRetransmission();
        this.transmit(this.request);
        // RFC 3261 §17.1.2.2: doubling up to T2; in Proceeding, every T2
        this.retransmitInterval =
          s === 'proceeding'
            ? this.host.settings.t2
            : Math.min(2 * this.retransmitInterval, this.host.settings.t2);
        this.retransmitTimer = this.host.timers.start(this, TimerKind.E, this.retransmitInterval);
        return;
      case TimerKind.B:
        // in Calling (§17.1.1.2), or 64*T1 after a CANCEL that brought no final response (§9.1)
        if (s !== 'calling' && !(s === 'proceeding' && this.cancelSent)) return;
        this.to('terminated');
        this.user.clientFailed(this, 'timeout');
        return;
      case TimerKind.F:
        if (s === 'completed' || s === 'accepted') return;
        this.to('terminated');
        this.user.clientFailed(this, 'timeout');
        return;
      case TimerKind.D:
      case TimerKind.K:
      case TimerKind.M:
        this.to('terminated');
        return;
    }
  }

  /**
   * A CANCEL was sent for this INVITE: if no final response comes within 64*T1, the transaction ends and
   * reports a timeout (RFC 3261 §9.1).
   */
  canceled(): void {
    const s = this.state;
    if (!this.isInvite || this.cancelSent || (s !== 'calling' && s !== 'proceeding')) return;
    this.cancelSent = true;
    this.timeoutTimer = cancelTimer(this.timeoutTimer);
    this.timeoutTimer = this.host.timers.start(this, TimerKind.B, 64 * this.host.settings.t1);
  }

  /** Stops retransmitting and timing (the proxy gave up on the branch, e.g. after sending CANCEL and a timeout). */
  terminate(): void {
    if (this.state !== 'terminated') this.to('terminated');
  }

  /**
   * When all that is left is waiting out Timer M (INVITE, Accepted: further 2xx go to `upstream`) or K
   * (non-INVITE, Completed: response retransmissions absorbed): a {@link ClientLinger} that takes over the
   * timer and the transaction's slot (the layer swaps the entries). Undefined in any other state.
   */
  toLinger(upstream: LateResponseSink | undefined): ClientLinger | undefined {
    const timer = this.waitTimer;
    const s = this.state;
    if (timer === undefined || !(s === 'accepted' || (s === 'completed' && !this.isInvite))) return undefined;
    const linger = new ClientLinger(this, s === 'accepted' ? upstream : undefined);
    if (!this.host.timers.replace(timer, linger)) return undefined;
    this.waitTimer = undefined;
    this.slot = -1;
    return linger;
  }
}

/** Where the further 2xx of a finished INVITE go (its server transaction, or what lingers of it). */
export interface LateResponseSink {
  respond(data: Buffer, status: number): void;
}

/**
 * A client transaction that has only its last timer to wait out, in its place in the layer's table and
 * its own timer node: the branch and method it matches, and for an INVITE in Accepted where further 2xx
 * (the UAS's retransmissions) go (RFC 6026 §7.2, passed upstream statelessly).
 */
export class ClientLinger extends Timer implements TimerOwner {
  readonly branch: string;
  readonly method: string;
  slot: number;
  private readonly upstream: LateResponseSink | undefined;
  private readonly host: ClientTransactionHost;

  constructor(ct: ClientTransaction, upstream: LateResponseSink | undefined) {
    super(undefined, 0, 0, undefined);
    this.owner = this;
    this.branch = ct.branch;
    this.method = ct.method;
    this.slot = ct.slot;
    this.upstream = upstream;
    this.host = ct.host;
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    if (this.upstream === undefined || status < 200 || status >= 300) return;
    res.popVia();
    this.upstream.respond(res.toBuffer(), status);
  }

  onTimer(): void {
    this.host.clientTerminated(this);
  }
}

/**
 * The parts of a sent request that its ACK (for a non-2xx final response) and its CANCEL repeat
 * (RFC 3261 §17.1.1.3, §9.1): Request-URI, the top Via, From, To, Call-ID, the CSeq number and Route.
 */
export interface RequestTemplate {
  uri: string;
  via: string;
  from: string;
  to: string;
  callId: string;
  cseq: number;
  routes: readonly string[];
}

/** Builds the ACK or CANCEL of a sent request; `to` replaces the To value (the response's, for ACK). */
export function buildFromTemplate(
  t: RequestTemplate,
  method: 'ACK' | 'CANCEL',
  to = t.to,
  extra = '',
): Buffer {
  let out = `${method} ${t.uri} SIP/2.0\r\nVia: ${t.via}\r\n`;
  for (const r of t.routes) out += `Route: ${r}\r\n`;
  out += `From: ${t.from}\r\nTo: ${to}\r\nCall-ID: ${t.callId}\r\nCSeq: ${t.cseq} ${method}\r\nMax-Forwards: 70\r\n${extra}Content-Length: 0\r\n\r\n`;
  return Buffer.from(out, 'latin1');
}
