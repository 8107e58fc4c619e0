/**
 * The rules every location store applies the same way: AOR keys, which binding a contact designates
 * (RFC 3261 §10.3 step 7, RFC 5626 flows), expiry, q ordering, and the checks of a save's input.
 */
import { parseUri, type Uri, uriEquals } from '../../sip/uri.js';
import type { Binding, ContactInput, ContactKey } from './types.js';

/** The key an AOR is stored under: `user@domain` with the domain lower-cased, or `user` alone. */
export function aorKeyOf(aor: string, useDomain: boolean): string {
  const at = aor.lastIndexOf('@');
  if (!useDomain) return at < 0 ? aor : aor.slice(0, at);
  if (at < 0) return aor;
  // domains compare case-insensitively (RFC 3261 §19.1.4); rebuild only when one needs lowering
  for (let i = at + 1; i < aor.length; i++) {
    const c = aor.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return aor.slice(0, at + 1) + aor.slice(at + 1).toLowerCase();
  }
  return aor;
}

/** Ordering weight of a q-value: no q counts as 1.0 (olelo's choice; RFC 3261 leaves it open). */
export function qRank(q: number): number {
  return q < 0 ? 1000 : q;
}

/** Whether a binding's time ran out at `now` (expires 0 = permanent). */
export function isExpired(b: Pick<Binding, 'expires'>, now: number): boolean {
  return b.expires !== 0 && b.expires <= now;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** Throws a RangeError when a save's numbers are out of range (expires, cseq, q). */
export function checkContactInput(input: ContactInput): void {
  checkInteger('expires', input.expires, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('cseq', input.cseq, 0, 2 ** 32 - 1);
  if (input.q !== undefined) checkInteger('q', input.q, -1, 1000);
}

/**
 * The binding of an AOR's list that `key` designates: an RFC 5626 flow, else the Contact URI
 * (RFC 3261 §10.3 step 7). The list is walked from `first` through `next` (a linked list needs no array);
 * with `matchInstance`, a contact with an instance and no reg-id matches by instance (GRUU registrars).
 */
export function matchBinding<B extends Binding>(
  first: B | undefined,
  next: (b: B) => B | undefined,
  key: ContactKey,
  matchInstance: boolean,
): B | undefined {
  const instance = key.instance ?? '';
  const regId = key.regId ?? 0;
  if (instance !== '') {
    // RFC 5626 §6: a flow is (AOR, instance-id, reg-id); a new one with the same pair replaces it
    if (regId > 0) {
      for (let b = first; b !== undefined; b = next(b)) {
        if (b.regId === regId && b.instance === instance) return b;
      }
      return undefined;
    }
    if (matchInstance) {
      for (let b = first; b !== undefined; b = next(b)) {
        if (b.instance === instance && b.regId === 0) return b;
      }
    }
  }
  const contact = key.contact;
  for (let b = first; b !== undefined; b = next(b)) {
    if (b.contact === contact) return b;
  }
  // RFC 3261 §19.1.4 comparison: parameters in any order, case-insensitive host and scheme, ...
  let uri: Uri;
  try {
    uri = parseUri(contact);
  } catch {
    return undefined;
  }
  for (let b = first; b !== undefined; b = next(b)) {
    if (uriEquals(b.contact, uri)) return b;
  }
  return undefined;
}

/**
 * A binding as callers get it: its columns only, copied off a store's own object (which may carry a
 * list link, a partition, or be changed in place later).
 */
export function bindingColumns(b: Binding): Binding {
  return {
    ruid: b.ruid,
    contact: b.contact,
    received: b.received,
    path: b.path,
    expires: b.expires,
    q: b.q,
    callId: b.callId,
    cseq: b.cseq,
    lastModified: b.lastModified,
    flags: b.flags,
    cflags: b.cflags,
    userAgent: b.userAgent,
    socket: b.socket,
    methods: b.methods,
    instance: b.instance,
    regId: b.regId,
    serverId: b.serverId,
    connectionId: b.connectionId,
    keepalive: b.keepalive,
  };
}
