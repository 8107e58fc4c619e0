/**
 * Test helper: a real baresip (Debian `baresip`, modules from `baresip-core`) run headless on loopback.
 *
 * Each instance gets its own temp config folder (`-f`): a `config` with `sip_listen 127.0.0.1:<free port>`,
 * `net_interface 127.0.0.1`, only the modules it needs (g711, aufile, uuid, account, menu, ctrl_tcp), an
 * `accounts` file with digest passwords and an outbound proxy, and an 8 kHz mono 16-bit WAV made here for
 * `audio_source aufile` (no sound card; baresip's own tone source only runs at 48 kHz). No audio player is
 * loaded. Its lifetime is bounded twice: `-t` (baresip quits by itself) and a SIGKILL timer a few seconds
 * later. While it runs it takes commands (`dial`, `hangup`, `quit`, `reginfo`...) over the ctrl_tcp module
 * (netstring-framed JSON on 127.0.0.1:<free port>); `-e` commands run at start.
 *
 * What happened is read from its output, which is complete from the first line (ctrl_tcp events are sent
 * only to a connected client and can be missed at start): registration results, `Call established`,
 * `Call with ... terminated`. Only the process started here is ever signalled, by its pid; its folder is
 * removed when it stops.
 *
 * baresip 1.0 (Debian 12) knows digest MD5 only and gives up ("Function not implemented") on a challenge
 * naming another algorithm first: a server it talks to must offer MD5 first (olelo: `algorithms: [MD5]`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { freePort } from './sipp.js';

/** One account (one line of baresip's `accounts` file). */
export interface BaresipAccount {
  /** Address of record, `sip:alice@example.com`. */
  aor: string;
  /** Digest password (`auth_pass`); the user name is the AOR's user unless `authUser` is set. */
  password: string;
  authUser?: string;
  /** The proxy every request goes to (`outbound`), `sip:127.0.0.1:5060`. */
  outbound: string;
  /** Transport of the account and of its outbound proxy. Default `udp`. */
  transport?: 'udp' | 'tcp';
  /** Registration interval in seconds (`regint`); 0 does not register. Default 300. */
  regint?: number;
  /** How incoming calls are answered (`answermode`). Default `manual`. */
  answerMode?: 'manual' | 'early' | 'auto';
}

/** Options of {@link Baresip.start}. */
export interface BaresipOptions {
  accounts: BaresipAccount[];
  /** baresip quits by itself after this many seconds (`-t`); it is killed 5 s later. Default 30. */
  lifetimeS?: number;
  /** Commands run at start (`-e`, each as typed into the menu: `/dial sip:bob@example.com`). */
  commands?: string[];
  /** Print every SIP message it sends and receives (`-s`), for debugging. */
  sipTrace?: boolean;
  /** How long to wait for `baresip is ready.` and the control connection. Default 10 s. */
  startTimeoutMs?: number;
}

/** How a registration ended, from baresip's output. */
export interface BaresipRegistration {
  ok: boolean;
  /** The account's AOR (as baresip prints it, without `sip:` on success lines). */
  account: string;
  /** Final status of the REGISTER, when one came (`401` after a refused password). */
  status: number | undefined;
  /** The output line. */
  line: string;
}

/** A message from the ctrl_tcp module: a response to a command, or an event. */
export interface BaresipControlMessage {
  response?: boolean;
  ok?: boolean;
  data?: string;
  token?: string;
  event?: boolean;
  type?: string;
  class?: string;
  accountaor?: string;
  peeruri?: string;
  param?: string;
}

/** The folder of baresip's modules: `$OLELO_BARESIP_MODULES`, the package's list, or next to the binary. */
export function baresipModuleDir(): string | undefined {
  const candidates: string[] = [];
  if (process.env.OLELO_BARESIP_MODULES) candidates.push(process.env.OLELO_BARESIP_MODULES);
  for (const pkg of ['baresip-core', 'baresip']) {
    const listed = spawnSync('dpkg', ['-L', pkg], { encoding: 'utf8', timeout: 5000 });
    if (listed.status !== 0 || typeof listed.stdout !== 'string') continue;
    for (const line of listed.stdout.split('\n'))
      if (line.endsWith('/modules/g711.so')) candidates.push(dirname(line));
  }
  const bin = baresipBinary();
  if (bin !== undefined) candidates.push(join(dirname(realpathSync(bin)), '..', 'lib', 'baresip', 'modules'));
  candidates.push('/usr/lib/baresip/modules', '/usr/local/lib/baresip/modules');
  return candidates.find((dir) => existsSync(join(dir, 'g711.so')));
}

/** The `baresip` executable on PATH. */
export function baresipBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, 'baresip');
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** Why baresip cannot run here (binary or modules missing), or undefined when it can. */
export function baresipMissing(): string | undefined {
  if (baresipBinary() === undefined) return 'baresip is not installed (apt-get install baresip)';
  const dir = baresipModuleDir();
  if (dir === undefined) return 'baresip modules not found (package baresip-core)';
  for (const m of MODULES) if (!existsSync(join(dir, m))) return `baresip module ${m} missing in ${dir}`;
  return undefined;
}

/** Whether a TCP listener can bind `port` on 127.0.0.1 right now. */
function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port for `sip_listen` (free for UDP and TCP) whose next port is free too: baresip 1.0 always adds a
 * SIP/TLS transport on the SIP port + 1 and fails to start when that one is taken — typically by the
 * local end of some TCP connection, whose ports Linux picks among the even ones, while `freePort` (a
 * bind to port 0) gets odd ones.
 */
async function freeSipPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await tcpPortFree(port + 1))) return port;
  }
  throw new Error('no port free with its next port for baresip');
}

const MODULES = ['g711.so', 'aufile.so', 'uuid.so', 'account.so', 'menu.so', 'ctrl_tcp.so'];

/** A WAV file: 8 kHz, mono, 16-bit PCM, a quiet 440 Hz tone of `seconds`. */
export function toneWav(seconds: number): Buffer {
  const rate = 8000;
  const samples = Math.ceil(seconds * rate);
  const wav = Buffer.alloc(44 + samples * 2);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + samples * 2, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++)
    wav.writeInt16LE(Math.round(4000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return wav;
}

/** The `accounts` line of one account. */
function accountLine(a: BaresipAccount): string {
  const transport = a.transport ?? 'udp';
  const uri = transport === 'udp' ? a.aor : `${a.aor};transport=${transport}`;
  const outbound = transport === 'udp' ? a.outbound : `${a.outbound};transport=${transport}`;
  const params = [
    `auth_pass=${a.password}`,
    ...(a.authUser === undefined ? [] : [`auth_user=${a.authUser}`]),
    `outbound="${outbound}"`,
    `regint=${a.regint ?? 300}`,
    'audio_codecs=PCMU',
    `answermode=${a.answerMode ?? 'manual'}`,
  ];
  return `<${uri}>;${params.join(';')}`;
}

function configText(sipPort: number, controlPort: number, moduleDir: string, wav: string): string {
  return [
    'poll_method epoll',
    `sip_listen 127.0.0.1:${sipPort}`,
    'net_interface 127.0.0.1',
    'call_local_timeout 30',
    'call_max_calls 4',
    `audio_source aufile,${wav}`,
    'audio_level no',
    'rtcp_mux no',
    'jitter_buffer_delay 1-4',
    `module_path ${moduleDir}`,
    'module g711.so',
    'module aufile.so',
    'module_tmp uuid.so',
    'module_tmp account.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    `ctrl_tcp_listen 127.0.0.1:${controlPort}`,
    '',
  ].join('\n');
}

// ANSI colour sequences baresip puts around errors
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character is the point
const ANSI = /\x1b\[[0-9;]*m/g;

/** Instances still running, killed with their folders removed if the test process exits first. */
const live = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

type Waiter = { from: number; test: (line: string) => boolean; done: (line: string) => void };

/** A running baresip. */
export class Baresip {
  readonly child: ChildProcess;
  /** Its process id (-1 when it could not be spawned: see {@link exited}). */
  readonly pid: number;
  /** Its config folder (removed by {@link stop}). */
  readonly dir: string;
  /** The SIP port on 127.0.0.1 (UDP and TCP). */
  readonly sipPort: number;
  /** The ctrl_tcp port on 127.0.0.1. */
  readonly controlPort: number;
  /** Output lines (stdout and stderr), colour codes removed. */
  readonly lines: string[] = [];
  /** ctrl_tcp events received while connected. */
  readonly events: BaresipControlMessage[] = [];
  /** Resolves with the exit code (or signal name) when the process has exited. */
  readonly exited: Promise<number | string>;
  private exitStatus: number | string | undefined;
  private partial = '';
  private waiters: Waiter[] = [];
  private eventWaiters: Array<{ type: string; done: (event: BaresipControlMessage) => void }> = [];
  private control: Socket | undefined;
  private controlBuffer = Buffer.alloc(0);
  private pending = new Map<string, (m: BaresipControlMessage) => void>();
  private tokens = 0;
  private readonly killTimer: NodeJS.Timeout;

  private constructor(dir: string, sipPort: number, controlPort: number, args: string[], lifetimeS: number) {
    this.dir = dir;
    this.sipPort = sipPort;
    this.controlPort = controlPort;
    this.child = spawn(baresipBinary() ?? 'baresip', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid ?? -1;
    live.set(this.child, dir);
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      stream.setEncoding('latin1');
      stream.on('data', (chunk: string) => this.onOutput(chunk));
    }
    this.killTimer = setTimeout(() => this.child.kill('SIGKILL'), (lifetimeS + 5) * 1000);
    this.exited = new Promise((resolve) => {
      const done = (status: number | string) => {
        if (this.exitStatus !== undefined) return;
        clearTimeout(this.killTimer);
        live.delete(this.child);
        this.exitStatus = status;
        resolve(status);
      };
      this.child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown'));
      this.child.once('error', (error) => {
        this.lines.push(`spawn failed: ${error.message}`);
        done('spawn-error');
      });
    });
  }

  /**
   * Writes the config folder and starts baresip; resolves once it printed `baresip is ready.` and the
   * control connection is open. A SIP or control port taken in between makes it retry with others.
   */
  static async start(options: BaresipOptions): Promise<Baresip> {
    const missing = baresipMissing();
    if (missing !== undefined) throw new Error(missing);
    const moduleDir = baresipModuleDir()!;
    const lifetimeS = options.lifetimeS ?? 30;
    const dir = mkdtempSync(join(tmpdir(), 'olelo-baresip-'));
    const wav = join(dir, 'tone.wav');
    // aufile ends the call when the file ends: make it outlast the process
    writeFileSync(wav, toneWav(lifetimeS + 5));
    writeFileSync(join(dir, 'accounts'), `${options.accounts.map(accountLine).join('\n')}\n`);
    writeFileSync(join(dir, 'contacts'), '');
    let lastError: unknown;
    const attempts: string[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const sipPort = await freeSipPort();
      let controlPort = await freePort();
      while (controlPort === sipPort || controlPort === sipPort + 1) controlPort = await freePort();
      writeFileSync(join(dir, 'config'), configText(sipPort, controlPort, moduleDir, wav));
      const args = ['-f', dir, '-t', String(lifetimeS)];
      if (options.sipTrace === true) args.push('-s');
      for (const command of options.commands ?? []) args.push('-e', command);
      const b = new Baresip(dir, sipPort, controlPort, args, lifetimeS);
      try {
        await b.waitForLine(/^baresip is ready\./, options.startTimeoutMs ?? 10_000);
        if (b.lines.some((l) => /Address already in use/.test(l))) throw new Error('port taken');
        await b.connectControl(options.startTimeoutMs ?? 10_000);
        return b;
      } catch (error) {
        lastError = error;
        const inUse = b.lines.find((l) => /Address already in use/.test(l));
        attempts.push(`sip_listen ${sipPort}, ctrl ${controlPort}: ${inUse ?? 'other error'}`);
        if (b.exitStatus === undefined) b.child.kill('SIGKILL');
        await b.finish(false); // the folder is reused by the next attempt
        if (inUse === undefined) break;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    if (lastError instanceof Error) lastError.message += `\n(start attempts: ${attempts.join('; ')})`;
    throw lastError;
  }

  private onOutput(chunk: string): void {
    const text = this.partial + chunk.replace(ANSI, '');
    // the call statistics line is redrawn with \r
    const parts = text.split(/\r\n|\r|\n/);
    this.partial = parts.pop()!;
    for (const line of parts) {
      if (line === '') continue;
      this.lines.push(line);
      const index = this.lines.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (index < w.from || !w.test(line)) return true;
        w.done(line);
        return false;
      });
    }
  }

  /** Everything it printed, for assertion messages. */
  get output(): string {
    return [...this.lines, this.partial].join('\n');
  }

  /**
   * The first output line from index `from` on that matches, within `timeoutMs`; rejects with the output
   * on timeout or when baresip exits first.
   */
  waitForLine(test: RegExp | ((line: string) => boolean), timeoutMs = 5000, from = 0): Promise<string> {
    const match = typeof test === 'function' ? test : (line: string) => test.test(line);
    for (let i = from; i < this.lines.length; i++)
      if (match(this.lines[i]!)) return Promise.resolve(this.lines[i]!);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        if (!this.waiters.some((w) => w.done === done)) return;
        this.waiters = this.waiters.filter((w) => w.done !== done);
        clearTimeout(timer);
        reject(
          new Error(`baresip: ${why} waiting for ${String(test)}; output:\n${this.output.slice(-4000)}`),
        );
      };
      const timer = setTimeout(() => fail(`timeout (${timeoutMs} ms)`), timeoutMs);
      const done = (line: string) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.waiters.push({ from, test: match, done });
      void this.exited.then((status) => setTimeout(() => fail(`exited (${status})`), 50));
    });
  }

  /**
   * The next registration result from output line `from` on: `<aor>: {0/UDP/v4} 200 OK () [1 binding]`
   * on success; `reg: <aor>: 401 Unauthorized ()` or `reg: <aor>: Register: <error>` on failure.
   */
  async registration(timeoutMs = 5000, from = 0): Promise<BaresipRegistration> {
    const success = /^(\S+): \{[^}]*\} (2\d\d) /;
    const failure = /^reg: (\S+): (?:(\d{3}) |Register: )/;
    const line = await this.waitForLine((l) => success.test(l) || failure.test(l), timeoutMs, from);
    const ok = success.exec(line);
    if (ok !== null) return { ok: true, account: ok[1]!, status: Number(ok[2]), line };
    const bad = failure.exec(line)!;
    return { ok: false, account: bad[1]!, status: bad[2] === undefined ? undefined : Number(bad[2]), line };
  }

  /** Waits for a successful registration; rejects with the output when it failed. */
  async registered(timeoutMs = 5000, from = 0): Promise<BaresipRegistration> {
    const r = await this.registration(timeoutMs, from);
    if (!r.ok)
      throw new Error(`baresip registration failed: ${r.line}; output:\n${this.output.slice(-4000)}`);
    return r;
  }

  /**
   * The first ctrl_tcp event of `type` (`CALL_ESTABLISHED`, `CALL_CLOSED`, `REGISTER_OK`, ...) from index
   * `from` of {@link events} on, within `timeoutMs`. Events come only once the control connection is open
   * ({@link start} resolves then): one caused by a `-e` command may come before and be missed.
   */
  waitForEvent(type: string, timeoutMs = 5000, from = 0): Promise<BaresipControlMessage> {
    for (let i = from; i < this.events.length; i++)
      if (this.events[i]!.type === type) return Promise.resolve(this.events[i]!);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        if (!this.eventWaiters.some((w) => w.done === done)) return;
        this.eventWaiters = this.eventWaiters.filter((w) => w.done !== done);
        clearTimeout(timer);
        reject(new Error(`baresip: ${why} waiting for event ${type}; output:\n${this.output.slice(-4000)}`));
      };
      const timer = setTimeout(() => fail(`timeout (${timeoutMs} ms)`), timeoutMs);
      const done = (event: BaresipControlMessage) => {
        clearTimeout(timer);
        resolve(event);
      };
      this.eventWaiters.push({ type, done });
      void this.exited.then((status) => setTimeout(() => fail(`exited (${status})`), 50));
    });
  }

  /**
   * Marks where the next {@link callEstablished} / {@link callClosed} start looking: take it before the
   * action (dial, hangup) whose outcome is awaited.
   */
  mark(): { line: number; event: number } {
    return { line: this.lines.length, event: this.events.length };
  }

  /**
   * Resolves when a call is up: baresip printed `Call established: <peer>` or sent CALL_ESTABLISHED
   * (from `from` on); resolves with the peer URI.
   */
  async callEstablished(timeoutMs = 5000, from = { line: 0, event: 0 }): Promise<string> {
    return this.firstOf(/Call established: (\S+)/, 'CALL_ESTABLISHED', timeoutMs, from);
  }

  /**
   * Resolves when a call has ended: baresip printed `Call with <peer> terminated` (a remote BYE, a failed
   * call) or sent CALL_CLOSED (also a local hangup, which prints nothing); resolves with the reason when
   * the event says it (`Connection reset by user` for a local hangup), else the output line.
   */
  async callClosed(timeoutMs = 5000, from = { line: 0, event: 0 }): Promise<string> {
    return this.firstOf(/Call with \S+ terminated.*/, 'CALL_CLOSED', timeoutMs, from);
  }

  private firstOf(
    line: RegExp,
    event: string,
    timeoutMs: number,
    from: { line: number; event: number },
  ): Promise<string> {
    const fromLine = (l: string) => line.exec(l)?.[1] ?? l;
    for (let i = from.line; i < this.lines.length; i++)
      if (line.test(this.lines[i]!)) return Promise.resolve(fromLine(this.lines[i]!));
    for (let i = from.event; i < this.events.length; i++)
      if (this.events[i]!.type === event) return Promise.resolve(this.events[i]!.param ?? event);
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (value: string | undefined, why?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w.done !== onLine);
        this.eventWaiters = this.eventWaiters.filter((w) => w.done !== onEvent);
        if (why === undefined) resolve(value!);
        else
          reject(
            new Error(
              `baresip: ${why} waiting for ${line} or event ${event}; output:\n${this.output.slice(-4000)}`,
            ),
          );
      };
      const onLine = (l: string) => finish(fromLine(l));
      const onEvent = (e: BaresipControlMessage) => finish(e.param ?? event);
      this.waiters.push({ from: from.line, test: (l) => line.test(l), done: onLine });
      this.eventWaiters.push({ type: event, done: onEvent });
      const timer = setTimeout(() => finish(undefined, `timeout (${timeoutMs} ms)`), timeoutMs);
      void this.exited.then((status) => setTimeout(() => finish(undefined, `exited (${status})`), 50));
    });
  }

  private connectControl(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const attempt = () => {
        const socket = netConnect({ host: '127.0.0.1', port: this.controlPort });
        socket.once('connect', () => {
          socket.removeAllListeners('error');
          socket.on('error', () => {});
          socket.on('data', (data: Buffer) => this.onControlData(data));
          this.control = socket;
          resolve();
        });
        socket.once('error', (error) => {
          socket.destroy();
          if (Date.now() > deadline || this.exitStatus !== undefined) reject(error);
          else setTimeout(attempt, 50);
        });
      };
      attempt();
    });
  }

  // netstring framing: "<length>:<json>,"
  private onControlData(data: Buffer): void {
    this.controlBuffer = Buffer.concat([this.controlBuffer, data]);
    for (;;) {
      const colon = this.controlBuffer.indexOf(0x3a);
      if (colon === -1) return;
      const length = Number(this.controlBuffer.subarray(0, colon).toString('latin1'));
      if (this.controlBuffer.length < colon + 1 + length + 1) return;
      const json = this.controlBuffer.subarray(colon + 1, colon + 1 + length).toString('utf8');
      this.controlBuffer = this.controlBuffer.subarray(colon + 1 + length + 1);
      let message: BaresipControlMessage;
      try {
        message = JSON.parse(json) as BaresipControlMessage;
      } catch {
        continue;
      }
      if (message.event === true) {
        this.events.push(message);
        this.eventWaiters = this.eventWaiters.filter((w) => {
          if (w.type !== message.type) return true;
          w.done(message);
          return false;
        });
      } else if (message.response === true && message.token !== undefined) {
        this.pending.get(message.token)?.(message);
        this.pending.delete(message.token);
      }
    }
  }

  /**
   * Runs a command through ctrl_tcp (`dial`, `hangup`, `quit`, `reginfo`, ... with `params`) and resolves
   * its response; rejects after `timeoutMs` or when baresip is not running.
   */
  command(command: string, params?: string, timeoutMs = 5000): Promise<BaresipControlMessage> {
    const socket = this.control;
    if (socket === undefined || socket.destroyed || this.exitStatus !== undefined)
      return Promise.reject(new Error(`baresip: no control connection for ${command}`));
    const token = `t${++this.tokens}`;
    const body = Buffer.from(JSON.stringify({ command, ...(params === undefined ? {} : { params }), token }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip: no response to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
    });
  }

  /** Calls `uri`; resolves once baresip accepted the command (not when the call is up). */
  async dial(uri: string): Promise<void> {
    const r = await this.command('dial', uri);
    if (r.ok !== true) throw new Error(`baresip: dial ${uri} refused: ${r.data}`);
  }

  /** Hangs up the current call. */
  async hangup(): Promise<void> {
    await this.command('hangup');
  }

  /** Answers the current incoming call. */
  async answer(): Promise<void> {
    await this.command('accept');
  }

  /**
   * Quits (the `quit` command, which unregisters), then SIGTERM after `timeoutMs`, SIGKILL after twice
   * that; removes its folder. Resolves with how it exited.
   */
  async stop(timeoutMs = 3000): Promise<number | string> {
    if (this.exitStatus === undefined) await this.command('quit', undefined, 1000).catch(() => {});
    if ((await this.waitExit(timeoutMs)) === undefined) {
      this.child.kill('SIGTERM');
      if ((await this.waitExit(timeoutMs)) === undefined) this.child.kill('SIGKILL');
    }
    return this.finish();
  }

  /** SIGKILL and cleanup. */
  async kill(): Promise<number | string> {
    if (this.exitStatus === undefined) this.child.kill('SIGKILL');
    return this.finish();
  }

  private async finish(removeDir = true): Promise<number | string> {
    const status = await this.exited;
    this.control?.destroy();
    for (const resolve of this.pending.values()) resolve({ response: true, ok: false, data: 'exited' });
    this.pending.clear();
    if (removeDir) rmSync(this.dir, { recursive: true, force: true });
    return status;
  }

  private async waitExit(timeoutMs: number): Promise<number | string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.exited,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }
}
