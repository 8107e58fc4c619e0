/**
 * Via (RFC 3261 §20.42, §25.1), with `rport` (RFC 3581) and IPv6 sent-by / received (RFC 5118).
 *
 * ```
 * Via           = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
 * via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
 * sent-protocol = protocol-name SLASH protocol-version SLASH transport
 * sent-by       = host [ COLON port ]
 * ```
 */
import { SipParseError } from '../errors.js';
import { formatHostPort, type HostKind, isIPv4, isIPv6, scanHostPort } from '../host.js';
import { equalsLower, formatParamValue, type Params, parseParams, scanToken, skipWs } from '../lexer.js';
import { isToken, paramOffset, parseNumericParam } from './common.js';

/** One `via-parm`: a hop a request went through. */
export interface Via {
  /** protocol-name, upper-cased (`SIP`). */
  protocol: string;
  /** protocol-version as written (`2.0`). */
  version: string;
  /** Transport, upper-cased (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`, or any other token). */
  transport: string;
  /** sent-by host as written; IPv6 references keep their brackets. */
  host: string;
  /** What kind of host `host` is. */
  hostKind: HostKind;
  /** sent-by port, `undefined` when none was written. */
  port: number | undefined;
  /**
   * Every parameter as written (lower-case names), including the ones also exposed below. When formatting,
   * the typed fields (`branch`, `received`, `rport`, `maddr`, `ttl`) win over the entries of this map.
   */
  params: Params;
  /** `branch` (a token; RFC 3261 §8.1.1.7: starts with `z9hG4bK` when RFC 3261 compliant). */
  branch: string | undefined;
  /** `received`: an IPv4 or IPv6 address; an IPv6 address may be bracketed or bare (RFC 5118 §4.5). */
  received: string | undefined;
  /** `rport` (RFC 3581): the port number, `null` for the flag without value, `undefined` when absent. */
  rport: number | null | undefined;
  /** `maddr`: a host. */
  maddr: string | undefined;
  /** `ttl`: 0-255. */
  ttl: number | undefined;
}

const SLASH = 0x2f;
const COMMA = 0x2c;

/**
 * Parses a Via header value, which may hold several comma-separated `via-parm`s.
 * Throws {@link SipParseError} (offset within `value`) on any defect, including empty list elements and
 * empty parameters (RFC 4475 §3.1.2.1 badinv01).
 */
export function parseVia(value: string): Via[] {
  const out: Via[] = [];
  const n = value.length;
  let i = 0;
  for (;;) {
    i = skipWs(value, i);
    if (i >= n || value.charCodeAt(i) === COMMA) {
      throw new SipParseError(out.length === 0 ? 'empty Via value' : 'empty element in Via list', i);
    }
    i = parseViaParm(value, i, out);
    // parseViaParm stops at the end or at a comma
    if (i >= n) return out;
    i++;
  }
}

/**
 * The upper-cased Via token at `s[start, end)`: the usual ones (`SIP`, `UDP`, `TCP`, `TLS`, `WS`, `WSS`, in
 * any case) as interned literals, found without slicing; others sliced and upper-cased.
 */
function upperToken(s: string, start: number, end: number): string {
  switch (end - start) {
    case 2:
      if (equalsLower(s, start, 'ws')) return 'WS';
      break;
    case 3:
      if (equalsLower(s, start, 'sip')) return 'SIP';
      if (equalsLower(s, start, 'udp')) return 'UDP';
      if (equalsLower(s, start, 'tcp')) return 'TCP';
      if (equalsLower(s, start, 'tls')) return 'TLS';
      if (equalsLower(s, start, 'wss')) return 'WSS';
      break;
  }
  return s.slice(start, end).toUpperCase();
}

function parseViaParm(s: string, i: number, out: Via[]): number {
  const n = s.length;
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
  const protocolStart = i;
  i = scanToken(s, i);
  if (i === protocolStart) throw new SipParseError('missing protocol name in Via', protocolStart);
  const protocol = upperToken(s, protocolStart, i);
  i = expectSlash(s, i, 'protocol name');
  const versionStart = i;
  i = scanToken(s, i);
  if (i === versionStart) throw new SipParseError('missing protocol version in Via', versionStart);
  const version =
    i - versionStart === 3 && s.startsWith('2.0', versionStart) ? '2.0' : s.slice(versionStart, i);
  i = expectSlash(s, i, 'protocol version');
  const transportStart = i;
  i = scanToken(s, i);
  if (i === transportStart) throw new SipParseError('missing transport in Via', transportStart);
  const transport = upperToken(s, transportStart, i);
  // LWS between sent-protocol and sent-by is mandatory
  const wsStart = i;
  i = skipWs(s, i);
  if (i === wsStart) {
    throw new SipParseError(
      i >= n ? 'missing sent-by in Via' : `unexpected character '${s[i]}' after Via transport`,
      i,
    );
  }
  if (i >= n || s.charCodeAt(i) === COMMA || s.charCodeAt(i) === 0x3b) {
    throw new SipParseError('missing sent-by in Via', i);
  }
  const hp = scanHostPort(s, i);
  i = hp.end;
  const paramsStart = i;
  const params: Params = new Map();
  i = parseParams(s, i, params);

  let branch: string | undefined;
  let received: string | undefined;
  let rport: number | null | undefined;
  let maddr: string | undefined;
  let ttl: number | undefined;
  if (params.size > 0) {
    const b = params.get('branch');
    if (b !== undefined) {
      // via-branch = "branch" EQUAL token (RFC 3261 §25.1)
      if (b === null || !isToken(b)) {
        throw new SipParseError('Via branch must be a token', paramOffset(s, paramsStart, 'branch'));
      }
      branch = b;
    }
    const r = params.get('received');
    if (r !== undefined) {
      // via-received = "received" EQUAL (IPv4address / IPv6address); RFC 5118 §4.5 also allows "[...]"
      if (r === null || !isReceivedAddress(r)) {
        throw new SipParseError(
          'Via received must be an IPv4 or IPv6 address',
          paramOffset(s, paramsStart, 'received'),
        );
      }
      received = r;
    }
    const p = params.get('rport');
    if (p !== undefined) {
      // RFC 3581 §3: response-port = "rport" [EQUAL 1*DIGIT]
      if (p === null) rport = null;
      else {
        const off = paramOffset(s, paramsStart, 'rport');
        rport = parseNumericParam(p, 65535, '65535', 'Via rport', off);
        if (rport === 0) throw new SipParseError('Via rport must be 1-65535', off);
      }
    }
    const m = params.get('maddr');
    if (m !== undefined) {
      // via-maddr = "maddr" EQUAL host
      if (m === null || !isHost(m)) {
        throw new SipParseError('Via maddr must be a host', paramOffset(s, paramsStart, 'maddr'));
      }
      maddr = m;
    }
    const t = params.get('ttl');
    if (t !== undefined) {
      // via-ttl = "ttl" EQUAL ttl; ttl = 1*3DIGIT ; 0 to 255
      ttl = parseNumericParam(t, 255, '255', 'Via ttl', paramOffset(s, paramsStart, 'ttl'));
    }
  }
  out.push({
    protocol,
    version,
    transport,
    host: hp.host,
    hostKind: hp.kind,
    port: hp.port,
    params,
    branch,
    received,
    rport,
    maddr,
    ttl,
  });
  return i;
}

function expectSlash(s: string, i: number, after: string): number {
  i = skipWs(s, i);
  if (i >= s.length || s.charCodeAt(i) !== SLASH)
    throw new SipParseError(`expected '/' after Via ${after}`, i);
  return skipWs(s, i + 1);
}

function isReceivedAddress(v: string): boolean {
  if (isIPv4(v)) return true;
  if (v.charCodeAt(0) === 0x5b) return v.charCodeAt(v.length - 1) === 0x5d && isIPv6(v.slice(1, -1));
  return isIPv6(v);
}

function isHost(v: string): boolean {
  try {
    const hp = scanHostPort(v, 0);
    return hp.end === v.length && hp.port === undefined;
  } catch (e) {
    if (e instanceof SipParseError) return false;
    throw e;
  }
}

/**
 * The Via field value `value` with `received` (and, when given, the port of a valueless `rport` flag)
 * written into its first via-parm as a text edit: the rest of the field keeps its bytes and nothing is
 * formatted anew (RFC 3261 §18.2.1, RFC 3581 §4: done for every request that carries `;rport`).
 * `undefined` when the simple edit does not apply — a quoted string anywhere, a `received` already there,
 * an `rport` that has a value — and the caller formats the Via instead.
 */
export function withReceived(value: string, received: string, rport: number | undefined): string | undefined {
  if (value.indexOf('"') !== -1) return undefined;
  const comma = value.indexOf(',');
  let end = comma === -1 ? value.length : comma;
  while (end > 0 && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  let rportEnd = -1;
  let i = value.indexOf(';');
  while (i !== -1 && i < end) {
    const nameStart = skipWs(value, i + 1);
    const nameEnd = scanToken(value, nameStart);
    const len = nameEnd - nameStart;
    if (len === 8 && equalsLower(value, nameStart, 'received')) return undefined;
    if (len === 5 && equalsLower(value, nameStart, 'rport')) {
      const after = skipWs(value, nameEnd);
      if (after < end && value.charCodeAt(after) === 0x3d) {
        if (rport !== undefined) return undefined;
      } else rportEnd = nameEnd;
    }
    i = value.indexOf(';', nameEnd);
  }
  const receivedParam = `;received=${formatParamValue(received)}`;
  if (rport === undefined || rportEnd === -1) {
    if (rport !== undefined) return undefined;
    return value.slice(0, end) + receivedParam + value.slice(end);
  }
  return `${value.slice(0, rportEnd)}=${rport}${value.slice(rportEnd, end)}${receivedParam}${value.slice(end)}`;
}

/**
 * Writes one Via value (`SIP/2.0/UDP host:port;params`). Parameters keep the order of `v.params`; the typed
 * fields are authoritative: a typed field set to `undefined` drops that parameter, one missing from the map is
 * appended. `rport: null` is written as the bare flag `;rport`.
 */
export function formatVia(v: Via): string {
  let out = `${v.protocol}/${v.version}/${v.transport} ${formatHostPort(v.host, v.port)}`;
  const typed = { branch: false, received: false, rport: false, maddr: false, ttl: false };
  for (const [name, value] of v.params) {
    switch (name) {
      case 'branch':
      case 'received':
      case 'rport':
      case 'maddr':
      case 'ttl':
        if (!typed[name]) {
          typed[name] = true;
          out += formatTyped(v, name);
        }
        break;
      default:
        out += value === null ? `;${name}` : `;${name}=${formatParamValue(value)}`;
    }
  }
  if (!typed.branch) out += formatTyped(v, 'branch');
  if (!typed.received) out += formatTyped(v, 'received');
  if (!typed.rport) out += formatTyped(v, 'rport');
  if (!typed.maddr) out += formatTyped(v, 'maddr');
  if (!typed.ttl) out += formatTyped(v, 'ttl');
  return out;
}

function formatTyped(v: Via, name: 'branch' | 'received' | 'rport' | 'maddr' | 'ttl'): string {
  const value = v[name];
  if (value === undefined) return '';
  if (value === null) return `;${name}`;
  return `;${name}=${typeof value === 'number' ? value : formatParamValue(value)}`;
}

/** Writes several Vias as one comma-separated header value. */
export function formatVias(vias: readonly Via[]): string {
  return vias.map(formatVia).join(', ');
}
