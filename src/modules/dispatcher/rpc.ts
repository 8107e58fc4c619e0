/**
 * The control commands of the dispatcher, named and shaped like Kamailio's (`dispatcher.list`,
 * `dispatcher.set_state`, `dispatcher.reload`, `dispatcher.ping_active`) so tools written for
 * `kamcmd dispatcher.*` read them. The RPC server (issue 7) registers them by name.
 */
import { describeMethods, RpcError, type RpcMethods } from '../../rpc/types.js';
import type { Destination, DestinationState } from './destination.js';
import { type Dispatcher, sameUri } from './dispatcher.js';
import type { Prober } from './health.js';

/** One destination as `dispatcher.list` shows it. */
export interface RpcDestination {
  DEST: {
    URI: string;
    /** State letter (A active, I inactive, D disabled) and P (probed) or X. */
    FLAGS: string;
    PRIORITY: number;
    ATTRS: {
      BODY: string;
      DUID: string;
      MAXLOAD: number;
      WEIGHT: number;
      RWEIGHT: number;
      SOCKET: string;
    };
    LATENCY: { AVG: number; STD: number; EST: number; MAX: number; TIMEOUT: number };
    /** Calls counted on this destination now (see the README for what counts). */
    RUNTIME: { DLGLOAD: number };
  };
}

/** `dispatcher.list` result. */
export interface RpcList {
  NRSETS: number;
  RECORDS: { SET: { ID: number; TARGETS: RpcDestination[] } }[];
}

const round = (n: number) => Math.round(n * 1000) / 1000;

function rpcDestination(d: Destination): RpcDestination {
  const a = d.attrs;
  return {
    DEST: {
      URI: d.uri,
      FLAGS: d.stateLetters,
      PRIORITY: d.priority,
      ATTRS: {
        BODY: a.body,
        DUID: a.duid ?? '',
        MAXLOAD: a.maxload ?? 0,
        WEIGHT: a.weight ?? 0,
        RWEIGHT: a.rweight ?? 0,
        SOCKET: a.socket ?? '',
      },
      LATENCY: {
        AVG: round(d.latency.average),
        STD: round(d.latency.deviation),
        EST: round(d.latency.estimate),
        MAX: round(d.latency.max),
        TIMEOUT: d.latency.timeouts,
      },
      RUNTIME: { DLGLOAD: d.load },
    },
  };
}

/** Kamailio's state argument: `a`, `i`, `d` (or `t`, read as active), optionally with `p` (probing). */
function parseState(text: unknown): { state: DestinationState; probing: boolean } {
  if (typeof text !== 'string' || !/^[aidtp]{1,2}$/i.test(text)) throw new RpcError(400, 'bad state value');
  const s = text.toLowerCase();
  const probing = s.includes('p');
  const letter = s.replace('p', '');
  const state: DestinationState =
    letter === 'i'
      ? 'inactive'
      : letter === 'd'
        ? 'disabled'
        : letter === '' && probing
          ? 'active'
          : 'active';
  return { state, probing };
}

/** The `dispatcher.*` commands, by their Kamailio names. */
export function dispatcherRpc(dispatcher: Dispatcher, prober: Prober, reload: () => Promise<void>) {
  return {
    /** Every set with its destinations: state, priority, attributes, latency and load. */
    'dispatcher.list'(): RpcList {
      const RECORDS: RpcList['RECORDS'] = [];
      for (const [ID, list] of [...dispatcher.sets].sort((a, b) => a[0] - b[0]))
        RECORDS.push({ SET: { ID, TARGETS: list.map(rpcDestination) } });
      return { NRSETS: RECORDS.length, RECORDS };
    },

    /**
     * Sets the state of a destination of `group` (its URI), or of all of them (`all`): `a`, `i`, `d`,
     * with `p` for probing (`ip`: inactive and probed). Error 404 when nothing matches.
     */
    'dispatcher.set_state'(state: string, group: number, address: string): void {
      const { state: to, probing } = parseState(state);
      const list = dispatcher.sets.get(Number(group));
      if (list === undefined) throw new RpcError(404, 'destination set not found');
      let found = 0;
      for (const d of list)
        if (address === 'all' || sameUri(d.uri, address)) {
          dispatcher.setState(d, to, 'set by dispatcher.set_state', probing);
          found++;
        }
      if (found === 0) throw new RpcError(404, 'destination not found');
    },

    /** Reloads the list (file or table); the running sets stay when it cannot be read (error 500). */
    async 'dispatcher.reload'(): Promise<void> {
      try {
        await reload();
      } catch (e) {
        throw new RpcError(500, `reload failed: ${(e as Error).message}`);
      }
    },

    /** Switches probing on (1) or off (0); without an argument tells whether it is on. */
    'dispatcher.ping_active'(state?: number): number {
      if (state !== undefined) {
        if (state !== 0 && state !== 1) throw new RpcError(400, 'state must be 0 or 1');
        prober.active = state === 1;
      }
      return prober.active ? 1 : 0;
    },
  };
}

/** The `dispatcher.*` commands. */
export type DispatcherRpc = ReturnType<typeof dispatcherRpc>;

/** The `dispatcher.*` commands with their documentation, for the control API. */
export function dispatcherMethods(rpc: DispatcherRpc): RpcMethods {
  return describeMethods(rpc, {
    'dispatcher.list': {
      doc: 'Every destination set with its destinations: state flags (A/I/D, P probing), priority, attributes, latency and load.',
    },
    'dispatcher.set_state': {
      doc: 'Sets the state of a destination of a set, or of all of them: a (active), i (inactive), d (disabled), with p for probing (ip).',
      params: [
        { name: 'state', type: 'string', doc: 'a, i, d, ap, ip' },
        { name: 'group', type: 'number', doc: 'the set id' },
        { name: 'address', type: 'string', doc: 'the destination URI, or `all`' },
      ],
    },
    'dispatcher.reload': {
      doc: 'Reloads the destination list (file or table) and swaps it in atomically; the running sets stay when it cannot be read.',
    },
    'dispatcher.ping_active': {
      doc: 'Switches OPTIONS probing on (1) or off (0); without an argument tells whether it is on.',
      params: [{ name: 'state', type: 'number', optional: true }],
    },
  });
}
