/**
 * dispatcher: load balancing over destination sets (Kamailio's `dispatcher`): sets from a list in
 * Kamailio's format or from the database's `dispatcher` table, the selection algorithms by Kamailio's numbers, failover in the failure route,
 * OPTIONS probing with latency statistics, call load, reload without restart and the control commands.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { MIN_DISPATCHER_VERSION } from '../../db/schema.js';
import type { FailureContext } from '../../tm/proxy-transaction.js';
import type { TmApi } from '../tm/index.js';
import type { DestinationState } from './destination.js';
import { type DestinationInfo, Dispatcher, destinationInfo } from './dispatcher.js';
import { acceptedCodes, Prober } from './health.js';
import {
  type DestinationRecord,
  type DispatcherRow,
  destinationsFromRows,
  parseDispatcherList,
} from './list.js';
import { type DispatcherRpc, dispatcherMethods, dispatcherRpc } from './rpc.js';

/** The `dispatcher` script API. */
export interface DispatcherApi {
  /**
   * Picks a destination of set `set` with Kamailio's algorithm number (0 Call-ID hash ... 13 latency),
   * sets `req.nextHop` (and `req.sendSocket` for a destination with `socket=`), and keeps up to `limit`
   * destinations for failover (Kamailio's `ds_select_dst`). False when the set has no active destination.
   */
  selectDestination(req: RequestContext, set: number, algorithm: number, limit?: number): boolean;
  /** Moves to the next kept destination that is active (Kamailio's `ds_next_dst`); then relay again. */
  nextDestination(target: RequestContext | FailureContext): boolean;
  /** Marks the current destination `inactive`, `probing` (inactive and probed), `active` or `disabled`. */
  markDestination(target: RequestContext | FailureContext, state: DestinationState | 'probing'): boolean;
  /** True when the request comes from a destination of `set` (any set when absent): address and port. */
  isFromList(req: RequestContext, set?: number): boolean;
  /** The destination the request was dispatched to, with its attributes (Kamailio's `$xavp(_dsdst_)`). */
  current(target: RequestContext | FailureContext): DestinationInfo | undefined;
  /** The destinations of a set (every set when absent), in selection order. */
  destinations(set?: number): DestinationInfo[];
  /** A BYE or CANCEL ends the call's load (Kamailio's `ds_load_update`). */
  loadUpdate(req: RequestContext): boolean;
  /** Stops counting the request's call (Kamailio's `ds_load_unset`). */
  loadUnset(target: RequestContext | FailureContext): void;
  /**
   * Re-reads the list (or, with `source: db`, the dispatcher table) and swaps the sets at once; rejects
   * (keeping the running sets) on a bad list or row, or a database error.
   */
  reload(): Promise<void>;
  /** Replaces the sets with rows of Kamailio's `dispatcher` table (until the next reload from the list). */
  loadRows(rows: readonly DispatcherRow[]): void;
  /** Runs one probing round now; resolves when every probe has its outcome. */
  probe(): Promise<void>;
  /** The control commands `dispatcher.list`, `set_state`, `reload`, `ping_active`, for the RPC server. */
  readonly rpc: DispatcherRpc;
}

export const dispatcherModule = defineModule({
  name: 'dispatcher',
  doc: 'Load balancing over destination sets, with failover and health probing.',
  params: s.object({
    source: s.enum(['list', 'db'], {
      default: 'list',
      doc: "Where the destinations come from: 'list' (listFile or list) or 'db', the dispatcher table of the database (read at start and on reload).",
    }),
    listFile: s
      .path({
        doc: "Destination list in Kamailio's dispatcher.list format: `setid uri [flags [priority [attrs]]]` per line.",
        example: 'dispatcher.list',
      })
      .optional(),
    list: s
      .string({ doc: 'The destination list inline, in the same format (instead of listFile).' })
      .optional(),
    watch: s.boolean({
      default: false,
      doc: 'Reload the list file when it changes (checked every second).',
    }),
    probingInterval: s.duration({
      default: '0s',
      doc: "How often destinations are probed with OPTIONS (Kamailio's ds_ping_interval); 0 = never.",
    }),
    probingMode: s.enum(['inactive', 'all'], {
      default: 'all',
      doc: "Which destinations are probed: 'all' (not disabled) or 'inactive' ones; flag 8 is always probed.",
    }),
    pingMethod: s.string({ default: 'OPTIONS', doc: 'Method of the probes.' }),
    pingFrom: s.string({
      default: 'sip:dispatcher@localhost',
      doc: 'From URI of the probes (a destination’s ping_from attribute overrides it).',
    }),
    pingReplyCodes: s.string({
      default: '',
      doc: 'Replies besides 2xx that count as alive, as Kamailio writes them: `class=4;code=503`.',
    }),
    pingTimeout: s.duration({
      default: '5s',
      min: 10,
      doc: 'A probe without final response within this time failed (a timeout in the latency statistics).',
    }),
    probingThreshold: s.integer({
      default: 1,
      min: 1,
      doc: 'Failed probes in a row before an active destination becomes inactive.',
    }),
    inactiveThreshold: s.integer({
      default: 1,
      min: 1,
      doc: 'Successful probes in a row before an inactive destination becomes active again.',
    }),
    loadTimeout: s.duration({
      default: '2h',
      min: 1000,
      doc: 'A call counted in a destination’s load without a BYE seen for this long is no longer counted.',
    }),
  }),
  create(core, params) {
    const log = core.log.child({ module: 'dispatcher' });
    const file = params.listFile as string | undefined;
    const inline = params.list as string | undefined;
    const dispatcher = new Dispatcher();
    const changes = core.stats.counter('dispatcher', 'state_changes', 'destinations that changed state');
    dispatcher.onStateChange = (d, from, why) => {
      changes.value++;
      log.info('destination state', { set: d.setId, uri: d.uri, from, to: d.state, why });
    };
    const fromDb = params.source === 'db';
    if (fromDb && (file !== undefined || inline !== undefined))
      throw new Error(
        'modules.dispatcher: source db reads the destinations from the dispatcher table; remove listFile and list (or use source: list)',
      );
    const readList = (text: string, source: string): DestinationRecord[] => parseDispatcherList(text, source);
    if (file !== undefined) dispatcher.load(readList(readFileSync(file, 'utf8'), file));
    else if (inline !== undefined) dispatcher.load(readList(inline, 'modules.dispatcher.list'));

    /** The rows of the dispatcher table, after checking it has the columns read. */
    const readTable = async (): Promise<DestinationRecord[]> => {
      const version = (await core.db.tableVersions()).dispatcher;
      if (version !== undefined && version < MIN_DISPATCHER_VERSION)
        throw new Error(
          `table dispatcher is at version ${version} (in table version); olelo needs ${MIN_DISPATCHER_VERSION} (Kamailio 4.x/5.x schema): upgrade the database first`,
        );
      return destinationsFromRows(await core.db.dispatcher.list());
    };

    const reload = async (): Promise<void> => {
      if (fromDb) dispatcher.load(await readTable());
      else if (file !== undefined) dispatcher.load(readList(await readFile(file, 'utf8'), file));
      else if (inline !== undefined) dispatcher.load(readList(inline, 'modules.dispatcher.list'));
      log.info(fromDb ? 'destinations loaded from the dispatcher table' : 'destination list reloaded', {
        sets: dispatcher.sets.size,
        destinations: [...dispatcher.sets.values()].reduce((n, set) => n + set.length, 0),
      });
    };

    const tm = () => core.module<TmApi>('tm');
    const prober = new Prober(dispatcher, (options) => tm().newRequest(options), {
      mode: params.probingMode as 'inactive' | 'all',
      method: params.pingMethod as string,
      from: params.pingFrom as string,
      accepted: acceptedCodes(params.pingReplyCodes as string),
      failuresToInactive: params.probingThreshold as number,
      successesToActive: params.inactiveThreshold as number,
      timeout: params.pingTimeout as number,
    });

    const interval = params.probingInterval as number;
    const loadTimeout = params.loadTimeout as number;
    let probeTimer: NodeJS.Timeout | undefined;
    let sweepTimer: NodeJS.Timeout | undefined;
    let watching = false;

    const api: DispatcherApi = {
      selectDestination: (req, set, algorithm, limit) => dispatcher.select(req, set, algorithm, limit),
      nextDestination: (target) => dispatcher.next(target),
      markDestination: (target, state) => dispatcher.mark(target, state),
      isFromList: (req, set) => dispatcher.isFromList(req, set),
      current: (target) => {
        const d = dispatcher.current(target);
        return d === undefined ? undefined : destinationInfo(d);
      },
      destinations: (set) => {
        const lists = set === undefined ? [...dispatcher.sets.values()] : [dispatcher.sets.get(set) ?? []];
        return lists.flat().map(destinationInfo);
      },
      loadUpdate: (req) => dispatcher.loadUpdate(req),
      loadUnset: (target) => dispatcher.loadUnset(target),
      reload,
      loadRows: (rows) => {
        dispatcher.load(destinationsFromRows(rows));
      },
      probe: () => prober.round(),
      rpc: dispatcherRpc(dispatcher, prober, reload),
    };

    return {
      api,
      rpc: dispatcherMethods(api.rpc),
      async start() {
        // a table that cannot be read stops the start, as a bad list file does
        if (fromDb) await reload();
        if (interval > 0) {
          probeTimer = setInterval(() => {
            prober.round().catch((e: unknown) => log.error('probing failed', { error: e as Error }));
          }, interval);
        }
        sweepTimer = setInterval(() => dispatcher.sweepLoads(loadTimeout), 1000);
        if (params.watch === true && file !== undefined) {
          watching = true;
          watchFile(file, { interval: 1000 }, (now, before) => {
            if (now.mtimeMs === before.mtimeMs && now.size === before.size) return;
            reload().catch((e: unknown) =>
              log.error('destination list not reloaded, the running sets stay', { error: e as Error }),
            );
          });
        }
      },
      stop() {
        clearInterval(probeTimer);
        clearInterval(sweepTimer);
        if (watching && file !== undefined) unwatchFile(file);
      },
    };
  },
});

export { type DestinationState, LatencyStats } from './destination.js';
export {
  Algorithm,
  type AlgorithmNumber,
  type DestinationInfo,
  HASH_VARIABLE,
  hashKey,
} from './dispatcher.js';
export {
  type DestinationAttributes,
  DestinationFlag,
  type DestinationRecord,
  DispatcherListError,
  type DispatcherRow,
  destinationsFromRows,
  parseDispatcherList,
} from './list.js';
export type { DispatcherRpc, RpcDestination, RpcList } from './rpc.js';
