/**
 * Strings kept for hours must not pin what they were cut from. A header value sliced from a message is
 * a view into the whole header section; keeping it would keep the whole REGISTER alive per binding.
 */

/** V8 copies substrings shorter than this; longer ones may be views into their parent. */
const SHORT_STRING = 13;

/** Bytes of the scratch buffer copies go through; longer strings take a buffer of their own. */
const SCRATCH_SIZE = 4096;
const scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

/** A flat copy of `s` that references nothing else (for strings stored long-term). */
export function ownString(s: string): string {
  if (s.length < SHORT_STRING) return s;
  // olelo's header text is latin1 (one char per byte); anything wider takes the UTF-8 round trip
  let copy: string;
  if (s.length <= SCRATCH_SIZE) {
    const n = scratch.write(s, 0, 'latin1');
    copy = scratch.toString('latin1', 0, n);
  } else {
    copy = Buffer.from(s, 'latin1').toString('latin1');
  }
  return copy === s ? copy : Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Shares one copy of values that repeat across bindings (domains, User-Agents, sockets, Paths of an
 * edge proxy). Bounded, so a flood of distinct values cannot grow it without limit: past `limit`
 * entries new values are copied but not shared.
 */
export class StringInterner {
  private readonly table = new Map<string, string>();

  constructor(private readonly limit: number) {}

  intern(s: string): string {
    if (s.length === 0) return '';
    const known = this.table.get(s);
    if (known !== undefined) return known;
    const copy = ownString(s);
    if (this.table.size < this.limit) this.table.set(copy, copy);
    return copy;
  }

  get size(): number {
    return this.table.size;
  }
}
