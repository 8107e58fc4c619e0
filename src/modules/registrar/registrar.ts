/**
 * The registrar: REGISTER processing (RFC 3261 §10.3 with Path RFC 3327, Service-Route RFC 3608,
 * outbound RFC 5626 and GRUU RFC 5627) and the location lookup that turns an AOR into branches.
 */
import type { BranchTarget, RequestContext } from '../../core/context.js';
import type { CoreServices } from '../../core/module.js';
import { listenerName } from '../../core/pipeline.js';
import type { Stat } from '../../core/stats.js';
import type { HeaderList } from '../../sip/build.js';
import { SipParseError } from '../../sip/errors.js';
import { formatDate } from '../../sip/headers/date.js';
import { formatParams, type Params } from '../../sip/lexer.js';
import type { NameAddr } from '../../sip/name-addr.js';
import { formatUri, isSipUri, parseUri, type SipUri, type Uri } from '../../sip/uri.js';
import { RECEIVED_VAR, receivedUri } from '../nathelper/nat.js';
import type { Binding, ContactInput, LocationStore, MaybePromise } from '../usrloc/types.js';
import { bindingTag, isTempGruuUser, publicGruu, TempGruuCodec } from './gruu.js';
import { ALL_METHODS, allowsMethod, methodsMask } from './methods.js';

/** What `save` did (Kamailio's save return codes 1-4, and any error reply). */
export type SaveResult =
  /** At least one new binding (Kamailio 1). */
  | 'inserted'
  /** Bindings refreshed, none new (Kamailio 2); also a retransmitted REGISTER answered again. */
  | 'updated'
  /** Bindings removed only: expires 0 or `*` (Kamailio 3). */
  | 'deleted'
  /** No Contact: the current bindings were returned (Kamailio 4). */
  | 'queried'
  /** An error response was sent (400, 420, 421, 423, 439, 500, 503). */
  | 'rejected';

/**
 * What `lookup` found (Kamailio's lookup return codes: 1, -1 and -3, -2). On `found` the Request-URI
 * is the best contact and the other contacts are in the destination set (`req.branches`).
 */
export type LookupResult = 'found' | 'not-found' | 'method-not-allowed';

/** How the Path header of a REGISTER is handled (RFC 3327; Kamailio's `use_path` and `path_mode`). */
export type PathMode = 'strict' | 'lazy' | 'store' | 'ignore';

/** The registrar's settings (the module parameters). */
export interface RegistrarSettings {
  /** Seconds granted when neither the Contact nor the request says (RFC 3261 §10.3 step 7). */
  defaultExpires: number;
  /** Shortest non-zero interval accepted; 0 = none. */
  minExpires: number;
  /** Longest interval granted (longer ones are shortened); 0 = none. */
  maxExpires: number;
  /** Below minExpires: `reject` with 423 and Min-Expires, or `raise` to minExpires (Kamailio's way). */
  minExpiresMode: 'reject' | 'raise';
  pathMode: PathMode;
  /** Service-Route values put in every 200 (RFC 3608), e.g. `<sip:orig@scscf.example.com;lr>`. */
  serviceRoute: readonly string[];
  /** GRUUs (RFC 5627) for contacts with `+sip.instance` when the REGISTER supports `gruu`. */
  gruu: boolean;
  /** RFC 5626: `off` ignores reg-id; `supported` honours it; `required` refuses REGISTERs without `Supported: outbound`. */
  outbound: 'off' | 'supported' | 'required';
  /** Seconds for a Flow-Timer header (RFC 5626 §4.4.1) in 200s that set up a flow; 0 = none. */
  flowTimer: number;
  /** Seconds for a Retry-After header in the 503 sent when an AOR has too many contacts; 0 = none. */
  retryAfter: number;
  /** Longest Contact URI accepted, in characters. */
  contactMaxSize: number;
  /** lookup puts the other contacts in the destination set (otherwise only the Request-URI is rewritten). */
  appendBranches: boolean;
  /** lookup keeps only contacts whose methods (Allow of their REGISTER) include the request's, for initial requests. */
  methodFiltering: boolean;
  /** Key of temporary GRUUs; share it between servers that resolve each other's. Random per start when absent. */
  gruuSecret?: string;
}

/** The registrar's statistics. */
export interface RegistrarStats {
  accepted: Stat;
  rejected: Stat;
  defaultExpires: Stat;
  maxExpires: Stat;
}

/** A REGISTER that cannot be honoured: the response to send. */
class Rejection {
  constructor(
    readonly status: number,
    readonly reason?: string,
    readonly headers?: HeaderList,
  ) {}
}

/** What one Contact of a REGISTER asks for, once read and checked. */
interface ContactRequest {
  contact: string;
  /** Granted interval in seconds; 0 removes the binding. */
  expires: number;
  q: number;
  instance: string;
  regId: number;
  methods: number;
  defaulted: boolean;
  capped: boolean;
  /** What the store has to do, decided against the bindings (RFC 3261 §10.3 step 7). */
  action: 'insert' | 'update' | 'remove' | 'none';
}

const MAX_DELTA = 4294967295;
const MAX_REG_ID = 2147483647;

function fail(status: number, reason?: string, headers?: HeaderList): never {
  throw new Rejection(status, reason, headers);
}

/**
 * `yield* wait(x)` inside a {@link drive}n generator: the value of `x`, waiting only if it is a Promise.
 * Lets one linear piece of code run synchronously over the in-memory store and asynchronously over a
 * database-backed one.
 */
function* wait<T>(value: MaybePromise<T>): Generator<MaybePromise<T>, T, unknown> {
  // drive() sends back the settled value of what was yielded
  return (yield value) as T;
}

/** Runs a generator that yields possibly-pending values: synchronously until one is a Promise. */
function drive<R>(gen: Generator<unknown, R, unknown>): MaybePromise<R> {
  return resume(gen, gen.next());
}

function resume<R>(gen: Generator<unknown, R, unknown>, first: IteratorResult<unknown, R>): MaybePromise<R> {
  let step = first;
  while (!step.done) {
    const v = step.value;
    if (v instanceof Promise) {
      return v.then(
        (x) => resume(gen, gen.next(x)),
        (e: unknown) => resume(gen, gen.throw(e)),
      );
    }
    step = gen.next(v);
  }
  return step.value;
}

type Processed = { status: SaveResult; headers: HeaderList; defaulted: number; capped: number };

function then<T, R>(value: MaybePromise<T>, fn: (v: T) => R): MaybePromise<R> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** `user@domain` of a SIP URI, the domain lower-cased (the AOR key usrloc is given). */
export function aorOf(uri: SipUri): string {
  return `${uri.user}@${uri.host.toLowerCase()}`;
}

/** RFC 3261 §25.1 qvalue: `0`, `0.xxx`, `1`, `1.000`; in thousandths, or -1 when malformed. */
function parseQ(text: string): number {
  const n = text.length;
  if (n === 0 || n > 5) return -1;
  const lead = text.charCodeAt(0) - 0x30;
  if (lead !== 0 && lead !== 1) return -1;
  if (n === 1) return lead * 1000;
  if (text.charCodeAt(1) !== 0x2e) return -1;
  let frac = 0;
  let scale = 100;
  for (let i = 2; i < n; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    frac += d * scale;
    scale /= 10;
  }
  if (lead === 1 && frac !== 0) return -1;
  return lead * 1000 + frac;
}

/** A delta-seconds parameter (RFC 3261 §20.19): digits, capped at 2^32-1; -1 when malformed. */
function parseDelta(text: string): number {
  if (text.length === 0) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = Math.min(v * 10 + d, MAX_DELTA);
  }
  return v;
}

/** The Date header value for now, formatted once per second rather than per 200. */
let dateSecond = -1;
let dateText = '';
function currentDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = formatDate(new Date(second * 1000));
  }
  return dateText;
}

function formatQ(q: number): string {
  return String(q / 1000);
}

/** The registrar of one server, over one location store. */
export class Registrar {
  private readonly codec: TempGruuCodec;
  private readonly supportedTags: ReadonlySet<string>;
  private socketNames: ReadonlySet<string> | undefined;

  constructor(
    private readonly core: CoreServices,
    private readonly store: LocationStore,
    private readonly settings: RegistrarSettings,
    private readonly stats: RegistrarStats,
  ) {
    this.codec = new TempGruuCodec(settings.gruuSecret);
    const tags = new Set<string>();
    if (settings.pathMode !== 'ignore') tags.add('path');
    if (settings.outbound !== 'off') tags.add('outbound');
    if (settings.gruu) tags.add('gruu');
    this.supportedTags = tags;
  }

  // ------------------------------------------------------------------ save

  /**
   * Processes a REGISTER (RFC 3261 §10.3 steps 2, 5-8) for the AOR of its To URI (or `aor`) and replies:
   * statefully when the request has a transaction, statelessly otherwise (`core.reply`). Authentication
   * and the choice of domains this registrar serves (steps 1, 3, 4) are the script's.
   */
  save(req: RequestContext, aor?: string): MaybePromise<SaveResult> {
    if (req.method !== 'REGISTER')
      throw new TypeError(`registrar.save() needs a REGISTER, got ${req.method}`);
    let result: MaybePromise<Processed>;
    try {
      // synchronous over an in-memory store: the reply is sent before save() returns, so a route that
      // awaits it does not suspend, and the REGISTER stays stateless (as Kamailio's save() with sl)
      result = drive(this.process(req, aor));
    } catch (e) {
      return this.rejected(req, e);
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.accepted(req, r),
        (e: unknown) => this.rejected(req, e),
      );
    }
    return this.accepted(req, result);
  }

  private accepted(req: RequestContext, result: Processed): SaveResult {
    this.stats.accepted.value++;
    this.stats.defaultExpires.value += result.defaulted;
    this.stats.maxExpires.value += result.capped;
    this.core.reply(req, 200, undefined, result.headers);
    return result.status;
  }

  private rejected(req: RequestContext, e: unknown): SaveResult {
    let rejection: Rejection;
    if (e instanceof Rejection) rejection = e;
    else if (e instanceof SipParseError) rejection = new Rejection(400, e.reason);
    else throw e;
    this.stats.rejected.value++;
    this.core.reply(req, rejection.status, rejection.reason, rejection.headers);
    return 'rejected';
  }

  private *process(req: RequestContext, aorText: string | undefined): Generator<unknown, Processed, unknown> {
    const msg = req.msg;
    const settings = this.settings;
    const store = this.store;

    // RFC 3261 §10.3 step 2 (§8.2.2.3): extensions the request requires and we do not know
    const unsupported = (msg.require ?? []).filter((t) => !this.supportedTags.has(t.toLowerCase()));
    if (unsupported.length > 0) fail(420, undefined, [['Unsupported', unsupported.join(', ')]]);
    const supported = new Set((msg.supported ?? []).map((t) => t.toLowerCase()));
    if (settings.outbound === 'required' && !supported.has('outbound'))
      fail(421, undefined, [['Require', 'outbound']]);

    // step 5: the address-of-record (RFC 3261 §10.2: a SIP or SIPS URI)
    let aorUri: Uri | undefined;
    if (aorText === undefined) aorUri = msg.to?.uri;
    else aorUri = parseUri(aorText);
    if (aorUri === undefined || !isSipUri(aorUri) || aorUri.user === undefined || aorUri.user === '')
      fail(400, 'No username in To URI');
    const aor = aorOf(aorUri);
    const callId = msg.callId;
    const cseq = msg.cseq?.seq;
    if (callId === undefined || cseq === undefined) fail(400, 'Missing Call-ID or CSeq');

    // RFC 3327 §5.3: Path only from UAs that support it (strict), stored and returned in the 200
    let path = '';
    let pathValues: string[] = [];
    if (settings.pathMode !== 'ignore') {
      pathValues = msg.getHeaders('path');
      if (pathValues.length > 0) {
        void msg.path; // a malformed Path is a 400
        if (settings.pathMode === 'strict' && !supported.has('path'))
          fail(420, undefined, [['Unsupported', 'path']]);
        path = pathValues.join(',');
      }
    }
    const returnPath =
      path !== '' &&
      (settings.pathMode === 'strict' || (settings.pathMode === 'lazy' && supported.has('path')));

    const contacts = msg.contact;
    if (contacts === undefined) {
      // step 8 for a query: the current bindings
      return {
        status: 'queried',
        headers: yield* this.okHeaders(aorUri, aor, supported, [], false),
        defaulted: 0,
        capped: 0,
      };
    }

    if (contacts.wildcard) {
      // step 6: `*` needs Expires: 0 (and stands alone: the parser refuses `*` with other contacts)
      if (msg.expires !== 0) fail(400, '* used in Contact and Expires is not 0');
      const bindings = yield* wait(store.lookup(aor));
      for (const b of bindings) {
        if (b.callId === callId && cseq <= b.cseq) fail(500, 'Out of order request');
      }
      if (bindings.length > 0) yield* wait(store.removeAor(aor));
      return {
        status: 'deleted',
        headers: yield* this.okHeaders(aorUri, aor, supported, returnPath ? pathValues : [], false),
        defaulted: 0,
        capped: 0,
      };
    }

    // step 7, first pass: read and check every contact before touching the store (all or nothing)
    const headerExpires = msg.expires;
    const allow = msg.allow;
    const allowMask = allow === undefined ? ALL_METHODS : methodsMask(allow);
    const requests: ContactRequest[] = [];
    let tooBrief = false;
    for (const na of contacts.list) {
      const r = this.readContact(na, headerExpires, allowMask);
      if (r.expires > 0 && settings.minExpires > 0 && r.expires < settings.minExpires) {
        if (settings.minExpiresMode === 'reject') tooBrief = true;
        else r.expires = settings.minExpires;
      }
      requests.push(r);
    }
    // RFC 3261 §10.3 step 7: 423 with Min-Expires
    if (tooBrief) fail(423, undefined, [['Min-Expires', String(settings.minExpires)]]);

    // RFC 5626 §6: reg-id counts only with an instance, outbound support and us as the first hop
    let outbound = false;
    if (requests.some((r) => r.regId > 0)) {
      if (settings.outbound === 'off' || !supported.has('outbound')) {
        for (const r of requests) r.regId = 0;
      } else {
        // the first hop is us (one Via), or an edge proxy that put `ob` in its Path URI (RFC 5626 §5.1)
        const edge = msg.path[0]?.uri;
        const firstHop =
          msg.via.length === 1 || (edge !== undefined && isSipUri(edge) && edge.params.has('ob'));
        if (!firstHop) fail(439);
        if (requests.filter((r) => r.expires > 0).length > 1)
          fail(400, 'Several contacts with a reg-id registration');
        outbound = true;
      }
    }

    // step 7, second pass: each contact against its binding (RFC 3261 §10.3 step 7 ordering)
    let inserts = 0;
    let removals = 0;
    for (const r of requests) {
      const found = yield* wait(
        store.find(aor, { contact: r.contact, instance: r.instance, regId: r.regId }),
      );
      if (found !== undefined && found.callId === callId && cseq <= found.cseq) {
        if (cseq < found.cseq) fail(500, 'Out of order request');
        r.action = 'none'; // the same request again (a retransmission): already applied
        continue;
      }
      if (found === undefined) r.action = r.expires > 0 ? 'insert' : 'none';
      else r.action = r.expires > 0 ? 'update' : 'remove';
      if (r.action === 'insert') inserts++;
      else if (r.action === 'remove') removals++;
    }
    const limit = store.maxContacts;
    if (limit > 0 && inserts > 0) {
      const current = (yield* wait(store.lookup(aor))).length;
      if (current - removals + inserts > limit) this.tooMany();
    }

    // apply
    const now = store.now();
    const source = req.source;
    const nat = req.get(RECEIVED_VAR);
    const flow = receivedUri(source);
    const stream = source.protocol !== 'udp';
    const userAgent = msg.getHeader('user-agent') ?? '';
    const socket = listenerName(source.listener);
    let defaulted = 0;
    let capped = 0;
    for (const r of requests) {
      if (r.action === 'remove') {
        yield* wait(
          store.remove(aor, { contact: r.contact, instance: r.instance, regId: r.regId }, { callId, cseq }),
        );
        continue;
      }
      if (r.action === 'none') continue;
      if (r.defaulted) defaulted++;
      if (r.capped) capped++;
      // the flow back to the UA: NAT-fixed, or the connection itself for streams and RFC 5626 flows
      const received = typeof nat === 'string' ? nat : stream || r.regId > 0 ? flow : '';
      const input: ContactInput = {
        contact: r.contact,
        expires: now + r.expires,
        callId,
        cseq,
        q: r.q,
        received,
        path,
        userAgent,
        socket,
        methods: r.methods,
        instance: r.instance,
        regId: r.regId,
        connectionId: source.connectionId ?? -1,
      };
      const saved = yield* wait(store.save(aor, input));
      if (saved.status === 'too-many') this.tooMany(); // only when another REGISTER raced this one
    }
    const status: SaveResult =
      inserts > 0
        ? 'inserted'
        : removals > 0 && requests.every((r) => r.action !== 'update')
          ? 'deleted'
          : 'updated';
    return {
      status,
      headers: yield* this.okHeaders(aorUri, aor, supported, returnPath ? pathValues : [], outbound),
      defaulted,
      capped,
    };
  }

  private tooMany(): never {
    const retry = this.settings.retryAfter;
    fail(503, 'Too Many Registered Contacts', retry > 0 ? [['Retry-After', String(retry)]] : undefined);
  }

  /** One Contact of a REGISTER, read and checked (RFC 3261 §10.3 step 7; RFC 5626 §6; RFC 3840 methods). */
  private readContact(na: NameAddr, headerExpires: number | undefined, allowMask: number): ContactRequest {
    const settings = this.settings;
    if (!isSipUri(na.uri)) fail(400, 'Contact is not a SIP URI');
    const contact = formatUri(na.uri);
    if (contact.length > settings.contactMaxSize) fail(400, 'Contact URI too long');
    const params = na.params;
    let expires: number;
    let defaulted = false;
    const e = params.get('expires');
    if (e !== undefined) {
      expires = e === null ? -1 : parseDelta(e);
      if (expires < 0) fail(400, 'Invalid expires param in contact');
    } else if (headerExpires !== undefined) {
      expires = headerExpires;
    } else {
      expires = settings.defaultExpires;
      defaulted = true;
    }
    let capped = false;
    if (expires > 0 && settings.maxExpires > 0 && expires > settings.maxExpires) {
      expires = settings.maxExpires;
      capped = true;
    }
    let q = -1;
    const qText = params.get('q');
    if (qText !== undefined) {
      q = qText === null ? -1 : parseQ(qText);
      if (q < 0) fail(400, 'Invalid q param in contact');
    }
    const instanceValue = params.get('+sip.instance');
    const instance = typeof instanceValue === 'string' ? instanceValue : '';
    let regId = 0;
    const regIdText = params.get('reg-id');
    if (instance !== '' && regIdText !== undefined) {
      regId = regIdText === null ? -1 : parseDelta(regIdText);
      if (regId < 1 || regId > MAX_REG_ID) fail(400, 'Invalid reg-id param in contact');
    }
    const methodsValue = params.get('methods');
    const methods = typeof methodsValue === 'string' ? methodsMask(methodsValue.split(',')) : allowMask;
    return { contact, expires, q, instance, regId, methods, defaulted, capped, action: 'none' };
  }

  /** The headers of a 200 (RFC 3261 §10.3 step 8): every current binding with its expires, and Date. */
  private *okHeaders(
    aorUri: SipUri,
    aor: string,
    supported: ReadonlySet<string>,
    pathValues: readonly string[],
    outbound: boolean,
  ): Generator<unknown, HeaderList, unknown> {
    const headers: Array<[string, string]> = [];
    const bindings = yield* wait(this.store.lookup(aor));
    const now = this.store.now();
    const gruu = this.settings.gruu && supported.has('gruu');
    for (const b of bindings) {
      if (b.expires === 0) continue; // permanent bindings were not registered by a UA
      const params: Params = new Map();
      params.set('expires', String(Math.max(0, b.expires - now)));
      if (b.q >= 0) params.set('q', formatQ(b.q));
      if (b.instance !== '') {
        params.set('+sip.instance', b.instance);
        if (b.regId > 0) params.set('reg-id', String(b.regId));
        if (gruu) {
          // RFC 5627 §5.1 (the values are quoted: formatParams quotes what is not a token)
          params.set('pub-gruu', publicGruu(aorUri, b.instance));
          params.set('temp-gruu', this.codec.create(aorUri.scheme, aor, b));
        }
      }
      headers.push(['Contact', `<${b.contact}>${formatParams(params)}`]);
    }
    for (const p of pathValues) headers.push(['Path', p]); // RFC 3327 §5.3
    for (const r of this.settings.serviceRoute) headers.push(['Service-Route', r]); // RFC 3608 §6
    if (outbound) {
      // RFC 5626 §6: the registrar says it applied outbound processing to this registration
      headers.push(['Require', 'outbound']);
      headers.push(['Supported', 'outbound']);
      if (this.settings.flowTimer > 0) headers.push(['Flow-Timer', String(this.settings.flowTimer)]);
    }
    headers.push(['Date', currentDate()]); // RFC 3261 §10.3 step 8
    return headers;
  }

  // ------------------------------------------------------------------ lookup

  /**
   * Kamailio's `lookup`: the contacts of the Request-URI's AOR (or of `aor`; a GRUU resolves to its
   * instance's contacts, RFC 5627 §5.5). The Request-URI becomes the best contact and the others go into
   * the destination set, each with the flow it registered on: its Path as Route (RFC 3327 §5.3), else its
   * received address, and the listener it came in on. One contact per instance (RFC 5626 §7).
   */
  lookup(req: RequestContext, aor?: string): MaybePromise<LookupResult> {
    const uri = aor === undefined ? req.msg.uri : parseUri(aor);
    if (!isSipUri(uri) || uri.user === undefined || uri.user === '') return 'not-found';
    let key = aorOf(uri);
    let only: ((b: Binding) => boolean) | undefined;
    const gr = this.settings.gruu ? uri.params.get('gr') : undefined;
    if (gr !== undefined) {
      if (gr !== null) {
        // a public GRUU: the AOR's contacts of that instance
        const instance = `<${gr}>`;
        only = (b) => b.instance === instance;
      } else if (isTempGruuUser(uri.user)) {
        const opened = this.codec.open(uri.user);
        if (opened === undefined) return 'not-found';
        key = opened.aor;
        const tag = opened.tag;
        only = (b) => b.instance !== '' && bindingTag(b).equals(tag);
      }
    }
    return then(this.store.lookup(key), (bindings) => this.route(req, bindings, only));
  }

  private route(
    req: RequestContext,
    found: readonly Binding[],
    only: ((b: Binding) => boolean) | undefined,
  ): LookupResult {
    let bindings = only === undefined ? found : found.filter(only);
    if (bindings.length === 0) return 'not-found';
    if (this.settings.methodFiltering && !req.hasToTag) {
      const method = req.method;
      bindings = bindings.filter((b) => allowsMethod(b.methods, method));
      if (bindings.length === 0) return 'method-not-allowed';
    }
    bindings = onePerInstance(bindings);
    const best = bindings[0]!;
    req.setUri(best.contact);
    req.uriQ = best.q < 0 ? 1 : best.q / 1000;
    if (best.path !== '') {
      // RFC 3327 §5.3: the Path leads to the UA (its first hop takes care of the NAT)
      req.uriRoutes = [best.path];
      req.nextHop = undefined;
    } else {
      req.uriRoutes = undefined;
      req.nextHop = best.received === '' ? undefined : best.received;
    }
    const socket = this.socketOf(best);
    if (socket !== '') req.sendSocket = socket;
    if (this.settings.appendBranches && bindings.length > 1) {
      const set = req.branches ?? [];
      for (let i = 1; i < bindings.length; i++) set.push(this.target(bindings[i]!));
      req.branches = set;
    }
    return 'found';
  }

  /** A binding as a branch of the destination set. */
  private target(b: Binding): BranchTarget {
    const t: BranchTarget = { uri: b.contact, q: b.q < 0 ? 1 : b.q / 1000, socket: this.socketOf(b) };
    if (b.path !== '') t.routes = [b.path];
    else if (b.received !== '') t.nextHop = b.received;
    return t;
  }

  /** The binding's listener when it still exists; `''` (the destination chooses) otherwise. */
  private socketOf(b: Binding): string {
    if (b.socket === '') return '';
    let names = this.socketNames;
    if (names === undefined || names.size !== this.core.listeners.length) {
      names = new Set(this.core.listeners.map(listenerName));
      this.socketNames = names;
    }
    return names.has(b.socket) ? b.socket : '';
  }

  // ------------------------------------------------------------------ registered, unregister

  /** Kamailio's `registered`: true when the AOR (default: the Request-URI's) has a live contact. */
  registered(req: RequestContext, aor?: string): MaybePromise<boolean> {
    const uri = aor === undefined ? req.msg.uri : parseUri(aor);
    if (!isSipUri(uri) || uri.user === undefined) return false;
    return then(this.store.lookup(aorOf(uri)), (b) => b.length > 0);
  }

  /** Kamailio's `unregister`: removes the AOR's bindings, or the one whose contact is `contact`; resolves how many. */
  unregister(aor: string, contact?: string): MaybePromise<number> {
    const uri = parseUri(aor.includes(':') ? aor : `sip:${aor}`);
    const key = isSipUri(uri) && uri.user !== undefined ? aorOf(uri) : aor;
    if (contact === undefined) return this.store.removeAor(key);
    return then(this.store.remove(key, { contact }), (r) => (r === 'removed' ? 1 : 0));
  }
}

/**
 * RFC 5626 §7: at most one contact per instance in the target set — the most recently refreshed one;
 * the order (best q first) of the rest is kept.
 */
function onePerInstance(bindings: readonly Binding[]): readonly Binding[] {
  let chosen: Map<string, Binding> | undefined;
  for (const b of bindings) {
    if (b.instance === '') continue;
    chosen ??= new Map();
    const current = chosen.get(b.instance);
    if (current === undefined || b.lastModified > current.lastModified) chosen.set(b.instance, b);
  }
  if (chosen === undefined) return bindings;
  return bindings.filter((b) => b.instance === '' || chosen.get(b.instance) === b);
}
