/**
 * registrar: REGISTER processing and location lookup (Kamailio's `registrar`) over usrloc's store.
 * `save` implements RFC 3261 §10.3 with Path (RFC 3327), Service-Route (RFC 3608), outbound (RFC 5626)
 * and GRUU (RFC 5627); `lookup` turns an AOR into the branches tm relays to, each through the flow its
 * contact registered on.
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import type { UsrlocApi } from '../usrloc/index.js';
import type { MaybePromise } from '../usrloc/types.js';
import { type LookupResult, type PathMode, Registrar, type SaveResult } from './registrar.js';

/** The `registrar` script API. */
export interface RegistrarApi {
  /**
   * Processes a REGISTER and replies (Kamailio's `save`): 200 listing every current contact with its
   * expires and a Date, or 400, 420, 421, 423 (Min-Expires), 439, 500 (out-of-order CSeq) or 503 (too
   * many contacts). The AOR is the To URI's `user@domain`, or `aor` (a SIP URI or `user@domain`).
   * Over an in-memory location store it answers (and replies) at once, so `await` does not suspend
   * the route and the REGISTER stays stateless; over a shared database it returns a Promise.
   */
  save(req: RequestContext, aor?: string): MaybePromise<SaveResult>;
  /**
   * Kamailio's `lookup`: rewrites the Request-URI to the best contact of its AOR (or of `aor`, or of the
   * GRUU it is) and puts the others in the destination set, each routed through the flow it registered
   * on; `m.tm.relay` then forks to them (equal q in parallel, lower q serially).
   */
  lookup(req: RequestContext, aor?: string): MaybePromise<LookupResult>;
  /** Kamailio's `registered`: true when the AOR (default: the Request-URI's) has a live contact. Changes nothing. */
  registered(req: RequestContext, aor?: string): MaybePromise<boolean>;
  /** Kamailio's `unregister`: removes every contact of `aor` (`user@domain` or a SIP URI), or the one `contact`; resolves how many. */
  unregister(aor: string, contact?: string): MaybePromise<number>;
}

export const registrarModule = defineModule({
  name: 'registrar',
  doc: 'REGISTER processing (RFC 3261 §10.3, Path, outbound, GRUU) and location lookup.',
  params: s.object({
    defaultExpires: s.integer({
      default: 3600,
      min: 1,
      max: 4294967295,
      doc: 'Seconds granted to a contact when neither its expires parameter nor an Expires header says.',
    }),
    minExpires: s.integer({
      default: 60,
      min: 0,
      max: 4294967295,
      doc: 'Shortest registration accepted, in seconds (see minExpiresMode); 0 = no minimum.',
    }),
    maxExpires: s.integer({
      default: 0,
      min: 0,
      max: 4294967295,
      doc: 'Longest registration granted, in seconds: longer ones are shortened to it; 0 = no maximum.',
    }),
    minExpiresMode: s.enum(['reject', 'raise'], {
      default: 'reject',
      doc: "Below minExpires: 'reject' answers 423 Interval Too Brief with Min-Expires (RFC 3261 §10.3); 'raise' grants minExpires instead (Kamailio's behaviour).",
    }),
    pathMode: s.enum(['strict', 'lazy', 'store', 'ignore'], {
      default: 'strict',
      doc: "Path headers (RFC 3327): 'strict' stores and returns them, and answers 420 when the REGISTER lacks Supported: path; 'lazy' stores them and returns them only to UAs that support path; 'store' stores without returning; 'ignore' does not look at them.",
    }),
    serviceRoute: s
      .array(s.string({ minLength: 1 }), {
        doc: 'Service-Route values (RFC 3608) put in every 200 to a REGISTER, e.g. <sip:orig@proxy.example.com;lr>.',
      })
      .optional(),
    gruu: s.boolean({
      default: true,
      doc: 'Hand out public and temporary GRUUs (RFC 5627) to contacts with +sip.instance when the REGISTER has Supported: gruu, and resolve them in lookup.',
    }),
    gruuSecret: s
      .string({
        minLength: 16,
        doc: 'Key of temporary GRUUs: servers that must resolve each other’s need the same one. Random at each start when unset (temporary GRUUs then end with a restart).',
      })
      .optional(),
    outbound: s.enum(['off', 'supported', 'required'], {
      default: 'supported',
      doc: "SIP outbound (RFC 5626): 'off' ignores reg-id; 'supported' keys flows by instance and reg-id when the REGISTER has Supported: outbound; 'required' also refuses REGISTERs without it (421).",
    }),
    flowTimer: s.integer({
      default: 0,
      min: 0,
      max: 4294967295,
      doc: 'Seconds for a Flow-Timer header (RFC 5626 §4.4.1) in 200s that set up an outbound flow; 0 = none.',
    }),
    retryAfter: s.integer({
      default: 0,
      min: 0,
      max: 4294967295,
      doc: 'Seconds for a Retry-After header in the 503 answered when an AOR would exceed usrloc maxContacts; 0 = none.',
    }),
    contactMaxSize: s.integer({
      default: 255,
      min: 16,
      doc: 'Longest Contact URI accepted (400 beyond it), in characters.',
    }),
    appendBranches: s.boolean({
      default: true,
      doc: 'lookup puts the contacts other than the best one into the destination set (forking); otherwise only the Request-URI is rewritten.',
    }),
    methodFiltering: s.boolean({
      default: false,
      doc: 'lookup keeps only contacts that accept the request method (their REGISTER’s Allow or methods parameter), for requests without a To-tag.',
    }),
  }),
  create(core, params) {
    const usrloc = core.module<UsrlocApi>('usrloc');
    const stat = (name: string, doc: string) => core.stats.counter('registrar', name, doc);
    const registrar = new Registrar(
      core,
      usrloc.store,
      {
        defaultExpires: params.defaultExpires as number,
        minExpires: params.minExpires as number,
        maxExpires: params.maxExpires as number,
        minExpiresMode: params.minExpiresMode as 'reject' | 'raise',
        pathMode: params.pathMode as PathMode,
        serviceRoute: (params.serviceRoute as string[] | undefined) ?? [],
        gruu: params.gruu as boolean,
        outbound: params.outbound as 'off' | 'supported' | 'required',
        flowTimer: params.flowTimer as number,
        retryAfter: params.retryAfter as number,
        contactMaxSize: params.contactMaxSize as number,
        appendBranches: params.appendBranches as boolean,
        methodFiltering: params.methodFiltering as boolean,
        ...(params.gruuSecret === undefined ? {} : { gruuSecret: params.gruuSecret as string }),
      },
      {
        accepted: stat('accepted_regs', 'REGISTERs answered 200'),
        rejected: stat('rejected_regs', 'REGISTERs answered with an error'),
        defaultExpires: stat('default_expires_used', 'contacts granted defaultExpires (no expires given)'),
        maxExpires: stat('max_expires_capped', 'contacts whose interval was shortened to maxExpires'),
      },
    );
    const api: RegistrarApi = {
      save: (req, aor) => registrar.save(req, aor),
      lookup: (req, aor) => registrar.lookup(req, aor),
      registered: (req, aor) => registrar.registered(req, aor),
      unregister: (aor, contact) => registrar.unregister(aor, contact),
    };
    return { api };
  },
});

export type { LookupResult, PathMode, RegistrarSettings, SaveResult } from './registrar.js';
