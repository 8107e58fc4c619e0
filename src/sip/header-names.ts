/**
 * Header names: compact forms, canonical spellings and the lower-case keys the message core indexes by.
 */

/** Compact form → full lower-case name (RFC 3261 §7.3.3 and the IANA SIP header registry). */
const COMPACT: Record<string, string> = {
  a: 'accept-contact', // RFC 3841
  b: 'referred-by', // RFC 3892
  c: 'content-type',
  d: 'request-disposition', // RFC 3841
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact', // RFC 3841
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info', // RFC 4474 (obsolete)
  o: 'event', // RFC 6665
  r: 'refer-to', // RFC 3515
  s: 'subject',
  t: 'to',
  u: 'allow-events', // RFC 6665
  v: 'via',
  x: 'session-expires', // RFC 4028
  y: 'identity', // RFC 8224
};

/** The spelling olelo writes for well-known headers, by lower-case key. */
const CANONICAL: Record<string, string> = {
  'accept-contact': 'Accept-Contact',
  'alert-info': 'Alert-Info',
  'allow-events': 'Allow-Events',
  'authentication-info': 'Authentication-Info',
  'call-id': 'Call-ID',
  'call-info': 'Call-Info',
  'content-disposition': 'Content-Disposition',
  'content-encoding': 'Content-Encoding',
  'content-language': 'Content-Language',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
  cseq: 'CSeq',
  'error-info': 'Error-Info',
  'identity-info': 'Identity-Info',
  'in-reply-to': 'In-Reply-To',
  'max-forwards': 'Max-Forwards',
  'mime-version': 'MIME-Version',
  'min-expires': 'Min-Expires',
  'min-se': 'Min-SE',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  'proxy-authenticate': 'Proxy-Authenticate',
  'proxy-authorization': 'Proxy-Authorization',
  'proxy-require': 'Proxy-Require',
  'record-route': 'Record-Route',
  'refer-to': 'Refer-To',
  'referred-by': 'Referred-By',
  'reject-contact': 'Reject-Contact',
  'reply-to': 'Reply-To',
  'request-disposition': 'Request-Disposition',
  'retry-after': 'Retry-After',
  rseq: 'RSeq',
  rack: 'RAck',
  'service-route': 'Service-Route',
  'session-expires': 'Session-Expires',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'subscription-state': 'Subscription-State',
  'user-agent': 'User-Agent',
  'www-authenticate': 'WWW-Authenticate',
};

const keyCache = new Map<string, string>();

/**
 * The lower-case full name used as the header's key: `v`, `Via` and `VIA` all give `via`.
 * Returned strings are interned, so keys can be compared with `===` cheaply.
 */
export function headerKey(name: string): string {
  // the spellings nearly every message uses, and the keys themselves (internal lookups pass keys), without
  // hashing the name: a literal compared with a literal is one pointer comparison
  switch (name.length) {
    case 1:
      if (name === 'v') return 'via';
      if (name === 'f') return 'from';
      if (name === 't') return 'to';
      if (name === 'i') return 'call-id';
      if (name === 'm') return 'contact';
      if (name === 'l') return 'content-length';
      break;
    case 2:
      if (name === 'To' || name === 'to') return 'to';
      break;
    case 3:
      if (name === 'Via' || name === 'via') return 'via';
      break;
    case 4:
      if (name === 'From' || name === 'from') return 'from';
      if (name === 'CSeq' || name === 'cseq') return 'cseq';
      if (name === 'Path' || name === 'path') return 'path';
      break;
    case 5:
      if (name === 'Route' || name === 'route') return 'route';
      if (name === 'Allow' || name === 'allow') return 'allow';
      if (name === 'Event' || name === 'event') return 'event';
      break;
    case 7:
      if (name === 'Call-ID' || name === 'call-id') return 'call-id';
      if (name === 'Contact' || name === 'contact') return 'contact';
      if (name === 'Expires' || name === 'expires') return 'expires';
      if (name === 'Require' || name === 'require') return 'require';
      break;
    case 9:
      if (name === 'Supported' || name === 'supported') return 'supported';
      break;
    case 10:
      if (name === 'User-Agent' || name === 'user-agent') return 'user-agent';
      break;
    case 12:
      if (name === 'Max-Forwards' || name === 'max-forwards') return 'max-forwards';
      if (name === 'Content-Type' || name === 'content-type') return 'content-type';
      if (name === 'Record-Route' || name === 'record-route') return 'record-route';
      break;
    case 13:
      if (name === 'Proxy-Require' || name === 'proxy-require') return 'proxy-require';
      if (name === 'Authorization' || name === 'authorization') return 'authorization';
      break;
    case 14:
      if (name === 'Content-Length' || name === 'content-length') return 'content-length';
      break;
  }
  const cached = keyCache.get(name);
  if (cached !== undefined) return cached;
  let key = name.toLowerCase();
  if (key.length === 1) key = COMPACT[key] ?? key;
  // intern: reuse the first string seen for this key
  const interned = keyCache.get(key) ?? key;
  if (keyCache.size < 4096) {
    keyCache.set(name, interned);
    keyCache.set(key, interned);
  }
  return interned;
}

/** The canonical spelling of a header name (`call-id` → `Call-ID`, `v` → `Via`, `x-foo` → `X-Foo`). */
export function canonicalHeaderName(name: string): string {
  const key = headerKey(name);
  const known = CANONICAL[key];
  if (known !== undefined) return known;
  let out = '';
  let upper = true;
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    out += upper ? ch.toUpperCase() : ch;
    upper = ch === '-';
  }
  return out;
}

/** The compact form of a header, if it has one (`via` → `v`). */
export function compactHeaderName(name: string): string | undefined {
  const key = headerKey(name);
  for (const [short, full] of Object.entries(COMPACT)) if (full === key) return short;
  return undefined;
}

// Pre-seed the cache with the common spellings so the parser's lookups hit on the first try.
for (const key of [
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'contact',
  'max-forwards',
  'content-length',
  'content-type',
  'route',
  'record-route',
  'user-agent',
  'allow',
  'supported',
  'expires',
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
]) {
  headerKey(key);
  headerKey(canonicalHeaderName(key));
}
for (const c of Object.keys(COMPACT)) {
  headerKey(c);
  headerKey(c.toUpperCase());
}
