/**
 * The method registry and the JSON-RPC 2.0 dispatcher shared by every control transport (HTTP, the Unix
 * socket, the dashboard). Arguments are checked against each method's declared parameters before its
 * handler runs: a wrong call gets a clear `invalid params` error naming the parameter, never a crash.
 */
import { JSONRPC, RpcError, type RpcMethod, type RpcMethods, type RpcParam } from './types.js';

/** Most calls in one batch (they run at once). */
export const MAX_BATCH = 100;

/** A JSON-RPC 2.0 response object. */
export type JsonRpcResponse =
  | { jsonrpc: '2.0'; result: unknown; id: string | number | null }
  | { jsonrpc: '2.0'; error: { code: number; message: string; data?: unknown }; id: string | number | null };

/** Calls failed because of the request or the server, for the log. */
export type CallObserver = (method: string, error: unknown) => void;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Converts one argument to its declared type; a string is read as a number or boolean when declared so. */
function coerce(method: string, param: RpcParam, value: unknown): unknown {
  const bad = () =>
    new RpcError(
      JSONRPC.invalidParams,
      `${method}: parameter ${param.name} must be ${param.type === 'object' ? 'an object' : `a ${param.type}`}, not ${typeName(value)}${typeof value === 'string' ? ` "${value}"` : ''}`,
    );
  switch (param.type) {
    case 'any':
      return value;
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw bad();
    case 'number':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
        return Number(value);
      throw bad();
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1' || value === 1 || value === 'yes') return true;
      if (value === 'false' || value === '0' || value === 0 || value === 'no') return false;
      throw bad();
    case 'object':
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
      if (typeof value === 'string') {
        try {
          const parsed: unknown = JSON.parse(value);
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed;
        } catch {
          // reported below
        }
      }
      throw bad();
  }
}

/** A method's signature for help texts: `ul.rm AOR [CONTACT]`. */
export function signature(name: string, method: RpcMethod): string {
  const params = (method.params ?? []).map((p) => {
    const word = p.rest ? `${p.name}...` : p.name;
    return p.optional || p.rest ? `[${word}]` : word;
  });
  return [name, ...params].join(' ');
}

/** The registry of control methods. */
export class RpcRegistry {
  private readonly methods = new Map<string, RpcMethod>();

  /** Adds methods; a name registered twice is a programming error and throws. */
  register(methods: RpcMethods): void {
    for (const [name, method] of Object.entries(methods)) {
      if (!/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/i.test(name)) throw new Error(`bad RPC method name: ${name}`);
      if (this.methods.has(name)) throw new Error(`RPC method ${name} registered twice`);
      const params = method.params ?? [];
      params.forEach((p, i) => {
        if (p.rest && i !== params.length - 1)
          throw new Error(`${name}: only the last parameter may be rest`);
        if (!p.optional && !p.rest && params.slice(0, i).some((q) => q.optional))
          throw new Error(`${name}: required parameter ${p.name} after an optional one`);
      });
      this.methods.set(name, method);
    }
  }

  /** Every method name, sorted. */
  names(): string[] {
    return [...this.methods.keys()].sort();
  }

  get(name: string): RpcMethod | undefined {
    return this.methods.get(name);
  }

  /** Positional arguments from JSON-RPC `params`: an array, an object by parameter name, or nothing. */
  private argumentsOf(name: string, method: RpcMethod, params: unknown): unknown[] {
    const declared = method.params ?? [];
    let given: unknown[];
    if (params === undefined || params === null) given = [];
    else if (Array.isArray(params)) given = params;
    else if (typeof params === 'object') {
      const byName = params as Record<string, unknown>;
      const unknown = Object.keys(byName).filter((k) => !declared.some((p) => p.name === k));
      if (unknown.length > 0)
        throw new RpcError(JSONRPC.invalidParams, `${name}: unknown parameter ${unknown.join(', ')}`);
      given = [];
      for (const p of declared) {
        const v = byName[p.name];
        if (p.rest) given.push(...(v === undefined ? [] : Array.isArray(v) ? v : [v]));
        else given.push(v);
      }
      while (given.length > 0 && given[given.length - 1] === undefined) given.pop();
    } else throw new RpcError(JSONRPC.invalidParams, `${name}: params must be an array or an object`);

    const rest = declared.length > 0 && declared[declared.length - 1]!.rest === true;
    const fixed = rest ? declared.length - 1 : declared.length;
    if (!rest && given.length > declared.length)
      throw new RpcError(
        JSONRPC.invalidParams,
        `${name}: takes at most ${declared.length} parameter${declared.length === 1 ? '' : 's'}, got ${given.length} (usage: ${signature(name, method)})`,
      );
    const args: unknown[] = [];
    for (let i = 0; i < fixed; i++) {
      const p = declared[i]!;
      const v = given[i];
      if (v === undefined || v === null) {
        if (!p.optional)
          throw new RpcError(
            JSONRPC.invalidParams,
            `${name}: parameter ${p.name} missing (usage: ${signature(name, method)})`,
          );
        args.push(undefined);
      } else args.push(coerce(name, p, v));
    }
    if (rest) {
      const p = declared[declared.length - 1]!;
      for (const v of given.slice(fixed)) args.push(coerce(name, p, v));
    }
    while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
    return args;
  }

  /** Calls a method; rejects with an {@link RpcError} for an unknown method or bad arguments. */
  async call(name: string, params?: unknown): Promise<unknown> {
    const method = this.methods.get(name);
    if (method === undefined) throw new RpcError(JSONRPC.methodNotFound, `Method Not Found: ${name}`);
    const args = this.argumentsOf(name, method, params);
    const result = await method.handler(...args);
    return result === undefined ? {} : result;
  }

  /**
   * Answers a JSON-RPC 2.0 request text: one request or a batch. Resolves with the response text, or
   * `undefined` when nothing is to be sent (notifications only). Never rejects.
   */
  async handle(text: string, observe?: CallObserver): Promise<string | undefined> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      return JSON.stringify(errorResponse(null, JSONRPC.parseError, `Parse error: ${(e as Error).message}`));
    }
    if (Array.isArray(body)) {
      if (body.length === 0)
        return JSON.stringify(errorResponse(null, JSONRPC.invalidRequest, 'empty batch'));
      if (body.length > MAX_BATCH)
        return JSON.stringify(
          errorResponse(
            null,
            JSONRPC.invalidRequest,
            `a batch of ${body.length} calls: at most ${MAX_BATCH}`,
          ),
        );
      const answers = (await Promise.all(body.map((r) => this.one(r, observe)))).filter(
        (a) => a !== undefined,
      );
      return answers.length === 0 ? undefined : JSON.stringify(answers);
    }
    const answer = await this.one(body, observe);
    return answer === undefined ? undefined : JSON.stringify(answer);
  }

  private async one(request: unknown, observe?: CallObserver): Promise<JsonRpcResponse | undefined> {
    if (typeof request !== 'object' || request === null || Array.isArray(request))
      return errorResponse(null, JSONRPC.invalidRequest, 'Invalid Request: not an object');
    const r = request as Record<string, unknown>;
    const id = r.id;
    const validId = id === undefined || id === null || typeof id === 'string' || typeof id === 'number';
    const replyId = validId ? ((id ?? null) as string | number | null) : null;
    // Kamailio's clients often leave out "jsonrpc"; accepted, as Kamailio does
    if ((r.jsonrpc !== undefined && r.jsonrpc !== '2.0') || typeof r.method !== 'string' || !validId)
      return errorResponse(replyId, JSONRPC.invalidRequest, 'Invalid Request');
    const notification = !('id' in r);
    try {
      const result = await this.call(r.method, r.params);
      return notification ? undefined : { jsonrpc: '2.0', result, id: replyId };
    } catch (e) {
      observe?.(r.method, e);
      if (notification) return undefined;
      if (e instanceof RpcError) return errorResponse(replyId, e.code, e.message, e.data);
      return errorResponse(
        replyId,
        JSONRPC.internalError,
        `Internal error: ${(e as Error)?.message ?? String(e)}`,
      );
    }
  }
}

function errorResponse(
  id: string | number | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcResponse {
  return { jsonrpc: '2.0', error: data === undefined ? { code, message } : { code, message, data }, id };
}

/** The Markdown table of every method of a registry, for docs/control.md. */
export function methodReference(registry: RpcRegistry): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const rows = registry.names().map((name) => {
    const method = registry.get(name)!;
    const params = signature(name, method).slice(name.length).trim();
    return `| \`${name}\` | ${params === '' ? '' : `\`${cell(params)}\``} | ${cell(method.doc)} |`;
  });
  return ['| Method | Parameters | What it does |', '| --- | --- | --- |', ...rows].join('\n');
}
