/**
 * The SIP message model: a received buffer, an index of its header lines, and edits recorded over it.
 *
 * Headers are indexed when the message is parsed (name and value offsets only) and turned into typed
 * values the first time they are read. Edits replace, insert or remove whole header lines; every line
 * that was not edited is copied byte for byte from the received buffer when the message is serialized,
 * and an unedited message serializes to exactly the bytes it was parsed from.
 */
import { SipParseError } from './errors.js';
import { canonicalHeaderName, headerKey } from './header-names.js';
import { type AuthParams, parseAuth } from './headers/auth.js';
import { type MediaType, parseContentType } from './headers/content-type.js';
import { type CSeq, parseCSeq } from './headers/cseq.js';
import { parseDate } from './headers/date.js';
import {
  type EventHeader,
  parseEvent,
  parseSubscriptionState,
  type SubscriptionState,
} from './headers/event.js';
import {
  parseCallId,
  parseContentLength,
  parseExpires,
  parseMaxForwards,
  parseMinExpires,
} from './headers/numeric.js';
import { parseReason, type Reason } from './headers/reason.js';
import { parseRetryAfter, type RetryAfter } from './headers/retry-after.js';
import { parseTokenList } from './headers/token-list.js';
import { formatVia, parseVia, type Via, withReceived } from './headers/via.js';
import { latin1ToText, splitList, textToLatin1 } from './lexer.js';
import {
  type Contacts,
  type NameAddr,
  parseContacts,
  parseNameAddr,
  parseNameAddrList,
} from './name-addr.js';
import { formatUri, parseUri, type SipUri, type Uri } from './uri.js';

const CRLF = '\r\n';

/**
 * One header field: a line of the received message (possibly folded over several physical lines), or a
 * line added by an edit. Fields are immutable; an edit replaces the field.
 */
export class HeaderField {
  /** The name as written (`v`, `Via`, `VIA`). */
  readonly name: string;
  /** The lower-case full name (`via`), interned: compare with `===`. */
  readonly key: string;
  /** Where the line starts in {@link HeaderField.source}. */
  readonly lineStart: number;
  /** Where the line ends in {@link HeaderField.source}, after its line terminator (received fields). */
  readonly lineEnd: number;
  /** True when the value was folded over several lines in the received message. */
  readonly folded: boolean;
  /** True when the field was added by an edit rather than received. */
  readonly added: boolean;
  /** Cache for the typed value; owned by {@link SipMessage}. */
  parsed: unknown = undefined;
  private readonly source: string;
  private readonly valueStart: number;
  private readonly valueEnd: number;
  private cachedValue: string | undefined;

  /** @internal */
  constructor(
    name: string,
    key: string,
    source: string,
    lineStart: number,
    lineEnd: number,
    valueStart: number,
    valueEnd: number,
    folded: boolean,
    added: boolean,
  ) {
    this.name = name;
    this.key = key;
    this.source = source;
    this.lineStart = lineStart;
    this.lineEnd = lineEnd;
    this.valueStart = valueStart;
    this.valueEnd = valueEnd;
    this.folded = folded;
    this.added = added;
  }

  /** A field for a header added by an edit. */
  static create(name: string, value: string): HeaderField {
    assertNoLineBreak(name, 'header name');
    assertNoLineBreak(value, 'header value');
    const line = `${name}: ${value}`;
    return new HeaderField(
      name,
      headerKey(name),
      line,
      0,
      line.length,
      name.length + 2,
      line.length,
      false,
      true,
    );
  }

  /**
   * @internal A field olelo builds itself from values that cannot hold a line break (its own Via: listener
   * address, generated branch): {@link create} without the CR/LF checks.
   */
  static trusted(name: string, key: string, value: string): HeaderField {
    const line = `${name}: ${value}`;
    return new HeaderField(name, key, line, 0, line.length, name.length + 2, line.length, false, true);
  }

  /** The value (latin1 bytes as chars), with any folding replaced by a single space. */
  get value(): string {
    let v = this.cachedValue;
    if (v === undefined) {
      v = this.source.slice(this.valueStart, this.valueEnd);
      if (this.folded) v = unfold(v);
      this.cachedValue = v;
    }
    return v;
  }

  /** The value decoded from UTF-8 into text. */
  get text(): string {
    return latin1ToText(this.value);
  }

  /** Offset of the value from the start of the message (for error reporting). */
  get valueOffset(): number {
    return this.valueStart;
  }

  /** @internal The line without its terminator, for added fields. */
  get addedLine(): string {
    return this.source;
  }
}

function assertNoLineBreak(s: string, what: string): void {
  if (s.indexOf('\n') !== -1 || s.indexOf('\r') !== -1)
    throw new RangeError(`${what} must not contain CR or LF`);
}

/** Replaces each line break and the whitespace around it with one space (RFC 3261 §7.3.1). */
function unfold(v: string): string {
  let out = '';
  let i = 0;
  const n = v.length;
  while (i < n) {
    const c = v.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) {
      while (out.length > 0 && (out.endsWith(' ') || out.endsWith('\t'))) out = out.slice(0, -1);
      while (i < n) {
        const d = v.charCodeAt(i);
        if (d !== 0x0d && d !== 0x0a && d !== 0x20 && d !== 0x09) break;
        i++;
      }
      if (out.length > 0) out += ' '; // a value may start on a continuation line
      continue;
    }
    out += v[i];
    i++;
  }
  return out;
}

/** Where the parser found the parts of a message inside its buffer. @internal */
export interface MessageLayout {
  raw: Buffer;
  /** Offset of the start line in `raw` (after any leading CRLF). */
  base: number;
  /** latin1 text of `raw` from `base`, covering at least the start line and header section. */
  head: string;
  /** End of the start line's text in `head` (before its line terminator). */
  startLineEnd: number;
  /** Offset in `raw` where the body starts. */
  bodyStart: number;
  /** Offset in `raw` where the message ends (body end). */
  end: number;
  headers: HeaderField[];
  defects: string[] | undefined;
  /** The start line is malformed in a way parsing tolerated; serialization rewrites it. */
  rewriteStartLine: boolean;
}

const NO_DEFECTS: readonly string[] = Object.freeze([]);

/** Saved edit state of a message; see {@link SipMessage.snapshot}. */
export interface MessageSnapshot {
  readonly headers: readonly HeaderField[];
  readonly startLine: string | undefined;
  readonly body: Buffer | undefined;
  readonly edited: boolean;
  readonly extra: unknown;
}

const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'];
const MANDATORY_BIT = new Map(MANDATORY.map((key, i) => [key, 1 << i]));
const ALL_MANDATORY = (1 << MANDATORY.length) - 1;

/** The typed parser of every header with a typed view, by key; used by {@link SipMessage.validate}. */
const VALUE_PARSERS: Record<string, (value: string) => unknown> = {
  via: parseVia,
  from: parseNameAddr,
  to: parseNameAddr,
  'call-id': parseCallId,
  cseq: parseCSeq,
  'max-forwards': parseMaxForwards,
  'content-length': parseContentLength,
  'content-type': parseContentType,
  contact: parseContacts,
  route: parseNameAddrList,
  'record-route': parseNameAddrList,
  path: parseNameAddrList,
  'service-route': parseNameAddrList,
  'refer-to': parseNameAddr,
  expires: parseExpires,
  'min-expires': parseMinExpires,
  authorization: parseAuth,
  'proxy-authorization': parseAuth,
  'www-authenticate': parseAuth,
  'proxy-authenticate': parseAuth,
  event: parseEvent,
  'subscription-state': parseSubscriptionState,
  allow: parseTokenList,
  supported: parseTokenList,
  require: parseTokenList,
  'proxy-require': parseTokenList,
  unsupported: parseTokenList,
  date: parseDate,
  'retry-after': parseRetryAfter,
  reason: parseReason,
};
/** {@link VALUE_PARSERS} as a Map: one hash lookup per header (the object, keyed by names with dashes, is a dictionary). */
const PARSER_BY_KEY: ReadonlyMap<string, (value: string) => unknown> = new Map(Object.entries(VALUE_PARSERS));

const PARSERS_BY_SUBSET = new WeakMap<ReadonlySet<string>, ReadonlyMap<string, (value: string) => unknown>>();

/** {@link PARSER_BY_KEY} restricted to the keys of `only`, built once per set: one lookup per header. */
function parsersFor(only: ReadonlySet<string>): ReadonlyMap<string, (value: string) => unknown> {
  let m = PARSERS_BY_SUBSET.get(only);
  if (m === undefined) {
    m = new Map([...PARSER_BY_KEY].filter(([key]) => only.has(key)));
    PARSERS_BY_SUBSET.set(only, m);
  }
  return m;
}

/** What every SIP message has: headers, a body and the edits made to them. */
export abstract class SipMessage {
  /** The buffer the message was parsed from. */
  readonly raw: Buffer;
  /** Header fields in order. Treat as read-only; edit through the methods. */
  readonly headers: HeaderField[];
  /**
   * Defects a tolerant parse accepted (e.g. `bare LF line endings`, `extra whitespace in request line`).
   * Empty for a well-formed message.
   */
  readonly defects: readonly string[];
  protected readonly base: number;
  protected readonly head: string;
  protected readonly startLineEnd: number;
  private readonly bodyStart: number;
  private readonly end: number;
  private bodyBuffer: Buffer | undefined;
  /** New start line text, when the start line was edited. */
  protected startLine: string | undefined;
  /** True once anything was edited: serialization can no longer return the received bytes. */
  protected edited: boolean;

  /** @internal */
  constructor(layout: MessageLayout) {
    this.raw = layout.raw;
    this.base = layout.base;
    this.head = layout.head;
    this.startLineEnd = layout.startLineEnd;
    this.bodyStart = layout.bodyStart;
    this.end = layout.end;
    this.headers = layout.headers;
    this.defects = layout.defects ?? NO_DEFECTS;
    this.edited = false;
    this.startLine = undefined;
  }

  /** `SIP/2.0` for every message olelo accepts. */
  get version(): string {
    return 'SIP/2.0';
  }

  /** The body (empty when there is none). */
  get body(): Buffer {
    let b = this.bodyBuffer;
    if (b === undefined) {
      b = this.raw.subarray(this.bodyStart, this.end);
      this.bodyBuffer = b;
    }
    return b;
  }

  // ---------------------------------------------------------------- raw header access

  /** The first field with this name (any spelling or compact form), or `undefined`. */
  field(name: string): HeaderField | undefined {
    const key = headerKey(name);
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.key === key) return hs[i];
    return undefined;
  }

  /** Every field with this name, in order. */
  fields(name: string): HeaderField[] {
    const key = headerKey(name);
    const out: HeaderField[] = [];
    for (const h of this.headers) if (h.key === key) out.push(h);
    return out;
  }

  /** The value of the first field with this name (latin1), or `undefined`. */
  getHeader(name: string): string | undefined {
    return this.field(name)?.value;
  }

  /** The values of every field with this name, in order (a field holding a comma list is one value). */
  getHeaders(name: string): string[] {
    return this.fields(name).map((f) => f.value);
  }

  /** True when at least one field with this name is present. */
  hasHeader(name: string): boolean {
    return this.field(name) !== undefined;
  }

  // ---------------------------------------------------------------- typed views

  /** Typed value of one field, parsed on first use and cached; parse errors name the header and offset. */
  protected typed<T>(f: HeaderField, parse: (value: string) => T): T {
    let v = f.parsed as T | undefined;
    if (v === undefined) {
      try {
        v = parse(f.value);
      } catch (e) {
        if (e instanceof SipParseError) throw e.rebase(this.base + f.valueOffset, canonicalHeaderName(f.key));
        throw e;
      }
      f.parsed = v;
    }
    return v;
  }

  private typedFirst<T>(key: string, parse: (value: string) => T): T | undefined {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) {
      const f = hs[i]!;
      if (f.key === key) return this.typed(f, parse);
    }
    return undefined;
  }

  private typedAll<T>(key: string, parse: (value: string) => T[]): T[] {
    let out: T[] | undefined;
    let only: T[] | undefined;
    for (const f of this.headers) {
      if (f.key !== key) continue;
      const list = this.typed(f, parse);
      if (only === undefined && out === undefined) only = list;
      else {
        if (out === undefined) out = only!.slice();
        for (const x of list) out.push(x);
      }
    }
    return out ?? only ?? [];
  }

  /** All Via values, top first (RFC 3261 §20.42). */
  get via(): Via[] {
    const all = this.typedAll('via', parseVia);
    if (all.length > 64) throw new SipParseError('too many Via values', this.base, 'Via');
    return all;
  }

  /** The topmost Via value. */
  get topVia(): Via | undefined {
    const f = this.field('via');
    return f === undefined ? undefined : this.typed(f, parseVia)[0];
  }

  /** From (RFC 3261 §20.20). */
  get from(): NameAddr | undefined {
    return this.typedFirst('from', parseNameAddr);
  }

  /** To (RFC 3261 §20.39). */
  get to(): NameAddr | undefined {
    return this.typedFirst('to', parseNameAddr);
  }

  /** Call-ID (RFC 3261 §20.8). */
  get callId(): string | undefined {
    return this.typedFirst('call-id', parseCallId);
  }

  /** CSeq (RFC 3261 §20.16). */
  get cseq(): CSeq | undefined {
    return this.typedFirst('cseq', parseCSeq);
  }

  /** Max-Forwards (RFC 3261 §20.22), `undefined` when absent. */
  get maxForwards(): number | undefined {
    return this.typedFirst('max-forwards', parseMaxForwards);
  }

  /** Content-Length as written (the body length is {@link SipMessage.body}`.length`). */
  get contentLength(): number | undefined {
    return this.typedFirst('content-length', parseContentLength);
  }

  /** Content-Type (RFC 3261 §20.15). */
  get contentType(): MediaType | undefined {
    return this.typedFirst('content-type', parseContentType);
  }

  /** Contact values, or the `*` wildcard (RFC 3261 §20.10); `undefined` when absent. */
  get contact(): Contacts | undefined {
    let result: Contacts | undefined;
    for (const f of this.headers) {
      if (f.key !== 'contact') continue;
      const c = this.typed(f, parseContacts);
      if (result === undefined) result = c;
      else {
        if (c.wildcard || result.wildcard)
          throw new SipParseError("'*' Contact combined with other contacts", this.base, 'Contact');
        result = { wildcard: false, list: result.list.concat(c.list) };
      }
    }
    return result;
  }

  /** Route values in order (RFC 3261 §20.34). */
  get route(): NameAddr[] {
    return this.typedAll('route', parseNameAddrList);
  }

  /** Record-Route values in order (RFC 3261 §20.30). */
  get recordRoute(): NameAddr[] {
    return this.typedAll('record-route', parseNameAddrList);
  }

  /** Path values in order (RFC 3327). */
  get path(): NameAddr[] {
    return this.typedAll('path', parseNameAddrList);
  }

  /** Service-Route values in order (RFC 3608). */
  get serviceRoute(): NameAddr[] {
    return this.typedAll('service-route', parseNameAddrList);
  }

  /** Refer-To (RFC 3515). */
  get referTo(): NameAddr | undefined {
    return this.typedFirst('refer-to', parseNameAddr);
  }

  /** Expires (RFC 3261 §20.19). */
  get expires(): number | undefined {
    return this.typedFirst('expires', parseExpires);
  }

  /** Min-Expires (RFC 3261 §20.23). */
  get minExpires(): number | undefined {
    return this.typedFirst('min-expires', parseMinExpires);
  }

  /** Authorization values, one per field (RFC 3261 §20.7). */
  get authorization(): AuthParams[] {
    return this.fields('authorization').map((f) => this.typed(f, parseAuth));
  }

  /** Proxy-Authorization values, one per field (RFC 3261 §20.28). */
  get proxyAuthorization(): AuthParams[] {
    return this.fields('proxy-authorization').map((f) => this.typed(f, parseAuth));
  }

  /** WWW-Authenticate challenges, one per field (RFC 3261 §20.44). */
  get wwwAuthenticate(): AuthParams[] {
    return this.fields('www-authenticate').map((f) => this.typed(f, parseAuth));
  }

  /** Proxy-Authenticate challenges, one per field (RFC 3261 §20.27). */
  get proxyAuthenticate(): AuthParams[] {
    return this.fields('proxy-authenticate').map((f) => this.typed(f, parseAuth));
  }

  /** Event (RFC 6665 §8.2.1). */
  get event(): EventHeader | undefined {
    return this.typedFirst('event', parseEvent);
  }

  /** Subscription-State (RFC 6665 §8.2.3). */
  get subscriptionState(): SubscriptionState | undefined {
    return this.typedFirst('subscription-state', parseSubscriptionState);
  }

  /** Allow: methods, `undefined` when absent (RFC 3261 §20.5). */
  get allow(): string[] | undefined {
    return this.tokenList('allow');
  }

  /** Supported option tags (RFC 3261 §20.37). */
  get supported(): string[] | undefined {
    return this.tokenList('supported');
  }

  /** Require option tags (RFC 3261 §20.32). */
  get require(): string[] | undefined {
    return this.tokenList('require');
  }

  /** Proxy-Require option tags (RFC 3261 §20.29). */
  get proxyRequire(): string[] | undefined {
    return this.tokenList('proxy-require');
  }

  /** Unsupported option tags (RFC 3261 §20.40). */
  get unsupported(): string[] | undefined {
    return this.tokenList('unsupported');
  }

  private tokenList(key: string): string[] | undefined {
    if (this.field(key) === undefined) return undefined;
    return this.typedAll(key, parseTokenList);
  }

  /** Date (RFC 3261 §20.17). */
  get date(): Date | undefined {
    return this.typedFirst('date', parseDate);
  }

  /** Retry-After (RFC 3261 §20.33). */
  get retryAfter(): RetryAfter | undefined {
    return this.typedFirst('retry-after', parseRetryAfter);
  }

  /** Reason values (RFC 3326). */
  get reason(): Reason[] {
    return this.typedAll('reason', parseReason);
  }

  /**
   * Parses every header olelo has a typed view for, in every field where it appears, and checks that the
   * message hangs together (for requests: the Request-URI, and CSeq naming the request's method).
   * Throws the first {@link SipParseError} found. Presence of mandatory headers is not checked here: see
   * {@link SipMessage.missingHeaders}. `only` limits the header checks to those keys (lower-case names);
   * it must not change afterwards (the parsers for it are looked up once per set).
   */
  validate(only?: ReadonlySet<string>): void {
    const parsers = only === undefined ? PARSER_BY_KEY : parsersFor(only);
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) {
      const f = hs[i]!;
      const parse = parsers.get(f.key);
      if (parse !== undefined) this.typed(f, parse);
    }
    if (this.kind === 'request') this.validateRequest();
  }

  /** @internal Request-specific checks of {@link SipMessage.validate}. */
  protected validateRequest(): void {}

  /** The mandatory headers (RFC 3261 §8.1.1) this message lacks: any of Via, From, To, Call-ID, CSeq. */
  missingHeaders(): readonly string[] {
    // one pass over the fields, a bit per mandatory header
    let seen = 0;
    for (const h of this.headers) {
      const bit = MANDATORY_BIT.get(h.key);
      if (bit !== undefined) seen |= bit;
    }
    if (seen === ALL_MANDATORY) return NO_DEFECTS;
    return MANDATORY.filter((_, i) => (seen & (1 << i)) === 0).map(canonicalHeaderName);
  }

  /** `request` or `response`. */
  abstract readonly kind: 'request' | 'response';

  // ---------------------------------------------------------------- edits

  /** Appends a header field after all others. */
  appendHeader(name: string, value: string): void {
    this.headers.push(HeaderField.create(name, value));
    this.edited = true;
  }

  /** Inserts a header field before the first field of the same name, or at the top when there is none. */
  prependHeader(name: string, value: string): void {
    this.prependField(HeaderField.create(name, value));
  }

  /** @internal Inserts a field olelo built (see {@link HeaderField.trusted}) as {@link prependHeader} does. */
  prependField(f: HeaderField): void {
    const hs = this.headers;
    let i = 0;
    while (i < hs.length && hs[i]!.key !== f.key) i++;
    if (i === hs.length) i = 0;
    hs.splice(i, 0, f);
    this.edited = true;
  }

  /**
   * Sets a header to one value: the first field of that name is replaced in place, any others removed;
   * when there is none, the field is appended.
   */
  setHeader(name: string, value: string): void {
    const f = HeaderField.create(name, value);
    const hs = this.headers;
    let at = -1;
    for (let i = 0; i < hs.length; i++) {
      if (hs[i]!.key !== f.key) continue;
      if (at === -1) {
        at = i;
        hs[i] = f;
      } else {
        hs.splice(i, 1);
        i--;
      }
    }
    if (at === -1) hs.push(f);
    this.edited = true;
  }

  /** Removes every field with this name; returns how many were removed. */
  removeHeader(name: string): number {
    const key = headerKey(name);
    const hs = this.headers;
    let removed = 0;
    for (let i = hs.length - 1; i >= 0; i--) {
      if (hs[i]!.key === key) {
        hs.splice(i, 1);
        removed++;
      }
    }
    if (removed > 0) this.edited = true;
    return removed;
  }

  /** Removes one field (as found in {@link SipMessage.headers}); returns false when it is not there. */
  removeField(field: HeaderField): boolean {
    const i = this.headers.indexOf(field);
    if (i === -1) return false;
    this.headers.splice(i, 1);
    this.edited = true;
    return true;
  }

  /** Replaces one field with a new value, keeping its position and name as written. */
  replaceField(field: HeaderField, value: string): HeaderField {
    assertNoLineBreak(value, 'header value');
    return this.replaceWith(field, value);
  }

  /**
   * {@link replaceField} for a value cut from the field's own (unfolded, so without line breaks) value or
   * built from parsed parts of it: no CR/LF scan.
   */
  private replaceWith(field: HeaderField, value: string): HeaderField {
    const i = this.headers.indexOf(field);
    if (i === -1) throw new RangeError('field is not in this message');
    const f = HeaderField.trusted(field.name, field.key, value);
    this.headers[i] = f;
    this.edited = true;
    return f;
  }

  /** Adds a Via value on top (RFC 3261 §16.6 step 8). */
  prependVia(via: string | Via): void {
    this.prependHeader('Via', typeof via === 'string' ? via : formatVia(via));
  }

  /**
   * Removes the topmost Via value (RFC 3261 §16.7 step 3) and returns it; a field holding several
   * comma-separated values keeps the rest.
   */
  popVia(): Via | undefined {
    const f = this.field('via');
    if (f === undefined) return undefined;
    const vias = this.typed(f, parseVia);
    const top = vias[0];
    if (vias.length <= 1) this.removeField(f);
    else {
      const rest = splitList(f.value)[1]!;
      const replaced = this.replaceWith(f, f.value.slice(rest.offset));
      replaced.parsed = vias.slice(1);
    }
    return top;
  }

  /**
   * Removes the first or last value of a comma-list header (Route, Record-Route, Path, Via...), wherever
   * it sits: a field holding several values keeps the others. Returns false when there is none.
   */
  removeHeaderValue(name: string, which: 'first' | 'last'): boolean {
    const key = headerKey(name);
    const hs = this.headers;
    let f: HeaderField | undefined;
    if (which === 'first') f = hs.find((h) => h.key === key);
    else for (let i = hs.length - 1; i >= 0 && f === undefined; i--) if (hs[i]!.key === key) f = hs[i];
    if (f === undefined) return false;
    const values = splitList(f.value);
    if (values.length <= 1) return this.removeField(f);
    const v = f.value;
    if (which === 'first') this.replaceWith(f, v.slice(values[1]!.offset));
    else {
      const last = values[values.length - 1]!;
      let end = last.offset;
      while (end > 0 && v.charCodeAt(end - 1) !== 0x2c) end--;
      this.replaceWith(f, v.slice(0, end - 1).trimEnd());
    }
    return true;
  }

  /**
   * Sets `received` and `rport` on the topmost Via value (RFC 3261 §18.2.1, RFC 3581 §4). `undefined`
   * leaves a parameter as it is. Only the top value is rewritten; other values of the field keep their bytes.
   */
  setTopViaReceived(received: string | undefined, rport: number | undefined): void {
    const f = this.field('via');
    if (f === undefined) return;
    // the new text is the parsed field's but for this address: the only part that needs the CR/LF check
    if (received !== undefined) assertNoLineBreak(received, 'received');
    const vias = this.typed(f, parseVia);
    const top = vias[0]!;
    const updated: Via = {
      protocol: top.protocol,
      version: top.version,
      transport: top.transport,
      host: top.host,
      hostKind: top.hostKind,
      port: top.port,
      params: top.params,
      branch: top.branch,
      received: received ?? top.received,
      rport: rport ?? top.rport,
      maddr: top.maddr,
      ttl: top.ttl,
    };
    // the common case (a request's `;rport` answered, received added) as a text edit of the field
    let text =
      received !== undefined && top.received === undefined
        ? withReceived(f.value, received, rport)
        : undefined;
    if (text === undefined) {
      text = formatVia(updated);
      if (vias.length > 1) text += `, ${f.value.slice(splitList(f.value)[1]!.offset)}`;
    }
    const replaced = this.replaceWith(f, text);
    replaced.parsed = vias.length > 1 ? [updated, ...vias.slice(1)] : [updated];
  }

  /**
   * Replaces the body. Content-Length follows; Content-Type is set when given, and removed when the body
   * becomes empty without one.
   */
  setBody(body: Buffer | string, contentType?: string): void {
    this.bodyBuffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (contentType !== undefined) this.setHeader('Content-Type', contentType);
    else if (this.bodyBuffer.length === 0) this.removeHeader('content-type');
    this.setHeader('Content-Length', String(this.bodyBuffer.length));
    this.edited = true;
  }

  /**
   * The current edit state (header fields, start line, body). Fields are immutable, so this is cheap;
   * {@link SipMessage.restore} returns to it — used to apply per-branch edits and undo them.
   */
  snapshot(): MessageSnapshot {
    return {
      headers: this.headers.slice(),
      startLine: this.startLine,
      body: this.bodyBuffer,
      edited: this.edited,
      extra: this.snapshotExtra(),
    };
  }

  /** Returns to a {@link SipMessage.snapshot}. */
  restore(s: MessageSnapshot): void {
    const hs = this.headers;
    hs.length = 0;
    for (const f of s.headers) hs.push(f);
    this.startLine = s.startLine;
    this.bodyBuffer = s.body;
    this.edited = s.edited;
    this.restoreExtra(s.extra);
  }

  /** @internal Subclass state to snapshot (the Request-URI). */
  protected snapshotExtra(): unknown {
    return undefined;
  }

  /** @internal */
  protected restoreExtra(_extra: unknown): void {}

  /** True once the message has been edited. */
  get isEdited(): boolean {
    return this.edited;
  }

  // ---------------------------------------------------------------- serialization

  /** The start line as it will be written, without CRLF. */
  protected abstract formatStartLine(): string;

  /** Writes the start line anew on serialization (after an edit, or to drop a tolerated defect). */
  protected rewriteStartLine(): void {
    this.startLine = this.formatStartLine();
    this.edited = true;
  }

  /**
   * The message as bytes. An unedited message returns a view of the bytes it was parsed from; otherwise
   * untouched header lines are copied exactly as received and only edited lines are written anew.
   */
  toBuffer(): Buffer {
    if (!this.edited) return this.raw.subarray(this.base, this.end);
    const head = this.head;
    const hs = this.headers;
    // The header section as one latin1 string (slices of the received text and the added lines), written
    // with one call: cheaper than a write or copy per run of lines.
    let text = this.startLine === undefined ? head.slice(0, this.startLineEnd) : this.startLine;
    text += CRLF;
    let i = 0;
    while (i < hs.length) {
      const f = hs[i]!;
      if (f.added) {
        text += f.addedLine;
        text += CRLF;
        i++;
        continue;
      }
      // a run of consecutive received lines is one slice
      const runStart = f.lineStart;
      let runEnd = f.lineEnd;
      i++;
      while (i < hs.length) {
        const g = hs[i]!;
        if (g.added || g.lineStart !== runEnd) break;
        runEnd = g.lineEnd;
        i++;
      }
      text += head.slice(runStart, runEnd);
    }
    text += CRLF;
    const body = this.body;
    const out = Buffer.allocUnsafe(text.length + body.length);
    const pos = out.write(text, 0, 'latin1');
    body.copy(out, pos);
    return out;
  }

  /** The message as a latin1 string (one char per byte), mainly for logs and tests. */
  toString(): string {
    return this.toBuffer().toString('latin1');
  }
}

/** A SIP request. */
export class SipRequest extends SipMessage {
  readonly kind = 'request' as const;
  /** The method, case-sensitive (RFC 3261 §7.1). */
  method: string;
  private requestUriText: string;
  private parsedUri: Uri | undefined;

  /** @internal */
  constructor(layout: MessageLayout, method: string, requestUri: string) {
    super(layout);
    this.method = method;
    this.requestUriText = requestUri;
    this.parsedUri = undefined;
    if (layout.rewriteStartLine) this.rewriteStartLine();
  }

  /** The Request-URI as written. */
  get requestUri(): string {
    return this.requestUriText;
  }

  /** The Request-URI, parsed on first use. */
  get uri(): Uri {
    let u = this.parsedUri;
    if (u === undefined) {
      try {
        u = parseUri(this.requestUriText);
      } catch (e) {
        if (e instanceof SipParseError) throw e.rebase(this.base + this.method.length + 1, 'Request-URI');
        throw e;
      }
      this.parsedUri = u;
    }
    return u;
  }

  /** Rewrites the Request-URI (RFC 3261 §16.6 step 2). */
  setUri(uri: Uri | string): void {
    const text = typeof uri === 'string' ? uri : formatUri(uri);
    assertNoLineBreak(text, 'Request-URI');
    if (text.indexOf(' ') !== -1) throw new RangeError('Request-URI must not contain spaces');
    this.requestUriText = text;
    this.parsedUri = typeof uri === 'string' ? undefined : uri;
    this.rewriteStartLine();
  }

  protected formatStartLine(): string {
    return `${this.method} ${this.requestUriText} SIP/2.0`;
  }

  protected override snapshotExtra(): unknown {
    return [this.requestUriText, this.parsedUri];
  }

  protected override restoreExtra(extra: unknown): void {
    const [text, uri] = extra as [string, Uri | undefined];
    this.requestUriText = text;
    this.parsedUri = uri;
  }

  protected override validateRequest(): void {
    const uri = this.uri;
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI
    if ((uri.scheme === 'sip' || uri.scheme === 'sips') && (uri as SipUri).headers.length > 0) {
      throw new SipParseError(
        'Request-URI must not contain headers',
        this.base + this.method.length + 1,
        'Request-URI',
      );
    }
    const cseqField = this.field('cseq');
    // RFC 3261 §8.1.1.5: the CSeq method matches the request method
    if (cseqField !== undefined && this.typed(cseqField, parseCSeq).method !== this.method) {
      throw new SipParseError(
        'CSeq method does not match the request method',
        this.base + cseqField.valueOffset,
        'CSeq',
      );
    }
  }
}

/** A SIP response. */
export class SipResponse extends SipMessage {
  readonly kind = 'response' as const;
  /** Status code, 100-699. */
  status: number;
  private reasonText: string;

  /** @internal */
  constructor(layout: MessageLayout, status: number, reasonPhrase: string) {
    super(layout);
    this.status = status;
    this.reasonText = reasonPhrase;
    if (layout.rewriteStartLine) this.rewriteStartLine();
  }

  /** The reason phrase as text (decoded from UTF-8). */
  get reasonPhrase(): string {
    return latin1ToText(this.reasonText);
  }

  /** Changes status code and reason phrase. */
  setStatus(status: number, reasonPhrase: string): void {
    if (!Number.isInteger(status) || status < 100 || status > 699)
      throw new RangeError('status must be 100-699');
    assertNoLineBreak(reasonPhrase, 'reason phrase');
    this.status = status;
    this.reasonText = textToLatin1(reasonPhrase);
    this.rewriteStartLine();
  }

  protected formatStartLine(): string {
    return `SIP/2.0 ${this.status} ${this.reasonText}`;
  }
}

/** A parsed message: narrow with `msg.kind === 'request'`. */
export type SipMessageAny = SipRequest | SipResponse;
