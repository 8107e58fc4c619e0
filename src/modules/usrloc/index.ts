/**
 * usrloc: the user location service (Kamailio's `usrloc`): the bindings of every AOR with their expiry,
 * in memory, optionally written back to a persistence so they survive a restart, or only in the
 * database's `location` table shared by several servers (db-only). The registrar and lookup work through
 * {@link LocationStore}; route scripts get lookups and the expiry event.
 */
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import type { LocationTable } from '../../db/types.js';
import { DatabaseLocationStore } from './db-store.js';
import { MemoryLocationStore } from './memory-store.js';
import { FileLocationPersistence } from './persistence.js';
import { type UsrlocRpc, usrlocMethods, usrlocRpc } from './rpc.js';
import type { Binding, ExpiredListener, LocationPersistence, LocationStore, MaybePromise } from './types.js';

/** The `usrloc` API, for route scripts and other modules. */
export interface UsrlocApi {
  /** The location store (the registrar saves and looks up through it). */
  readonly store: LocationStore;
  /** The AOR's contacts that have not expired, highest q first (Kamailio's `lookup` without the branching). */
  lookup(aor: string): MaybePromise<readonly Binding[]>;
  /** True when the AOR has a contact that has not expired (Kamailio's `registered`). */
  isRegistered(aor: string): MaybePromise<boolean>;
  /** Calls `listener(aor, binding)` for every binding that expires. */
  onExpired(listener: ExpiredListener): void;
  /** The control commands `ul.dump`, `ul.lookup`, `ul.rm`, for the RPC server. */
  readonly rpc: UsrlocRpc;
}

export const usrlocModule = defineModule({
  name: 'usrloc',
  doc: 'User location: the registered contacts of every AOR.',
  params: s.object({
    mode: s.enum(['memory', 'write-back', 'db-only'], {
      default: 'memory',
      doc: "Where bindings live: 'memory' (lost on restart); 'write-back' (memory, written to the database's `location` table — or to `file` when set — every timerInterval and at shutdown, loaded at start); 'db-only' (only in the database's `location` table, shared by several servers: a database round trip per lookup and per save).",
    }),
    timerInterval: s.duration({
      default: '60s',
      min: 100,
      doc: 'How often expired bindings are removed (and, in write-back mode, changes written).',
    }),
    maxContacts: s.integer({
      default: 0,
      min: 0,
      doc: 'Most contacts one AOR may register; 0 = no limit.',
    }),
    useDomain: s.boolean({
      default: false,
      doc: 'Key AORs by user@domain (multi-domain); otherwise by the user part alone.',
    }),
    file: s
      .path({
        doc: 'Write-back mode: a JSON-lines file to save bindings to instead of the database’s `location` table.',
        example: 'data/location.jsonl',
      })
      .optional(),
    serverId: s.integer({
      default: 0,
      min: 0,
      doc: 'Written with every binding, to tell servers sharing one location table apart (give each its own).',
    }),
    expiryServerId: s
      .integer({
        min: 0,
        doc: 'db-only mode: the serverId of the one server whose timer deletes expired rows (and tells its onExpired listeners). Unset: every server’s timer does; each row is still deleted, and told, once.',
      })
      .optional(),
  }),
  create(core, params) {
    const mode = params.mode as 'memory' | 'write-back' | 'db-only';
    let persistence: LocationPersistence | undefined;
    if (mode === 'write-back') {
      const file = params.file as string | undefined;
      if (file !== undefined) persistence = new FileLocationPersistence(file);
      else {
        // the database's location table (Kamailio's columns) is a LocationPersistence as it is
        try {
          persistence = core.db.location;
        } catch {
          throw new Error("usrloc mode 'write-back' without a database needs modules.usrloc.file");
        }
      }
    }
    let table: LocationTable | undefined;
    if (mode === 'db-only') {
      try {
        table = core.db.location;
      } catch {
        throw new Error("usrloc mode 'db-only' needs the database layer: the server's database is not open");
      }
    }
    const log = core.log.child({ module: 'usrloc' });
    const common = {
      useDomain: params.useDomain as boolean,
      maxContacts: params.maxContacts as number,
      timerInterval: params.timerInterval as number,
      serverId: params.serverId as number,
      stats: {
        users: core.stats.gauge('usrloc', 'registered_users', 'AORs with at least one contact'),
        contacts: core.stats.gauge('usrloc', 'location_contacts', 'contacts held'),
        expired: core.stats.counter('usrloc', 'location_expires', 'contacts removed because they expired'),
        persistErrors: core.stats.counter(
          'usrloc',
          'persist_errors',
          'failed loads and writes of the persistence',
        ),
      },
      onError: (what: string, error: unknown) => log.error(what, { error: error as Error }),
    };
    const expiryServerId = params.expiryServerId as number | undefined;
    const store: LocationStore =
      table === undefined
        ? new MemoryLocationStore({ ...common, ...(persistence === undefined ? {} : { persistence }) })
        : new DatabaseLocationStore(table, {
            ...common,
            ...(expiryServerId === undefined ? {} : { expiryServerId }),
          });
    const api: UsrlocApi = {
      store,
      lookup: (aor) => store.lookup(aor),
      isRegistered: (aor) => {
        const found = store.lookup(aor);
        return found instanceof Promise ? found.then((b) => b.length > 0) : found.length > 0;
      },
      onExpired: (listener) => store.onExpired(listener),
      rpc: usrlocRpc(store),
    };
    return {
      api,
      rpc: usrlocMethods(api.rpc),
      start: () => store.start(),
      stop: () => store.stop(),
    };
  },
});

export { aorKeyOf, isExpired, matchBinding, qRank } from './binding.js';
export { DatabaseLocationStore, type DatabaseStoreOptions } from './db-store.js';
export { MemoryLocationStore, type MemoryStoreOptions, type StoreCounter } from './memory-store.js';
export { FileLocationPersistence, MapLocationPersistence } from './persistence.js';
export { type RpcAor, type RpcContact, type RpcDump, RpcError, type UsrlocRpc, usrlocRpc } from './rpc.js';
export { ownString, StringInterner } from './strings.js';
export type * from './types.js';
