/**
 * Content-Type (RFC 3261 §20.15, §25.1):
 *
 * ```
 * media-type  = m-type SLASH m-subtype *(SEMI m-parameter)
 * m-parameter = m-attribute EQUAL m-value
 * m-value     = token / quoted-string
 * ```
 */
import { SipParseError } from '../errors.js';
import { type Params, parseParams, scanToken, skipWs } from '../lexer.js';
import { paramOffset, tokenOrQuoted } from './common.js';

/** A media type such as `application/sdp` or `multipart/mixed;boundary=xyz`. */
export interface MediaType {
  /** Top-level type, lower-cased (media types compare case-insensitively, RFC 2045 §5.1). */
  type: string;
  /** Subtype, lower-cased. */
  subtype: string;
  /** Parameters: lower-case names; values as written (quoted values unquoted). */
  params: Params;
}

/**
 * Parses a Content-Type value (`c` in compact form). Every parameter must have a value (m-parameter);
 * a parameter without `=` or a list (`,`) is an error.
 */
export function parseContentType(value: string): MediaType {
  const n = value.length;
  let i = skipWs(value, 0);
  const typeStart = i;
  i = scanToken(value, i);
  if (i === typeStart) {
    throw new SipParseError(
      i >= n ? 'Content-Type is empty' : 'Content-Type must start with a media type',
      i,
    );
  }
  const type = value.slice(typeStart, i).toLowerCase();
  // SLASH = SWS "/" SWS
  i = skipWs(value, i);
  if (i >= n || value.charCodeAt(i) !== 0x2f) throw new SipParseError("expected '/' in Content-Type", i);
  i = skipWs(value, i + 1);
  const subStart = i;
  i = scanToken(value, i);
  if (i === subStart) throw new SipParseError('missing media subtype in Content-Type', i);
  const subtype = value.slice(subStart, i).toLowerCase();
  const paramsStart = i;
  const params: Params = new Map();
  i = parseParams(value, i, params);
  if (i < n) throw new SipParseError('Content-Type holds a single media type; unexpected comma', i);
  for (const [name, v] of params) {
    if (v === null) {
      throw new SipParseError(
        `Content-Type parameter '${name}' needs a value`,
        paramOffset(value, paramsStart, name),
      );
    }
  }
  return { type, subtype, params };
}

/** Writes a media type; parameter values are written as tokens when they are ones, else as quoted-strings. */
export function formatContentType(m: MediaType): string {
  let out = `${m.type}/${m.subtype}`;
  for (const [name, v] of m.params) out += v === null ? `;${name}` : `;${name}=${tokenOrQuoted(v)}`;
  return out;
}
