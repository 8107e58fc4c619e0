/**
 * Strings kept for hours must not pin what they were cut from (see src/sip/keep.ts); values that repeat
 * across bindings are shared.
 */
import { ownString } from '../../sip/keep.js';

export { ownString };

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
