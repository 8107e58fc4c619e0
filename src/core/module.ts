/**
 * The module contract. A module is one definition that says everything the server needs to know about
 * it: its name, documentation, parameters, the API it hands to route scripts, and its lifecycle.
 * The type of the object route scripts receive is derived from the definitions (see script/api.ts).
 */

import type { Storage } from '../db/types.js';
import type { RpcMethods } from '../rpc/types.js';
import type { HeaderList } from '../sip/build.js';
import type { Listener } from '../transport/types.js';
import type { NextHop, RequestContext } from './context.js';
import type { Logger } from './logger.js';
import type { Myself } from './myself.js';
import type { AnySchema } from './schema.js';
import type { StatsRegistry } from './stats.js';

/** What the core offers modules. */
export interface CoreServices {
  /** This server's hosts and ports. */
  readonly myself: Myself;
  /** The bound listeners. */
  readonly listeners: readonly Listener[];
  readonly stats: StatsRegistry;
  readonly log: Logger;
  /** Sends a stateless reply to a request (RFC 3261 §8.2.6, §18.2.2). */
  reply(ctx: RequestContext, status: number, reason?: string, headers?: HeaderList): void;
  /** Forwards a request statelessly (RFC 3261 §16.11) to its next hop. */
  forward(ctx: RequestContext, nextHop?: NextHop): Promise<void>;
  /**
   * Another module's API (what its `create` returned as `api`), looked up when called. Modules are
   * created in `builtinModules` order, so inside `create` only the modules listed before this one exist.
   * Throws when no module of that name exists (yet).
   */
  module<Api>(name: string): Api;
  /**
   * The database (`database` in the config): subscribers, domains, aliases, location. Opened and migrated
   * before any module is created; closed after every module has stopped.
   */
  readonly db: Storage;
}

/** A running module: its script API and lifecycle hooks. */
export interface ModuleInstance<Api> {
  /** What route scripts get as `m.<name>`. */
  readonly api: Api;
  /** Control methods (JSON-RPC, `olelo ctl`) by full name, e.g. `ul.dump`. */
  readonly rpc?: RpcMethods;
  /**
   * A parameter declared `runtime: true` in the module's schema was changed (`cfg.set`); the value has
   * been validated by the schema. Modules with runtime parameters must implement this.
   */
  setParam?(name: string, value: unknown): void;
  /** Called once the server is listening. */
  start?(): void | Promise<void>;
  /** Called on shutdown. */
  stop?(): void | Promise<void>;
}

/** A module definition. */
export interface ModuleDefinition<Name extends string = string, Api = unknown> {
  readonly name: Name;
  /** One line saying what the module does. */
  readonly doc: string;
  /** The module's parameters (`modules.<name>` in the config file); none when absent. */
  readonly params?: AnySchema;
  /** Creates the module for a server. `params` are the module's validated parameters. */
  create(core: CoreServices, params: Record<string, unknown>): ModuleInstance<Api>;
}

/** Declares a module; keeps its name and API types so the script API can be derived from it. */
export function defineModule<Name extends string, Api>(
  def: ModuleDefinition<Name, Api>,
): ModuleDefinition<Name, Api> {
  return def;
}

/** The parameter schemas of a list of modules, for the config loader. */
export function moduleSchemas(defs: readonly ModuleDefinition[]): Record<string, AnySchema> {
  const out: Record<string, AnySchema> = {};
  for (const d of defs) if (d.params !== undefined) out[d.name] = d.params;
  return out;
}

/** The script API object for a list of module definitions: `{ [name]: api }`. */
export type ModuleApis<Defs extends readonly ModuleDefinition[]> = {
  [D in Defs[number] as D['name']]: D extends ModuleDefinition<string, infer Api> ? Api : never;
};
