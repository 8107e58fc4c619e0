/**
 * Test helper: JsSIP (npm `jssip`, the browser SIP library) as a user agent in Node, over the `ws` package
 * to a SIP-over-WebSocket listener (RFC 7118), with promise-based steps that all time out.
 *
 * - The WebSocket: JsSIP expects a browser `WebSocket` global; instead it is given a socket of its
 *   `JsSIP.Socket` interface written here over `ws` (subprotocol `sip`), so no global is replaced.
 * - Calls without WebRTC: JsSIP 3 has no pluggable session description handler (SIP.js has); it builds
 *   its SDP through `RTCPeerConnection`. {@link installFakeWebRtc} puts a stand-in on the globals it reads
 *   (`window.RTCPeerConnection`, `RTCPeerConnection`, `RTCSessionDescription`) that offers and answers a
 *   fixed PCMU SDP (`c=IN IP4 127.0.0.1`, port 9, no media flows) and reports ICE as complete at once.
 *   Calls are placed and answered with no local media (`mediaConstraints` false), so `getUserMedia` is
 *   never asked.
 * - Digest: JsSIP 3 answers MD5 only, and reads only the first challenge: the server must offer MD5
 *   first (olelo: `modules.auth.algorithms: [MD5]`).
 *
 * Stop every user ({@link JsSipUser.stop}) before the server: JsSIP reconnects after a lost connection.
 */
import JsSIP from 'jssip';
import type { RTCSession } from 'jssip/lib/RTCSession.js';
import type { IncomingRequest } from 'jssip/lib/SIPMessage.js';
import type { Socket } from 'jssip/lib/Socket.js';
import type { IncomingMessageEvent, RTCSessionEvent, UA, UAConfiguration } from 'jssip/lib/UA.js';
import { WebSocket } from 'ws';

// ---------------------------------------------------------------------------------------------------
// The WebSocket, over `ws`

/** A JsSIP socket (its `JsSIP.Socket` interface) over the `ws` package. */
export class WsSocket {
  readonly url: string;
  readonly sip_uri: string;
  via_transport = 'WS';
  /** Every SIP message sent (`> ` then the text) and received (`< `), in order. */
  readonly trace: string[] = [];
  /** Set by JsSIP. */
  onconnect: () => void = () => {};
  ondisconnect: (error: boolean, code?: number, reason?: string) => void = () => {};
  ondata: (data: string) => void = () => {};
  private ws: WebSocket | undefined;

  /** `url`: `ws://127.0.0.1:<port>`. */
  constructor(url: string) {
    const parsed = new URL(url);
    this.url = url;
    this.sip_uri = `sip:${parsed.hostname}${parsed.port === '' ? '' : `:${parsed.port}`};transport=ws`;
    this.via_transport = parsed.protocol === 'wss:' ? 'WSS' : 'WS';
  }

  connect(): void {
    if (this.isConnected() || this.isConnecting()) return;
    this.disconnect();
    const ws = new WebSocket(this.url, 'sip');
    this.ws = ws;
    ws.on('open', () => this.onconnect());
    ws.on('message', (data) => {
      const text = String(data);
      this.trace.push(`< ${text}`);
      this.ondata(text);
    });
    ws.on('close', (code, reason) => {
      if (this.ws === ws) {
        this.ws = undefined;
        this.ondisconnect(code !== 1000, code, reason.toString());
      }
    });
    ws.on('error', () => {
      // reported through 'close'
    });
  }

  disconnect(): void {
    const ws = this.ws;
    this.ws = undefined;
    if (ws !== undefined) ws.terminate();
  }

  send(message: string | Buffer): boolean {
    if (!this.isConnected()) return false;
    this.trace.push(`> ${String(message)}`);
    this.ws!.send(message);
    return true;
  }

  isConnected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  isConnecting(): boolean {
    return this.ws?.readyState === WebSocket.CONNECTING;
  }

  /** The local port of the connection (olelo sees the client at 127.0.0.1:<this port>). */
  get localPort(): number | undefined {
    return (this.ws as unknown as { _socket?: { localPort?: number } } | undefined)?._socket?.localPort;
  }
}

// ---------------------------------------------------------------------------------------------------
// Stand-ins for WebRTC

/** The SDP the stand-in offers and answers: PCMU on 127.0.0.1, port 9 (discard), nothing is sent. */
export function dummySdp(sessionId = Date.now()): string {
  return [
    'v=0',
    `o=- ${sessionId} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 9 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

interface Description {
  type: string;
  sdp: string;
}

class FakeSessionDescription implements Description {
  type: string;
  sdp: string;
  constructor(init: Description) {
    this.type = init.type;
    this.sdp = init.sdp;
  }
}

/** What JsSIP uses of RTCPeerConnection, with SDP from {@link dummySdp} and no ICE, media or tracks. */
class FakePeerConnection extends EventTarget {
  localDescription: Description | null = null;
  remoteDescription: Description | null = null;
  signalingState = 'stable';
  iceGatheringState = 'complete';
  iceConnectionState = 'connected';
  connectionState = 'connected';
  private readonly id = Math.floor(Math.random() * 1e9);

  async createOffer(): Promise<Description> {
    return new FakeSessionDescription({ type: 'offer', sdp: dummySdp(this.id) });
  }
  async createAnswer(): Promise<Description> {
    return new FakeSessionDescription({ type: 'answer', sdp: dummySdp(this.id) });
  }
  async setLocalDescription(description: Description): Promise<void> {
    this.localDescription = description;
    this.signalingState = description.type === 'offer' ? 'have-local-offer' : 'stable';
  }
  async setRemoteDescription(description: Description): Promise<void> {
    this.remoteDescription = description;
    this.signalingState = description.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  addTrack(): void {}
  getSenders(): unknown[] {
    return [];
  }
  getReceivers(): unknown[] {
    return [];
  }
  getLocalStreams(): unknown[] {
    return [];
  }
  getRemoteStreams(): unknown[] {
    return [];
  }
  close(): void {
    this.signalingState = 'closed';
  }
}

/**
 * Installs the WebRTC stand-ins on the globals JsSIP reads, when they are missing (idempotent). Test
 * files run in their own processes, so this touches only the file that uses JsSIP calls.
 */
export function installFakeWebRtc(): void {
  const g = globalThis as Record<string, unknown>;
  g.RTCPeerConnection ??= FakePeerConnection;
  g.RTCSessionDescription ??= FakeSessionDescription;
  if (g.window === undefined) g.window = { RTCPeerConnection: g.RTCPeerConnection };
  else (g.window as Record<string, unknown>).RTCPeerConnection ??= g.RTCPeerConnection;
}

// ---------------------------------------------------------------------------------------------------
// The user agent

/** Options of {@link JsSipUser.start}. */
export interface JsSipUserOptions {
  /** The server's WebSocket URL, `ws://127.0.0.1:<port>`. */
  wsUrl: string;
  /** The user's AOR, `sip:alice@example.com`. */
  uri: string;
  password: string;
  /** Digest user name when it is not the AOR's user. */
  authorizationUser?: string;
  /** Expires of its REGISTERs (JsSIP's default: 600). */
  registerExpires?: number;
  /** How long to wait for the WebSocket. Default 5 s. */
  connectTimeoutMs?: number;
}

/** How a registration attempt ended. */
export type RegistrationOutcome =
  | { ok: true; status: number; contact: string | undefined }
  | { ok: false; cause: string; status: number | undefined };

/** How a request or a call ended with an error. */
export interface Failure {
  cause: string;
  status: number | undefined;
}

/** A MESSAGE this user received (JsSIP answered it 200). */
export interface ReceivedMessage {
  from: string;
  contentType: string | undefined;
  body: string;
  request: IncomingRequest;
}

/** A call of this user, placed or received. */
export class JsSipCall {
  readonly session: RTCSession;
  /** Resolves when the call has ended (BYE either way, or a failure), with who ended it and why. */
  readonly ended: Promise<{ originator: string; cause: string }>;
  /** Resolves when the call is confirmed (ACK sent or received); rejects when it failed first. */
  readonly confirmed: Promise<void>;

  constructor(session: RTCSession) {
    this.session = session;
    this.ended = new Promise((resolve) => {
      const done = (e: { originator: string; cause?: string }) =>
        resolve({ originator: e.originator, cause: String(e.cause ?? '') });
      session.on('ended', done);
      session.on('failed', done);
    });
    this.confirmed = new Promise((resolve, reject) => {
      session.on('confirmed', () => resolve());
      session.on('failed', (e) => {
        const status = statusOf(e.message);
        reject(
          Object.assign(new Error(`call failed: ${e.cause} (${status ?? 'no response'})`), {
            cause: e.cause,
            status,
          }),
        );
      });
    });
    this.confirmed.catch(() => {});
  }

  get direction(): 'incoming' | 'outgoing' {
    return this.session.direction as 'incoming' | 'outgoing';
  }

  /** The peer's identity (From of an incoming call, To of an outgoing one). */
  get remoteUri(): string {
    return this.session.remote_identity.uri.toString();
  }

  /** Answers an incoming call with the dummy SDP; resolves once the ACK has come. */
  async answer(timeoutMs = 5000): Promise<void> {
    this.session.answer({ mediaConstraints: { audio: false, video: false } });
    await within(this.confirmed, timeoutMs, 'ACK for the answered call');
  }

  /** Declines an incoming call (486 unless `status` says otherwise). */
  reject(status = 486): void {
    this.session.terminate({ status_code: status });
  }

  /** Sends BYE (or CANCEL before the answer); resolves when the call has ended. */
  async hangup(timeoutMs = 5000): Promise<{ originator: string; cause: string }> {
    if (!this.session.isEnded()) this.session.terminate();
    return within(this.ended, timeoutMs, 'end of the call');
  }
}

/** The status code of a JsSIP response object (undefined for a request or nothing). */
function statusOf(message: unknown): number | undefined {
  const status = (message as { status_code?: unknown } | null | undefined)?.status_code;
  return typeof status === 'number' ? status : undefined;
}

/** Transactions of `kinds` (nict, nist, ict, ist) a JsSIP UA still holds (private table; 0 when unknown). */
function openTransactions(ua: UA, kinds: string[]): number {
  const table = (ua as unknown as { _transactions?: Record<string, Record<string, unknown>> })._transactions;
  if (table === undefined) return 0;
  return kinds.reduce((n, kind) => n + Object.keys(table[kind] ?? {}).length, 0);
}

/** Rejects with `what` after `timeoutMs` unless `promise` settled first. */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`JsSIP: timeout (${timeoutMs} ms) waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Queued items with waiters, for events that may come before or after someone asks for them. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];
  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(item);
    else this.items.push(item);
  }
  next(timeoutMs: number, what: string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    let waiter!: (item: T) => void;
    const promise = new Promise<T>((resolve) => {
      waiter = resolve;
      this.waiters.push(resolve);
    });
    return within(promise, timeoutMs, what).catch((error: unknown) => {
      const i = this.waiters.indexOf(waiter);
      if (i !== -1) this.waiters.splice(i, 1);
      throw error;
    });
  }
}

/** A JsSIP user agent connected over WebSocket. */
export class JsSipUser {
  readonly ua: UA;
  readonly socket: WsSocket;
  readonly uri: string;
  private readonly messages = new Inbox<ReceivedMessage>();
  private readonly calls = new Inbox<JsSipCall>();
  private stopped = false;

  private constructor(ua: UA, socket: WsSocket, uri: string) {
    this.ua = ua;
    this.socket = socket;
    this.uri = uri;
    ua.on('newMessage', (e: IncomingMessageEvent | { originator: string }) => {
      if (e.originator !== 'remote') return;
      const request = (e as IncomingMessageEvent).request;
      this.messages.push({
        from: request.from.uri.toString(),
        contentType: request.getHeader('content-type') || undefined,
        body: String(request.body ?? ''),
        request,
      });
    });
    ua.on('newRTCSession', (e: RTCSessionEvent) => {
      if (e.originator === 'remote') this.calls.push(new JsSipCall(e.session));
    });
  }

  /** Every SIP message sent (`> ` then the text) and received (`< `) over its WebSocket, in order. */
  get trace(): string[] {
    return this.socket.trace;
  }

  /** Waits until a traced message (`> ...` sent, `< ...` received) passes `test`; resolves with it. */
  async waitForTrace(test: (entry: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.trace.find(test);
      if (found !== undefined) return found;
      if (Date.now() >= deadline)
        throw new Error(`JsSIP: timeout (${timeoutMs} ms) waiting for a traced message`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Creates the user agent and opens its WebSocket (it does not register: see {@link register}). */
  static async start(options: JsSipUserOptions): Promise<JsSipUser> {
    installFakeWebRtc();
    const socket = new WsSocket(options.wsUrl);
    const configuration: UAConfiguration = {
      // WsSocket has every member of JsSIP's Socket (whose declaration types ondata as generic)
      sockets: socket as unknown as Socket,
      uri: options.uri,
      password: options.password,
      register: false,
      session_timers: false,
      no_answer_timeout: 20,
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 4,
      user_agent: 'JsSIP (olelo tests)',
      ...(options.authorizationUser === undefined ? {} : { authorization_user: options.authorizationUser }),
      ...(options.registerExpires === undefined ? {} : { register_expires: options.registerExpires }),
    };
    const ua = new JsSIP.UA(configuration);
    const user = new JsSipUser(ua, socket, options.uri);
    const connected = new Promise<void>((resolve) => ua.once('connected', () => resolve()));
    ua.start();
    try {
      await within(connected, options.connectTimeoutMs ?? 5000, `WebSocket ${options.wsUrl}`);
    } catch (error) {
      await user.stop(500);
      throw error;
    }
    return user;
  }

  /** Registers (digest auth handled by JsSIP); resolves how it ended, failure included. */
  register(timeoutMs = 5000): Promise<RegistrationOutcome> {
    const outcome = new Promise<RegistrationOutcome>((resolve) => {
      const onRegistered = (e: { response: { status_code: number; getHeader(n: string): string } }) => {
        this.ua.off('registrationFailed', onFailed);
        resolve({
          ok: true,
          status: e.response.status_code,
          contact: e.response.getHeader('contact') || undefined,
        });
      };
      const onFailed = (e: { cause?: string; response?: { status_code: number } | null }) => {
        this.ua.off('registered', onRegistered);
        resolve({ ok: false, cause: String(e.cause ?? ''), status: e.response?.status_code });
      };
      this.ua.once('registered', onRegistered);
      this.ua.once('registrationFailed', onFailed);
    });
    this.ua.register();
    return within(outcome, timeoutMs, `registration of ${this.uri}`);
  }

  /** Unregisters (Expires 0); resolves on the answer. */
  async unregister(timeoutMs = 5000): Promise<void> {
    if (!this.ua.isRegistered()) return;
    const done = new Promise<void>((resolve) => this.ua.once('unregistered', () => resolve()));
    this.ua.unregister();
    await within(done, timeoutMs, `unregistration of ${this.uri}`);
  }

  /** Sends a MESSAGE; resolves with the final status, rejects with the cause when it failed. */
  sendMessage(
    target: string,
    body: string,
    options: { contentType?: string; timeoutMs?: number } = {},
  ): Promise<number> {
    const result = new Promise<number>((resolve, reject) => {
      this.ua.sendMessage(target, body, {
        contentType: options.contentType ?? 'text/plain',
        eventHandlers: {
          succeeded: (e: { response: { status_code: number } }) => resolve(e.response.status_code),
          failed: (e: { cause?: string; response?: { status_code: number } | null }) =>
            reject(
              Object.assign(
                new Error(`MESSAGE failed: ${e.cause} (${e.response?.status_code ?? 'no response'})`),
                {
                  cause: e.cause,
                  status: e.response?.status_code,
                },
              ),
            ),
        },
      });
    });
    return within(result, options.timeoutMs ?? 5000, `answer to MESSAGE to ${target}`);
  }

  /** The next MESSAGE received (already received ones first). */
  nextMessage(timeoutMs = 5000): Promise<ReceivedMessage> {
    return this.messages.next(timeoutMs, `a MESSAGE to ${this.uri}`);
  }

  /** Calls `target` with the dummy SDP; resolves once the call is confirmed (200 received, ACK sent). */
  async call(target: string, timeoutMs = 5000): Promise<JsSipCall> {
    const session = this.ua.call(target, { mediaConstraints: { audio: false, video: false } });
    const call = new JsSipCall(session);
    try {
      await within(call.confirmed, timeoutMs, `answer to the call to ${target}`);
    } catch (error) {
      if (!session.isEnded()) session.terminate();
      throw error;
    }
    return call;
  }

  /** The next incoming call (ringing; answer or reject it). */
  nextCall(timeoutMs = 5000): Promise<JsSipCall> {
    return this.calls.next(timeoutMs, `a call to ${this.uri}`);
  }

  /**
   * Unregisters when registered, stops the user agent and closes its WebSocket; bounded by `timeoutMs`
   * (then the socket is closed anyway).
   */
  async stop(timeoutMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.socket.isConnected() && this.ua.isRegistered()) await this.unregister(timeoutMs).catch(() => {});
    if (this.socket.isConnected()) this.ua.terminateSessions();
    // let the last non-INVITE transactions (BYE, un-REGISTER) finish: they go a tick after their answer
    const deadline = Date.now() + Math.min(timeoutMs, 1000);
    while (openTransactions(this.ua, ['nict', 'nist']) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    const disconnected = new Promise<void>((resolve) => {
      if (!this.ua.isConnected()) resolve();
      else this.ua.once('disconnected', () => resolve());
    });
    this.ua.stop();
    // With transactions left (an INVITE client transaction waits 32 s after its 2xx), JsSIP closes its
    // transport only after a fixed 2 s: close it now, which also ends those transactions and their timers.
    const ua = this.ua as unknown as {
      _closeTimer?: NodeJS.Timeout | null;
      _transport?: { disconnect(): void };
    };
    if (ua._closeTimer !== undefined && ua._closeTimer !== null && ua._transport !== undefined) {
      clearTimeout(ua._closeTimer);
      ua._closeTimer = null;
      ua._transport.disconnect();
    }
    await within(disconnected, timeoutMs, 'disconnection').catch(() => {});
    this.socket.disconnect();
  }
}
