/**
 * Test helpers for driving real SIPp processes against an in-process olelo server: free ports, bounded
 * SIPp runs with their trace files in a temporary folder, readiness of a SIPp UAS, result parsing, and
 * TCP↔TLS relays (the Debian SIPp is built without OpenSSL, so TLS legs are carried through a relay).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  createServer as createTcpServer,
  type Server as NetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { ROOT } from './server.js';

/** Folder of the SIPp scenarios. */
export const SCENARIOS = `${ROOT}test/sipp/`;

/** Whether a `sipp` binary runs here. */
export function hasSipp(): boolean {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8', timeout: 5000 });
  return r.error === undefined && /SIPp v/.test(`${r.stdout}${r.stderr}`);
}

/** Whether the host can bind ::1. */
export async function hasIpv6Loopback(): Promise<boolean> {
  const s = createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::1', () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    try {
      s.close();
    } catch {
      // not bound
    }
  }
}

/** A temporary folder for trace files; `remove()` deletes it. */
export function tempDir(prefix = 'olelo-sipp-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A port that is free for both UDP and TCP on `address` right now (bound to 0 by the OS, then released).
 * Another process may still take it before SIPp binds it: callers retry on collision.
 */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = createTcpServer();
    const port = await new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, address, () => resolve((tcp.address() as { port: number }).port));
    });
    const udp = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, address, () => resolve(true));
    });
    if (ok) udp.close();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error('no port free for both UDP and TCP');
}

/** Whether some socket is bound to `port` (UDP) or listening on it (TCP), from /proc/net. */
export function portInUse(protocol: 'udp' | 'tcp', port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of [`/proc/net/${protocol}`, `/proc/net/${protocol}6`]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || !cols[1]!.endsWith(hex)) continue;
      if (protocol === 'udp' || cols[3] === '0A') return true;
    }
  }
  return false;
}

/** The outcome of one SIPp run. */
export interface SippResult {
  /** Exit code (0: every call succeeded; 1: some failed; 97/99/255: see `sipp -h`), null when killed. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the outer kill timer had to end the process. */
  killed: boolean;
  /** Cumulative "Successful call" of the final statistics screen, or undefined when none was written. */
  successful: number | undefined;
  /** Cumulative "Failed call" of the final statistics screen. */
  failed: number | undefined;
  /** The final screens (`-trace_screen`). */
  screen: string;
  /** Every message sent and received (`-trace_msg`). */
  messages: string;
  /** Unexpected messages and scenario errors (`-trace_err`). */
  errors: string;
  stderr: string;
  /** For failure messages: code, counts, stderr and the start of the error log. */
  summary: string;
}

/** A running SIPp process. */
export interface SippProcess {
  readonly pid: number | undefined;
  readonly port: number;
  /** Resolves when the process has exited, with what it left behind. */
  readonly done: Promise<SippResult>;
  /** Ends the process (SIGKILL). */
  kill(): void;
}

const running = new Set<ChildProcess>();

/** Kills every SIPp process started by these helpers that is still running (by its PID). */
export function killAllSipp(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function tail(text: string, max: number): string {
  return text.length > max ? text.slice(-max) : text;
}

function counter(screen: string, name: string): number | undefined {
  const re = new RegExp(`${name}\\s*\\|[^|\\n]*\\|\\s*(\\d+)`, 'g');
  let last: number | undefined;
  for (const m of screen.matchAll(re)) last = Number(m[1]);
  return last;
}

function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'latin1') : '';
}

/** Options of {@link spawnSipp}. */
export interface SippOptions {
  /** Scenario file name in test/sipp, or an absolute path. */
  scenario: string;
  /** The remote host argument (`127.0.0.1:5060`, `[::1]:5060`); omitted for a UAS. */
  remote?: string;
  /** Local address (`-i`), also bound (`-bind_local`). */
  local: string;
  /** Local port (`-p`). */
  port: number;
  /** `-t` transport mode. */
  transport?: 'u1' | 't1';
  /** Calls before exiting (`-m`). */
  calls: number;
  /** Other arguments (`-key`, `-rsa`, `-r`...). */
  args?: string[];
  /** Folder for the trace files (removed by the caller). */
  dir: string;
  /** Name for the trace files in `dir`. */
  name: string;
  /** SIPp's own bound (`-timeout`, with `-timeout_error`), seconds. */
  timeoutS?: number;
  /** Outer bound: SIGKILL after this many ms. */
  killAfterMs?: number;
  /**
   * Passes `-mp` with a random base port in 10000-31999 (below the OS ephemeral range), new at every
   * attempt. SIPp binds its RTP echo sockets at start, from 6000 by default, and exits (254) when it finds
   * none free: many SIPp processes at once (a concurrent test file, a benchmark) exhaust that range.
   */
  randomMediaPort?: boolean;
}

/** Starts SIPp with bounded run time and every trace file in `options.dir`. */
export function spawnSipp(options: SippOptions): SippProcess {
  const file = (kind: string) => join(options.dir, `${options.name}.${kind}`);
  const scenario = options.scenario.startsWith('/') ? options.scenario : `${SCENARIOS}${options.scenario}`;
  const args = [
    '-sf',
    scenario,
    '-i',
    options.local,
    '-bind_local',
    '-p',
    String(options.port),
    '-t',
    options.transport ?? 'u1',
    '-m',
    String(options.calls),
    '-timeout',
    `${options.timeoutS ?? 20}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_screen',
    '-screen_file',
    file('screen'),
    '-screen_overwrite',
    'true',
    '-trace_msg',
    '-message_file',
    file('messages'),
    '-trace_err',
    '-error_file',
    file('errors'),
    '-trace_stat',
    '-stf',
    file('stat.csv'),
    ...(options.randomMediaPort === true
      ? ['-mp', String(10_000 + 4 * Math.floor(Math.random() * 5500))]
      : []),
    ...(options.args ?? []),
    ...(options.remote === undefined ? [] : [options.remote]),
  ];
  const child = spawn('sipp', args, { cwd: options.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('latin1');
  child.stderr?.on('data', (chunk: string) => {
    stderr = tail(stderr + chunk, 20_000);
  });
  let killed = false;
  const timer = setTimeout(
    () => {
      killed = true;
      child.kill('SIGKILL');
    },
    options.killAfterMs ?? ((options.timeoutS ?? 20) + 5) * 1000,
  );
  const done = new Promise<SippResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      running.delete(child);
      const screen = readIfExists(file('screen'));
      const errors = readIfExists(file('errors'));
      const successful = counter(screen, 'Successful call');
      const failed = counter(screen, 'Failed call');
      resolve({
        code,
        signal,
        killed,
        successful,
        failed,
        screen,
        messages: readIfExists(file('messages')),
        errors,
        stderr,
        summary:
          `sipp ${options.name}: exit ${code ?? signal}${killed ? ' (killed by the outer timer)' : ''}, ` +
          `successful ${successful}, failed ${failed}\nstderr: ${tail(stderr, 2000)}\nerrors: ${errors.slice(0, 3000)}`,
      });
    };
    child.once('exit', finish);
    child.once('error', (e) => {
      stderr += `\nspawn failed: ${e.message}`;
      finish(null, null);
    });
  });
  return {
    pid: child.pid,
    port: options.port,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** SIPp exits with "Unable to bind main socket, errno = 98 (Address already in use)" on a taken port. */
function isBindFailure(r: SippResult): boolean {
  return r.code !== 0 && /unable to bind|address already in use/i.test(r.stderr);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a SIPp UAS on a free port and waits until its socket is bound (listening for TCP). When the
 * port was taken in between (SIPp exits on the bind), retries with another port.
 */
export async function startSippUas(options: Omit<SippOptions, 'port' | 'remote'>): Promise<SippProcess> {
  const protocol = options.transport === 't1' ? 'tcp' : 'udp';
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(options.local);
    const uas = spawnSipp({ ...options, port, name: `${options.name}-${attempt}` });
    let exited = false;
    void uas.done.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 5000;
    while (!exited && !portInUse(protocol, port) && Date.now() < deadline) await sleep(20);
    if (!exited && portInUse(protocol, port)) {
      // the port may have been taken by another process: SIPp would then exit at once
      await sleep(50);
      if (!exited) return uas;
    }
    uas.kill();
    const r = await uas.done;
    lastError = r.summary;
    if (!isBindFailure(r)) break;
  }
  throw new Error(`SIPp UAS did not start: ${lastError}`);
}

/** Runs a SIPp UAC to completion on a free local port; retries on a bind collision. */
export async function runSippUac(options: Omit<SippOptions, 'port'>): Promise<SippResult> {
  let result: SippResult | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(options.local);
    result = await spawnSipp({ ...options, port, name: `${options.name}-${attempt}` }).done;
    if (!isBindFailure(result)) return result;
  }
  return result!;
}

/** The SIP messages of a `-trace_msg` log that SIPp received, as text. */
export function receivedMessages(log: string): string[] {
  const out: string[] = [];
  // each entry: "----------------------------------------------- <date>\nUDP message received [n] bytes :\n\n<msg>"
  const parts = log.split(/^-{20,}.*$/m);
  for (const part of parts) {
    const m = /^\s*\S+ message received \[\d+\] bytes :\s*\n\n?([\s\S]*)$/.exec(part);
    if (m !== null) out.push(m[1]!.trim());
  }
  return out;
}

/** Header values of `name` (case-insensitive, comma-separated values split) in a message's header section. */
export function headerValues(message: string, name: string): string[] {
  const head = message.split(/\r?\n\r?\n/, 1)[0]!;
  const out: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name.toLowerCase()) {
      for (const v of line.slice(colon + 1).split(/,(?=\s*<)/)) out.push(v.trim());
    }
  }
  return out;
}

/** A byte relay between a local listening socket and a target, one outgoing connection per incoming one. */
export interface Relay {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * Starts a relay on 127.0.0.1:0 that accepts `from` (plain TCP, or TLS with `cert`/`key`) and opens `to`
 * (plain TCP, or TLS verified against `ca`) to `target`, piping bytes both ways: a stand-in for stunnel.
 * `target` is read at each new connection, so its port may be filled in after the relay started.
 */
export async function startRelay(options: {
  from: 'tcp' | 'tls';
  to: 'tcp' | 'tls';
  target: { host: string; port: number };
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
}): Promise<Relay> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const onConnection = (inbound: Socket | TLSSocket) => {
    accepted++;
    const outbound =
      options.to === 'tls'
        ? tlsConnect({
            host: options.target.host,
            port: options.target.port,
            ...(options.ca === undefined ? {} : { ca: options.ca }),
          })
        : netConnect({ host: options.target.host, port: options.target.port });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  };
  const server: NetServer =
    options.from === 'tls'
      ? createTlsServer({ cert: options.cert!, key: options.key! }, onConnection)
      : createTcpServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A self-signed certificate for 127.0.0.1/localhost, written into `dir`. */
export { writeCertificate as makeCertificate } from './tls.js';
