/**
 * Persistences for the write-back mode that need no database: a table in memory (a second process
 * holding it, tests) and a JSON-lines file. The database-backed one (the `location` table of src/db)
 * implements the same {@link LocationPersistence}.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { LocationPersistence, LocationRecord } from './types.js';

/** The `location` table as a Map by ruid. Survives a store, not the process. */
export class MapLocationPersistence implements LocationPersistence {
  readonly rows = new Map<string, LocationRecord>();

  async loadAll(): Promise<Iterable<LocationRecord>> {
    return [...this.rows.values()];
  }

  async upsert(records: readonly LocationRecord[]): Promise<void> {
    for (const r of records) this.rows.set(r.ruid, { ...r });
  }

  async delete(ruids: readonly string[]): Promise<void> {
    for (const ruid of ruids) this.rows.delete(ruid);
  }

  async deleteExpired(now: number): Promise<number> {
    let n = 0;
    for (const [ruid, r] of this.rows) {
      if (r.expires !== 0 && r.expires <= now) {
        this.rows.delete(ruid);
        n++;
      }
    }
    return n;
  }
}

const FIELDS = [
  'ruid',
  'username',
  'domain',
  'contact',
  'received',
  'path',
  'expires',
  'q',
  'callId',
  'cseq',
  'lastModified',
  'flags',
  'cflags',
  'userAgent',
  'socket',
  'methods',
  'instance',
  'regId',
  'serverId',
  'connectionId',
  'keepalive',
] as const satisfies readonly (keyof LocationRecord)[];

/** The fields in file order (JSON.stringify's replacer wants a mutable list). */
const FIELD_LIST: string[] = [...FIELDS];

const NUMBER_FIELDS = new Set<string>([
  'expires',
  'q',
  'cseq',
  'lastModified',
  'flags',
  'cflags',
  'methods',
  'regId',
  'serverId',
  'connectionId',
  'keepalive',
]);

/** Reads one line of the file back into a record; undefined when it is not one. */
function parseLine(line: string): LocationRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const out: Record<string, string | number> = {};
  for (const f of FIELDS) {
    const x = v[f];
    if (NUMBER_FIELDS.has(f)) {
      if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
    } else if (typeof x !== 'string') {
      return undefined;
    }
    out[f] = x;
  }
  return out as unknown as LocationRecord;
}

/**
 * The table in a JSON-lines file (one record per line), rewritten whole — to a temporary file renamed
 * over the old one, so a crash leaves the old or the new file, never half of one — after each batch
 * that changed it. Meant for single servers of modest size until the database lands: every flush costs
 * a write of the whole table.
 */
export class FileLocationPersistence implements LocationPersistence {
  private readonly rows = new Map<string, LocationRecord>();
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  async loadAll(): Promise<Iterable<LocationRecord>> {
    this.rows.clear();
    let input: ReturnType<typeof createReadStream>;
    try {
      input = createReadStream(this.file, { encoding: 'utf8' });
      await new Promise<void>((resolve, reject) => {
        input.once('open', () => resolve());
        input.once('error', reject);
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    let bad = 0;
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (line.length === 0) continue;
      const rec = parseLine(line);
      if (rec === undefined) bad++;
      else this.rows.set(rec.ruid, rec);
    }
    if (bad > 0) throw new Error(`${this.file}: ${bad} lines are not location records`);
    return this.rows.values();
  }

  async upsert(records: readonly LocationRecord[]): Promise<void> {
    for (const r of records) this.rows.set(r.ruid, r);
    await this.save();
  }

  async delete(ruids: readonly string[]): Promise<void> {
    for (const ruid of ruids) this.rows.delete(ruid);
    await this.save();
  }

  async deleteExpired(now: number): Promise<number> {
    let n = 0;
    for (const [ruid, r] of this.rows) {
      if (r.expires !== 0 && r.expires <= now) {
        this.rows.delete(ruid);
        n++;
      }
    }
    if (n > 0) await this.save();
    return n;
  }

  async close(): Promise<void> {
    await this.writing;
  }

  /** Writes the table; writes are serialized, each one of the state when it starts. */
  private save(): Promise<void> {
    const next = this.writing.then(() => this.write());
    this.writing = next.catch(() => {});
    return next;
  }

  private async write(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      let chunk = '';
      for (const r of this.rows.values()) {
        chunk += `${JSON.stringify(r, FIELD_LIST)}\n`;
        if (chunk.length > 1 << 16) {
          await fh.write(chunk);
          chunk = '';
        }
      }
      if (chunk.length > 0) await fh.write(chunk);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    await rename(tmp, this.file);
  }
}
