/**
 * Hosts and ports (RFC 3261 §25.1 `hostport`, with IPv6 references per RFC 5118).
 */
import { SipParseError } from './errors.js';

/** What kind of host a `hostport` names. */
export type HostKind = 'name' | 'ipv4' | 'ipv6';

/** The result of scanning a `hostport`. */
export interface HostPort {
  /** The host as written; IPv6 references keep their brackets (`[2001:db8::1]`). */
  host: string;
  kind: HostKind;
  /** Port number, or `undefined` when none was written. */
  port: number | undefined;
  /** Index after the hostport in the scanned string. */
  end: number;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isHostNameChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f // _ is not in the grammar but common in the wild (SRV-style names)
  );
}

/** True when `s` is a dotted-quad IPv4 address with each part 0-255. */
export function isIPv4(s: string): boolean {
  const n = s.length;
  let parts = 0;
  let i = 0;
  while (i < n) {
    const start = i;
    let v = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      v = v * 10 + s.charCodeAt(i) - 0x30;
      i++;
    }
    if (i === start || i - start > 3 || v > 255) return false;
    parts++;
    if (i < n) {
      if (s.charCodeAt(i) !== 0x2e || i === n - 1) return false;
      i++;
    }
  }
  return parts === 4;
}

/**
 * True when `s` (no brackets) is an IPv6 address: hex groups, at most one `::`, an optional IPv4 tail.
 * Tolerates the `:::` before an IPv4 tail that the RFC 3261 ABNF allows (RFC 5118 §4.10).
 */
export function isIPv6(s: string): boolean {
  const n = s.length;
  if (n < 2) return false;
  let groups = 0;
  let doubleColon = false;
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    doubleColon = true;
    i = 2;
    if (i === n) return true; // "::"
  }
  while (i < n) {
    const start = i;
    while (i < n && isHex(s.charCodeAt(i))) i++;
    const len = i - start;
    if (i < n && s.charCodeAt(i) === 0x2e) {
      // IPv4 tail takes the place of two groups
      if (!isIPv4(s.slice(start))) return false;
      groups += 2;
      i = n;
      break;
    }
    if (len === 0 || len > 4) return false;
    groups++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 0x3a) {
      if (doubleColon) return false;
      doubleColon = true;
      i++;
      if (i < n && s.charCodeAt(i) === 0x3a) i++; // RFC 5118 §4.10 tolerance: "2001:db8:::192.0.2.1"
      if (i === n) break;
    } else if (i === n) {
      return false; // trailing single colon
    }
  }
  return doubleColon ? groups < 8 : groups === 8;
}

/**
 * Scans `host [ ":" port ]` starting at `i`, stopping at the first character that cannot belong to it.
 * Throws a {@link SipParseError} when the host is empty or malformed or the port is not 0-65535.
 */
export function scanHostPort(s: string, i: number): HostPort {
  const n = s.length;
  const start = i;
  let kind: HostKind;
  let host: string;
  if (i < n && s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close === -1) throw new SipParseError("IPv6 reference without closing ']'", i);
    if (!isIPv6(s.slice(i + 1, close))) throw new SipParseError('malformed IPv6 address', i + 1);
    host = s.slice(i, close + 1);
    kind = 'ipv6';
    i = close + 1;
  } else {
    while (i < n && isHostNameChar(s.charCodeAt(i))) i++;
    if (i === start) throw new SipParseError('missing host', start);
    host = s.slice(start, i);
    if (isIPv4(host)) kind = 'ipv4';
    else {
      kind = 'name';
      if (!isHostName(host)) throw new SipParseError(`malformed host '${host}'`, start);
    }
  }
  let port: number | undefined;
  if (i < n && s.charCodeAt(i) === 0x3a) {
    const portStart = ++i;
    let v = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      v = v * 10 + s.charCodeAt(i) - 0x30;
      i++;
      if (v > 65535) throw new SipParseError('port out of range', portStart);
    }
    if (i === portStart) throw new SipParseError('missing or malformed port', portStart);
    port = v;
  }
  return { host, kind, port, end: i };
}

/** Hostname check: labels of alphanumerics and hyphens, not starting or ending with a hyphen. */
function isHostName(h: string): boolean {
  const n = h.length;
  let labelStart = 0;
  for (let i = 0; i <= n; i++) {
    if (i === n || h.charCodeAt(i) === 0x2e) {
      const len = i - labelStart;
      if (len === 0) {
        // an empty label is only legal as the trailing dot of an FQDN
        if (!(i === n && n > 1)) return false;
      } else if (h.charCodeAt(labelStart) === 0x2d || h.charCodeAt(i - 1) === 0x2d) {
        return false;
      }
      labelStart = i + 1;
    }
  }
  return true;
}

/** Formats a host and optional port; a bare IPv6 address gets its brackets. */
export function formatHostPort(host: string, port?: number): string {
  const h = host.indexOf(':') !== -1 && host.charCodeAt(0) !== 0x5b ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}
