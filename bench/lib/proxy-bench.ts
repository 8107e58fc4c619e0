/**
 * Proxy benchmark against Kamailio, stateless or transaction-stateful: SIPp UAC → server → SIPp UAS over
 * UDP on loopback, the server being
 *
 *   - olelo with a route script, run as `node bin/olelo.js --config <tmp yaml>`, log level warn:
 *     stateless mode: scripts/stateless.ts (maxfwd, sanity, loose_route, record_route, stateless forward);
 *     stateful mode: bench/proxy/olelo.ts (the same steps, CANCEL/retransmission handling, t.relay());
 *   - Kamailio with bench/<mode dir>/kamailio.cfg (bench/stateless/ or bench/proxy/: the same steps as the
 *     olelo script, with sl/maxfwd/sanity/rr and forward() or tm's t_relay()),
 *     run as `kamailio -f … -x tlsf -m 1024 -DD -E -n 1` (one UDP worker, like single-threaded olelo)
 *     and, as a second, labelled row, `-n 8` (Kamailio's built-in default number of UDP workers).
 *
 * Entry points: bench/stateless/run.ts and bench/proxy/run.ts, which pick the mode (`--mode`).
 *
 * For each server, in one run: a warm-up, then SIPp calls (INVITE, 180, 200, ACK, 50 ms pause, BYE, 200:
 * six messages relayed per call) at rising rates, RATE calls/s for DURATION seconds each
 * (`-r RATE -m RATE*DURATION`), until a rate fails calls twice or SIPp cannot send at the rate asked.
 * Per rate: the server's CPU time (utime+stime of its whole process tree, from /proc/<pid>/stat, before
 * and after the SIPp run) per successful call, SIPp's failed calls, retransmissions and call length (its
 * -trace_stat CSV), and SIPp's own CPU use. Servers are pinned to CPU 1, both SIPp processes to CPU 0.
 * See bench/README.md and docs/performance.md.
 *
 * Usage: node dist/bench/{stateless,proxy}/run.js [--quick] [--json] [--rates 500,1000,…] [--duration S]
 *        [--fixed-rate 1000] [--calls N] [--servers olelo,kamailio,kamailio-default] [--profile DIR [--perf]]
 *        [--keep]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CLIENT_CPU,
  cpuMs,
  exited,
  freeUdpPort,
  killAll,
  launch,
  log,
  PIN,
  ROOT,
  type RunningServer,
  runSippClient,
  SERVER_CPU,
  SIPP_SOCKET_BUFFER,
  sleep,
  startServer,
  stopChild,
  track,
  udpDrops,
  which,
} from './procs.js';

// ------------------------------------------------------------------------------------------------ options

/** What is compared; the entry scripts (bench/stateless/run.ts, bench/proxy/run.ts) put `--mode` first. */
const MODES = {
  stateless: {
    dir: 'stateless',
    script: 'scripts/stateless.ts',
    title: 'Stateless proxy',
    calls: undefined,
    uas: 1,
  },
  stateful: {
    dir: 'proxy',
    script: 'bench/proxy/olelo.ts',
    title: 'Stateful proxy (record-route, t_relay)',
    calls: 20_000,
    uas: 1,
  },
  dispatcher: {
    dir: 'dispatcher',
    script: 'bench/dispatcher/olelo.ts',
    title: 'Dispatcher (round-robin over three UAS, stateful)',
    calls: 20_000,
    uas: 3,
  },
} as const;
const MODE_ARG = process.argv[2] === '--mode' ? process.argv[3] : undefined;
if (MODE_ARG !== 'stateless' && MODE_ARG !== 'stateful' && MODE_ARG !== 'dispatcher') {
  console.error(
    'run bench/{stateless,proxy,dispatcher}/run.js (internal: --mode stateless|stateful|dispatcher first)',
  );
  process.exit(2);
}
const MODE = MODES[MODE_ARG];
const BENCH_DIR = join(ROOT, 'bench', MODE.dir);
const UAC_XML = join(ROOT, 'test', 'sipp', 'uac.xml');
const UAS_XML = join(ROOT, 'bench', 'stateless', 'uas.xml');
const KAMAILIO_CFG = join(BENCH_DIR, 'kamailio.cfg');
/** Kamailio's built-in number of UDP workers per socket (`children` when the cfg does not set it). */
const KAMAILIO_DEFAULT_CHILDREN = 8;

const HELP = `usage: node dist/bench/${MODE.dir}/run.js [options]
  --quick             smoke run: rates 500 and 1000 for 3 s each, olelo and kamailio -n 1 only
  --json              print one JSON object instead of the tables
  --rates LIST        call rates to step through (calls/s), default 500,1000,2000,3000,4000,5000,6000,
                      8000,10000,12000,14000,16000,20000
  --duration S        seconds of calls per rate (default 10; 3 with --quick)
  --calls N           calls per rate instead of a duration (the stateful bench's default: 20000, as
                      issue 4 asks: the highest rate with zero failures over 20,000 calls; 3 s with --quick)
  --fixed-rate R      the rate whose CPU ms per call is compared (default 1000; reported if in --rates)
  --servers LIST      olelo, kamailio (-n 1), kamailio-default (-n ${KAMAILIO_DEFAULT_CHILDREN}); default all three
  --olelo-script F    olelo's route script (default ${MODE.script}, the one bench/${MODE.dir}/kamailio.cfg
                      matches; another script is for observation only)
  --profile DIR       only olelo, only the fixed rate, under node --cpu-prof (profile written to DIR);
                      prints the top self-time functions
  --perf              with --profile: Linux perf (on-CPU samples, kernel included) instead of --cpu-prof;
                      node runs with --perf-basic-prof, perf record samples olelo during the rate
  --olelo-base DIR    another olelo checkout (built), run as server 'olelo-base' with its own copy of the
                      route script: list it in --servers (olelo,olelo-base,kamailio) to A/B a change in one run
  --olelo-wt-timer T  olelo's tm.wtTimer, how long finished transactions stay (default 5s, Kamailio's
                      wt_timer in its bench config); 'rfc' leaves it unset (64*T1 = 32 s, RFC 3261/6026)
  --node-args ARGS    extra arguments for olelo's node, space-separated (--node-args="--single-threaded-gc"),
                      for trying V8 and Node options
  --keep              keep the temporary folder (SIPp CSVs and error logs, server logs)`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    rates: { type: 'string' },
    mode: { type: 'string' },
    duration: { type: 'string' },
    calls: { type: 'string' },
    'fixed-rate': { type: 'string' },
    servers: { type: 'string' },
    'olelo-script': { type: 'string' },
    profile: { type: 'string' },
    perf: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'node-args': { type: 'string' },
    'olelo-wt-timer': { type: 'string', default: '5s' },
    'olelo-base': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
  allowPositionals: false,
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const QUICK = opts.quick;
const PROFILE_DIR = opts.profile;
const OLELO_SCRIPT = resolve(opts['olelo-script'] ?? join(ROOT, MODE.script));
const PERF = opts.perf && PROFILE_DIR !== undefined;
/** olelo's tm.wtTimer: Kamailio's wt_timer (5 s) by default, so both keep finished transactions as long. */
const WT_TIMER = opts['olelo-wt-timer'] === 'rfc' ? undefined : opts['olelo-wt-timer'];
const FIXED_RATE = Number(opts['fixed-rate'] ?? 1000);
const DURATION_S = Number(opts.duration ?? (QUICK ? 3 : 10));
/** Calls per rate when fixed by count (then a rate lasts CALLS/rate seconds), else undefined. */
const CALLS =
  opts.calls !== undefined
    ? Number(opts.calls)
    : opts.duration !== undefined || QUICK || opts.profile !== undefined
      ? undefined
      : MODE.calls;
const RATES = PROFILE_DIR
  ? [FIXED_RATE]
  : (opts.rates?.split(',').map(Number) ??
    (QUICK
      ? [500, 1000]
      : [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 14000, 16000, 20000]));
const SERVER_IDS = PROFILE_DIR
  ? ['olelo']
  : (opts.servers?.split(',') ?? (QUICK ? ['olelo', 'kamailio'] : ['olelo', 'kamailio', 'kamailio-default']));
if (
  RATES.some((r) => !Number.isInteger(r) || r <= 0) ||
  !(FIXED_RATE > 0) ||
  !(DURATION_S > 0) ||
  (CALLS !== undefined && !(Number.isInteger(CALLS) && CALLS > 0)) ||
  SERVER_IDS.some((s) => !['olelo', 'olelo-base', 'kamailio', 'kamailio-default'].includes(s)) ||
  (SERVER_IDS.includes('olelo-base') && opts['olelo-base'] === undefined)
) {
  console.error(`bad options\n${HELP}`);
  process.exit(2);
}
/** Warm-up before the measured rates: JIT for olelo, caches for both; must have no failed call. */
const WARMUP = { rate: 500, seconds: QUICK ? 1 : 3 };
/** Attempts per rate: a rate that fails calls is run once more before the stepping stops. */
const ATTEMPTS = 2;
/** A rate is "reached" when SIPp's own call rate is at least this share of the rate asked. */
const REACHED = 0.95;
/** --cpu-prof sampling interval (V8's default is 1000 µs). */
const PROFILE_INTERVAL_US = 250;
/** Upper bound of one whole run (all servers), seconds; remaining rates are skipped past it. */
const RUN_BUDGET_S = 30 * 60;

// ------------------------------------------------------------------------------------------------ servers

interface ServerSpec {
  id: string;
  label: string;
  workers: number;
  command: string;
  start(dir: string, run: RunContext): Promise<RunningServer>;
}

/** What a server is started with besides its folder. */
interface RunContext {
  /** The SIPp UAS ports (one, or three for the dispatcher). */
  uasPorts: readonly number[];
  /**
   * The dispatcher mode's destination list, in Kamailio's dispatcher.list format (set 1: every UAS),
   * read by both servers.
   */
  dispatcherList: string | undefined;
}

/** The `modules:` section of olelo's bench config (none when empty). */
function moduleLines(run: RunContext): string[] {
  const lines = [
    ...(WT_TIMER === undefined ? [] : ['  tm:', `    wtTimer: ${WT_TIMER}`]),
    ...(run.dispatcherList === undefined ? [] : ['  dispatcher:', `    listFile: ${run.dispatcherList}`]),
  ];
  return lines.length === 0 ? [] : ['modules:', ...lines];
}

function oleloSpec(profileDir: string | undefined, root = ROOT, id = 'olelo'): ServerSpec {
  const script = root === ROOT ? OLELO_SCRIPT : join(root, relative(ROOT, OLELO_SCRIPT));
  return {
    id,
    label: root === ROOT ? `olelo (${relative(ROOT, OLELO_SCRIPT)})` : `olelo at ${root}`,
    workers: 1,
    command: 'node bin/olelo.js --config <tmp>/olelo.yaml',
    async start(dir, run) {
      const port = await freeUdpPort();
      const config = join(dir, 'olelo.yaml');
      writeFileSync(
        config,
        [
          'listen:',
          `  - udp:127.0.0.1:${port}`,
          `script: ${script}`,
          `dataDir: ${join(dir, 'olelo-data')}`,
          // no control API: a benchmark measures SIP work only
          'control:',
          '  http:',
          '    listen: "off"',
          '  socket: "off"',
          'log:',
          '  level: warn',
          ...moduleLines(run),
          '',
        ].join('\n'),
      );
      const extra = opts['node-args']?.split(' ').filter((a) => a !== '') ?? [];
      const nodeArgs =
        profileDir === undefined
          ? extra
          : PERF
            ? ['--perf-basic-prof']
            : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_US}`];
      const server = await startServer(
        process.execPath,
        [
          ...nodeArgs,
          ...(profileDir === undefined ? [] : extra),
          join(root, 'bin', 'olelo.js'),
          '--config',
          config,
        ],
        port,
        join(dir, 'olelo.log'),
      );
      if (profileDir !== undefined && !PERF && PIN) moveSamplerThread(server.child.pid!);
      return server;
    },
  };
}

/**
 * Moves V8's sampling thread ("v8:ProfEvntProc") of a profiled olelo to SIPp's CPU. Left on the one CPU
 * it shares with a busy main thread, it gets to take its samples mostly when the main thread is idle,
 * and the profile shows a fraction of the time really spent (seen: 1 s of samples for 4 s of CPU).
 */
function moveSamplerThread(pid: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim();
    } catch {
      continue;
    }
    if (comm === 'v8:ProfEvntProc') execFileSync('taskset', ['-pc', CLIENT_CPU, tid], { stdio: 'ignore' });
  }
}

function kamailioSpec(id: string, children: number): ServerSpec {
  const label = `Kamailio -n ${children}${children === KAMAILIO_DEFAULT_CHILDREN ? ' (its default)' : ''}`;
  return {
    id,
    label,
    workers: children,
    command: `kamailio -f bench/${MODE.dir}/kamailio.cfg -x tlsf -m 1024 -DD -E -n ${children} -A LISTEN=udp:127.0.0.1:PORT`,
    async start(dir, run) {
      const port = await freeUdpPort();
      const rundir = join(dir, `kamailio-run-${id}`);
      mkdirSync(rundir, { recursive: true });
      return startServer(
        'kamailio',
        [
          '-f',
          KAMAILIO_CFG,
          '-x',
          'tlsf',
          '-m',
          '1024',
          '-DD',
          '-E',
          '-n',
          String(children),
          '-Y',
          rundir,
          '-A',
          `LISTEN=udp:127.0.0.1:${port}`,
          ...(run.dispatcherList === undefined ? [] : ['-A', `DSLIST="${run.dispatcherList}"`]),
        ],
        port,
        join(dir, `${id}.log`),
      );
    },
  };
}

// ------------------------------------------------------------------------------------------------ SIPp

interface UacResult {
  rate: number;
  calls: number;
  /** SIPp's cumulative call rate (calls created / elapsed). */
  achievedCps: number;
  successful: number;
  /** Failed calls, plus calls that never finished. */
  failed: number;
  retransmissions: number;
  exitCode: number | null;
  wallS: number;
  /** CPU ms of the SIPp UAC process (from this process's reaped-children time). */
  uacCpuMs: number;
  /** SIPp's mean call length and its standard deviation (the scenario pauses 50 ms: the rest is latency). */
  callLengthMs: number | undefined;
  callLengthStdevMs: number | undefined;
}

function startUas(dir: string, port: number, n: number): ChildProcess {
  return launch(
    'sipp',
    [
      '-sf',
      UAS_XML,
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-nostdin',
      '-buff_size',
      String(SIPP_SOCKET_BUFFER),
      '-trace_err',
      '-error_file',
      join(dir, `uas${n}-errors.log`),
    ],
    CLIENT_CPU,
    join(dir, `uas${n}.out`),
  );
}

async function runUac(
  dir: string,
  serverPort: number,
  uasPort: number,
  rate: number,
  seconds: number,
  tag: string,
): Promise<UacResult> {
  const calls = Math.round(rate * seconds);
  const timeoutS = Math.ceil(seconds + 40);
  const run = await runSippClient(
    [
      `127.0.0.1:${serverPort}`,
      '-sf',
      UAC_XML,
      '-key',
      'uas',
      `127.0.0.1:${uasPort}`,
      '-r',
      String(rate),
      '-m',
      String(calls),
    ],
    dir,
    tag,
    timeoutS,
  );
  const { exitCode, stats } = run;
  const wallS = run.wallS;
  const uacCpuMs = run.cpuMs;
  const successful = stats.get('SuccessfulCall(C)') ?? 0;
  const failed = Math.max(stats.get('FailedCall(C)') ?? 0, calls - successful);
  return {
    rate,
    calls,
    achievedCps: round(stats.get('CallRate(C)') ?? 0, 1),
    successful,
    failed,
    retransmissions: stats.get('Retransmissions(C)') ?? 0,
    exitCode,
    wallS: round(wallS, 2),
    uacCpuMs: round(uacCpuMs, 0),
    callLengthMs: stats.get('CallLength(C)'),
    callLengthStdevMs: stats.get('CallLengthStDev(C)'),
  };
}

// ------------------------------------------------------------------------------------------------ measuring

interface Step extends UacResult {
  /** 1, or 2 when the first attempt at this rate failed calls. */
  attempt: number;
  serverCpuMs: number;
  cpuMsPerCall: number | undefined;
  /** Server CPU time / wall time of the SIPp run, % of one CPU. */
  serverCpuPct: number;
  /** SIPp's CPU time (UAC + UAS) / wall time, % of one CPU: near 100% the client is the bottleneck. */
  sippCpuPct: number;
  /** Datagrams the kernel dropped (receive buffer full) on the server's socket, and on the UAS's. */
  serverDrops: number;
  uasDrops: number;
}

interface ServerResult {
  id: string;
  label: string;
  workers: number;
  command: string;
  steps: Step[];
  /** Highest rate asked with no failed call and reached (SIPp's rate ≥ 95% of it). */
  maxRate: number | undefined;
  /** SIPp's measured call rate at maxRate. */
  maxCps: number | undefined;
  /** Why the stepping stopped. */
  stoppedBy:
    | 'failed calls'
    | 'failed calls: SIPp dropped datagrams, not the server (client-limited)'
    | 'client could not reach the rate'
    | 'highest rate tried'
    | 'time budget'
    | 'error';
  cpuMsPerCallAtFixedRate: number | undefined;
  /**
   * Calls/s one fully busy CPU would relay at the CPU cost per call of the highest rate passed
   * (1000 / CPU ms per call): where the server would saturate with a client fast enough.
   */
  cpuBoundCps: number | undefined;
  error?: string;
  /** ms from the server's start to the first measured rate (the part of a profile to leave out). */
  profileFrom?: number;
}

const runStart = Date.now();

async function measure(spec: ServerSpec, dir: string): Promise<ServerResult> {
  const result: ServerResult = {
    id: spec.id,
    label: spec.label,
    workers: spec.workers,
    command: spec.command,
    steps: [],
    maxRate: undefined,
    maxCps: undefined,
    stoppedBy: 'highest rate tried',
    cpuMsPerCallAtFixedRate: undefined,
    cpuBoundCps: undefined,
  };
  const sdir = join(dir, spec.id);
  mkdirSync(sdir, { recursive: true });
  const uasPorts: number[] = [];
  for (let n = 0; n < MODE.uas; n++) uasPorts.push(await freeUdpPort());
  const uases = uasPorts.map((port, n) => startUas(sdir, port, n));
  const uasPort = uasPorts[0]!;
  const uasPids = () => uases.map((u) => u.pid!);
  let dispatcherList: string | undefined;
  if (MODE_ARG === 'dispatcher') {
    dispatcherList = join(sdir, 'dispatcher.list');
    writeFileSync(dispatcherList, uasPorts.map((port) => `1 sip:127.0.0.1:${port}\n`).join(''));
  }
  let server: RunningServer | undefined;
  try {
    await sleep(300);
    const dead = uases.findIndex((u) => u.exitCode !== null);
    if (dead !== -1) throw new Error(`SIPp UAS exited: see ${join(sdir, `uas${dead}.out`)}`);
    server = await spec.start(sdir, { uasPorts, dispatcherList });
    log(`${spec.label}: listening on udp:127.0.0.1:${server.port}, pids ${server.pids().join(' ')}`);
    const warm = await runUac(sdir, server.port, uasPort, WARMUP.rate, WARMUP.seconds, 'warmup');
    if (warm.failed > 0)
      throw new Error(`warm-up failed ${warm.failed} of ${warm.calls} calls (see ${sdir})`);
    for (let i = 0, attempt = 1; i < RATES.length; ) {
      const rate = RATES[i]!;
      if ((Date.now() - runStart) / 1000 > RUN_BUDGET_S) {
        result.stoppedBy = 'time budget';
        break;
      }
      // let retransmissions and late messages of the previous rate die out
      await sleep(attempt === 1 ? 1000 : 5000);
      const pids = server.pids();
      result.profileFrom ??= performance.now() - server.spawnedAt;
      const cpu0 = cpuMs(pids);
      const uas0 = cpuMs(uasPids());
      const drops0 = [udpDrops([server.port]), udpDrops(uasPorts)];
      const perf = PERF ? startPerf(pids, PROFILE_DIR!) : undefined;
      const seconds = CALLS === undefined ? DURATION_S : CALLS / rate;
      const r = await runUac(sdir, server.port, uasPort, rate, seconds, `${rate}-${attempt}`);
      if (perf !== undefined) await perf;
      const cpu1 = cpuMs(pids);
      const uasCpuMs = cpuMs(uasPids()) - uas0;
      const drops1 = [udpDrops([server.port]), udpDrops(uasPorts)];
      const serverCpuMs = round(cpu1 - cpu0, 0);
      const step: Step = {
        ...r,
        attempt,
        serverCpuMs,
        cpuMsPerCall: r.successful > 0 ? round(serverCpuMs / r.successful, 4) : undefined,
        serverCpuPct: round(serverCpuMs / (10 * r.wallS), 1),
        sippCpuPct: round((r.uacCpuMs + uasCpuMs) / (10 * r.wallS), 1),
        serverDrops: drops1[0]! - drops0[0]!,
        uasDrops: drops1[1]! - drops0[1]!,
      };
      result.steps.push(step);
      if (rate === FIXED_RATE && r.failed === 0) result.cpuMsPerCallAtFixedRate = step.cpuMsPerCall;
      log(
        `  ${String(rate).padStart(5)} cps asked${attempt > 1 ? ' (again)' : ''}: ${step.achievedCps} cps, ` +
          `${r.successful}/${r.calls} ok, ${r.failed} failed, ${r.retransmissions} retrans, ` +
          `call ${callLength(r)} ms, ` +
          `server CPU ${serverCpuMs} ms = ${step.cpuMsPerCall ?? '-'} ms/call, ` +
          `server ${step.serverCpuPct}% of a CPU, SIPp ${step.sippCpuPct}%, ` +
          `drops server ${step.serverDrops} UAS ${step.uasDrops}`,
      );
      if (r.failed > 0) {
        // one more try: a transient stall (other work on the machine) should not end the stepping
        if (attempt < ATTEMPTS) {
          attempt++;
          continue;
        }
        // the server's socket lost nothing but SIPp's did: the load generator is the limit
        result.stoppedBy =
          step.serverDrops === 0 && step.uasDrops > 0
            ? 'failed calls: SIPp dropped datagrams, not the server (client-limited)'
            : 'failed calls';
        break;
      }
      if (r.achievedCps < REACHED * rate) {
        result.stoppedBy = 'client could not reach the rate';
        break;
      }
      result.maxRate = rate;
      result.maxCps = r.achievedCps;
      result.cpuBoundCps = step.cpuMsPerCall === undefined ? undefined : Math.round(1000 / step.cpuMsPerCall);
      i++;
      attempt = 1;
    }
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`${spec.label} exited during the run (see ${sdir})`);
    }
  } catch (e) {
    result.stoppedBy = 'error';
    result.error = (e as Error).message;
    log(`${spec.label}: ${result.error}`);
  } finally {
    await server?.stop();
    for (const uas of uases) await stopChild(uas, 3000);
  }
  return result;
}

// ------------------------------------------------------------------------------------------------ profile

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface ProfileRow {
  selfPct: number;
  selfMs: number;
  function: string;
  where: string;
}

/**
 * Top self-time functions of the newest .cpuprofile in `dir`, aggregated by function and location, over
 * the samples taken from `skipMs` after the profile's start (start-up and warm-up left out), idle excluded.
 */
function summarizeProfile(
  dir: string,
  skipMs: number,
  top = 25,
): { file: string; rows: ProfileRow[]; sampledMs: number; skippedMs: number } {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const file = files[0];
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  let t = 0;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  prof.samples.forEach((id, i) => {
    t += prof.timeDeltas[i] ?? 0;
    if (t < skipMs * 1000) return;
    const node = byId.get(id)!;
    const dt = prof.timeDeltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') return;
    const short = url.startsWith('data:')
      ? '(route script)'
      : url.replace(/^file:\/\//, '').replace(ROOT, '');
    const key = `${functionName || '(anonymous)'}\t${short === '' ? '' : `${short}:${lineNumber + 1}`}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    totalUs += dt;
  });
  const rows = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => {
      const [fn, where] = key.split('\t') as [string, string];
      return { selfPct: round((100 * us) / totalUs, 1), selfMs: round(us / 1000, 0), function: fn, where };
    });
  return { file, rows, sampledMs: round(totalUs / 1000, 0), skippedMs: round(skipMs, 0) };
}

/**
 * `perf record` of the server's processes for most of a rate's duration (from 1 s in, for DURATION - 2 s),
 * call graphs included; writes perf.data into `dir`.
 */
async function startPerf(pids: number[], dir: string): Promise<void> {
  await sleep(1000);
  const seconds = Math.max(1, DURATION_S - 2);
  const child = spawn(
    'perf',
    [
      'record',
      '-F',
      '1999',
      '-g',
      '-o',
      join(resolve(dir), 'perf.data'),
      '-p',
      pids.join(','),
      '--',
      'sleep',
      String(seconds),
    ],
    { stdio: 'ignore' },
  );
  track(child);
  await exited(child);
}

/** The top self-time symbols of perf.data in `dir` (the whole report goes to perf-report.txt there). */
function perfSummary(dir: string, top = 30): string {
  const data = join(resolve(dir), 'perf.data');
  const report = (args: string[]) =>
    execFileSync('perf', ['report', '-i', data, '--stdio', ...args], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  const self = report(['--no-children', '--sort', 'dso,sym', '-g', 'none']);
  const children = report(['--children', '--sort', 'sym', '-g', 'none']);
  writeFileSync(join(resolve(dir), 'perf-report.txt'), `${self}\n\n${children}`);
  const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  return lines(self).slice(0, top).join('\n');
}

// ------------------------------------------------------------------------------------------------ output

function perRate(): string {
  return CALLS === undefined ? `${DURATION_S} s` : `${CALLS} calls`;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function version(cmd: string, args: string[], pattern: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return pattern.exec(out)?.[0]?.trim() ?? out.split('\n')[0]!.trim();
  } catch (e) {
    const out = `${(e as { stdout?: string }).stdout ?? ''}`;
    return pattern.exec(out)?.[0]?.trim() ?? 'unknown';
  }
}

function machine() {
  const os = (() => {
    try {
      return /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    kamailio: version('kamailio', ['-v'], /kamailio [0-9.]+/),
    sipp: version('sipp', ['-v'], /SIPp v[^\s,]+/),
    pinned: PIN
      ? `servers on CPU ${SERVER_CPU}, SIPp (UAC and UAS) on CPU ${CLIENT_CPU} (taskset)`
      : 'not pinned',
  };
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : round(a / b, 2);
}

function table(rows: string[][], right: boolean[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const sep = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join('\n');
}

const fmt = (x: number | undefined, unit = ''): string => (x === undefined ? '-' : `${x}${unit}`);

/** SIPp's mean call length ± its standard deviation, in ms. */
function callLength(r: UacResult): string {
  if (r.callLengthMs === undefined) return '-';
  return `${Math.round(r.callLengthMs)} ± ${Math.round(r.callLengthStdevMs ?? 0)}`;
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  for (const cmd of ['sipp', ...(SERVER_IDS.some((s) => s.startsWith('kamailio')) ? ['kamailio'] : [])]) {
    if (!which(cmd)) throw new Error(`${cmd} not found (Debian: apt-get install -y sip-tester kamailio)`);
  }
  const dir = mkdtempSync(join(tmpdir(), `olelo-bench-${MODE.dir}-`));
  const profileDir = PROFILE_DIR === undefined ? undefined : resolve(PROFILE_DIR);
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const specs: Record<string, ServerSpec> = {
    olelo: oleloSpec(profileDir),
    ...(opts['olelo-base'] === undefined
      ? {}
      : { 'olelo-base': oleloSpec(profileDir, resolve(opts['olelo-base']), 'olelo-base') }),
    kamailio: kamailioSpec('kamailio', 1),
    'kamailio-default': kamailioSpec('kamailio-default', KAMAILIO_DEFAULT_CHILDREN),
  };
  const m = machine();
  log(
    `${MODE.title} bench: rates ${RATES.join(', ')} calls/s, ${perRate()} each; ${m.pinned}; ` +
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );
  const loadBefore = loadavg();
  const results: ServerResult[] = [];
  for (const id of SERVER_IDS) results.push(await measure(specs[id]!, dir));
  const loadAfter = loadavg();

  const byId = new Map(results.map((r) => [r.id, r]));
  const olelo = byId.get('olelo');
  const ratios = ['kamailio', 'kamailio-default']
    .filter((k) => olelo !== undefined && byId.has(k))
    .map((k) => {
      const kam = byId.get(k)!;
      // the highest rate both passed, and the CPU per call of each there
      // a rate passed: no failed call, and the client reached it (else the run measured a lower rate)
      const passed = (r: ServerResult) =>
        new Map(
          r.steps
            .filter((s) => s.failed === 0 && s.achievedCps >= REACHED * s.rate)
            .map((s) => [s.rate, s.cpuMsPerCall]),
        );
      const a = passed(olelo!);
      const b = passed(kam);
      const common = Math.max(0, ...[...a.keys()].filter((x) => b.has(x)));
      return {
        versus: kam.label,
        maxCps: ratio(olelo!.maxCps, kam.maxCps),
        cpuMsPerCall: ratio(olelo!.cpuMsPerCallAtFixedRate, kam.cpuMsPerCallAtFixedRate),
        highestCommonRate: common === 0 ? undefined : common,
        cpuMsPerCallAtHighestCommonRate: common === 0 ? undefined : ratio(a.get(common), b.get(common)),
        cpuBoundCps: ratio(olelo!.cpuBoundCps, kam.cpuBoundCps),
      };
    });
  const olelo0 = byId.get('olelo');
  const profile =
    profileDir === undefined || PERF || olelo0?.profileFrom === undefined
      ? undefined
      : summarizeProfile(profileDir, olelo0.profileFrom);
  const perfTop = PERF ? perfSummary(profileDir!) : undefined;

  const report = {
    machine: m,
    settings: {
      rates: RATES,
      mode: MODE_ARG,
      ...(CALLS === undefined ? { secondsPerRate: DURATION_S } : { callsPerRate: CALLS }),
      fixedRate: FIXED_RATE,
      warmup: WARMUP,
      reached: REACHED,
      scenario: { uac: 'test/sipp/uac.xml', uas: 'bench/stateless/uas.xml' },
      profiled: profileDir !== undefined,
    },
    loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: loadAfter.map((x) => round(x, 2)) },
    servers: results,
    ratios,
    ...(profile === undefined ? {} : { profile }),
    ...(perfTop === undefined ? {} : { perf: perfTop.split('\n') }),
  };

  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(
      `\n${MODE.title}, SIPp UAC → server → SIPp UAS, UDP on loopback (${m.pinned}); ${perRate()} per rate.\n`,
    );
    console.log(
      table(
        [
          [
            'server',
            'workers',
            'max cps, 0 failed (asked)',
            `CPU ms/call @ ${FIXED_RATE} cps`,
            'cps per busy CPU',
            'stopped by',
          ],
          ...results.map((r) => [
            r.label,
            String(r.workers),
            r.maxCps === undefined ? '-' : `${r.maxCps} (${r.maxRate})`,
            fmt(r.cpuMsPerCallAtFixedRate),
            fmt(r.cpuBoundCps),
            r.stoppedBy + (r.error === undefined ? '' : `: ${r.error.split('\n')[0]}`),
          ]),
        ],
        [false, true, true, true, true, false],
      ),
    );
    for (const x of ratios) {
      console.log(
        `olelo / ${x.versus}: max cps ${fmt(x.maxCps, '×')}, CPU per call @ ${FIXED_RATE} cps ` +
          `${fmt(x.cpuMsPerCall, '×')}, @ ${fmt(x.highestCommonRate)} cps (highest rate both passed) ` +
          `${fmt(x.cpuMsPerCallAtHighestCommonRate, '×')}, cps per busy CPU ${fmt(x.cpuBoundCps, '×')}`,
      );
    }
    console.log('\nEvery rate:\n');
    console.log(
      table(
        [
          [
            'server',
            'asked',
            'try',
            'SIPp cps',
            'ok',
            'failed',
            'retrans',
            'call ms',
            'server CPU ms',
            'CPU ms/call',
            'server CPU %',
            'SIPp CPU %',
            'drops (server/UAS)',
          ],
          ...results.flatMap((r) =>
            r.steps.map((s) => [
              r.label,
              String(s.rate),
              String(s.attempt),
              String(s.achievedCps),
              String(s.successful),
              String(s.failed),
              String(s.retransmissions),
              callLength(s),
              String(s.serverCpuMs),
              fmt(s.cpuMsPerCall),
              `${s.serverCpuPct}%`,
              `${s.sippCpuPct}%`,
              `${s.serverDrops}/${s.uasDrops}`,
            ]),
          ),
        ],
        [false, true, true, true, true, true, true, true, true, true, true, true, true],
      ),
    );
    console.log(
      `\nload average before ${report.loadAverage.before.join(' ')}, after ${report.loadAverage.after.join(' ')}`,
    );
    if (perfTop !== undefined) {
      console.log(
        `\nperf record of olelo (self time; full report in ${join(resolve(profileDir!), 'perf-report.txt')}):\n`,
      );
      console.log(perfTop);
    }
    if (profile !== undefined) {
      console.log(
        `\nolelo CPU profile (${profile.file}; from ${profile.skippedMs} ms after start, ${profile.sampledMs} ms sampled, idle excluded):\n`,
      );
      console.log(
        table(
          [
            ['self %', 'self ms', 'function', 'where'],
            ...profile.rows.map((r) => [`${r.selfPct}%`, String(r.selfMs), r.function, r.where]),
          ],
          [true, true, false, false],
        ),
      );
    }
  }
  if (opts.keep) log(`files kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  killAll();
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
