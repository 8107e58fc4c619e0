/**
 * Parser benchmark: olelo's SIP message core against the npm packages `sip` (kirm) and `sip.js` (SIP.js),
 * on one ~900-byte INVITE, in three cases:
 *
 *   (a) index   parse the message (olelo: index the header lines; the peers parse eagerly, it is all they do)
 *   (b) read    parse, then read every header the message has, the Request-URI parsed
 *   (c) proxy   parse, decrement Max-Forwards, prepend a Via, add a Record-Route, serialize to a Buffer
 *
 * Every peer starts from the Buffer a server receives; the Buffer -> string conversion of the peers that
 * take strings, and the string -> Buffer conversion of their output, are part of the timed work.
 * Every path is checked for correctness before it is timed. See bench/README.md and docs/performance.md.
 *
 * Usage: node dist/bench/parser.js [--quick] [--json]   (pin it: taskset -c 1 node dist/bench/parser.js)
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Core, type NameAddrHeader, type URI } from 'sip.js';
import { type Uri as OleloUri, parseMessage, type SipUri, serializeMessage } from '../src/sip/index.js';
import {
  HEADER_FIELDS,
  MESSAGE_BYTES,
  NEW_RR,
  NEW_VIA,
  POOL,
  POOL_SIZE,
  PROXY_BRANCH,
  PROXY_HOST,
  SDP,
  type Variant,
  variant,
} from './input.js';

// ------------------------------------------------------------------------------------------------ options

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: node dist/bench/parser.js [--quick] [--json]');
  console.log('  --quick  short warm-up and rounds (a smoke run, a few seconds)');
  console.log('  --json   print one JSON object instead of the table');
  process.exit(0);
}
for (const a of argv) {
  if (a !== '--quick' && a !== '--json') {
    console.error(`unknown option ${a}; try --help`);
    process.exit(2);
  }
}
const QUICK = argv.includes('--quick');
const JSON_OUT = argv.includes('--json');
/** Warm-up per (peer, case) before any timing, in ms. */
const WARMUP_MS = QUICK ? 150 : 1000;
/** Timed rounds per (peer, case); the median is reported. */
const ROUNDS = QUICK ? 3 : 9;
/** Target duration of one round, in ms; the iteration count of a round is fixed from the warm-up. */
const ROUND_MS = QUICK ? 60 : 250;

/** Targets for case (c) (issue: proxy path). */
const TARGET_PROXY_RATE = 200_000;
const TARGET_PROXY_RATIO = 3;

// ------------------------------------------------------------------------------------------------ facts

/**
 * What case (b) reads, the same for every peer. Each peer fills one reused object, so the reading costs
 * only what the peer's API costs; before timing, every peer's facts must equal the expected ones.
 */
interface Facts {
  method: string;
  ruriUser: string;
  ruriHost: string;
  viaHost: string[];
  viaPort: number[];
  viaBranch: string[];
  viaReceived: string[];
  /** -1 absent, 0 the `rport` flag, else the port. */
  viaRport: number[];
  fromDisplay: string;
  fromUser: string;
  fromHost: string;
  fromTag: string;
  toDisplay: string;
  toUser: string;
  toHost: string;
  toTag: string;
  callId: string;
  cseq: number;
  cseqMethod: string;
  maxForwards: number;
  contactUser: string;
  contactHost: string;
  contactPort: number;
  contactExpires: number;
  routeHosts: string[];
  recordRouteHosts: string[];
  contentLength: number;
  contentType: string;
  expires: number;
  allow: readonly string[];
  supported: readonly string[];
  userAgent: string;
  bodyLength: number;
}

function newFacts(): Facts {
  return {
    method: '',
    ruriUser: '',
    ruriHost: '',
    viaHost: [],
    viaPort: [],
    viaBranch: [],
    viaReceived: [],
    viaRport: [],
    fromDisplay: '',
    fromUser: '',
    fromHost: '',
    fromTag: '',
    toDisplay: '',
    toUser: '',
    toHost: '',
    toTag: '',
    callId: '',
    cseq: 0,
    cseqMethod: '',
    maxForwards: 0,
    contactUser: '',
    contactHost: '',
    contactPort: 0,
    contactExpires: 0,
    routeHosts: [],
    recordRouteHosts: [],
    contentLength: 0,
    contentType: '',
    expires: 0,
    allow: [],
    supported: [],
    userAgent: '',
    bodyLength: 0,
  };
}

function resetLists(f: Facts): void {
  f.viaHost.length = 0;
  f.viaPort.length = 0;
  f.viaBranch.length = 0;
  f.viaReceived.length = 0;
  f.viaRport.length = 0;
  f.routeHosts.length = 0;
  f.recordRouteHosts.length = 0;
}

/** A cheap summary of the facts for the sink, so the reads cannot be dropped as dead code. */
function factsWeight(f: Facts): number {
  return (
    f.viaBranch.length +
    f.viaRport[0]! +
    f.cseq +
    f.maxForwards +
    f.contactPort +
    f.fromTag.length +
    f.toTag.length +
    f.callId.length +
    f.allow.length +
    f.supported.length +
    f.routeHosts.length +
    f.recordRouteHosts.length +
    f.expires +
    f.contentLength +
    f.contentType.length +
    f.ruriHost.length +
    f.userAgent.length
  );
}

function expectedFacts(v: Variant): Facts {
  return {
    method: 'INVITE',
    ruriUser: 'bob',
    ruriHost: 'biloxi.com',
    viaHost: ['p1.atlanta.com', '192.168.1.20'],
    viaPort: [-1, 5060],
    viaBranch: [`z9hG4bK2d4790.${v.k}`, `z9hG4bK74bf9a${v.k}`],
    viaReceived: ['', '198.51.100.7'],
    viaRport: [0, 40123],
    fromDisplay: 'Alice',
    fromUser: 'alice',
    fromHost: 'atlanta.com',
    fromTag: `9fxced76sl${v.k}`,
    toDisplay: 'Bob',
    toUser: 'bob',
    toHost: 'biloxi.com',
    toTag: `8321234356${v.k}`,
    callId: `3848276298220188511${v.k}@atlanta.com`,
    cseq: v.cseq,
    cseqMethod: 'INVITE',
    maxForwards: 69,
    contactUser: 'alice',
    contactHost: '192.168.1.20',
    contactPort: 5060,
    contactExpires: 3600,
    routeHosts: ['p2.biloxi.com'],
    recordRouteHosts: ['p1.atlanta.com'],
    contentLength: Buffer.byteLength(SDP),
    contentType: 'application/sdp',
    expires: 180,
    allow: ['INVITE', 'ACK', 'CANCEL', 'OPTIONS', 'BYE', 'REFER', 'NOTIFY', 'UPDATE'],
    supported: ['replaces', 'timer', '100rel'],
    userAgent: 'olelo-bench/1.0',
    bodyLength: Buffer.byteLength(SDP),
  };
}

function fail(what: string): never {
  throw new Error(`bench check failed: ${what}`);
}

// ------------------------------------------------------------------------------------------------ olelo

function asSipUri(u: OleloUri): SipUri {
  if (u.scheme !== 'sip' && u.scheme !== 'sips') fail(`not a SIP URI: ${u.scheme}`);
  return u as SipUri;
}

function oleloIndex(buf: Buffer): number {
  return parseMessage(buf).headers.length;
}

function oleloRead(buf: Buffer, f: Facts): void {
  const msg = parseMessage(buf);
  if (msg.kind !== 'request') fail('olelo: not a request');
  resetLists(f);
  f.method = msg.method;
  const ruri = asSipUri(msg.uri);
  f.ruriUser = ruri.user ?? '';
  f.ruriHost = ruri.host;
  for (const v of msg.via) {
    f.viaHost.push(v.host);
    f.viaPort.push(v.port ?? -1);
    f.viaBranch.push(v.branch ?? '');
    f.viaReceived.push(v.received ?? '');
    f.viaRport.push(v.rport === undefined ? -1 : v.rport === null ? 0 : v.rport);
  }
  const from = msg.from!;
  const fromUri = asSipUri(from.uri);
  f.fromDisplay = from.displayName ?? '';
  f.fromUser = fromUri.user ?? '';
  f.fromHost = fromUri.host;
  f.fromTag = from.params.get('tag') ?? '';
  const to = msg.to!;
  const toUri = asSipUri(to.uri);
  f.toDisplay = to.displayName ?? '';
  f.toUser = toUri.user ?? '';
  f.toHost = toUri.host;
  f.toTag = to.params.get('tag') ?? '';
  f.callId = msg.callId!;
  const cseq = msg.cseq!;
  f.cseq = cseq.seq;
  f.cseqMethod = cseq.method;
  f.maxForwards = msg.maxForwards!;
  const contact = msg.contact!.list[0]!;
  const contactUri = asSipUri(contact.uri);
  f.contactUser = contactUri.user ?? '';
  f.contactHost = contactUri.host;
  f.contactPort = contactUri.port ?? -1;
  f.contactExpires = Number(contact.params.get('expires'));
  for (const r of msg.route) f.routeHosts.push(asSipUri(r.uri).host);
  for (const r of msg.recordRoute) f.recordRouteHosts.push(asSipUri(r.uri).host);
  f.contentLength = msg.contentLength!;
  const ct = msg.contentType!;
  f.contentType = `${ct.type}/${ct.subtype}`;
  f.expires = msg.expires!;
  f.allow = msg.allow!;
  f.supported = msg.supported!;
  f.userAgent = msg.getHeader('user-agent')!;
  f.bodyLength = msg.body.length;
}

function oleloProxy(buf: Buffer): Buffer {
  const msg = parseMessage(buf);
  const mf = msg.maxForwards ?? 70; // RFC 3261 §16.6 step 3
  msg.setHeader('Max-Forwards', String(mf - 1));
  msg.prependHeader('Record-Route', NEW_RR); // §16.6 step 4
  msg.prependVia(NEW_VIA); // §16.6 step 8
  return serializeMessage(msg);
}

// ------------------------------------------------------------------------------------------------ sip (kirm)

type KirmParams = Record<string, string | null | undefined>;
interface KirmUri {
  schema: string;
  user: string | undefined;
  host: string;
  port: number;
  params: KirmParams;
}
interface KirmAor {
  name?: string | undefined;
  uri: string | KirmUri;
  params: KirmParams;
}
interface KirmVia {
  version: string;
  protocol: string;
  host: string;
  port?: number | undefined;
  params: KirmParams;
}
interface KirmHeaders {
  via: KirmVia[];
  from: KirmAor;
  to: KirmAor;
  contact: KirmAor[] | '*';
  route?: KirmAor[];
  'record-route'?: KirmAor[];
  cseq: { seq: number; method: string };
  'call-id': string;
  'content-length': number;
  'max-forwards'?: string | number;
  [name: string]: unknown;
}
interface KirmMessage {
  method?: string;
  uri?: string | KirmUri;
  status?: number;
  version: string;
  headers: KirmHeaders;
  content: string;
}
interface KirmSip {
  parse(data: string | Buffer): KirmMessage | undefined;
  stringify(m: KirmMessage): string;
  parseUri(s: string | KirmUri): KirmUri | undefined;
}

// `sip` is CommonJS without type declarations; the interfaces above cover what the bench uses.
const kirm = createRequire(import.meta.url)('sip') as KirmSip;

function kirmParse(buf: Buffer): KirmMessage {
  // its UDP transport does the same: parse(buffer) -> buffer.toString('binary')
  const m = kirm.parse(buf.toString('latin1'));
  if (m === undefined) fail('sip: parse failed');
  return m;
}

function kirmUri(u: string | KirmUri | undefined): KirmUri {
  const p = u === undefined ? undefined : kirm.parseUri(u);
  if (p === undefined) fail(`sip: bad URI ${String(u)}`);
  return p;
}

function unquoteName(name: string | undefined): string {
  if (name === undefined) return '';
  return name.charCodeAt(0) === 0x22 ? name.slice(1, -1) : name;
}

function splitTokens(v: string): string[] {
  const out = v.split(',');
  for (let i = 0; i < out.length; i++) out[i] = out[i]!.trim();
  return out;
}

/** `type/subtype` of a Content-Type value, lower-cased, for the peers that keep it as a string. */
function mediaType(v: string): string {
  const semi = v.indexOf(';');
  return (semi === -1 ? v : v.slice(0, semi)).trim().toLowerCase();
}

function kirmIndex(buf: Buffer): number {
  return kirmParse(buf).content.length;
}

function kirmRead(buf: Buffer, f: Facts): void {
  const m = kirmParse(buf);
  const h = m.headers;
  resetLists(f);
  f.method = m.method!;
  const ruri = kirmUri(m.uri);
  f.ruriUser = ruri.user ?? '';
  f.ruriHost = ruri.host;
  for (const v of h.via) {
    f.viaHost.push(v.host);
    f.viaPort.push(v.port ?? -1);
    f.viaBranch.push(v.params.branch ?? '');
    f.viaReceived.push(v.params.received ?? '');
    const rport = v.params.rport;
    f.viaRport.push(rport === undefined ? -1 : rport === null ? 0 : Number(rport));
  }
  const fromUri = kirmUri(h.from.uri);
  f.fromDisplay = unquoteName(h.from.name);
  f.fromUser = fromUri.user ?? '';
  f.fromHost = fromUri.host;
  f.fromTag = h.from.params.tag ?? '';
  const toUri = kirmUri(h.to.uri);
  f.toDisplay = unquoteName(h.to.name);
  f.toUser = toUri.user ?? '';
  f.toHost = toUri.host;
  f.toTag = h.to.params.tag ?? '';
  f.callId = h['call-id'];
  f.cseq = h.cseq.seq;
  f.cseqMethod = h.cseq.method;
  f.maxForwards = Number(h['max-forwards']);
  if (h.contact === '*') fail('sip: wildcard contact');
  const contact = h.contact[0]!;
  const contactUri = kirmUri(contact.uri);
  f.contactUser = contactUri.user ?? '';
  f.contactHost = contactUri.host;
  f.contactPort = Number.isNaN(contactUri.port) ? -1 : contactUri.port;
  f.contactExpires = Number(contact.params.expires);
  for (const r of h.route ?? []) f.routeHosts.push(kirmUri(r.uri).host);
  for (const r of h['record-route'] ?? []) f.recordRouteHosts.push(kirmUri(r.uri).host);
  f.contentLength = h['content-length'];
  f.contentType = mediaType(h['content-type'] as string);
  f.expires = Number(h.expires);
  f.allow = splitTokens(h.allow as string);
  f.supported = splitTokens(h.supported as string);
  f.userAgent = h['user-agent'] as string;
  f.bodyLength = m.content.length;
}

function kirmProxy(buf: Buffer): Buffer {
  const m = kirmParse(buf);
  const h = m.headers;
  h['max-forwards'] = String(Number(h['max-forwards'] ?? 70) - 1);
  const rr: KirmAor = { uri: `sip:${PROXY_HOST};lr`, params: {} };
  const rrs = h['record-route'];
  if (rrs === undefined) h['record-route'] = [rr];
  else rrs.unshift(rr);
  h.via.unshift({
    version: '2.0',
    protocol: 'UDP',
    host: PROXY_HOST,
    port: 5060,
    params: { branch: PROXY_BRANCH },
  });
  // its transports send Buffer.from(stringify(m), 'binary')
  return Buffer.from(kirm.stringify(m), 'latin1');
}

// ------------------------------------------------------------------------------------------------ sip.js

const loggerFactory = new Core.LoggerFactory();
loggerFactory.builtinEnabled = false;
const sipjsLogger = loggerFactory.getLogger('sip.parser');

function sipjsParse(buf: Buffer): Core.IncomingRequestMessage {
  // SIP.js takes text: its transports hand it a decoded WebSocket text frame
  const m = Core.Parser.parseMessage(buf.toString('utf8'), sipjsLogger);
  if (!(m instanceof Core.IncomingRequestMessage)) fail('sip.js: parse failed');
  return m;
}

function sipjsIndex(buf: Buffer): number {
  return sipjsParse(buf).body.length;
}

function sipjsRead(buf: Buffer, f: Facts): void {
  const m = sipjsParse(buf);
  resetLists(f);
  f.method = m.method;
  const ruri = m.ruri!;
  f.ruriUser = ruri.user ?? '';
  f.ruriHost = ruri.host;
  const viaCount = m.headers.Via?.length ?? 0;
  for (let i = 0; i < viaCount; i++) {
    // the first Via is parsed by parseMessage, the others on request
    const v = m.parseHeader('via', i) as {
      host: string;
      port?: number;
      branch?: string;
      received?: string;
      rport?: string;
      params?: Record<string, string | undefined>;
    };
    f.viaHost.push(v.host);
    f.viaPort.push(v.port ?? -1);
    f.viaBranch.push(v.branch ?? '');
    f.viaReceived.push(v.received ?? '');
    f.viaRport.push(
      v.rport !== undefined ? Number(v.rport) : v.params !== undefined && 'rport' in v.params ? 0 : -1,
    );
  }
  f.fromDisplay = m.from.displayName;
  f.fromUser = m.from.uri.user ?? '';
  f.fromHost = m.from.uri.host;
  f.fromTag = m.fromTag;
  f.toDisplay = m.to.displayName;
  f.toUser = m.to.uri.user ?? '';
  f.toHost = m.to.uri.host;
  f.toTag = m.toTag;
  f.callId = m.callId;
  f.cseq = m.cseq;
  f.cseqMethod = (m.parseHeader('cseq') as { method: string }).method;
  f.maxForwards = m.parseHeader('max-forwards') as number;
  const contact = m.parseHeader('contact') as NameAddrHeader;
  const contactUri: URI = contact.uri;
  f.contactUser = contactUri.user ?? '';
  f.contactHost = contactUri.host;
  f.contactPort = contactUri.port ?? -1;
  f.contactExpires = Number(contact.getParam('expires'));
  // SIP.js has no Route rule: Record_Route has the same syntax (rec-route vs route = name-addr *(;param))
  for (const raw of m.getHeaders('route')) {
    const parsed = Core.Grammar.parse(raw, 'Record_Route') as Array<{ parsed: NameAddrHeader }> | -1;
    if (parsed === -1) fail('sip.js: bad Route');
    for (const r of parsed) f.routeHosts.push(r.parsed.uri.host);
  }
  const rrCount = m.headers['Record-Route']?.length ?? 0;
  for (let i = 0; i < rrCount; i++)
    f.recordRouteHosts.push((m.parseHeader('record-route', i) as NameAddrHeader).uri.host);
  f.contentLength = m.parseHeader('content-length') as number;
  // the Content_Type rule validates the value and returns it as a string
  f.contentType = mediaType(m.parseHeader('content-type') as string);
  // SIP.js itself reads Expires with Number(getHeader('expires')) and has no Allow rule
  f.expires = Number(m.getHeader('expires'));
  f.allow = splitTokens(m.getHeader('allow')!);
  f.supported = m.parseHeader('supported') as string[];
  f.userAgent = m.getHeader('user-agent')!;
  f.bodyLength = m.body.length;
}

/**
 * Serializes a received SIP.js message after edits. SIP.js has no such function: IncomingMessage.toString()
 * returns the received text whatever was edited. This mirrors OutgoingRequestMessage.toString(): start line
 * from the parsed Request-URI, then every header of the header map as stored.
 */
function sipjsSerialize(m: Core.IncomingRequestMessage): string {
  let s = `${m.method} ${m.ruri!.toRaw()} SIP/2.0\r\n`;
  const headers = m.headers;
  for (const name in headers) {
    for (const part of headers[name]!) s += `${name}: ${part.raw}\r\n`;
  }
  return `${s}\r\n${m.body}`;
}

function sipjsProxy(buf: Buffer): Buffer {
  const m = sipjsParse(buf);
  const mf = m.parseHeader('max-forwards') as number | undefined;
  m.setHeader('max-forwards', String((mf ?? 70) - 1));
  // no API to insert a header value on top: addHeader appends, so edit the header map directly
  const rr = m.headers['Record-Route'];
  if (rr === undefined) m.addHeader('record-route', NEW_RR);
  else rr.unshift({ raw: NEW_RR });
  m.headers.Via!.unshift({ raw: NEW_VIA });
  return Buffer.from(sipjsSerialize(m), 'utf8');
}

// ------------------------------------------------------------------------------------------------ checks

const FACT_KEYS = Object.keys(newFacts()) as Array<keyof Facts>;

function checkFacts(peer: string, got: Facts, want: Facts): void {
  for (const key of FACT_KEYS) {
    const a = JSON.stringify(got[key]);
    const b = JSON.stringify(want[key]);
    if (a !== b) fail(`${peer} (b): ${key} is ${a}, expected ${b}`);
  }
}

/**
 * Checks a proxy output with olelo's parser, strictly (every typed header parsed): one more Via with the
 * proxy's branch on top, Max-Forwards one less, the proxy's Record-Route on top, every other fact and the
 * body unchanged.
 */
function checkProxyOutput(peer: string, out: Buffer, input: Buffer, v: Variant): void {
  let msg: ReturnType<typeof parseMessage>;
  try {
    msg = parseMessage(out);
    msg.validate();
  } catch (e) {
    fail(`${peer} (c): output does not parse: ${(e as Error).message}\n${out.toString('latin1')}`);
  }
  if (msg.defects.length > 0) fail(`${peer} (c): output has defects ${msg.defects.join(', ')}`);
  const want = expectedFacts(v);
  want.viaHost.unshift(PROXY_HOST);
  want.viaPort.unshift(5060);
  want.viaBranch.unshift(PROXY_BRANCH);
  want.viaReceived.unshift('');
  want.viaRport.unshift(-1);
  want.maxForwards -= 1;
  want.recordRouteHosts.unshift(PROXY_HOST);
  const got = newFacts();
  oleloRead(out, got);
  checkFacts(`${peer} (c) output`, got, want);
  if (msg.missingHeaders().length > 0) fail(`${peer} (c): output lacks ${msg.missingHeaders().join(', ')}`);
  const inBody = parseMessage(input).body;
  if (!msg.body.equals(inBody)) fail(`${peer} (c): body changed`);
  if (peer === 'olelo') {
    // olelo copies every line it did not edit byte for byte: the output is exactly predictable
    const want = input
      .toString('latin1')
      .replace('\r\nVia: ', `\r\nVia: ${NEW_VIA}\r\nVia: `)
      .replace('\r\nMax-Forwards: 69\r\n', '\r\nMax-Forwards: 68\r\n')
      .replace('\r\nRecord-Route: ', `\r\nRecord-Route: ${NEW_RR}\r\nRecord-Route: `);
    if (out.toString('latin1') !== want) fail(`olelo (c): output differs from the expected bytes`);
  }
}

// ------------------------------------------------------------------------------------------------ cases

type PeerName = 'olelo' | 'sip' | 'sip.js';
type CaseName = 'index' | 'read' | 'proxy';

interface Bench {
  peer: PeerName;
  case: CaseName;
  /** Runs `n` messages from the pool, returns a value for the sink. */
  run(n: number, start: number): number;
  check(): void;
  note?: string;
}

const PEERS: PeerName[] = ['olelo', 'sip', 'sip.js'];
const CASES: CaseName[] = ['index', 'read', 'proxy'];
const CASE_TITLES: Record<CaseName, string> = {
  index: '(a) index headers',
  read: '(b) read all headers',
  proxy: '(c) proxy: edit + serialize',
};

interface PeerImpl {
  index(buf: Buffer): number;
  read(buf: Buffer, f: Facts): void;
  proxy(buf: Buffer): Buffer;
  checkIndex(buf: Buffer, v: Variant): void;
}

const IMPLS: Record<PeerName, PeerImpl> = {
  olelo: {
    index: oleloIndex,
    read: oleloRead,
    proxy: oleloProxy,
    checkIndex(buf, v) {
      const msg = parseMessage(buf);
      if (msg.headers.length !== HEADER_FIELDS) fail(`olelo (a): ${msg.headers.length} header fields`);
      if (msg.getHeader('call-id') !== expectedFacts(v).callId) fail('olelo (a): Call-ID');
      if (msg.body.length !== Buffer.byteLength(SDP)) fail('olelo (a): body length');
    },
  },
  sip: {
    index: kirmIndex,
    read: kirmRead,
    proxy: kirmProxy,
    checkIndex(buf, v) {
      const m = kirmParse(buf);
      if (m.headers['call-id'] !== expectedFacts(v).callId) fail('sip (a): Call-ID');
      if (m.headers.via.length !== 2) fail('sip (a): Via');
      if (m.content !== SDP) fail('sip (a): body');
    },
  },
  'sip.js': {
    index: sipjsIndex,
    read: sipjsRead,
    proxy: sipjsProxy,
    checkIndex(buf, v) {
      const m = sipjsParse(buf);
      if (m.callId !== expectedFacts(v).callId) fail('sip.js (a): Call-ID');
      if (m.getHeaders('via').length !== 2) fail('sip.js (a): Via');
      if (m.body !== SDP) fail('sip.js (a): body');
    },
  },
};

const NOTES: Partial<Record<`${PeerName}/${CaseName}`, string>> = {
  'sip/index': 'no lazy mode: sip.parse() parses Via/From/To/Contact/Route/CSeq eagerly',
  'sip.js/index':
    'no lazy mode: Parser.parseMessage() runs its PEG grammar on the start line and most headers',
  'sip.js/proxy':
    'SIP.js cannot serialize a received message (IncomingMessage.toString() returns the received text); ' +
    'the bench edits its header map and writes it out like OutgoingRequestMessage.toString()',
};

function makeBench(peer: PeerName, c: CaseName): Bench {
  const impl = IMPLS[peer];
  const facts = newFacts();
  const mask = POOL_SIZE - 1;
  let run: (n: number, start: number) => number;
  let check: () => void;
  if (c === 'index') {
    run = (n, start) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += impl.index(POOL[(start + i) & mask]!);
      return s;
    };
    check = () => {
      for (let i = 0; i < POOL_SIZE; i++) impl.checkIndex(POOL[i]!, variant(i));
    };
  } else if (c === 'read') {
    run = (n, start) => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        impl.read(POOL[(start + i) & mask]!, facts);
        s += factsWeight(facts);
      }
      return s;
    };
    check = () => {
      for (let i = 0; i < POOL_SIZE; i++) {
        impl.read(POOL[i]!, facts);
        checkFacts(peer, facts, expectedFacts(variant(i)));
      }
    };
  } else {
    run = (n, start) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += impl.proxy(POOL[(start + i) & mask]!).length;
      return s;
    };
    check = () => {
      for (let i = 0; i < POOL_SIZE; i++) checkProxyOutput(peer, impl.proxy(POOL[i]!), POOL[i]!, variant(i));
    };
  }
  const note = NOTES[`${peer}/${c}`];
  return note === undefined ? { peer, case: c, run, check } : { peer, case: c, run, check, note };
}

// ------------------------------------------------------------------------------------------------ timing

/** Everything the timed work returns ends up here, and is printed, so the JIT must do the work. */
let sink = 0;
let cursor = 0;

interface Result {
  peer: PeerName;
  case: CaseName;
  /** Median of the rounds, messages per second. */
  median: number;
  min: number;
  max: number;
  /** Messages per timed round. */
  perRound: number;
  rounds: number[];
  note?: string;
}

function timeRun(b: Bench, n: number): number {
  const t0 = process.hrtime.bigint();
  sink += b.run(n, cursor);
  const ns = Number(process.hrtime.bigint() - t0);
  cursor = (cursor + n) & (POOL_SIZE - 1);
  return ns;
}

/** Warms up for {@link WARMUP_MS} and returns the message count for a round of about {@link ROUND_MS}. */
function warmUp(b: Bench): number {
  const deadline = performance.now() + WARMUP_MS;
  let n = 64;
  let rate = 0;
  while (performance.now() < deadline) {
    const ns = timeRun(b, n);
    rate = (n * 1e9) / Math.max(ns, 1);
    if (ns < 20e6) n *= 2;
  }
  return Math.max(100, Math.round((rate * ROUND_MS) / 1000));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

function cpusAllowed(): string {
  try {
    const m = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return 'unknown';
}

function fmtRate(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function main(): void {
  const benches: Bench[] = [];
  for (const c of CASES) for (const p of PEERS) benches.push(makeBench(p, c));

  // correctness first: a broken path must not look fast
  for (const b of benches) b.check();

  const started = performance.now();
  if (!JSON_OUT) {
    console.log(
      `olelo parser bench: ${MESSAGE_BYTES}-byte INVITE (${HEADER_FIELDS} header fields), pool of ${POOL_SIZE}` +
        ` variants; node ${process.version}; ${cpuModel()}; CPUs allowed: ${cpusAllowed()}`,
    );
    console.log(
      `${QUICK ? 'quick run: ' : ''}warm-up ${WARMUP_MS} ms, ${ROUNDS} rounds of ~${ROUND_MS} ms per (peer, case); median msgs/s`,
    );
    if (!/^\d+$/.test(cpusAllowed()))
      console.log('note: not pinned to one CPU; run under `taskset -c 1` for stable figures');
  }
  const counts = new Map<Bench, number>();
  for (const b of benches) counts.set(b, warmUp(b));
  const samples = new Map<Bench, number[]>();
  for (const b of benches) samples.set(b, []);
  // rounds interleaved over every (peer, case), so drift in the machine's speed spreads over all of them
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of benches) {
      const n = counts.get(b)!;
      const ns = timeRun(b, n);
      samples.get(b)!.push((n * 1e9) / ns);
    }
  }
  const results: Result[] = benches.map((b) => {
    const rounds = samples.get(b)!;
    const res: Result = {
      peer: b.peer,
      case: b.case,
      median: median(rounds),
      min: Math.min(...rounds),
      max: Math.max(...rounds),
      perRound: counts.get(b)!,
      rounds: rounds.map((x) => Math.round(x)),
    };
    if (b.note !== undefined) res.note = b.note;
    return res;
  });
  const elapsed = (performance.now() - started) / 1000;

  const get = (p: PeerName, c: CaseName): Result => results.find((x) => x.peer === p && x.case === c)!;
  const ratios: Record<CaseName, Record<string, number>> = { index: {}, read: {}, proxy: {} };
  for (const c of CASES) {
    for (const p of PEERS) if (p !== 'olelo') ratios[c][p] = get('olelo', c).median / get(p, c).median;
  }
  const proxy = get('olelo', 'proxy').median;
  const fasterPeer = PEERS.filter((p) => p !== 'olelo')
    .map((p) => get(p, 'proxy'))
    .reduce((a, b) => (b.median > a.median ? b : a));
  const proxyRatio = proxy / fasterPeer.median;
  const targets = {
    proxyRate: { target: TARGET_PROXY_RATE, value: Math.round(proxy), met: proxy >= TARGET_PROXY_RATE },
    proxyRatio: {
      target: TARGET_PROXY_RATIO,
      value: Number(proxyRatio.toFixed(2)),
      against: fasterPeer.peer,
      met: proxyRatio >= TARGET_PROXY_RATIO,
    },
  };
  const met = targets.proxyRate.met && targets.proxyRatio.met;

  if (JSON_OUT) {
    console.log(
      JSON.stringify(
        {
          node: process.version,
          cpu: cpuModel(),
          cpusAllowed: cpusAllowed(),
          quick: QUICK,
          messageBytes: MESSAGE_BYTES,
          headerFields: HEADER_FIELDS,
          warmupMs: WARMUP_MS,
          rounds: ROUNDS,
          roundMs: ROUND_MS,
          elapsedSeconds: Number(elapsed.toFixed(1)),
          results: results.map((r) => ({
            ...r,
            median: Math.round(r.median),
            min: Math.round(r.min),
            max: Math.round(r.max),
          })),
          ratios,
          targets,
          targetsMet: met,
          checksum: sink,
        },
        null,
        2,
      ),
    );
    return;
  }

  const W = 30;
  console.log('');
  console.log(
    `${pad('case', W)}${PEERS.map((p) => pad(p, 13, true)).join('')}${PEERS.filter((p) => p !== 'olelo')
      .map((p) => pad(`olelo/${p}`, 14, true))
      .join('')}`,
  );
  for (const c of CASES) {
    const row = PEERS.map((p) => pad(fmtRate(get(p, c).median), 13, true)).join('');
    const rs = PEERS.filter((p) => p !== 'olelo')
      .map((p) => pad(`${ratios[c][p]!.toFixed(1)}x`, 14, true))
      .join('');
    console.log(`${pad(CASE_TITLES[c], W)}${row}${rs}`);
  }
  console.log('');
  console.log('spread of the rounds (min-max msgs/s):');
  for (const c of CASES) {
    const cells = PEERS.map((p) => {
      const r = get(p, c);
      return `${p} ${fmtRate(r.min)}-${fmtRate(r.max)}`;
    });
    console.log(`  ${pad(CASE_TITLES[c], W - 2)}${cells.join('   ')}`);
  }
  console.log('');
  for (const b of benches)
    if (b.note !== undefined) console.log(`note ${b.peer} ${CASE_TITLES[b.case]}: ${b.note}`);
  console.log('');
  console.log(
    `targets (c): >= ${fmtRate(TARGET_PROXY_RATE)} msgs/s: ${fmtRate(proxy)} ${targets.proxyRate.met ? 'MET' : 'NOT MET'}; ` +
      `>= ${TARGET_PROXY_RATIO}x the faster peer (${fasterPeer.peer}): ${proxyRatio.toFixed(2)}x ` +
      `${targets.proxyRatio.met ? 'MET' : 'NOT MET'} => ${met ? 'targets met' : 'targets NOT met'}`,
  );
  console.log(`(${elapsed.toFixed(1)} s timed; checksum ${sink})`);
}

main();
