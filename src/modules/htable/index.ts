/**
 * htable: named in-memory key/value tables shared by every request (Kamailio's `htable`): ban lists,
 * counters, per-user state. Declared in the config with a size limit and auto-expiry; optionally loaded
 * from and written back to the database (`olelo_htable`).
 */
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { toLocalDatetime } from '../../db/datetime.js';
import type { HtableRow, HtableStore } from '../../db/htable-store.js';
import { describeMethods, RpcError } from '../../rpc/types.js';
import {
  HashTable,
  type HtableEntry,
  type HtableItem,
  type HtableValue,
  type KeyPattern,
  type TableSettings,
} from './table.js';

/** The `htable` script API. Operations on a table name that was not declared throw a TypeError. */
export interface HtableApi {
  /** The table itself, for scripts that use it on every request (no name lookup per call). */
  table(name: string): HashTable;
  /** True when a table of that name is declared. */
  hasTable(name: string): boolean;
  /** The names of the declared tables. */
  tables(): string[];
  /** The item's value, or undefined when absent or expired (Kamailio's `$sht(table=>key)`). */
  get(table: string, key: string): HtableValue | undefined;
  has(table: string, key: string): boolean;
  /**
   * Sets an item; `expireMs`: undefined for the table's autoExpire, 0 for never. False when the key is
   * new and the table is full with `whenFull: refuse`.
   */
  set(table: string, key: string, value: HtableValue, expireMs?: number): boolean;
  /** Adds `by` (1) to a number item, from 0 when absent; the new value (Kamailio's `$shtinc`). */
  inc(table: string, key: string, by?: number, expireMs?: number): number | undefined;
  /** Subtracts `by` (1); the new value (Kamailio's `$shtdec`). */
  dec(table: string, key: string, by?: number, expireMs?: number): number | undefined;
  /** Removes an item; true when it was there. */
  delete(table: string, key: string): boolean;
  /** Removes the items whose key matches a RegExp or starts with a string; returns how many. */
  deleteMatching(table: string, pattern: KeyPattern): number;
  /** The live items, oldest first, optionally only keys matching `pattern`. */
  entries(table: string, pattern?: KeyPattern): HtableEntry[];
  /** Live items in the table. */
  count(table: string): number;
  /** Removes every item (Kamailio's `sht_reset`). */
  flush(table: string): void;
}

export type { HtableEntry, HtableValue, KeyPattern } from './table.js';
export { HashTable } from './table.js';

const tableSchema = s.object(
  {
    size: s.integer({
      default: 65536,
      min: 1,
      doc: 'Most items the table holds (a limit, not Kamailio’s slot count).',
    }),
    autoExpire: s.duration({
      default: 0,
      doc: 'Items expire this long after they are set, unless set with their own expiry; 0: never (Kamailio’s `autoexpire`).',
    }),
    updateExpire: s.boolean({
      default: true,
      doc: 'Setting an existing item again restarts its expiry (Kamailio’s `updateexpire`).',
    }),
    whenFull: s.enum(['evict-oldest', 'refuse'], {
      default: 'evict-oldest',
      doc: 'A new key when the table holds `size` items: evict the oldest item (the default), or refuse the new one (`set` returns false).',
    }),
    persist: s.boolean({
      default: false,
      doc: 'Load the items from the database’s `olelo_htable` table at start, write changes back every `dbWriteInterval` and at shutdown.',
    }),
  },
  { doc: 'A table.' },
);

/** The ban list of the default script's flood protection (scripts/default.ts). */
const DEFAULT_TABLES = { ipban: { size: 65536, autoExpire: '5m' } };

export const htableModule = defineModule({
  name: 'htable',
  doc: 'Named in-memory key/value tables with size limits, expiry and counters.',
  params: s.object({
    tables: s.record(tableSchema, {
      default: DEFAULT_TABLES,
      doc:
        'The tables by name. The default declares `ipban` (size 65536, autoExpire 5m), the ban list of the ' +
        'default script’s flood protection (its autoExpire is the ban time): a config declaring its own ' +
        'tables must declare `ipban` too, or the default script refuses flooders without banning them.',
      example: {
        ipban: { size: 65536, autoExpire: '5m' },
        calls: { size: 1000, autoExpire: '1h', persist: true },
      },
    }),
    timerInterval: s.duration({
      default: '20s',
      min: 100,
      max: 86_400_000,
      doc: 'How often expired items are removed (they are never returned once expired in any case).',
    }),
    dbWriteInterval: s.duration({
      default: '10s',
      min: 100,
      max: 86_400_000,
      doc: 'How often the changes of persistent tables are written to the database.',
    }),
  }),
  create(core, params) {
    const declared = params.tables as Record<string, TableSettings>;
    const registry = new Map<string, HashTable>();
    for (const [name, settings] of Object.entries(declared)) {
      const table = new HashTable(name, { ...settings });
      registry.set(name, table);
      core.stats.gauge('htable', `${name}_items`, `Items of the table ${name}`, {
        read: () => table.size,
        metric: { family: 'htable_items', labels: { table: name } },
      });
      core.stats.counter('htable', `${name}_hits`, `Reads of the table ${name} that found an item`, {
        read: () => table.hits,
        metric: { family: 'htable_hits', labels: { table: name } },
      });
    }
    const lookup = (name: string): HashTable => {
      const table = registry.get(name);
      if (table === undefined)
        throw new TypeError(`htable: no table named ${name} (declare it in modules.htable.tables)`);
      return table;
    };

    // persistence: changed keys of persistent tables, written in batches
    const persistent = [...registry.values()].filter((t) => t.settings.persist);
    const notPersisted = core.stats.counter(
      'htable',
      'not_persisted',
      'items of persistent tables left out of the database: key over 128 or value over 255 characters',
    );
    const dirty = new Map<HashTable, Map<string, HtableItem | undefined>>();
    let store: HtableStore | undefined;
    let writing: Promise<void> = Promise.resolve();
    const writeBack = (): Promise<void> => {
      writing = writing.then(async () => {
        if (store === undefined) return;
        for (const [table, changes] of dirty) {
          if (changes.size === 0) continue;
          dirty.set(table, new Map());
          const changed: HtableRow[] = [];
          const removed: string[] = [];
          for (const [key, item] of changes) {
            if (item === undefined) removed.push(key);
            else changed.push({ key, value: item.value, expires: Math.ceil(item.expires / 1000) });
          }
          try {
            const skipped = await store.write(table.name, changed, removed);
            if (skipped.length > 0) {
              notPersisted.value += skipped.length;
              core.log.warn('htable: items too long for the database kept in memory only', {
                table: table.name,
                count: skipped.length,
                first: skipped[0]!.slice(0, 40),
              });
            }
          } catch (e) {
            core.log.error('htable: changes not written to the database, retried later', {
              table: table.name,
              error: e as Error,
            });
            // keep what was not written, unless the key changed again meanwhile
            const again = dirty.get(table)!;
            for (const [key, item] of changes) if (!again.has(key)) again.set(key, item);
          }
        }
      });
      return writing;
    };
    const load = async (table: HashTable): Promise<number> => {
      const rows = await store!.load(table.name);
      for (const row of rows) table.restore(row.key, { value: row.value, expires: row.expires * 1000 });
      return rows.length;
    };

    const api: HtableApi = {
      table: lookup,
      hasTable: (name) => registry.has(name),
      tables: () => [...registry.keys()],
      get: (t, key) => lookup(t).get(key),
      has: (t, key) => lookup(t).has(key),
      set: (t, key, value, expireMs) => lookup(t).set(key, value, expireMs),
      inc: (t, key, by, expireMs) => lookup(t).inc(key, by, expireMs),
      dec: (t, key, by, expireMs) => lookup(t).dec(key, by, expireMs),
      delete: (t, key) => lookup(t).delete(key),
      deleteMatching: (t, pattern) => lookup(t).deleteMatching(pattern),
      entries: (t, pattern) => lookup(t).entries(pattern),
      count: (t) => lookup(t).count(),
      flush: (t) => lookup(t).flush(),
    };

    const rpcTable = (name: string): HashTable => {
      const table = registry.get(name);
      if (table === undefined) throw new RpcError(404, `No such htable: ${name}`);
      return table;
    };
    const rpcFns = {
      'htable.dump': (name: string) => {
        const items = rpcTable(name).entries();
        // Kamailio answers one entry per hash slot in use; olelo's tables are one slot
        if (items.length === 0) return [];
        return [{ entry: 0, size: items.length, slot: items.map(dumpItem) }];
      },
      'htable.get': (name: string, key: string) => {
        const table = rpcTable(name);
        const value = table.get(key);
        if (value === undefined) throw new RpcError(404, `Key name doesn't exist in htable: ${key}`);
        const expires = table.expiresAt(key)!;
        return {
          item: {
            name: key,
            value,
            // Kamailio's AVP flag for a string value
            flags: typeof value === 'string' ? 2 : 0,
            expire: expires === 0 ? 'NEVER' : toLocalDatetime(Math.floor(expires / 1000)),
          },
        };
      },
      'htable.sets': (name: string, key: string, value: string) => setItem(rpcTable(name), key, value),
      'htable.seti': (name: string, key: string, value: number) => {
        if (!Number.isFinite(value)) throw new RpcError(400, 'htable.seti: the value must be a number');
        setItem(rpcTable(name), key, value);
      },
      'htable.delete': (name: string, key: string) => {
        rpcTable(name).delete(key);
      },
      'htable.flush': (name: string) => {
        rpcTable(name).flush();
      },
      'htable.reload': async (name: string) => {
        const table = rpcTable(name);
        if (!table.settings.persist || store === undefined)
          throw new RpcError(400, `htable ${name} is not persistent: nothing to reload`);
        await writeBack();
        const onChange = table.onChange;
        table.onChange = undefined;
        table.flush();
        table.onChange = onChange;
        await load(table);
      },
      'htable.listTables': () =>
        [...registry.values()].map((t) => ({
          name: t.name,
          dbtable: t.settings.persist ? 'olelo_htable' : '',
          dbmode: t.settings.persist ? 1 : 0,
          expire: Math.round(t.settings.autoExpire / 1000),
          updateexpire: t.settings.updateExpire ? 1 : 0,
          size: t.settings.size,
          dmqreplicate: 0,
        })),
      'htable.stats': () =>
        [...registry.values()].map((t) => {
          const all = t.count();
          return {
            name: t.name,
            slots: 1,
            all,
            min: all,
            max: all,
            limit: t.settings.size,
            expired: t.expired,
            evicted: t.evicted,
            refused: t.refused,
          };
        }),
    };
    const table = { name: 'htable', type: 'string', doc: 'the table name' } as const;
    const key = { name: 'key', type: 'string', doc: 'the item key' } as const;

    let sweepTimer: NodeJS.Timeout | undefined;
    let writeTimer: NodeJS.Timeout | undefined;
    return {
      api,
      rpc: describeMethods(rpcFns, {
        'htable.dump': {
          doc: 'The live items of a table: [{ entry, size, slot: [{ name, value, type: str|int }] }] (Kamailio’s shape, one entry).',
          params: [table],
        },
        'htable.get': {
          doc: 'One item: { item: { name, value, flags, expire } }, expire as local time or NEVER; 404 when absent.',
          params: [table, key],
        },
        'htable.sets': {
          doc: 'Sets an item to a string value (with the table’s autoExpire).',
          params: [table, key, { name: 'value', type: 'string' }],
        },
        'htable.seti': {
          doc: 'Sets an item to a number value (with the table’s autoExpire).',
          params: [table, key, { name: 'value', type: 'number' }],
        },
        'htable.delete': { doc: 'Removes an item (nothing when it is absent).', params: [table, key] },
        'htable.flush': { doc: 'Removes every item of a table.', params: [table] },
        'htable.reload': {
          doc: 'A persistent table’s items replaced by those of the database (pending changes written first).',
          params: [table],
        },
        'htable.listTables': {
          doc: 'The tables: [{ name, dbtable, dbmode, expire (s), updateexpire, size, dmqreplicate }].',
        },
        'htable.stats': {
          doc: 'Per table: [{ name, slots, all, min, max }] as Kamailio, plus limit, expired, evicted, refused.',
        },
      }),
      async start() {
        if (persistent.length > 0) {
          store = core.db.htables;
          for (const t of persistent) {
            const n = await load(t);
            core.log.info('htable: items loaded from the database', { table: t.name, items: n });
            const changes = new Map<string, HtableItem | undefined>();
            dirty.set(t, changes);
            t.onChange = (key, item) => {
              // the latest state of the key is written (a copy: the item changes in place)
              dirty
                .get(t)!
                .set(key, item === undefined ? undefined : { value: item.value, expires: item.expires });
            };
          }
          writeTimer = setInterval(() => void writeBack(), params.dbWriteInterval as number);
          writeTimer.unref();
        }
        sweepTimer = setInterval(() => {
          const now = Date.now();
          for (const t of registry.values()) t.sweep(now);
        }, params.timerInterval as number);
        sweepTimer.unref();
      },
      async stop() {
        clearInterval(sweepTimer);
        clearInterval(writeTimer);
        await writeBack();
      },
    };
  },
});

function dumpItem(e: HtableEntry): { name: string; value: HtableValue; type: 'str' | 'int' } {
  return { name: e.key, value: e.value, type: typeof e.value === 'string' ? 'str' : 'int' };
}

function setItem(table: HashTable, key: string, value: HtableValue): void {
  if (!table.set(key, value)) throw new RpcError(500, `htable ${table.name} is full`);
}
