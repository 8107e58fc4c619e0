/**
 * The typed API route scripts are written against. A script's default export is a {@link Routes}
 * object; every handler receives the message context and the module APIs, whose type is derived from
 * the module definitions the server loads — a misspelled function is a compile error.
 */
import type { Features } from '../core/config.js';
import type { ReplyContext, RequestContext } from '../core/context.js';
import type { ModuleApis } from '../core/module.js';
import { aliasModule } from '../modules/alias/index.js';
import { authModule } from '../modules/auth/index.js';
import { dispatcherModule } from '../modules/dispatcher/index.js';
import { domainModule } from '../modules/domain/index.js';
import { htableModule } from '../modules/htable/index.js';
import { maxfwdModule } from '../modules/maxfwd/index.js';
import { nathelperModule } from '../modules/nathelper/index.js';
import { permissionsModule } from '../modules/permissions/index.js';
import { pikeModule } from '../modules/pike/index.js';
import { ratelimitModule } from '../modules/ratelimit/index.js';
import { registrarModule } from '../modules/registrar/index.js';
import { rrModule } from '../modules/rr/index.js';
import { sanityModule } from '../modules/sanity/index.js';
import { slModule } from '../modules/sl/index.js';
import { tmModule } from '../modules/tm/index.js';
import { topohModule } from '../modules/topoh/index.js';
import { usrlocModule } from '../modules/usrloc/index.js';
import type { Destination } from '../transport/types.js';

/** The modules every olelo server loads. */
export const builtinModules = [
  slModule,
  maxfwdModule,
  sanityModule,
  rrModule,
  tmModule,
  // after tm: probes are sent with tm's newRequest
  dispatcherModule,
  authModule,
  usrlocModule,
  domainModule,
  aliasModule,
  nathelperModule,
  // after usrloc: it takes usrloc's store when it is created
  registrarModule,
  ratelimitModule,
  permissionsModule,
  pikeModule,
  htableModule,
  topohModule,
] as const;

/** What route handlers receive as their second argument: `{ sl, maxfwd, sanity, rr, ... }`. */
export type Modules = ModuleApis<typeof builtinModules> & {
  /** Forwards a request statelessly to its next hop (or to `nextHop`, a SIP URI). */
  forward: (req: RequestContext, nextHop?: string) => Promise<void>;
  /** The feature switches of the config file (`features`: auth, nat, aliases), like kamailio.cfg's `WITH_*`. */
  readonly features: Readonly<Features>;
};

/** A timer event route. */
export interface TimerRoute {
  /** Interval in milliseconds. */
  interval: number;
  run(m: Modules): void | Promise<void>;
}

/** The route handlers a script exports (Kamailio's route blocks). */
export interface Routes {
  /** Request route: every request received. */
  request(req: RequestContext, m: Modules): void | Promise<void>;
  /** Reply route: every response received, before it is forwarded; `res.drop()` stops it. */
  reply?(res: ReplyContext, m: Modules): void | Promise<void>;
  /** Onsend route: a request about to leave by a stateless forward; `req.drop()` stops it. */
  onsend?(req: RequestContext, destination: Destination, m: Modules): void;
  /** Event routes. */
  events?: {
    /** Once the server is listening (Kamailio's `event_route[core:worker-one-init]`). */
    start?(m: Modules): void | Promise<void>;
    /** On shutdown, before listeners close. */
    stop?(m: Modules): void | Promise<void>;
    /** Periodic timers. */
    timers?: TimerRoute[];
  };
}

/** Declares a script's routes with full typing: `export default defineRoutes({ request(req, m) {...} })`. */
export function defineRoutes<R extends Routes>(routes: R): R {
  return routes;
}

export type { Features } from '../core/config.js';
export type { Disposition, NextHop } from '../core/context.js';
export { ReplyContext, RequestContext } from '../core/context.js';
export type { Logger } from '../core/logger.js';
export type { AliasApi } from '../modules/alias/index.js';
export type {
  AuthApi,
  AuthenticatedUser,
  AuthResult,
  ChallengeOptions,
  CredentialSource,
  StoredCredentials,
} from '../modules/auth/index.js';
export type { DestinationInfo, DispatcherApi } from '../modules/dispatcher/index.js';
export type { DomainApi } from '../modules/domain/index.js';
export type { HashTable, HtableApi, HtableEntry, HtableValue, KeyPattern } from '../modules/htable/index.js';
export type { MaxfwdApi } from '../modules/maxfwd/index.js';
export type { AliasResult, NathelperApi, NatTest } from '../modules/nathelper/index.js';
export type { AddressEntry, PermissionsApi } from '../modules/permissions/index.js';
export type { PikeApi, PikeTopEntry } from '../modules/pike/index.js';
export type { Algorithm, PipeInfo, PipeSpec, RatelimitApi } from '../modules/ratelimit/index.js';
export type { LookupResult, RegistrarApi, SaveResult } from '../modules/registrar/index.js';
export type { RrApi } from '../modules/rr/index.js';
export type { SanityApi } from '../modules/sanity/index.js';
export type { SlApi } from '../modules/sl/index.js';
export type { NewRequestOptions, TmApi } from '../modules/tm/index.js';
export type { TopohApi } from '../modules/topoh/index.js';
export type { BranchInfo, BranchTarget, FailureContext } from '../tm/proxy-transaction.js';
