/**
 * Small scanning helpers shared by the header parsers in this folder. Internal: not re-exported from
 * `index.ts`, the message layer has no use for them.
 */
import { SipParseError } from '../errors.js';
import { parseDecimal, quote, scanToken } from '../lexer.js';

/** 2^32-1, the upper bound of `delta-seconds` and of the CSeq number (RFC 3261 §20.16, §25.1). */
export const MAX_UINT32 = 4294967295;

/** Index after a run of DIGITs starting at `i`. */
export function scanDigits(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i;
}

/**
 * The value of the DIGIT run `s.slice(start, end)` (non-empty, digits only), or -1 when it exceeds `max`.
 * Leading zeros are legal and do not count (RFC 4475 §3.1.1.1 wsinv: `0068`, `0009`); `max` must be below
 * 10^10, so more than ten significant digits always exceed it and are never summed up.
 */
export function digitsValue(s: string, start: number, end: number, max: number): number {
  while (start < end - 1 && s.charCodeAt(start) === 0x30) start++;
  if (end - start > 10) return -1;
  let v = 0;
  for (let i = start; i < end; i++) v = v * 10 + (s.charCodeAt(i) - 0x30);
  return v > max ? -1 : v;
}

/**
 * Parses a parameter value that must be `1*DIGIT` no larger than `max`.
 * `what` names the parameter in the error reason; `maxLabel` says the bound ("255", "2^32-1").
 */
export function parseNumericParam(
  value: string | null,
  max: number,
  maxLabel: string,
  what: string,
  offset: number,
): number {
  if (value === null) throw new SipParseError(`${what} needs a value`, offset);
  const end = scanDigits(value, 0);
  if (end === 0 || end !== value.length) throw new SipParseError(`${what} must be a decimal number`, offset);
  // all digits, so -1 here only means more than ten significant digits
  const v = parseDecimal(value, 10);
  if (v < 0 || v > max) throw new SipParseError(`${what} exceeds ${maxLabel}`, offset);
  return v;
}

/** True when `s` is a non-empty `token` (RFC 3261 §25.1). */
export function isToken(s: string): boolean {
  return s.length > 0 && scanToken(s, 0) === s.length;
}

/** Writes `value` as a token when it is one, otherwise as a quoted-string (`token / quoted-string` grammar). */
export function tokenOrQuoted(value: string): string {
  return isToken(value) ? value : quote(value);
}

/**
 * Offset of the parameter `name` (lower-case) in `s` at or after `from`, for error reporting only: the
 * parameter scanner does not keep offsets, so a defect found in a parameter's value is located again here.
 * Returns `from` when the parameter cannot be found.
 */
export function paramOffset(s: string, from: number, name: string): number {
  const n = s.length;
  let i = s.indexOf(';', from);
  while (i !== -1) {
    let j = i + 1;
    while (j < n && (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09)) j++;
    const end = scanToken(s, j);
    if (s.slice(j, end).toLowerCase() === name) return j;
    i = s.indexOf(';', j);
  }
  return from;
}
