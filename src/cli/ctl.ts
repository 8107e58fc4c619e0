/**
 * `olelo ctl`: calls a control method of a running server (Kamailio's `kamcmd`), over the Unix socket of
 * the configuration (or `--socket`), or over HTTP (`--url`, with `--token` when the server asks for one).
 */
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from '../core/config.js';
import { moduleSchemas } from '../core/module.js';
import { builtinModules } from '../script/api.js';

export const CTL_HELP = `Usage: olelo ctl [--config FILE] [--socket PATH | --url URL [--token TOKEN]] [--json] METHOD [PARAM...]
       olelo ctl help [METHOD]

Calls a control method of the running server (JSON-RPC 2.0) and prints its result: readable by
default, JSON with --json. Options go before METHOD; every word after it is a parameter, even one
starting with '-'. Numbers and true/false are converted where the method declares them so. The
server is found through the configuration (--config or OLELO_CONFIG): its control.socket (default:
olelo.sock in dataDir), else its control.http address.

Examples:
  olelo ctl core.uptime
  olelo ctl stats.get tm
  olelo ctl cfg.set tm fr_inv_timer 30s
  olelo ctl dispatcher.set_state ip 1 sip:10.0.0.2:5060
  olelo ctl dispatcher.reload
  olelo ctl ul.dump brief

Exit status: 0 done, 1 the method failed (its error is printed), 2 wrong usage, 3 no server reached.
`;

/** Where the command writes (tests pass their own). */
export interface CtlIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CtlIo = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

type Target = { socket: string } | { url: URL; token?: string | undefined };

class CtlFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The server to call: options first, then the configuration. */
function target(values: { config?: string; socket?: string; url?: string; token?: string }): Target {
  if (values.socket !== undefined && values.url !== undefined)
    throw new CtlFailure(2, 'give --socket or --url, not both');
  if (values.socket !== undefined) return { socket: values.socket };
  if (values.url !== undefined) {
    let url: URL;
    try {
      url = new URL(values.url);
    } catch {
      throw new CtlFailure(2, `bad --url ${values.url}: expected http://host:port`);
    }
    if (url.protocol !== 'http:') throw new CtlFailure(2, `bad --url ${values.url}: only http:// is served`);
    return { url, token: values.token };
  }
  const file = values.config ?? process.env.OLELO_CONFIG;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({
      ...(file === undefined ? {} : { file }),
      moduleSchemas: moduleSchemas(builtinModules),
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new CtlFailure(2, `invalid configuration\n${e.message}`);
    throw e;
  }
  const control = config.control;
  if (control.socket !== 'off')
    return {
      socket: control.socket === '' ? `${config.dataDir.replace(/\/$/, '')}/olelo.sock` : control.socket,
    };
  const listen = control.http.listen;
  if (listen === 'off')
    throw new CtlFailure(2, 'the configuration has no control socket and no control HTTP server (control.*)');
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return {
    url: new URL(`http://${host.includes(':') ? `[${host}]` : host}:${listen.port}/RPC`),
    token: values.token ?? control.http.token,
  };
}

interface JsonRpcAnswer {
  result?: unknown;
  error?: { code: number; message: string };
}

/** Posts a JSON-RPC body and parses the answer. */
function post(to: Target, body: unknown, timeoutMs = 30_000): Promise<unknown> {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  const where = 'socket' in to ? to.socket : to.url.href;
  if ('url' in to && to.token !== undefined) headers.Authorization = `Bearer ${to.token}`;
  return new Promise((resolve, reject) => {
    const req = request(
      'socket' in to
        ? { socketPath: to.socket, path: '/RPC', method: 'POST', headers }
        : {
            host: to.url.hostname.replace(/^\[|\]$/g, ''),
            port: to.url.port === '' ? 80 : Number(to.url.port),
            path: to.url.pathname === '/' ? '/RPC' : to.url.pathname,
            method: 'POST',
            headers,
          },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 401)
            return reject(new CtlFailure(3, `${where} refused the call: a token is needed (--token)`));
          if (res.statusCode !== 200)
            return reject(new CtlFailure(3, `${where} answered HTTP ${res.statusCode}: ${answer}`));
          try {
            resolve(JSON.parse(answer));
          } catch {
            reject(new CtlFailure(3, `${where} answered something that is not JSON`));
          }
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof CtlFailure) return reject(e);
      const hint =
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? ' (is the server running with this configuration?)'
          : '';
      reject(new CtlFailure(3, `cannot reach ${where}: ${e.message}${hint}`));
    });
    req.end(text);
  });
}

async function call(to: Target, method: string, params: unknown[]): Promise<unknown> {
  const answer = (await post(to, { jsonrpc: '2.0', method, params, id: 1 })) as JsonRpcAnswer;
  if (answer.error !== undefined)
    throw new CtlFailure(1, `error ${answer.error.code}: ${answer.error.message}`);
  return answer.result;
}

/** A result for people: strings as they are, lists of strings one per line, the rest as YAML. */
export function readable(result: unknown): string {
  if (typeof result === 'string') return result;
  if (typeof result === 'number' || typeof result === 'boolean') return String(result);
  if (Array.isArray(result) && result.every((x) => typeof x === 'string')) return result.join('\n');
  if (result !== null && typeof result === 'object' && Object.keys(result).length === 0) return 'ok';
  return stringify(result, { lineWidth: 0 }).trimEnd();
}

async function help(to: Target, method: string | undefined, io: CtlIo): Promise<void> {
  const names = method === undefined ? ((await call(to, 'system.listMethods', [])) as string[]) : [method];
  const batch = names.flatMap((name, i) => [
    { jsonrpc: '2.0', method: 'system.methodSignature', params: [name], id: 2 * i },
    { jsonrpc: '2.0', method: 'system.methodHelp', params: [name], id: 2 * i + 1 },
  ]);
  // servers take batches of at most 100 calls (src/rpc/registry.ts MAX_BATCH)
  const byId = new Map<number, JsonRpcAnswer>();
  for (let from = 0; from < batch.length; from += 100) {
    const answers = await post(to, batch.slice(from, from + 100));
    if (!Array.isArray(answers)) {
      const error = (answers as JsonRpcAnswer).error;
      throw new CtlFailure(1, `error ${error?.code}: ${error?.message ?? 'not a batch answer'}`);
    }
    for (const a of answers as Array<JsonRpcAnswer & { id: number }>) byId.set(a.id, a);
  }
  for (let i = 0; i < names.length; i++) {
    const sig = byId.get(2 * i);
    const doc = byId.get(2 * i + 1);
    if (sig?.error !== undefined) throw new CtlFailure(1, `error ${sig.error.code}: ${sig.error.message}`);
    io.out(
      method === undefined
        ? `${String(sig?.result)}\n    ${String(doc?.result)}`
        : `${String(sig?.result)}\n\n${String(doc?.result)}`,
    );
  }
}

/** Runs `olelo ctl ...` (args after `ctl`); returns the exit status. */
export async function ctl(args: string[], io: CtlIo = processIo): Promise<number> {
  let parsed: ReturnType<typeof parseCtl>;
  try {
    parsed = parseCtl(args);
  } catch (e) {
    io.err(`olelo ctl: ${(e as Error).message}\n\n${CTL_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (positionals.length === 0 && !values.help ? io.err : io.out)(CTL_HELP);
    return positionals.length === 0 && !values.help ? 2 : 0;
  }
  const [method, ...params] = positionals;
  try {
    const to = target(values);
    if (method === 'help') {
      if (params.length > 1) throw new CtlFailure(2, 'usage: olelo ctl help [METHOD]');
      await help(to, params[0], io);
      return 0;
    }
    const result = await call(to, method!, params);
    io.out(values.json ? JSON.stringify(result, null, 2) : readable(result));
    return 0;
  } catch (e) {
    if (e instanceof CtlFailure) {
      io.err(`olelo ctl: ${e.message}`);
      return e.exitCode;
    }
    throw e;
  }
}

/** The options that take a value (`--url URL`); `--name=value` is one word. */
const VALUE_OPTIONS = new Set(['--config', '-c', '--socket', '--url', '--token']);

/**
 * Options come before the method; every word after it is a parameter, as with kamcmd, so a value may start
 * with `-` (`htable.seti t k -1`) or look like an option. `--` also ends the options.
 */
function parseCtl(args: string[]) {
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-') && args[i] !== '-' && args[i] !== '--')
    i += VALUE_OPTIONS.has(args[i]!) ? 2 : 1;
  const rest = args.slice(args[i] === '--' ? i + 1 : i);
  const { values, positionals } = parseOptions(args.slice(0, i));
  return { values, positionals: [...positionals, ...rest] };
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      socket: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
}
