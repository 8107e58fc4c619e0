/**
 * NAT detection and repair for clients behind NAT (Kamailio's `nathelper`): private-address tests,
 * the source address as a URI, Contact rewriting and the `alias` Contact parameter.
 */
import type { ReplyContext, RequestContext } from '../../core/context.js';
import { bareHost, defaultPort, viaProtocol } from '../../core/next-hop.js';
import { SipParseError } from '../../sip/errors.js';
import type { Via } from '../../sip/headers/via.js';
import { isIPv4, isIPv6 } from '../../sip/host.js';
import { formatNameAddr, parseContacts } from '../../sip/name-addr.js';
import { isSipUri, type SipUri } from '../../sip/uri.js';
import type { Protocol, Source } from '../../transport/types.js';

/**
 * The per-message variable `fixNatedRegister` sets and the registrar's `save` reads: the URI of the
 * REGISTER's real source, stored as the binding's `received` (Kamailio's `received_avp`).
 */
export const RECEIVED_VAR = 'nathelper.received';

/** The NAT tests of {@link isBehindNat}, with the bit each has in Kamailio's `nat_uac_test` flags. */
export const NAT_TESTS = {
  /** The first Contact's host is a private address. */
  'contact-private': 1,
  /** The top Via's sent-by host is not the source address. */
  'via-received': 2,
  /** The top Via's sent-by host is a private address. */
  'via-private': 4,
  /** The body (SDP `c=` lines) names a private address. */
  'sdp-private': 8,
  /** The top Via's port (or its transport's default) is not the source port. */
  'via-port': 16,
  /** The source address itself is private (a NAT between two private networks). */
  'source-private': 32,
  /** The message came over WebSocket (browsers can never be reached by their Contact). */
  websocket: 64,
  /** The first Contact's port (or its transport's default) is not the source port. */
  'contact-port': 128,
} as const;

/** The name of one NAT test. */
export type NatTest = keyof typeof NAT_TESTS;

/** Kamailio's usual `nat_uac_test("19")`: contact-private, via-received and via-port. */
export const DEFAULT_NAT_TESTS = 19;

/** The tests as Kamailio's bit flags. */
export function natTestFlags(tests: number | readonly NatTest[]): number {
  if (typeof tests === 'number') return tests;
  let flags = 0;
  for (const t of tests) {
    const bit = NAT_TESTS[t];
    if (bit === undefined) throw new RangeError(`unknown NAT test '${t}'`);
    flags |= bit;
  }
  return flags;
}

/**
 * True for addresses that are not routable on the Internet and so betray a NAT: RFC 1918 (10/8,
 * 172.16/12, 192.168/16), RFC 6598 shared address space (100.64/10) and IPv6 unique local addresses
 * (fc00::/7, RFC 4193). Loopback and link-local addresses are not counted: a client on this host is
 * local, not behind a NAT. Brackets around IPv6 are accepted; host names are never private.
 */
export function isPrivateAddress(address: string): boolean {
  const a = bareHost(address);
  if (isIPv4(a)) {
    const dot1 = a.indexOf('.');
    const dot2 = a.indexOf('.', dot1 + 1);
    const first = Number(a.slice(0, dot1));
    const second = Number(a.slice(dot1 + 1, dot2));
    if (first === 10) return true;
    if (first === 172) return second >= 16 && second <= 31;
    if (first === 192) return second === 168;
    if (first === 100) return second >= 64 && second <= 127;
    return false;
  }
  if (isIPv6(a)) {
    const c = a.charCodeAt(0) | 0x20;
    const d = a.charCodeAt(1) | 0x20;
    // fc00::/7: the first byte is fc or fd (a full first group of four hex digits)
    const groupEnd = a.indexOf(':');
    return groupEnd === 4 && c === 0x66 && (d === 0x63 || d === 0x64);
  }
  return false;
}

/** The URI of a message's source (`sip:203.0.113.7:5060;transport=udp`): what `received` holds. */
export function receivedUri(source: Source): string {
  const host = source.family === 6 ? `[${source.address}]` : source.address;
  return `sip:${host}:${source.port};transport=${source.protocol}`;
}

/** The first Contact URI of a message, if it is a SIP URI (an unreadable Contact counts as none). */
function firstContactUri(msg: RequestContext['msg'] | ReplyContext['msg']): SipUri | undefined {
  let uri: SipUri | undefined;
  try {
    const c = msg.contact;
    const first = c?.list[0];
    if (first !== undefined && isSipUri(first.uri)) uri = first.uri;
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
  }
  return uri;
}

function uriProtocol(uri: SipUri): Protocol {
  const t = uri.params.get('transport')?.toLowerCase();
  if (t === 'tcp') return uri.scheme === 'sips' ? 'tls' : 'tcp';
  if (t === 'tls' || t === 'ws' || t === 'wss') return t;
  return uri.scheme === 'sips' ? 'tls' : 'udp';
}

/**
 * Kamailio's `nat_uac_test`: true when any of the tests finds a NAT. The Via tests look at the top Via
 * of a request (a response's top Via is this server's own, so they find nothing there).
 */
export function isBehindNat(ctx: RequestContext | ReplyContext, flags: number): boolean {
  const source = ctx.source;
  const msg = ctx.msg;
  if ((flags & NAT_TESTS.websocket) !== 0 && (source.protocol === 'ws' || source.protocol === 'wss'))
    return true;
  if ((flags & NAT_TESTS['source-private']) !== 0 && isPrivateAddress(source.address)) return true;
  if ((flags & (NAT_TESTS['contact-private'] | NAT_TESTS['contact-port'])) !== 0) {
    const uri = firstContactUri(msg);
    if (uri !== undefined) {
      if ((flags & NAT_TESTS['contact-private']) !== 0 && isPrivateAddress(uri.host)) return true;
      if (
        (flags & NAT_TESTS['contact-port']) !== 0 &&
        (uri.port ?? defaultPort(uriProtocol(uri))) !== source.port
      )
        return true;
    }
  }
  const viaFlags = NAT_TESTS['via-received'] | NAT_TESTS['via-private'] | NAT_TESTS['via-port'];
  if (ctx.kind === 'request' && (flags & viaFlags) !== 0) {
    let via: Via | undefined;
    try {
      via = msg.topVia;
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
    if (via !== undefined) {
      const host = bareHost(via.host);
      if ((flags & NAT_TESTS['via-received']) !== 0 && host !== source.address) return true;
      if ((flags & NAT_TESTS['via-private']) !== 0 && isPrivateAddress(host)) return true;
      if (
        (flags & NAT_TESTS['via-port']) !== 0 &&
        (via.port ?? defaultPort(viaProtocol(via) ?? 'udp')) !== source.port
      )
        return true;
    }
  }
  if ((flags & NAT_TESTS['sdp-private']) !== 0 && sdpHasPrivateAddress(msg.body)) return true;
  return false;
}

/** True when an SDP body has a `c=IN IP4|IP6 <private address>` line (RFC 4566 §5.7). */
function sdpHasPrivateAddress(body: Buffer): boolean {
  if (body.length === 0) return false;
  const text = body.toString('latin1');
  let i = text.indexOf('c=IN IP');
  while (i !== -1) {
    const start = i + 9; // after "c=IN IP4 "
    let end = start;
    while (end < text.length && text.charCodeAt(end) > 0x20 && text.charCodeAt(end) !== 0x2f) end++;
    if (isPrivateAddress(text.slice(start, end))) return true;
    i = text.indexOf('c=IN IP', end);
  }
  return false;
}

/**
 * Rewrites the host and port of the first Contact URI with the message's source address (Kamailio's
 * `fix_nated_contact`), so requests inside the dialog go where the NAT lets them in. Returns false when
 * there is no SIP Contact to rewrite.
 */
export function fixNatedContact(ctx: RequestContext | ReplyContext): boolean {
  return editFirstContact(ctx, (uri) => {
    const s = ctx.source;
    return {
      ...uri,
      host: s.family === 6 ? `[${s.address}]` : s.address,
      hostKind: s.family === 6 ? 'ipv6' : 'ipv4',
      port: s.port,
    };
  });
}

/** Kamailio's transport numbers in the `alias` parameter (4 is SCTP, which olelo does not have). */
const ALIAS_NUMBERS: Readonly<Record<Protocol, number>> = { udp: 1, tcp: 2, tls: 3, ws: 5, wss: 6 };
const ALIAS_PROTOCOLS: ReadonlyMap<string, Protocol> = new Map(
  Object.entries(ALIAS_NUMBERS).map(([protocol, n]) => [String(n), protocol as Protocol]),
);

/**
 * Adds `;alias=<source ip>~<source port>~<transport number>` to the first Contact URI (Kamailio's
 * `set_contact_alias`: 1 udp, 2 tcp, 3 tls, 5 ws, 6 wss), so a later request sent to that Contact can
 * be routed to the real source by {@link handleRuriAlias}. Returns false when there is no SIP Contact.
 */
export function setContactAlias(ctx: RequestContext | ReplyContext): boolean {
  return editFirstContact(ctx, (uri) => {
    const s = ctx.source;
    const params = new Map(uri.params);
    params.set('alias', `${s.address}~${s.port}~${ALIAS_NUMBERS[s.protocol]}`);
    return { ...uri, params };
  });
}

/** What {@link handleRuriAlias} did. */
export type AliasResult = 'routed' | 'none' | 'invalid';

/**
 * When the Request-URI has an `alias` parameter (written by {@link setContactAlias}): removes it and
 * sets the next hop to the address it names (Kamailio's `handle_ruri_alias`). Screen the alias like the
 * Request-URI itself: it decides where the request goes.
 */
export function handleRuriAlias(req: RequestContext): AliasResult {
  const uri = req.sipUri;
  const alias = uri?.params.get('alias');
  if (uri === undefined || alias === undefined) return 'none';
  const parts = alias === null ? [] : alias.split('~');
  if (parts.length !== 3) return 'invalid';
  const [address, portText, protoText] = parts as [string, string, string];
  const port = Number(portText);
  const protocol = ALIAS_PROTOCOLS.get(protoText);
  const v6 = isIPv6(address);
  if ((!isIPv4(address) && !v6) || !/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535)
    return 'invalid';
  if (protocol === undefined) return 'invalid';
  const params = new Map(uri.params);
  params.delete('alias');
  req.setUri({ ...uri, params });
  req.nextHop = `sip:${v6 ? `[${address}]` : address}:${port};transport=${protocol}`;
  return 'routed';
}

/** Replaces the first Contact value's URI with `edit(uri)`; false when there is no SIP Contact. */
function editFirstContact(ctx: RequestContext | ReplyContext, edit: (uri: SipUri) => SipUri): boolean {
  const msg = ctx.msg;
  const field = msg.field('contact');
  if (field === undefined) return false;
  let values: ReturnType<typeof parseContacts>;
  try {
    values = parseContacts(field.value);
  } catch (e) {
    if (e instanceof SipParseError) return false;
    throw e;
  }
  const first = values.list[0];
  if (values.wildcard || first === undefined || !isSipUri(first.uri)) return false;
  first.uri = edit(first.uri);
  msg.replaceField(field, values.list.map(formatNameAddr).join(', '));
  return true;
}
