/**
 * Test helpers for olelo run as a child process (`node bin/olelo.js`): spawning with a kill timer,
 * waiting for log lines, free ports, raw SIP over UDP and TCP, and what /proc tells about the child
 * (resident memory, open sockets, file limits).
 *
 * Only processes started here are ever signalled, by their own pid.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The `olelo` command. */
export const OLELO_BIN = join(ROOT, 'bin', 'olelo.js');
/** The route script shipped with olelo. */
export const DEFAULT_SCRIPT = join(ROOT, 'scripts', 'default.ts');

/** True where /proc describes processes (Linux): memory and socket checks need it. */
export const HAS_PROC = existsSync('/proc/self/status') && existsSync('/proc/self/fd');

// ---------------------------------------------------------------------------------------------------
// Temp dirs

/** A fresh temp dir; `remove()` deletes it. */
export function tempDir(prefix: string): {
  path: string;
  file(name: string, text: string): string;
  remove(): void;
} {
  const path = mkdtempSync(join(tmpdir(), `olelo-${prefix}-`));
  return {
    path,
    file(name, text) {
      const file = join(path, name);
      writeFileSync(file, text);
      return file;
    },
    remove() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Child processes

/** The environment for a child: ours without any OLELO_* variable, plus `extra`. */
function childEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OLELO_')) env[k] = v;
  // the control API's HTTP port would be shared by parallel tests: off unless a test asks for it
  return { ...env, OLELO_CONTROL__HTTP__LISTEN: 'off', ...extra };
}

/** How a child ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<OleloProcess>();

/** An `olelo` child process whose output lines (stdout and stderr) are recorded. */
export class OleloProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line written so far, stdout and stderr interleaved in arrival order. */
  readonly lines: string[] = [];
  stdout = '';
  stderr = '';
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  private waiters: Array<{ from: number; test: (line: string) => boolean; done: (line: string) => void }> =
    [];
  private readonly partial = { stdout: '', stderr: '' };

  /** `nodeArgs` are options for node itself (before the script), like `--max-semi-space-size=1`. */
  constructor(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}) {
    this.child = spawn(process.execPath, [...(options.nodeArgs ?? []), OLELO_BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: childEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error('cannot spawn olelo');
    this.pid = this.child.pid;
    running.add(this);
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream]!.setEncoding('utf8');
      this.child[stream]!.on('data', (chunk: string) => this.onData(stream, chunk));
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        running.delete(this);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  private onData(stream: 'stdout' | 'stderr', chunk: string): void {
    this[stream] += chunk;
    const text = this.partial[stream] + chunk;
    const parts = text.split('\n');
    this.partial[stream] = parts.pop()!;
    for (const line of parts) {
      this.lines.push(line);
      const index = this.lines.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (index < w.from || !w.test(line)) return true;
        w.done(line);
        return false;
      });
    }
  }

  /** All output so far, for assertion messages. */
  get output(): string {
    return this.lines.join('\n');
  }

  /**
   * The first line from index `from` on that matches, within `timeoutMs`; rejects (with the output) on
   * timeout or when the process exits first.
   */
  waitForLine(test: RegExp | ((line: string) => boolean), timeoutMs = 5000, from = 0): Promise<string> {
    const match = typeof test === 'function' ? test : (line: string) => test.test(line);
    for (let i = from; i < this.lines.length; i++)
      if (match(this.lines[i]!)) return Promise.resolve(this.lines[i]!);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.waiters = this.waiters.filter((w) => w.done !== done);
        clearTimeout(timer);
        reject(new Error(`${why} waiting for ${String(test)}; output:\n${this.output.slice(-4000)}`));
      };
      const timer = setTimeout(() => fail(`timeout (${timeoutMs} ms)`), timeoutMs);
      const done = (line: string) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.waiters.push({ from, test: match, done });
      void this.exited.then((e) => {
        // let the last lines arrive before giving up
        setTimeout(() => fail(`olelo exited (${e.code ?? e.signal})`), 50);
      });
    });
  }

  /** Sends a signal (no-op once exited). */
  signal(signal: NodeJS.Signals): void {
    if (this.exit === undefined) this.child.kill(signal);
  }

  /** Waits up to `timeoutMs` for the exit; undefined when still running. */
  async waitExit(timeoutMs: number): Promise<Exit | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    return result;
  }

  /** SIGTERM, then SIGKILL when it has not exited after `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<Exit> {
    if (this.exit !== undefined) return this.exit;
    this.signal('SIGTERM');
    const exit = await this.waitExit(timeoutMs);
    if (exit !== undefined) return exit;
    this.signal('SIGKILL');
    return this.exited;
  }
}

/** Stops every olelo child started by these helpers that is still running (for `after` hooks). */
export async function stopAll(timeoutMs = 5000): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(timeoutMs)));
}

/** Result of {@link runOlelo}. */
export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  /** True when the kill timer had to end it. */
  timedOut: boolean;
}

/** Runs `olelo args` to completion; SIGKILLed after `timeoutMs` (then `timedOut` is set). */
export async function runOlelo(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  const proc = new OleloProcess(args, options);
  let exit = await proc.waitExit(options.timeoutMs ?? 15_000);
  const timedOut = exit === undefined;
  if (exit === undefined) {
    proc.signal('SIGKILL');
    exit = await proc.exited;
  }
  // the pipes may deliver their last bytes after 'exit'
  await Promise.all(
    [proc.child.stdout!, proc.child.stderr!].map(
      (s) =>
        new Promise<void>((resolve) =>
          s.readableEnded || s.destroyed ? resolve() : s.once('close', resolve),
        ),
    ),
  );
  return { ...exit, stdout: proc.stdout, stderr: proc.stderr, timedOut };
}

// ---------------------------------------------------------------------------------------------------
// A server child on loopback

/** A port free on 127.0.0.1 for both TCP and UDP right now (bound, read, closed). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, '127.0.0.1', () => resolve((tcp.address() as { port: number }).port));
    });
    const udp = createSocket('udp4');
    const udpOk = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => {
      try {
        udp.close(() => resolve());
      } catch {
        resolve();
      }
    });
    if (udpOk) return port;
  }
  throw new Error('no port free for both TCP and UDP');
}

/** A running server child and where it listens. */
export interface ServerChild {
  proc: OleloProcess;
  /** UDP and TCP listen on this same port of 127.0.0.1. */
  port: number;
  config: string;
}

/**
 * Starts `olelo --config <dir>/olelo.yaml` listening on UDP and TCP 127.0.0.1 with the default script
 * (or `script`) and `yaml` appended to the config; resolves once both listeners are logged. A port
 * taken between picking and binding makes it retry with another.
 */
export async function startServerProcess(
  dir: string,
  options: {
    yaml?: string;
    script?: string;
    args?: string[];
    env?: NodeJS.ProcessEnv;
    nodeArgs?: string[];
    timeoutMs?: number;
  } = {},
): Promise<ServerChild> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, 'olelo.yaml');
    writeFileSync(
      config,
      `listen:\n  - udp:127.0.0.1:${port}\n  - tcp:127.0.0.1:${port}\n` +
        `script: ${JSON.stringify(options.script ?? DEFAULT_SCRIPT)}\n` +
        `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${options.yaml ?? ''}`,
    );
    const proc = new OleloProcess(['--config', config, ...(options.args ?? [])], {
      cwd: dir,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
    });
    try {
      await proc.waitForLine(
        (l) => l.includes('listening') && l.includes(`tcp:127.0.0.1:${port}`),
        options.timeoutMs ?? 15_000,
      );
      return { proc, port, config };
    } catch (e) {
      lastError = e;
      await proc.stop(2000);
      if (!/EADDRINUSE|cannot listen/.test(proc.output)) throw e;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------------
// SIP over UDP and TCP

let sequence = 0;

/** A unique token for Call-IDs and branches. */
export function uniqueId(prefix = 't'): string {
  return `${prefix}${process.pid}x${++sequence}x${Date.now().toString(36)}`;
}

/** An OPTIONS request aimed at the server itself (the default script answers it 200). */
export function optionsRequest(
  port: number,
  options: { transport?: 'UDP' | 'TCP'; callId?: string; padTo?: number; localPort?: number } = {},
): string {
  const callId = options.callId ?? uniqueId('opt');
  const head =
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/${options.transport ?? 'UDP'} 127.0.0.1:${options.localPort ?? 9};branch=z9hG4bK${callId};rport\r\n` +
    `From: <sip:probe@127.0.0.1>;tag=${callId}\r\n` +
    `To: <sip:127.0.0.1:${port}>\r\n` +
    `Call-ID: ${callId}\r\n` +
    'CSeq: 1 OPTIONS\r\n' +
    'Max-Forwards: 70\r\n';
  const tail = 'Content-Length: 0\r\n\r\n';
  const size = Buffer.byteLength(head) + Buffer.byteLength(tail);
  if (options.padTo === undefined || options.padTo <= size) return head + tail;
  // X-Pad: <n bytes>\r\n
  const pad = options.padTo - size - 'X-Pad: \r\n'.length;
  if (pad < 1) throw new Error(`cannot pad to ${options.padTo}`);
  return `${head}X-Pad: ${'p'.repeat(pad)}\r\n${tail}`;
}

/** The status code of a response's status line, or undefined. */
export function statusOf(response: string | undefined): number | undefined {
  const m = response === undefined ? null : /^SIP\/2\.0 (\d{3}) /.exec(response);
  return m === null ? undefined : Number(m[1]);
}

/**
 * Sends a datagram to the server from a fresh socket and returns the first reply carrying `callId`,
 * retransmitting every `retryMs` (UDP may drop under attack) until `timeoutMs`; undefined without one.
 */
export async function udpRequest(
  port: number,
  build: (localPort: number) => { text: string; callId: string },
  options: { timeoutMs?: number; retryMs?: number } = {},
): Promise<string | undefined> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { text, callId } = build(socket.address().port);
  const data = Buffer.from(text, 'latin1');
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timeout = setTimeout(() => finish(undefined), options.timeoutMs ?? 4000);
      const retry = setInterval(() => socket.send(data, port, '127.0.0.1'), options.retryMs ?? 500);
      const finish = (reply: string | undefined) => {
        clearTimeout(timeout);
        clearInterval(retry);
        resolve(reply);
      };
      socket.on('message', (msg) => {
        const reply = msg.toString('latin1');
        if (reply.includes(`Call-ID: ${callId}`)) finish(reply);
      });
      socket.send(data, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** Sends OPTIONS over UDP and returns the reply's status (undefined when none came). */
export async function udpOptions(
  port: number,
  options: { timeoutMs?: number } = {},
): Promise<number | undefined> {
  const reply = await udpRequest(
    port,
    (localPort) => {
      const callId = uniqueId('udp');
      return { text: optionsRequest(port, { callId, localPort }), callId };
    },
    options,
  );
  return statusOf(reply);
}

/** A TCP client that records what it reads and when the server closed it. */
export class TcpClient {
  readonly socket: Socket;
  received = '';
  /** Resolves when the connection is closed (by either side), with the time it happened. */
  readonly closed: Promise<number>;
  /** True when the server ended or reset the connection (we did not). */
  closedByPeer = false;
  private ownClose = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
    });
    socket.on('error', () => {
      // ECONNRESET from a server closing with unread data: recorded through 'close'
    });
    socket.on('end', () => {
      if (!this.ownClose) this.closedByPeer = true;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (hadError) => {
        if (hadError && !this.ownClose) this.closedByPeer = true;
        resolve(Date.now());
      });
    });
  }

  /** Connects to 127.0.0.1:`port`; rejects after `timeoutMs`. */
  static open(port: number, timeoutMs = 5000): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('TCP connect timeout'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new TcpClient(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Waits until `test` holds for what was received, within `timeoutMs`. */
  async waitFor(test: (received: string) => boolean, timeoutMs = 3000): Promise<boolean> {
    return waitUntil(() => test(this.received), timeoutMs, 20);
  }

  /** True when the connection closed within `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  /** Half-closes (FIN) after what was written. */
  end(): void {
    this.ownClose = true;
    this.socket.end();
  }

  destroy(): void {
    this.ownClose = true;
    this.socket.destroy();
  }
}

/** Sends OPTIONS over a new TCP connection and returns the reply's status (undefined when none came). */
export async function tcpOptions(port: number, timeoutMs = 4000): Promise<number | undefined> {
  const client = await TcpClient.open(port, timeoutMs);
  try {
    client.write(optionsRequest(port, { transport: 'TCP', localPort: client.localPort }));
    await client.waitFor((r) => r.includes('\r\n\r\n'), timeoutMs);
    return statusOf(client.received);
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------
// Waiting and /proc

/** Polls `condition` every `intervalMs` until it holds (true) or `timeoutMs` passes (false). */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident set size of process `pid`, in MB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Open sockets of process `pid` (its /proc/<pid>/fd entries that are sockets). */
export function socketCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

/** The open-files limit of process `pid` (soft and hard; Infinity for unlimited). */
export function openFilesLimit(pid: number): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (m === null) throw new Error(`no open-files limit for ${pid}`);
  const n = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

/**
 * Makes sure process `pid` may open `needed` files, raising its soft limit up to the hard one with
 * `prlimit` when needed; returns why it cannot when it cannot.
 */
export async function ensureOpenFiles(pid: number, needed: number): Promise<string | undefined> {
  const { soft, hard } = openFilesLimit(pid);
  if (soft >= needed) return undefined;
  if (hard < needed) return `process ${pid} may open ${hard} files at most (hard limit); ${needed} needed`;
  const error = await new Promise<Error | null>((resolve) =>
    execFile(
      'prlimit',
      ['--pid', String(pid), `--nofile=${needed}:${hard === Number.POSITIVE_INFINITY ? 'unlimited' : hard}`],
      (e) => resolve(e),
    ),
  );
  if (error !== null) return `cannot raise the open-files limit of ${pid} with prlimit: ${error.message}`;
  const after = openFilesLimit(pid).soft;
  return after >= needed ? undefined : `open-files limit of ${pid} is still ${after}; ${needed} needed`;
}

/**
 * The kernel's view of the UDP socket bound to 127.0.0.1:`port` (/proc/net/udp): bytes waiting to be
 * read and datagrams dropped because the receive buffer was full. Undefined when no such socket.
 */
export function udpSocketState(port: number): { rxQueue: number; drops: number } | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== local) continue;
    const rxQueue = Number.parseInt(f[4]!.split(':')[1]!, 16);
    return { rxQueue, drops: Number(f[12]) };
  }
  return undefined;
}
