/**
 * usrloc: the user location service (Kamailio's `usrloc`): the bindings of every AOR with their expiry,
 * in memory, optionally written back to a persistence so they survive a restart. The registrar and
 * lookup work through {@link LocationStore}; route scripts get lookups and the expiry event.
 */
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { MemoryLocationStore } from './memory-store.js';
import { FileLocationPersistence } from './persistence.js';
import { type UsrlocRpc, usrlocRpc } from './rpc.js';
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
      doc: "Where bindings live: 'memory' (lost on restart); 'write-back' (memory, written to the database's `location` table — or to `file` when set — every timerInterval and at shutdown, loaded at start); 'db-only' (a location table shared by several servers; not in this version).",
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
      doc: 'Written with every binding, to tell servers sharing one location table apart.',
    }),
  }),
  create(core, params) {
    const mode = params.mode as 'memory' | 'write-back' | 'db-only';
    if (mode === 'db-only') {
      throw new Error(
        "usrloc mode 'db-only' needs the database layer's shared mode, which is not implemented yet: use 'write-back'",
      );
    }
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
    const log = core.log.child({ module: 'usrloc' });
    const store = new MemoryLocationStore({
      useDomain: params.useDomain as boolean,
      maxContacts: params.maxContacts as number,
      timerInterval: params.timerInterval as number,
      serverId: params.serverId as number,
      ...(persistence === undefined ? {} : { persistence }),
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
      onError: (what, error) => log.error(what, { error: error as Error }),
    });
    const api: UsrlocApi = {
      store,
      lookup: (aor) => store.lookup(aor),
      isRegistered: (aor) => store.lookup(aor).length > 0,
      onExpired: (listener) => store.onExpired(listener),
      rpc: usrlocRpc(store),
    };
    return {
      api,
      start: () => store.start(),
      stop: () => store.stop(),
    };
  },
});

export { MemoryLocationStore, type MemoryStoreOptions, type StoreCounter } from './memory-store.js';
export { FileLocationPersistence, MapLocationPersistence } from './persistence.js';
export { type RpcAor, type RpcContact, type RpcDump, RpcError, type UsrlocRpc, usrlocRpc } from './rpc.js';
export { ownString, StringInterner } from './strings.js';
export type * from './types.js';
