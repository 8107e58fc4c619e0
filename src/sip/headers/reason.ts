/**
 * Reason (RFC 3326 §2):
 *
 * ```
 * Reason          = "Reason" HCOLON reason-value *(COMMA reason-value)
 * reason-value    = protocol *(SEMI reason-params)
 * protocol        = "SIP" / "Q.850" / token
 * reason-params   = protocol-cause / reason-text / reason-extension
 * protocol-cause  = "cause" EQUAL cause
 * cause           = 1*DIGIT
 * reason-text     = "text" EQUAL quoted-string
 * ```
 */
import { SipParseError } from '../errors.js';
import {
  formatParamValue,
  latin1ToText,
  type Params,
  parseParams,
  quote,
  scanToken,
  skipWs,
  textToLatin1,
} from '../lexer.js';
import { MAX_UINT32, paramOffset, parseNumericParam } from './common.js';

/** One reason-value. */
export interface Reason {
  /** protocol as written (`SIP`, `Q.850`); compare case-insensitively (RFC 3261 §7.3.1 tokens). */
  protocol: string;
  /** `cause` (a SIP status code or a Q.850 cause value), or `undefined`. Wins over `params` when formatting. */
  cause: number | undefined;
  /** `text`, unquoted and decoded from UTF-8, or `undefined`. Wins over `params` when formatting. */
  text: string | undefined;
  /** Every parameter, `cause` and `text` included, with lower-case names (values as latin1). */
  params: Params;
}

/**
 * Parses a Reason value: one or more comma-separated reason-values. `cause` must be a decimal number no
 * larger than 2^32-1. `text` is taken whether quoted (as the grammar says) or a bare token (seen in the wild).
 */
export function parseReason(value: string): Reason[] {
  const out: Reason[] = [];
  const n = value.length;
  let i = 0;
  for (;;) {
    i = skipWs(value, i);
    const start = i;
    i = scanToken(value, i);
    if (i === start) {
      const c = value.charCodeAt(i);
      throw new SipParseError(
        i >= n
          ? out.length === 0
            ? 'Reason is empty'
            : 'empty element in Reason list'
          : c === 0x2c
            ? 'empty element in Reason list'
            : 'Reason must start with a protocol',
        i,
      );
    }
    const protocol = value.slice(start, i);
    const paramsStart = i;
    const params: Params = new Map();
    i = parseParams(value, i, params);
    const c = params.get('cause');
    const cause =
      c === undefined
        ? undefined
        : parseNumericParam(
            c,
            MAX_UINT32,
            '2^32-1',
            'Reason cause',
            paramOffset(value, paramsStart, 'cause'),
          );
    const t = params.get('text');
    if (t === null)
      throw new SipParseError('Reason text needs a value', paramOffset(value, paramsStart, 'text'));
    out.push({ protocol, cause, text: t === undefined ? undefined : latin1ToText(t), params });
    if (i >= n) return out;
    i++; // parseParams stopped at a comma
  }
}

/**
 * Writes one reason-value (`Q.850;cause=16;text="Terminated"`); the typed `cause` and `text` replace the
 * same-named entries of `r.params`. `text` is always a quoted-string.
 */
export function formatReason(r: Reason): string {
  let out = r.protocol;
  const seen = { cause: false, text: false };
  const typed = (name: 'cause' | 'text'): string => {
    if (name === 'cause') return r.cause === undefined ? '' : `;cause=${r.cause}`;
    return r.text === undefined ? '' : `;text=${quote(textToLatin1(r.text))}`;
  };
  for (const [name, v] of r.params) {
    if (name === 'cause' || name === 'text') {
      if (!seen[name]) out += typed(name);
      seen[name] = true;
    } else {
      out += v === null ? `;${name}` : `;${name}=${formatParamValue(v)}`;
    }
  }
  if (!seen.cause) out += typed('cause');
  if (!seen.text) out += typed('text');
  return out;
}

/** Writes several reason-values as one comma-separated header value. */
export function formatReasons(reasons: readonly Reason[]): string {
  return reasons.map(formatReason).join(', ');
}
