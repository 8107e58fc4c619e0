/**
 * Event and Subscription-State (RFC 6665 §8.2.1, §8.2.3, §8.4):
 *
 * ```
 * Event              = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param )
 * event-type         = event-package *( "." event-template )
 * event-package      = token-nodot
 * event-param        = generic-param / ( "id" EQUAL token )
 * Subscription-State = "Subscription-State" HCOLON substate-value *( SEMI subexp-params )
 * subexp-params      = ("reason" EQUAL event-reason-value) / ("expires" EQUAL delta-seconds)
 *                      / ("retry-after" EQUAL delta-seconds) / generic-param
 * ```
 */
import { SipParseError } from '../errors.js';
import { formatParamValue, type Params, parseParams, scanToken, skipWs } from '../lexer.js';
import { isToken, MAX_UINT32, paramOffset, parseNumericParam } from './common.js';

/** A parsed Event value. */
export interface EventHeader {
  /** event-type as written (`presence`, `dialog`, `presence.winfo`); compared byte by byte (RFC 6665 §8.2.1). */
  type: string;
  /** The `id` parameter (a token), or `undefined`. When formatting, this field wins over `params`. */
  id: string | undefined;
  /** Every parameter, `id` included, with lower-case names. */
  params: Params;
}

/** A parsed Subscription-State value. */
export interface SubscriptionState {
  /** substate-value, lower-cased: `active`, `pending`, `terminated` or an extension. */
  state: string;
  /** `expires` in seconds (0 to 2^32-1). */
  expires?: number;
  /** `reason`, lower-cased (`deactivated`, `probation`, `rejected`, `timeout`, `giveup`, `noresource`, ...). */
  reason?: string;
  /** `retry-after` in seconds (0 to 2^32-1). */
  retryAfter?: number;
  /** Every parameter, the typed ones included, with lower-case names. */
  params: Params;
}

/**
 * Parses an Event value (`o` in compact form). The event-type is a `token`; each dot-separated part must be
 * non-empty. `id`, when present, must be a token.
 */
export function parseEvent(value: string): EventHeader {
  const n = value.length;
  const start = skipWs(value, 0);
  let i = scanToken(value, start);
  if (i === start)
    throw new SipParseError(start >= n ? 'Event is empty' : 'Event must start with an event type', i);
  const type = value.slice(start, i);
  // event-package = token-nodot, event-template = token-nodot: no empty part around a "."
  for (let k = start; k < i; k++) {
    if (value.charCodeAt(k) === 0x2e && (k === start || k === i - 1 || value.charCodeAt(k + 1) === 0x2e)) {
      throw new SipParseError("empty part in Event type around '.'", k);
    }
  }
  const paramsStart = i;
  const params: Params = new Map();
  i = parseParams(value, i, params);
  if (i < n) throw new SipParseError('Event holds a single event type; unexpected comma', i);
  const id = params.get('id');
  if (id !== undefined && (id === null || !isToken(id))) {
    throw new SipParseError('Event id must be a token', paramOffset(value, paramsStart, 'id'));
  }
  return { type, id: id ?? undefined, params };
}

/** Writes an Event value; `e.id` replaces any `id` in `e.params` (and is dropped when `undefined`). */
export function formatEvent(e: EventHeader): string {
  let out = e.type;
  let idWritten = false;
  for (const [name, v] of e.params) {
    if (name === 'id') {
      if (!idWritten && e.id !== undefined) out += `;id=${e.id}`;
      idWritten = true;
    } else {
      out += v === null ? `;${name}` : `;${name}=${formatParamValue(v)}`;
    }
  }
  if (!idWritten && e.id !== undefined) out += `;id=${e.id}`;
  return out;
}

/**
 * Parses a Subscription-State value. `expires` and `retry-after` must be delta-seconds (0 to 2^32-1);
 * `reason` must be a token.
 */
export function parseSubscriptionState(value: string): SubscriptionState {
  const n = value.length;
  const start = skipWs(value, 0);
  let i = scanToken(value, start);
  if (i === start) {
    throw new SipParseError(
      start >= n ? 'Subscription-State is empty' : 'Subscription-State must start with a state',
      i,
    );
  }
  const state = value.slice(start, i).toLowerCase();
  const paramsStart = i;
  const params: Params = new Map();
  i = parseParams(value, i, params);
  if (i < n) throw new SipParseError('Subscription-State holds a single state; unexpected comma', i);
  const out: SubscriptionState = { state, params };
  const expires = params.get('expires');
  if (expires !== undefined) {
    out.expires = parseNumericParam(
      expires,
      MAX_UINT32,
      '2^32-1',
      'Subscription-State expires',
      paramOffset(value, paramsStart, 'expires'),
    );
  }
  const retryAfter = params.get('retry-after');
  if (retryAfter !== undefined) {
    out.retryAfter = parseNumericParam(
      retryAfter,
      MAX_UINT32,
      '2^32-1',
      'Subscription-State retry-after',
      paramOffset(value, paramsStart, 'retry-after'),
    );
  }
  const reason = params.get('reason');
  if (reason !== undefined) {
    if (reason === null || !isToken(reason)) {
      throw new SipParseError(
        'Subscription-State reason must be a token',
        paramOffset(value, paramsStart, 'reason'),
      );
    }
    out.reason = reason.toLowerCase();
  }
  return out;
}

/**
 * Writes a Subscription-State value. The typed fields `expires`, `reason` and `retryAfter` replace the
 * same-named entries of `s.params`; entries whose typed field is `undefined` are dropped.
 */
export function formatSubscriptionState(s: SubscriptionState): string {
  let out = s.state;
  const typed = (name: string): string => {
    const v = name === 'expires' ? s.expires : name === 'reason' ? s.reason : s.retryAfter;
    return v === undefined ? '' : `;${name}=${v}`;
  };
  const seen = new Set<string>();
  for (const [name, v] of s.params) {
    if (name === 'expires' || name === 'reason' || name === 'retry-after') {
      if (!seen.has(name)) out += typed(name);
      seen.add(name);
    } else {
      out += v === null ? `;${name}` : `;${name}=${formatParamValue(v)}`;
    }
  }
  for (const name of ['reason', 'expires', 'retry-after']) if (!seen.has(name)) out += typed(name);
  return out;
}
