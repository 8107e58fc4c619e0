/**
 * Parsing a SIP message from a buffer: start line, header index and body framing (RFC 3261 §7, §18.3).
 *
 * Only the structure is checked here; header values are parsed when first read (see message.ts), and
 * {@link validateMessage} parses everything a strict element checks before acting on a message.
 */
import { SipParseError } from './errors.js';
import { headerKey } from './header-names.js';
import { CHAR_CLASS } from './lexer.js';
import { DEFAULT_LIMITS, type ParseLimits } from './limits.js';
import { HeaderField, type MessageLayout, SipRequest, SipResponse } from './message.js';

/** Options for {@link parseMessage}. */
export interface ParseOptions {
  /** Limits against hostile input; missing fields take the defaults of {@link DEFAULT_LIMITS}. */
  limits?: Partial<ParseLimits>;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN = 1; // CHAR_CLASS flag for token characters
const SMALL_MESSAGE = 4096;

/**
 * Parses one SIP message: a UDP datagram, or one message already framed from a stream.
 *
 * Throws {@link SipParseError} — and nothing else — for any input that is not a SIP message. The body
 * is taken from Content-Length; bytes after it are ignored. Without Content-Length the body runs to the
 * end of the buffer (RFC 3261 §18.3, datagrams).
 */
export function parseMessage(buf: Buffer, options?: ParseOptions): SipRequest | SipResponse {
  const limits = options?.limits === undefined ? DEFAULT_LIMITS : completeLimits(options.limits);
  if (!Buffer.isBuffer(buf)) throw new SipParseError('input is not a Buffer', 0);
  if (buf.length > limits.maxMessageSize) throw new SipParseError('message too large', limits.maxMessageSize);
  let defects: string[] | undefined;

  // RFC 3261 §7.5: ignore CRLFs before the start line
  let base = 0;
  while (base < buf.length && (buf[base] === 0x0d || buf[base] === 0x0a)) base++;
  if (base === buf.length) throw new SipParseError('empty message', 0);

  // A datagram-sized message is read as latin1 whole (the header loop finds the empty line); a large one
  // only up to its empty line, so a big body is not copied.
  let head: string;
  if (buf.length - base <= SMALL_MESSAGE) head = buf.toString('latin1', base);
  else {
    const blank = buf.indexOf(CRLFCRLF, base);
    head = buf.toString('latin1', base, blank === -1 ? buf.length : blank + 4);
  }

  // ------------------------------------------------------------ start line
  let nl = head.indexOf('\n');
  if (nl === -1) throw new SipParseError('start line not terminated', base + head.length);
  let startLineEnd = nl;
  if (startLineEnd > 0 && head.charCodeAt(startLineEnd - 1) === 0x0d) startLineEnd--;
  else defects = noteDefect(defects, 'bare LF line ending');
  if (startLineEnd > limits.maxLineLength) throw new SipParseError('start line too long', base);

  const isResponse =
    startLineEnd >= 4 &&
    (head.charCodeAt(0) | 0x20) === 0x73 &&
    (head.charCodeAt(1) | 0x20) === 0x69 &&
    (head.charCodeAt(2) | 0x20) === 0x70 &&
    head.charCodeAt(3) === 0x2f;
  let method = '';
  let requestUri = '';
  let status = 0;
  let reason = '';
  let rewriteStartLine = false;
  if (isResponse) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (RFC 3261 §7.2)
    let i = checkVersion(head, 0, base);
    if (head.charCodeAt(i) !== 0x20) throw new SipParseError('malformed status line', base + i);
    i++;
    const codeStart = i;
    while (i < startLineEnd && head.charCodeAt(i) >= 0x30 && head.charCodeAt(i) <= 0x39) i++;
    if (i - codeStart !== 3) {
      throw new SipParseError(
        i === codeStart ? 'malformed status code' : 'status code out of range',
        base + codeStart,
      );
    }
    status = Number(head.slice(codeStart, i));
    if (status < 100 || status > 699) throw new SipParseError('status code out of range', base + codeStart);
    if (i < startLineEnd) {
      if (head.charCodeAt(i) !== 0x20) throw new SipParseError('malformed status line', base + i);
      reason = head.slice(i + 1, startLineEnd);
    } else {
      defects = noteDefect(defects, 'status line without reason phrase separator');
      rewriteStartLine = true;
    }
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1)
    let i = 0;
    while (i < startLineEnd && (CHAR_CLASS[head.charCodeAt(i)]! & TOKEN) !== 0) i++;
    if (i === 0) throw new SipParseError('malformed request line', base);
    method = knownMethod(head, i) ?? head.slice(0, i);
    const parts: number[] = [];
    let extraSpace = false;
    while (i < startLineEnd) {
      const c = head.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09) {
        if (parts.length === 0) throw new SipParseError('malformed method', base + i);
        break;
      }
      const wsStart = i;
      while (i < startLineEnd && (head.charCodeAt(i) === 0x20 || head.charCodeAt(i) === 0x09)) i++;
      if (i - wsStart !== 1 || c !== 0x20 || i === startLineEnd) extraSpace = true;
      if (i === startLineEnd) break;
      const partStart = i;
      while (i < startLineEnd && head.charCodeAt(i) !== 0x20 && head.charCodeAt(i) !== 0x09) i++;
      parts.push(partStart, i);
    }
    if (parts.length === 0) throw new SipParseError('request line has no Request-URI', base + i);
    if (parts.length === 2) throw new SipParseError('request line has no SIP version', base + startLineEnd);
    if (parts.length > 4) {
      // the version is well formed at the end: the spaces are inside the Request-URI (RFC 4475 lwsruri)
      throw new SipParseError('whitespace inside Request-URI', base + parts[1]!, 'Request-URI');
    }
    requestUri = head.slice(parts[0]!, parts[1]!);
    if (requestUri.charCodeAt(0) === 0x3c)
      throw new SipParseError("Request-URI enclosed in '<' '>'", base + parts[0]!, 'Request-URI');
    const versionEnd = checkVersion(head, parts[2]!, base);
    if (versionEnd !== parts[3]!) throw new SipParseError('malformed SIP version', base + parts[2]!);
    if (extraSpace) {
      // RFC 4475 §3.1.2.9/§3.1.2.10: tolerated, and never forwarded as received
      defects = noteDefect(defects, 'extra whitespace in request line');
      rewriteStartLine = true;
    }
  }

  // ------------------------------------------------------------ header lines
  const headers: HeaderField[] = [];
  let pos = nl + 1;
  let contentLength = -1;
  let viaCount = 0;
  const n = head.length;
  let bodyOffset = -1; // offset in head after the empty line
  while (pos < n) {
    nl = head.indexOf('\n', pos);
    if (nl === -1) throw new SipParseError('header line not terminated', base + pos);
    let contentEnd = nl;
    if (contentEnd > pos && head.charCodeAt(contentEnd - 1) === 0x0d) contentEnd--;
    else defects = noteDefect(defects, 'bare LF line ending');
    if (contentEnd === pos) {
      // the empty line ending the header section
      bodyOffset = nl + 1;
      break;
    }
    if (contentEnd - pos > limits.maxLineLength) throw new SipParseError('header line too long', base + pos);
    const first = head.charCodeAt(pos);
    if (first === 0x20 || first === 0x09)
      throw new SipParseError('header line starts with whitespace', base + pos);
    // header-name HCOLON header-value (RFC 3261 §7.3.1)
    let i = pos;
    while (i < contentEnd && (CHAR_CLASS[head.charCodeAt(i)]! & TOKEN) !== 0) i++;
    if (i === pos) throw new SipParseError('malformed header name', base + pos);
    const name = head.slice(pos, i);
    while (i < contentEnd && (head.charCodeAt(i) === 0x20 || head.charCodeAt(i) === 0x09)) i++;
    if (head.charCodeAt(i) !== 0x3a || i >= contentEnd) {
      throw new SipParseError(`header '${name}' has no colon`, base + i);
    }
    i++;
    while (i < contentEnd && (head.charCodeAt(i) === 0x20 || head.charCodeAt(i) === 0x09)) i++;
    const valueStart = i;
    // folded continuation lines (RFC 3261 §7.3.1)
    let folded = false;
    while (nl + 1 < n) {
      const next = head.charCodeAt(nl + 1);
      if (next !== 0x20 && next !== 0x09) break;
      const nl2 = head.indexOf('\n', nl + 1);
      if (nl2 === -1) throw new SipParseError('header line not terminated', base + nl + 1);
      let cEnd2 = nl2;
      if (cEnd2 > nl + 1 && head.charCodeAt(cEnd2 - 1) === 0x0d) cEnd2--;
      if (cEnd2 - (nl + 1) > limits.maxLineLength)
        throw new SipParseError('header line too long', base + nl + 1);
      folded = true;
      nl = nl2;
      contentEnd = cEnd2;
    }
    let valueEnd = contentEnd;
    while (valueEnd > valueStart) {
      const c = head.charCodeAt(valueEnd - 1);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
      valueEnd--;
    }
    const key = headerKey(name);
    const field = new HeaderField(name, key, head, pos, nl + 1, valueStart, valueEnd, folded, false);
    if (headers.length >= limits.maxHeaderCount)
      throw new SipParseError('too many header fields', base + pos);
    headers.push(field);
    if (key === 'content-length') {
      const v = field.value;
      const cl = parseLength(v);
      if (cl < 0) throw new SipParseError('malformed Content-Length', base + valueStart, 'Content-Length');
      if (contentLength !== -1 && cl !== contentLength) {
        throw new SipParseError('conflicting Content-Length headers', base + valueStart, 'Content-Length');
      }
      contentLength = cl;
    } else if (key === 'via') {
      if (++viaCount > limits.maxViaCount) throw new SipParseError('too many Via header fields', base + pos);
    }
    pos = nl + 1;
  }
  if (bodyOffset === -1) {
    // datagram ends after the last header line without the empty line (RFC 4475 baddn's archived bytes)
    defects = noteDefect(defects, 'no empty line after the header section');
    bodyOffset = n;
  }

  // ------------------------------------------------------------ body
  const bodyStart = base + bodyOffset;
  let end: number;
  if (contentLength === -1) {
    end = buf.length; // RFC 3261 §18.3: a datagram's body runs to its end
  } else {
    end = bodyStart + contentLength;
    if (end > buf.length)
      throw new SipParseError('Content-Length exceeds the message body', bodyStart, 'Content-Length');
  }

  const layout: MessageLayout = {
    raw: buf,
    base,
    head,
    startLineEnd,
    bodyStart,
    end,
    headers,
    defects,
    rewriteStartLine,
  };
  return isResponse ? new SipResponse(layout, status, reason) : new SipRequest(layout, method, requestUri);
}

/**
 * The limits with defaults filled in. The server passes a complete set for every message, used as it is
 * (no object spread per message).
 */
function completeLimits(partial: Partial<ParseLimits>): ParseLimits {
  if (
    partial.maxMessageSize !== undefined &&
    partial.maxHeaderCount !== undefined &&
    partial.maxLineLength !== undefined &&
    partial.maxViaCount !== undefined
  )
    return partial as ParseLimits;
  return { ...DEFAULT_LIMITS, ...partial };
}

/**
 * Checks `SIP/2.0` at `i`; returns the index after it. Other well-formed versions are refused with 505
 * (RFC 3261 §8.2.2... §21.5.6), anything else with 400.
 */
function checkVersion(s: string, i: number, base: number): number {
  if (
    (s.charCodeAt(i) | 0x20) === 0x73 &&
    (s.charCodeAt(i + 1) | 0x20) === 0x69 &&
    (s.charCodeAt(i + 2) | 0x20) === 0x70 &&
    s.charCodeAt(i + 3) === 0x2f &&
    s.charCodeAt(i + 4) === 0x32 &&
    s.charCodeAt(i + 5) === 0x2e &&
    s.charCodeAt(i + 6) === 0x30 &&
    !isDigit(s.charCodeAt(i + 7))
  ) {
    return i + 7;
  }
  // SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
  let j = i + 4;
  const majorStart = j;
  while (isDigit(s.charCodeAt(j))) j++;
  const okMajor = j > majorStart && s.charCodeAt(j) === 0x2e;
  j++;
  const minorStart = j;
  while (isDigit(s.charCodeAt(j))) j++;
  if (s.slice(i, i + 4).toUpperCase() === 'SIP/' && okMajor && j > minorStart) {
    throw new SipParseError('SIP version not supported', base + i, undefined, 505);
  }
  throw new SipParseError('malformed SIP version', base + i);
}

/** Adds a defect to the list once, creating the list on first use. */
function noteDefect(defects: string[] | undefined, defect: string): string[] {
  if (defects === undefined) return [defect];
  if (!defects.includes(defect)) defects.push(defect);
  return defects;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Content-Length = 1*DIGIT; -1 when malformed or larger than any message could be. */
function parseLength(v: string): number {
  const n = v.length;
  if (n === 0 || n > 10) return -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    x = x * 10 + c;
  }
  return x > 0x7fffffff ? -1 : x;
}

/** The common methods, as shared constants: no string per message (and none kept by long-lived state). */
const KNOWN_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'MESSAGE',
  'INFO',
  'PRACK',
  'UPDATE',
  'REFER',
];

/** The known method `text` starts with, `length` characters long (case-sensitive, RFC 3261 §7.1). */
function knownMethod(text: string, length: number): string | undefined {
  for (const m of KNOWN_METHODS) if (m.length === length && text.startsWith(m)) return m;
  return undefined;
}
