/**
 * The control commands of usrloc, named and shaped like Kamailio's (`ul.dump`, `ul.lookup`, `ul.rm`) so
 * tools written for `kamcmd ul.*` read them. The RPC server registers them by name.
 */
import { RpcError, type RpcMethods } from '../../rpc/types.js';
import type { Binding, LocationRecord, LocationStore } from './types.js';

/** Failures carry Kamailio's codes: 404 for an unknown AOR or contact, 400 for a bad argument. */
export { RpcError };

/** One contact as `ul.dump` and `ul.lookup` show it. */
export interface RpcContact {
  Address: string;
  /** Seconds left, or `permanent`. */
  Expires: number | 'permanent';
  /** The q-value (0..1), or -1 when the contact has none. */
  Q: number;
  'Call-ID': string;
  CSeq: number;
  'User-Agent': string;
  Received: string;
  Path: string;
  Flags: number;
  CFlags: number;
  Socket: string;
  Methods: number;
  Ruid: string;
  Instance: string;
  'Reg-Id': number;
  'Server-Id': number;
  'Tcpconn-Id': number;
  Keepalive: number;
  /** Unix seconds. */
  'Last-Modified': number;
}

/** `ul.lookup` result. */
export interface RpcAor {
  AoR: string;
  Contacts: { Contact: RpcContact }[];
}

/** `ul.dump` result (one location table). */
export interface RpcDump {
  Domains: {
    Domain: {
      Domain: 'location';
      AoRs: { Info: RpcAor }[];
      Stats: { Records: number; Contacts: number };
    };
  }[];
}

/** `ul.dump brief` result: addresses and seconds left only. */
export interface RpcBriefDump {
  Domains: {
    Domain: {
      Domain: 'location';
      AoRs: {
        Info: { AoR: string; Contacts: { Contact: { Address: string; Expires: number | 'permanent' } }[] };
      }[];
      Stats: { Records: number; Contacts: number };
    };
  }[];
}

const NOT_SET = '[not set]';

function orNotSet(s: string): string {
  return s === '' ? NOT_SET : s;
}

function expiresIn(b: Binding, now: number): number | 'permanent' {
  return b.expires === 0 ? 'permanent' : b.expires - now;
}

function rpcContact(b: Binding, now: number): RpcContact {
  return {
    Address: b.contact,
    Expires: expiresIn(b, now),
    Q: b.q < 0 ? -1 : b.q / 1000,
    'Call-ID': b.callId,
    CSeq: b.cseq,
    'User-Agent': b.userAgent,
    Received: orNotSet(b.received),
    Path: orNotSet(b.path),
    Flags: b.flags,
    CFlags: b.cflags,
    Socket: orNotSet(b.socket),
    Methods: b.methods,
    Ruid: b.ruid,
    Instance: orNotSet(b.instance),
    'Reg-Id': b.regId,
    'Server-Id': b.serverId,
    'Tcpconn-Id': b.connectionId,
    Keepalive: b.keepalive,
    'Last-Modified': b.lastModified,
  };
}

/** An AOR as given on a command line: a leading `sip:`/`sips:` is tolerated. */
function aorArgument(aor: unknown): string {
  if (typeof aor !== 'string' || aor.length === 0) throw new RpcError(400, 'AOR missing');
  const lower = aor.slice(0, 5).toLowerCase();
  if (lower.startsWith('sips:')) return aor.slice(5);
  if (lower.startsWith('sip:')) return aor.slice(4);
  return aor;
}

function recordAor(store: LocationStore, r: LocationRecord): string {
  return store.useDomain && r.domain !== '' ? `${r.username}@${r.domain}` : r.username;
}

/** The `ul.*` commands over a store, by their Kamailio names. */
export function usrlocRpc(store: LocationStore) {
  return {
    /** Every AOR with its contacts; `'brief'` keeps only address and seconds left. */
    async 'ul.dump'(mode?: 'brief'): Promise<RpcDump | RpcBriefDump> {
      const now = store.now();
      const brief = mode === 'brief';
      const aors: { Info: RpcAor }[] = [];
      let current: RpcAor | undefined;
      let contacts = 0;
      for await (const r of store.records()) {
        const aor = recordAor(store, r);
        if (current === undefined || current.AoR !== aor) {
          current = { AoR: aor, Contacts: [] };
          aors.push({ Info: current });
        }
        const Contact = brief ? { Address: r.contact, Expires: expiresIn(r, now) } : rpcContact(r, now);
        current.Contacts.push({ Contact: Contact as RpcContact });
        contacts++;
      }
      return {
        Domains: [
          { Domain: { Domain: 'location', AoRs: aors, Stats: { Records: aors.length, Contacts: contacts } } },
        ],
      };
    },

    /** The contacts of one AOR; error 404 when it has none. */
    async 'ul.lookup'(aor: string): Promise<RpcAor> {
      const key = store.aorKey(aorArgument(aor));
      const bindings = await store.lookup(key);
      if (bindings.length === 0) throw new RpcError(404, 'AOR not found');
      const now = store.now();
      return { AoR: key, Contacts: bindings.map((b) => ({ Contact: rpcContact(b, now) })) };
    },

    /** Removes an AOR, or one of its contacts (compared per RFC 3261 §19.1.4); error 404 when absent. */
    async 'ul.rm'(aor: string, contact?: string): Promise<void> {
      const key = store.aorKey(aorArgument(aor));
      if (contact === undefined || contact === '') {
        if ((await store.removeAor(key)) === 0) throw new RpcError(404, 'AOR not found');
        return;
      }
      if ((await store.remove(key, { contact })) === 'not-found') {
        const left = await store.lookup(key);
        throw new RpcError(404, left.length === 0 ? 'AOR not found' : 'Contact not found');
      }
    },
  };
}

/** The `ul.*` commands of a store. */
export type UsrlocRpc = ReturnType<typeof usrlocRpc>;

/** Kamailio's forms name the table first (`ul.lookup location AOR`); olelo has one table, `location`. */
function withoutTable(args: string[]): string[] {
  return args.length >= 2 && args[0] === 'location' ? args.slice(1) : args;
}

/**
 * The `ul.*` commands with their documentation, for the control API. Each takes Kamailio's form, with the
 * table name first (`ul.rm location alice@example.com`), or the AOR alone.
 */
export function usrlocMethods(rpc: UsrlocRpc): RpcMethods {
  return {
    'ul.dump': {
      doc: 'Every AOR with its contacts (Kamailio shape: Domains[].Domain.AoRs[].Info); `brief` keeps only address and seconds left.',
      params: [{ name: 'mode', type: 'string', optional: true, doc: '`brief`' }],
      handler: (mode?: string) => rpc['ul.dump'](mode === 'brief' ? 'brief' : undefined),
    },
    'ul.lookup': {
      doc: 'The contacts of one AOR; error 404 when it has none.',
      params: [{ name: 'args', type: 'string', rest: true, doc: '[location] AOR' }],
      handler: (...args: string[]) => {
        const [aor] = withoutTable(args);
        return rpc['ul.lookup'](aor ?? '');
      },
    },
    'ul.rm': {
      doc: 'Removes an AOR with all its contacts; error 404 when absent.',
      params: [{ name: 'args', type: 'string', rest: true, doc: '[location] AOR' }],
      handler: (...args: string[]) => {
        const [aor] = withoutTable(args);
        return rpc['ul.rm'](aor ?? '');
      },
    },
    'ul.rm_contact': {
      doc: 'Removes one contact of an AOR (compared per RFC 3261 §19.1.4); error 404 when absent.',
      params: [{ name: 'args', type: 'string', rest: true, doc: '[location] AOR CONTACT' }],
      handler: (...args: string[]) => {
        const [aor, contact] = withoutTable(args);
        if (contact === undefined || contact === '') throw new RpcError(400, 'contact missing');
        return rpc['ul.rm'](aor ?? '', contact);
      },
    },
  };
}
