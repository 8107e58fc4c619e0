/**
 * Comma-separated lists of tokens: Allow (RFC 3261 §20.5), Supported (§20.37), Require (§20.32),
 * Proxy-Require (§20.29), Unsupported (§20.40), Allow-Events (RFC 6665 §8.2.2), Content-Encoding (§20.12).
 *
 * ```
 * Allow     = "Allow" HCOLON [Method *(COMMA Method)]
 * Supported = ( "Supported" / "k" ) HCOLON [option-tag *(COMMA option-tag)]
 * ```
 */
import { SipParseError } from '../errors.js';
import { scanToken, skipWs } from '../lexer.js';

/**
 * Parses a comma-separated list of tokens. An empty value is an empty list (RFC 3261 allows an empty Allow
 * and Supported). Elements are returned as written: methods compare case-sensitively (RFC 3261 §7.1),
 * option tags like other tokens case-insensitively (§7.3.1). An empty element (`a,,b`, a trailing comma) or a non-token element is an error.
 */
export function parseTokenList(value: string): string[] {
  const out: string[] = [];
  const n = value.length;
  let i = skipWs(value, 0);
  if (i >= n) return out;
  for (;;) {
    const start = i;
    i = scanToken(value, i);
    if (i === start) {
      throw new SipParseError(
        i >= n || value.charCodeAt(i) === 0x2c
          ? 'empty element in list'
          : `unexpected character '${value[i]}' in list`,
        i,
      );
    }
    out.push(value.slice(start, i));
    i = skipWs(value, i);
    if (i >= n) return out;
    if (value.charCodeAt(i) !== 0x2c)
      throw new SipParseError(`unexpected character '${value[i]}' in list`, i);
    i = skipWs(value, i + 1);
  }
}

/** Writes a list of tokens as `a, b, c`. */
export function formatTokenList(tokens: readonly string[]): string {
  return tokens.join(', ');
}
