/**
 * CSeq (RFC 3261 §20.16): `CSeq = "CSeq" HCOLON 1*DIGIT LWS Method`.
 */
import { SipParseError } from '../errors.js';
import { scanToken, skipWs } from '../lexer.js';
import { digitsValue, MAX_UINT32, scanDigits } from './common.js';

/** A parsed CSeq value. */
export interface CSeq {
  /** Sequence number, 0 to 2^32-1 (RFC 3261 §8.1.1.5). */
  seq: number;
  /** Method, case-sensitive, as written. */
  method: string;
}

/**
 * Parses a CSeq header value such as `4711 INVITE`. Leading zeros are legal (`0009`, RFC 4475 wsinv);
 * a number above 2^32-1 is an error (RFC 4475 §3.1.2.4 scalar02).
 */
export function parseCSeq(value: string): CSeq {
  const n = value.length;
  const start = skipWs(value, 0);
  let i = scanDigits(value, start);
  if (i === start) {
    if (start >= n) throw new SipParseError('CSeq is empty', start);
    if (value.charCodeAt(start) === 0x2d) throw new SipParseError('CSeq number must not be negative', start);
    throw new SipParseError('CSeq must start with a decimal sequence number', start);
  }
  // RFC 3261 §20.16: the sequence number MUST be expressible as a 32-bit unsigned integer
  const seq = digitsValue(value, start, i, MAX_UINT32);
  if (seq < 0) throw new SipParseError('CSeq number exceeds 2^32-1', start);
  const numberEnd = i;
  i = skipWs(value, i);
  if (i >= n) throw new SipParseError('CSeq method missing', i);
  if (i === numberEnd) throw new SipParseError('CSeq number must be followed by a space and the method', i);
  const methodStart = i;
  i = scanToken(value, i);
  if (i === methodStart) throw new SipParseError('CSeq method must be a token', i);
  const methodEnd = i;
  i = skipWs(value, i);
  if (i < n) throw new SipParseError(`unexpected character '${value[i]}' after CSeq method`, i);
  return { seq, method: value.slice(methodStart, methodEnd) };
}

/** Writes a CSeq value: `seq method`. */
export function formatCSeq(c: CSeq): string {
  return `${c.seq} ${c.method}`;
}
