/**
 * Process, /proc and network helpers shared by the server benchmarks (bench/lib/proxy-bench.ts,
 * bench/register/run.ts): pinned launches, stopping only the processes started here, CPU time of a
 * process tree, UDP drops, free ports, waiting for a server to answer OPTIONS.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** ms per clock tick of /proc/<pid>/stat (USER_HZ; 100 on Linux everywhere that matters). */
export const TICK_MS =
  1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim() || 100);

export function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

export const PIN = cpus().length >= 2 && which('taskset');
export const SERVER_CPU = '1';
export const CLIENT_CPU = '0';

export function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------------ processes

const started = new Set<ChildProcess>();

/** Counts a child spawned elsewhere among the processes killed on abort, until it exits. */
export function track(child: ChildProcess): void {
  started.add(child);
  child.on('exit', () => started.delete(child));
}

/** Spawns `cmd args` (pinned to `cpu` with taskset when pinning); taskset execs, so the pid is cmd's. */
export function launch(
  cmd: string,
  args: string[],
  cpu: string,
  out: string,
  env?: NodeJS.ProcessEnv,
): ChildProcess {
  const [file, argv] = PIN ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
  const fd = openLog(out);
  const child = spawn(file, argv, { stdio: ['ignore', fd, fd], cwd: ROOT, env: env ?? process.env });
  closeSync(fd);
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

export function openLog(path: string): number {
  writeFileSync(path, '');
  return openSync(path, 'a');
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** SIGTERM, then SIGKILL after `graceMs`; only our own child (and, for Kamailio, its own children). */
export async function stopChild(child: ChildProcess, graceMs = 5000, alsoPids: number[] = []): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited(child);
    clearTimeout(timer);
  }
  for (const pid of alsoPids) {
    if (pid === child.pid) continue;
    try {
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** On abort: SIGKILL every process started here and their descendants (Kamailio's workers). */
export function killAll(): void {
  for (const c of started) {
    if (c.pid === undefined) continue;
    for (const pid of processTree(c.pid).reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(143);
});

// ------------------------------------------------------------------------------------------------ /proc

export interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

/** The pid and every descendant of it (Kamailio's workers and timers; olelo's esbuild service). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = procStat(pid);
    if (st === undefined) continue;
    const list = children.get(st.ppid);
    if (list === undefined) children.set(st.ppid, [pid]);
    else list.push(pid);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU ms used so far by these processes (utime+stime of all their threads). */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += procStat(pid)?.ticks ?? 0;
  return ticks * TICK_MS;
}

/** Datagrams dropped so far by the kernel on the UDP sockets bound to these local ports (/proc/net/udp). */
export function udpDrops(ports: number[]): number {
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = Number.parseInt(f[1]!.split(':')[1]!, 16);
    if (ports.includes(port)) drops += Number(f[12]);
  }
  return drops;
}

/** CPU ms of this process's children that have been waited for (cutime + cstime of /proc/self/stat). */
export function reapedChildrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'latin1');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
}

// ------------------------------------------------------------------------------------------------ network

export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Sends OPTIONS for the server itself until it answers 200 (both servers must: scripts/stateless.ts and
 * the Kamailio cfg answer it locally), or fails after `timeoutMs`.
 */
export async function waitForOptions200(
  port: number,
  timeoutMs: number,
  exitedEarly: () => boolean,
): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const local = s.address().port;
  let got = false;
  s.on('message', (m) => {
    if (m.toString('latin1').startsWith('SIP/2.0 200 ')) got = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (let n = 1; !got; n++) {
      if (Date.now() > deadline) throw new Error(`no 200 to OPTIONS on udp:127.0.0.1:${port}`);
      if (exitedEarly()) throw new Error('the server exited during start-up');
      const text =
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-bench-probe-${n};rport\r\n` +
        `From: <sip:probe@127.0.0.1:${local}>;tag=probe${n}\r\n` +
        `To: <sip:127.0.0.1:${port}>\r\n` +
        `Call-ID: bench-probe-${n}-${local}@127.0.0.1\r\n` +
        'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
      s.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
      await sleep(200);
    }
  } finally {
    s.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RunningServer {
  child: ChildProcess;
  port: number;
  /** performance.now() when the process was spawned. */
  spawnedAt: number;
  /** The server's pids (main + descendants), refreshed on demand. */
  pids(): number[];
  stop(): Promise<void>;
}

export async function startServer(
  cmd: string,
  args: string[],
  port: number,
  logFile: string,
  env?: NodeJS.ProcessEnv,
): Promise<RunningServer> {
  const spawnedAt = performance.now();
  const child = launch(cmd, args, SERVER_CPU, logFile, env);
  const early = () => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitForOptions200(port, 20_000, early);
  } catch (e) {
    await stopChild(child);
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`${(e as Error).message}\n--- ${logFile}:\n${tail}`);
  }
  const pid = child.pid!;
  let tree = processTree(pid);
  return {
    child,
    port,
    spawnedAt,
    pids() {
      tree = processTree(pid);
      return tree;
    },
    stop: () => stopChild(child, 8000, tree),
  };
}

/** The last line of SIPp's -trace_stat CSV, by column name: numbers, and durations (HH:MM:SS:µs) in ms. */
export function readSippCsv(path: string): Map<string, number> {
  const out = new Map<string, number>();
  let lines: string[];
  try {
    lines = readFileSync(path, 'latin1')
      .split('\n')
      .filter((l) => l.trim() !== '');
  } catch {
    return out;
  }
  if (lines.length < 2) return out;
  const names = lines[0]!.split(';');
  const values = lines[lines.length - 1]!.split(';');
  names.forEach((name, i) => {
    const text = values[i] ?? '';
    const d = /^(\d+):(\d\d):(\d\d):(\d{6})$/.exec(text);
    const v =
      d === null
        ? Number(text)
        : ((Number(d[1]) * 60 + Number(d[2])) * 60 + Number(d[3])) * 1000 + Number(d[4]) / 1000;
    if (name !== '' && text !== '' && Number.isFinite(v)) out.set(name, v);
  });
  return out;
}

/**
 * SIPp's socket buffers (its default is 64 KiB): with the default, SIPp's own sockets overflow in bursts
 * from 3,000 calls/s on (seen in /proc/net/udp drops), and calls fail for the client's sake.
 */
export const SIPP_SOCKET_BUFFER = 2 * 1024 * 1024;

/** One finished SIPp client run. */
export interface SippClientRun {
  exitCode: number | null;
  wallS: number;
  /** CPU ms of the SIPp process (from this process's reaped-children time). */
  cpuMs: number;
  /** The last line of its -trace_stat CSV (see {@link readSippCsv}). */
  stats: Map<string, number>;
}

/**
 * Runs a SIPp client pinned to the client CPU, with `args` (target, scenario, rate, count, keys…) plus what
 * every bench run needs: its own local port, no stdin, large socket buffers, `-timeout`, the statistics
 * CSV and the error log in `dir` (named after `tag`). Bounded from here too: SIPp's -timeout does not
 * always end a hung run.
 */
export async function runSippClient(
  args: readonly string[],
  dir: string,
  tag: string,
  timeoutS: number,
): Promise<SippClientRun> {
  const csv = join(dir, `uac-${tag}.csv`);
  const child = launch(
    'sipp',
    [
      ...args,
      '-i',
      '127.0.0.1',
      '-p',
      String(await freeUdpPort()),
      '-timeout',
      `${timeoutS}s`,
      '-nostdin',
      '-buff_size',
      String(SIPP_SOCKET_BUFFER),
      '-trace_stat',
      '-stf',
      csv,
      '-trace_err',
      '-error_file',
      join(dir, `uac-${tag}-errors.log`),
    ],
    CLIENT_CPU,
    join(dir, `uac-${tag}.out`),
  );
  const reaped0 = reapedChildrenCpuMs();
  const t0 = performance.now();
  const guard = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 15) * 1000);
  const exitCode = await exited(child);
  clearTimeout(guard);
  return {
    exitCode,
    wallS: (performance.now() - t0) / 1000,
    cpuMs: reapedChildrenCpuMs() - reaped0,
    stats: readSippCsv(csv),
  };
}
