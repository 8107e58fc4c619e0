/**
 * The cached copy of the database's `domain` table: a set of lower-case names, replaced as a whole by each
 * reload, so a check never waits for the database and never sees a half-loaded table.
 */
import type { DomainRecord } from '../../db/types.js';

/** Where the names come from: `core.db.domains`, or a stand-in. */
export interface DomainSource {
  list(): Promise<readonly Pick<DomainRecord, 'domain'>[]>;
}

/** A host as the table keeps it: lower-case, IPv6 without brackets, no trailing dot. */
export function normalizeDomain(host: string): string {
  let h = host.charCodeAt(0) === 0x5b ? host.slice(1, -1) : host;
  h = h.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** The `domain` table, held in memory. */
export class DomainTable {
  private names: ReadonlySet<string> = new Set();
  private loading: Promise<number> | undefined;

  constructor(private readonly source: DomainSource | undefined) {}

  /** True when the table lists `host` (any case, IPv6 with or without brackets). */
  has(host: string): boolean {
    return this.names.size > 0 && this.names.has(normalizeDomain(host));
  }

  /** The names of the last load, sorted. */
  list(): string[] {
    return [...this.names].sort();
  }

  get size(): number {
    return this.names.size;
  }

  /**
   * Reads the table again and swaps the new set in; resolves with its size. Calls made while a reload
   * runs share it. On failure the previous set stays and the promise rejects.
   */
  reload(): Promise<number> {
    if (this.source === undefined) return Promise.resolve(0);
    this.loading ??= this.source
      .list()
      .then((rows) => {
        this.names = new Set(rows.map((r) => normalizeDomain(r.domain)));
        return this.names.size;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}
