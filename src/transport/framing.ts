/**
 * Stream framing (RFC 3261 §18.3): cut a TCP/TLS byte stream into SIP messages using Content-Length, and
 * recognise RFC 5626 §3.5.1 CRLF keepalives between messages.
 *
 * Pure: no sockets, no timers. A {@link StreamFramer} belongs to one connection; the connection feeds it
 * every chunk it reads and receives complete messages through its {@link FramerSink}.
 */

/** Why a stream was found unframeable; any of these closes the connection. */
export type FramingErrorReason =
  /** The first line is not `METHOD SP ... SP SIP/2.0` nor `SIP/2.0 ...`: not SIP at all. */
  | 'garbage'
  /** No empty line within maxMessageSize bytes. */
  | 'header-too-large'
  /** Header section plus Content-Length exceeds maxMessageSize. */
  | 'message-too-large'
  /** RFC 3261 §18.3: Content-Length is mandatory on streams. */
  | 'missing-content-length'
  /** Content-Length not a decimal number, or two different values. */
  | 'bad-content-length';

/** Receives what a {@link StreamFramer} finds in the stream. */
export interface FramerSink {
  /**
   * One complete message: header section and exactly Content-Length body bytes. The buffer is owned by
   * the receiver; the framer never writes to it again.
   */
  onFrame(message: Buffer): void;
  /** RFC 5626 §3.5.1: a CRLFCRLF ping arrived between messages; answer with one CRLF. At most once per chunk. */
  onPing(): void;
}

/** Bounds applied while framing. */
export interface FramingLimits {
  /** Largest message (header section and body) accepted, in bytes. */
  maxMessageSize: number;
  /** Longest start line before the stream is judged not to be SIP. Default 8192. */
  maxStartLineLength?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const MIN_ACCUMULATOR = 1024;

/** Result of {@link StreamFramer.analyze}. */
const NEED_MORE = 0;
const COMPLETE = 1;
const FAILED = 2;

/** RFC 3261 §25.1 token characters (`alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"`). */
const TOKEN_CHAR = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TOKEN_CHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN_CHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN_CHAR[c] = 1;
for (const c of "-.!%*_+`'~") TOKEN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Frames one stream. Feed it with {@link push}; it calls the sink for every complete message and keeps
 * at most one incomplete message (bounded by maxMessageSize) between calls.
 *
 * Copies: a message wholly inside one chunk is delivered as a view of that chunk (no copy). A message
 * spread over chunks is copied once into an accumulator that grows by doubling while its header section
 * is read, then is sized exactly once Content-Length is known; the accumulator is handed over as the
 * message and a new one is started for the next, so no byte is copied more than twice.
 */
export class StreamFramer {
  /** Why {@link push} returned false; undefined while the stream is healthy. */
  error: FramingErrorReason | undefined;

  private readonly sink: FramerSink;
  private readonly maxMessageSize: number;
  private readonly maxStartLine: number;
  /** Bytes of the incomplete message, when one spans chunks. */
  private acc: Buffer | undefined;
  private accLength = 0;
  /** Progress through CRLFCRLF between messages (0..3). */
  private pingProgress = 0;
  private pingDue = false;
  private stopped = false;
  // State of the message being analysed, as offsets from its first byte.
  private lineChecked = false;
  private lineScan = 0;
  private headerScan = 0;
  private total = -1;

  constructor(sink: FramerSink, limits: FramingLimits) {
    this.sink = sink;
    this.maxMessageSize = limits.maxMessageSize;
    this.maxStartLine = limits.maxStartLineLength ?? 8192;
  }

  /** Bytes held for an incomplete message; above 0 means a message has started and not completed. */
  get pendingBytes(): number {
    return this.accLength;
  }

  /** Stops delivering: a sink that closes the connection from onFrame calls this so the rest of the chunk is dropped. */
  stop(): void {
    this.stopped = true;
    this.acc = undefined;
    this.accLength = 0;
  }

  /**
   * Consumes one chunk read from the stream. Returns false on a framing error ({@link error} says which);
   * the caller must then close the connection. Messages completed before the error have been delivered.
   */
  push(chunk: Buffer): boolean {
    if (this.stopped) return this.error === undefined;
    const end = chunk.length;
    let pos = 0;
    if (this.accLength > 0) {
      pos = this.continuePending(chunk);
      if (pos < 0) return false;
    }
    while (pos < end && !this.stopped) {
      // RFC 3261 §7.5 / RFC 5626 §3.5.1: CRLFs between messages; CRLFCRLF is a ping
      const b = chunk[pos]!;
      if (b === CR || b === LF) {
        pos = this.skipKeepalive(chunk, pos, end);
        continue;
      }
      this.pingProgress = 0;
      this.resetMessage();
      const status = this.analyze(chunk, pos, end);
      if (status === FAILED) return this.fail();
      if (status === COMPLETE && pos + this.total <= end) {
        const next = pos + this.total;
        this.sink.onFrame(chunk.subarray(pos, next));
        pos = next;
        continue;
      }
      // incomplete: keep the tail for the next chunk
      const rest = end - pos;
      const size =
        this.total > 0 ? this.total : Math.min(this.maxMessageSize, Math.max(MIN_ACCUMULATOR, rest * 2));
      this.acc = Buffer.allocUnsafe(size);
      chunk.copy(this.acc, 0, pos, end);
      this.accLength = rest;
      break;
    }
    if (this.pingDue) {
      this.pingDue = false;
      if (!this.stopped) this.sink.onPing();
    }
    return true;
  }

  private fail(): false {
    this.acc = undefined;
    this.accLength = 0;
    this.stopped = true;
    return false;
  }

  private resetMessage(): void {
    this.lineChecked = false;
    this.lineScan = 0;
    this.headerScan = 0;
    this.total = -1;
  }

  private skipKeepalive(chunk: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const b = chunk[pos]!;
      const expected = (this.pingProgress & 1) === 0 ? CR : LF;
      if (b === expected) {
        if (++this.pingProgress === 4) {
          this.pingProgress = 0;
          this.pingDue = true;
        }
      } else if (b === CR) {
        this.pingProgress = 1;
      } else if (b === LF) {
        this.pingProgress = 0; // a bare LF: tolerated, not part of a ping
      } else {
        break;
      }
      pos++;
    }
    return pos;
  }

  /** Appends as much of `chunk` as the pending message needs; returns the chunk offset after it, or -1. */
  private continuePending(chunk: Buffer): number {
    let pos = 0;
    if (this.total < 0) {
      // header section still incomplete: never hold more than maxMessageSize bytes of it
      const take = Math.min(chunk.length, this.maxMessageSize - this.accLength);
      if (take <= 0) return this.failWith('header-too-large');
      this.append(chunk, 0, take);
      pos = take;
      const before = this.accLength - take;
      const status = this.analyze(this.acc!, 0, this.accLength);
      if (status === FAILED) {
        this.fail();
        return -1;
      }
      if (status === NEED_MORE) return pos;
      if (this.total <= this.accLength) {
        // complete within the bytes taken: hand the accumulator over, return the unused bytes
        const message = this.acc!.subarray(0, this.total);
        pos = this.total - before;
        this.acc = undefined;
        this.accLength = 0;
        this.sink.onFrame(message);
        return pos;
      }
      if (this.acc!.length < this.total) {
        const exact = Buffer.allocUnsafe(this.total);
        this.acc!.copy(exact, 0, 0, this.accLength);
        this.acc = exact;
      }
    }
    // body: copy exactly what is missing
    const missing = this.total - this.accLength;
    const n = Math.min(missing, chunk.length - pos);
    chunk.copy(this.acc!, this.accLength, pos, pos + n);
    this.accLength += n;
    pos += n;
    if (this.accLength === this.total) {
      const message = this.acc!.subarray(0, this.total);
      this.acc = undefined;
      this.accLength = 0;
      this.sink.onFrame(message);
    }
    return pos;
  }

  private failWith(reason: FramingErrorReason): -1 {
    this.error = reason;
    this.fail();
    return -1;
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const n = to - from;
    let acc = this.acc!;
    if (this.accLength + n > acc.length) {
      let size = acc.length * 2;
      while (size < this.accLength + n) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, this.maxMessageSize));
      acc.copy(grown, 0, 0, this.accLength);
      this.acc = acc = grown;
    }
    chunk.copy(acc, this.accLength, from, to);
    this.accLength += n;
  }

  /**
   * Looks at the message starting at `start` with bytes available up to `end`: checks the start line,
   * finds the end of the header section and reads Content-Length. Sets {@link total} when known.
   * Resumes where the previous call on the same message stopped.
   */
  private analyze(buf: Buffer, start: number, end: number): number {
    if (!this.lineChecked) {
      if (this.lineScan === 0 && TOKEN_CHAR[buf[start]!] === 0) return this.reject('garbage');
      const lf = buf.indexOf(LF, start + this.lineScan);
      if (lf === -1 || lf >= end) {
        if (end - start > this.maxStartLine) return this.reject('garbage');
        this.lineScan = end - start;
        return NEED_MORE;
      }
      if (lf - start > this.maxStartLine || !looksLikeStartLine(buf, start, lf))
        return this.reject('garbage');
      this.lineChecked = true;
    }
    const scanFrom = start + Math.max(0, this.headerScan - 3);
    const blank = buf.indexOf(CRLFCRLF, scanFrom);
    if (blank === -1 || blank + 4 > end) {
      if (end - start >= this.maxMessageSize) return this.reject('header-too-large');
      this.headerScan = end - start;
      return NEED_MORE;
    }
    const headerLength = blank + 4 - start;
    const contentLength = readContentLength(buf, start, blank + 2);
    if (contentLength === MISSING) return this.reject('missing-content-length');
    if (contentLength === MALFORMED) return this.reject('bad-content-length');
    if (headerLength + contentLength > this.maxMessageSize) return this.reject('message-too-large');
    this.total = headerLength + contentLength;
    return COMPLETE;
  }

  private reject(reason: FramingErrorReason): number {
    this.error = reason;
    return FAILED;
  }
}

/** RFC 3261 §7.1/§7.2: `SIP/2.0 ...` or `token SP ... SP SIP/2.0`, version case-insensitive. */
function looksLikeStartLine(buf: Buffer, start: number, lf: number): boolean {
  let end = lf;
  if (end > start && buf[end - 1] === CR) end--;
  if (end - start >= 8 && isVersion(buf, start) && buf[start + 7] === SP) return true;
  let i = start;
  while (i < end && TOKEN_CHAR[buf[i]!] === 1) i++;
  if (i === start || i === end || (buf[i] !== SP && buf[i] !== HTAB)) return false;
  while (end > i && (buf[end - 1] === SP || buf[end - 1] === HTAB)) end--;
  return end - i >= 9 && isVersion(buf, end - 7) && (buf[end - 8] === SP || buf[end - 8] === HTAB);
}

function isVersion(buf: Buffer, at: number): boolean {
  return (
    (buf[at]! | 0x20) === 0x73 &&
    (buf[at + 1]! | 0x20) === 0x69 &&
    (buf[at + 2]! | 0x20) === 0x70 &&
    buf[at + 3] === 0x2f &&
    buf[at + 4] === 0x32 &&
    buf[at + 5] === 0x2e &&
    buf[at + 6] === 0x30
  );
}

const MISSING = -1;
const MALFORMED = -2;
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');

/**
 * Reads Content-Length (or its compact form `l`) from the header lines between the end of the start line
 * and `end` (the CRLF of the last header line included). Repeated equal values are accepted.
 */
export function readContentLength(buf: Buffer, start: number, end: number): number {
  let value = MISSING;
  let line = buf.indexOf(LF, start) + 1;
  while (line > 0 && line < end) {
    const next = buf.indexOf(LF, line);
    const lineEnd = next === -1 || next > end ? end : next;
    const colon = matchContentLengthName(buf, line, lineEnd);
    if (colon >= 0) {
      const v = parseDecimal(buf, colon + 1, lineEnd);
      if (v < 0 || (value >= 0 && v !== value)) return MALFORMED;
      value = v;
    }
    line = next + 1;
  }
  return value;
}

/** Offset of the ':' when the line's header name is Content-Length or `l`; -1 otherwise. */
function matchContentLengthName(buf: Buffer, at: number, end: number): number {
  let i = at;
  const first = buf[i]! | 0x20;
  if (first === 0x6c) {
    i++; // compact form `l`
  } else if (first === 0x63 && end - at >= CONTENT_LENGTH.length) {
    for (let k = 0; k < CONTENT_LENGTH.length; k++) {
      if ((buf[at + k]! | 0x20) !== CONTENT_LENGTH[k]) return -1;
    }
    i += CONTENT_LENGTH.length;
  } else {
    return -1;
  }
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  return i < end && buf[i] === 0x3a ? i : -1;
}

/** `*WSP 1*DIGIT *WSP CR`: the value, or MALFORMED. Ten digits at most (anything larger exceeds every limit). */
function parseDecimal(buf: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  let value = 0;
  const digits = i;
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    if (i - digits >= 10) return MALFORMED;
    value = value * 10 + (buf[i]! - 0x30);
    i++;
  }
  if (i === digits) return MALFORMED;
  while (i < end && (buf[i] === SP || buf[i] === HTAB || buf[i] === CR)) i++;
  return i === end ? value : MALFORMED;
}
