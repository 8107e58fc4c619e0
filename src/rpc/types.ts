/**
 * The control API's contract: a method is a handler with its documentation and a declared parameter list.
 * Modules return theirs from `create` (`ModuleInstance.rpc`); the core registers its own. The registry
 * (registry.ts) checks arguments against the declaration before a handler runs, so a handler receives
 * values of the declared types.
 */

/** A parameter's type. Numbers and booleans given as strings (a command line) are converted. */
export type RpcParamType = 'string' | 'number' | 'boolean' | 'object' | 'any';

/** One positional parameter. */
export interface RpcParam {
  readonly name: string;
  readonly type: RpcParamType;
  /** May be left out (only trailing parameters). */
  readonly optional?: boolean;
  /** Takes every remaining argument as a list (last parameter only). */
  readonly rest?: boolean;
  readonly doc?: string;
}

/** A control method. */
export interface RpcMethod {
  /** One or two sentences: what it does and what it returns (`system.methodHelp`, `olelo ctl help`). */
  readonly doc: string;
  readonly params?: readonly RpcParam[];
  // biome-ignore lint/suspicious/noExplicitAny: handlers declare their own argument types, checked by the registry
  readonly handler: (...args: any[]) => unknown;
}

/** Methods by their full name (`ul.dump`, `dispatcher.list`, ...). */
export type RpcMethods = Readonly<Record<string, RpcMethod>>;

/**
 * A method's failure, answered as a JSON-RPC error with this code. Application codes follow Kamailio's
 * (400 bad argument, 404 not found, 500 failure); the protocol codes are JSON-RPC's (-32600 ...).
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** JSON-RPC 2.0 protocol error codes. */
export const JSONRPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

/** The documentation and parameters of a method whose handler is written elsewhere. */
export type RpcSpec = Omit<RpcMethod, 'handler'>;

/**
 * Methods from plain functions (a module's `rpc` object, also handy to call directly) and their
 * documentation: one spec per function, checked by the compiler.
 */
export function describeMethods<F extends Record<string, (...args: never[]) => unknown>>(
  fns: F,
  specs: { readonly [K in keyof F]: RpcSpec },
): RpcMethods {
  const out: Record<string, RpcMethod> = {};
  for (const name of Object.keys(fns)) {
    const fn = fns[name]! as (...args: unknown[]) => unknown;
    out[name] = { ...specs[name]!, handler: (...args: unknown[]) => fn(...args) };
  }
  return out;
}
