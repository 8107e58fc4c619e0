/**
 * The methods a contact accepts, as the bitmask of the `location` table's `methods` column (Kamailio's
 * numbering, so a shared table means the same to both): from the Contact's `methods` feature parameter
 * (RFC 3840 §9) or the REGISTER's Allow header (RFC 3261 §20.5).
 */

const METHOD_BITS: ReadonlyMap<string, number> = new Map([
  ['INVITE', 1],
  ['CANCEL', 2],
  ['ACK', 4],
  ['BYE', 8],
  ['INFO', 16],
  ['REGISTER', 32],
  ['SUBSCRIBE', 64],
  ['NOTIFY', 128],
  ['MESSAGE', 256],
  ['OPTIONS', 512],
  ['PRACK', 1024],
  ['UPDATE', 2048],
  ['REFER', 4096],
  ['PUBLISH', 8192],
]);

/** "Every method" (the column's NULL). */
export const ALL_METHODS = -1;

/** The bitmask of a list of method names; names without a bit are left out. */
export function methodsMask(methods: Iterable<string>): number {
  let mask = 0;
  for (const m of methods) mask |= METHOD_BITS.get(m.trim().toUpperCase()) ?? 0;
  return mask;
}

/** True when a contact with `mask` accepts `method`. Methods without a bit are always accepted. */
export function allowsMethod(mask: number, method: string): boolean {
  if (mask === ALL_METHODS) return true;
  const bit = METHOD_BITS.get(method);
  return bit === undefined || (mask & bit) !== 0;
}
