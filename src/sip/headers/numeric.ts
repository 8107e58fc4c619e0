/**
 * Single-number header values and Call-ID (RFC 3261 §20.8, §20.14, §20.19, §20.22, §20.23, §25.1).
 */
import { SipParseError } from '../errors.js';
import { parseDecimal, scanWord } from '../lexer.js';
import { MAX_UINT32, scanDigits } from './common.js';

const MAX_INT31 = 2147483647;

/**
 * Parses a value that is `1*DIGIT` and nothing else, at most `max`. `maxDigits` caps the number of digits
 * written, leading zeros included (0 = no cap).
 */
function parseUnsigned(value: string, max: number, maxLabel: string, name: string, maxDigits = 0): number {
  const n = value.length;
  if (n === 0) throw new SipParseError(`${name} is empty`, 0);
  const end = scanDigits(value, 0);
  if (end !== n) {
    if (end === 0 && value.charCodeAt(0) === 0x2d) throw new SipParseError(`${name} must not be negative`, 0);
    throw new SipParseError(`${name} must be a decimal number`, end);
  }
  if (maxDigits > 0 && n > maxDigits) throw new SipParseError(`${name} has more than ${maxDigits} digits`, 0);
  // all digits, so -1 here only means more than ten significant digits
  const v = parseDecimal(value, 10);
  if (v < 0 || v > max) throw new SipParseError(`${name} exceeds ${maxLabel}`, 0);
  return v;
}

/**
 * Parses Max-Forwards (RFC 3261 §20.22): `1*DIGIT`, 0 to 255. Leading zeros are legal (`0068`).
 * A value above 255 is an error (RFC 4475 §3.1.2.4 scalar02).
 */
export function parseMaxForwards(value: string): number {
  return parseUnsigned(value, 255, '255', 'Max-Forwards');
}

/**
 * Parses Content-Length (RFC 3261 §20.14): `1*DIGIT`, at most 10 digits and at most 2^31-1 octets.
 * A negative value (`-999`, RFC 4475 §3.1.2.3 ncl) is an error.
 */
export function parseContentLength(value: string): number {
  return parseUnsigned(value, MAX_INT31, '2^31-1', 'Content-Length', 10);
}

/**
 * Parses Expires (RFC 3261 §20.19): `delta-seconds`, 0 to 2^32-1. A larger value is an error here
 * (RFC 4475 §3.1.2.4 scalar02); the caller may instead treat the expiry as its default, as that section
 * suggests for a request whose only defect is the expiry.
 */
export function parseExpires(value: string): number {
  return parseUnsigned(value, MAX_UINT32, '2^32-1', 'Expires');
}

/** Parses Min-Expires (RFC 3261 §20.23): `delta-seconds`, 0 to 2^32-1. */
export function parseMinExpires(value: string): number {
  return parseUnsigned(value, MAX_UINT32, '2^32-1', 'Min-Expires');
}

/**
 * Parses a Call-ID (RFC 3261 §20.8, §25.1): `callid = word [ "@" word ]`. Returns the value as written;
 * Call-IDs compare case-sensitively, byte by byte.
 */
export function parseCallId(value: string): string {
  const n = value.length;
  if (n === 0) throw new SipParseError('Call-ID is empty', 0);
  let i = scanWord(value, 0);
  if (i === 0) throw new SipParseError(`unexpected character '${value[0]}' in Call-ID`, 0);
  if (i < n && value.charCodeAt(i) === 0x40) {
    const hostStart = i + 1;
    i = scanWord(value, hostStart);
    if (i === hostStart) throw new SipParseError("Call-ID has nothing after '@'", hostStart);
  }
  if (i < n) {
    const c = value.charCodeAt(i);
    throw new SipParseError(
      c === 0x20 || c === 0x09
        ? 'Call-ID contains whitespace'
        : c === 0x40
          ? "Call-ID contains more than one '@'"
          : `unexpected character '${value[i]}' in Call-ID`,
      i,
    );
  }
  return value;
}
