/**
 * Registrar benchmark: SIPp REGISTER clients → server over UDP on loopback, the server being olelo with
 * bench/register/olelo.ts (registrar + in-memory location, and digest auth in the `auth` mode) or Kamailio
 * with bench/register/kamailio.cfg (the same steps: registrar save() with usrloc db_mode 0, and auth's
 * pv_www_authenticate / www_challenge), `-x tlsf -m 1024 -n 1`.
 *
 * For each mode (`plain`: REGISTER → 200; `auth`: REGISTER → 401 → REGISTER with credentials → 200) and
 * each server, in one run:
 *   - rates: a warm-up, then COUNT registrations (users u0…u{COUNT-1}; the first rate creates the
 *     bindings, later ones refresh them with a new Call-ID) at rising rates until a rate fails twice or
 *     SIPp cannot keep it; per rate the server's CPU time (utime+stime of its process tree from
 *     /proc/<pid>/stat) per successful registration;
 *   - memory: a fresh server, then BINDINGS distinct users registered once; the growth of the server's
 *     proportional set size (PSS, /proc/<pid>/smaps_rollup, all its processes) per binding, and for
 *     Kamailio also its shared memory in use (`kamcmd core.shmmem`, where usrloc keeps the bindings).
 * Servers are pinned to CPU 1, SIPp to CPU 0. See bench/README.md and docs/performance.md.
 *
 * Usage: node dist/bench/register/run.js [--quick] [--json] [--rates 1000,2000,…] [--count N]
 *        [--bindings N] [--modes plain,auth] [--servers olelo,kamailio] [--keep]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  cpuMs,
  freeUdpPort,
  killAll,
  log,
  PIN,
  ROOT,
  type RunningServer,
  runSippClient,
  sleep,
  startServer,
  which,
} from '../lib/procs.js';

const HELP = `usage: node dist/bench/register/run.js [options]
  --quick           smoke run: 2,000 registrations at 1,000 and 2,000/s, 5,000 bindings
  --json            print one JSON object instead of the tables
  --rates LIST      registrations/s to step through (default 1000,2000,3000,4000,6000,8000,10000,12000)
  --count N         registrations per rate (default 20000)
  --bindings N      distinct users registered for the memory figure (default 100000)
  --modes LIST      plain, auth (default both)
  --servers LIST    olelo, kamailio (default both)
  --keep            keep the temporary folder (SIPp CSVs and logs, server logs)`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    rates: { type: 'string' },
    count: { type: 'string' },
    bindings: { type: 'string' },
    modes: { type: 'string' },
    servers: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const QUICK = opts.quick;
const RATES =
  opts.rates?.split(',').map(Number) ??
  (QUICK ? [1000, 2000] : [1000, 2000, 3000, 4000, 6000, 8000, 10000, 12000]);
const COUNT = Number(opts.count ?? (QUICK ? 2000 : 20_000));
const BINDINGS = Number(opts.bindings ?? (QUICK ? 5000 : 100_000));
const MODES = (opts.modes?.split(',') ?? ['plain', 'auth']) as Mode[];
const SERVERS = opts.servers?.split(',') ?? ['olelo', 'kamailio'];
if (
  RATES.some((r) => !Number.isInteger(r) || r <= 0) ||
  !(Number.isInteger(COUNT) && COUNT > 0) ||
  !(Number.isInteger(BINDINGS) && BINDINGS > 0) ||
  MODES.some((m) => m !== 'plain' && m !== 'auth') ||
  SERVERS.some((s) => s !== 'olelo' && s !== 'kamailio')
) {
  console.error(`bad options\n${HELP}`);
  process.exit(2);
}
type Mode = 'plain' | 'auth';
/** A rate is reached when SIPp's own rate is at least this share of the rate asked. */
const REACHED = 0.95;
const ATTEMPTS = 2;
const WARMUP = { rate: 500, count: QUICK ? 500 : 2000 };
/** The rate the memory phase registers at (modest: it measures memory, not speed). */
const MEMORY_RATE = 2000;
const BENCH = join(ROOT, 'bench', 'register');

// ------------------------------------------------------------------------------------------------ servers

interface Server extends RunningServer {
  /** Kamailio's shared memory in use, bytes (undefined for olelo). */
  shm(): number | undefined;
}

async function startOlelo(dir: string, mode: Mode): Promise<Server> {
  const port = await freeUdpPort();
  const config = join(dir, `olelo-${mode}.yaml`);
  writeFileSync(
    config,
    [
      'listen:',
      `  - udp:127.0.0.1:${port}`,
      `script: ${join(BENCH, 'olelo.ts')}`,
      `dataDir: ${join(dir, 'olelo-data')}`,
      // no control API: a benchmark measures SIP work only
      'control:',
      '  http:',
      '    listen: "off"',
      '  socket: "off"',
      'log:',
      '  level: warn',
      'modules:',
      '  auth:',
      // SIPp answers the first challenge only, and only MD5 (Kamailio's challenge: MD5, qop=auth)
      '    algorithms: [MD5]',
      '',
    ].join('\n'),
  );
  const server = await startServer(
    process.execPath,
    [join(ROOT, 'bin', 'olelo.js'), '--config', config],
    port,
    join(dir, `olelo-${mode}.log`),
    { ...process.env, BENCH_REGISTER_AUTH: mode === 'auth' ? '1' : '0' },
  );
  return { ...server, shm: () => undefined };
}

async function startKamailio(dir: string, mode: Mode): Promise<Server> {
  const port = await freeUdpPort();
  const rundir = join(dir, `kamailio-run-${mode}`);
  mkdirSync(rundir, { recursive: true });
  const ctl = join(rundir, 'ctl.sock');
  const server = await startServer(
    'kamailio',
    [
      '-f',
      join(BENCH, 'kamailio.cfg'),
      '-x',
      'tlsf',
      '-m',
      '1024',
      '-DD',
      '-E',
      '-n',
      '1',
      '-Y',
      rundir,
      '-A',
      `LISTEN=udp:127.0.0.1:${port}`,
      '-A',
      `CTL="unix:${ctl}"`,
      ...(mode === 'auth' ? ['-A', 'WITH_AUTH'] : []),
    ],
    port,
    join(dir, `kamailio-${mode}.log`),
  );
  return {
    ...server,
    shm() {
      try {
        const out = execFileSync('kamcmd', ['-s', `unix:${ctl}`, 'core.shmmem'], { encoding: 'utf8' });
        const m = /real_used:\s*(\d+)/.exec(out);
        return m === null ? undefined : Number(m[1]);
      } catch {
        return undefined;
      }
    },
  };
}

/** Proportional set size of the processes, bytes (shared pages divided among their users). */
function pss(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
      if (m !== null) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

// ------------------------------------------------------------------------------------------------ SIPp

/** The injection file: one user per line, `prefix0` … `prefix{n-1}`. */
function usersFile(dir: string, prefix: string, n: number): string {
  const path = join(dir, `users-${prefix}-${n}.csv`);
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < n; i++) lines.push(`${prefix}${i};`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

interface Run {
  rate: number;
  count: number;
  achieved: number;
  successful: number;
  failed: number;
  retransmissions: number;
  serverCpuMs: number;
  uacCpuMs: number;
  wallS: number;
}

async function register(
  dir: string,
  server: Server,
  mode: Mode,
  users: string,
  rate: number,
  count: number,
  tag: string,
): Promise<Run> {
  const seconds = count / rate;
  const timeoutS = Math.ceil(seconds + 30);
  const cpu0 = cpuMs(server.pids());
  const run = await runSippClient(
    [
      `127.0.0.1:${server.port}`,
      '-sf',
      join(BENCH, mode === 'auth' ? 'reg-auth-uac.xml' : 'reg-uac.xml'),
      '-inf',
      users,
      ...(mode === 'auth' ? ['-au', 'bench', '-ap', 'secret'] : []),
      '-r',
      String(rate),
      '-m',
      String(count),
    ],
    dir,
    tag,
    timeoutS,
  );
  const serverCpuMs = cpuMs(server.pids()) - cpu0;
  const stats = run.stats;
  const wallS = run.wallS;
  const successful = stats.get('SuccessfulCall(C)') ?? 0;
  return {
    rate,
    count,
    achieved: Math.round((stats.get('CallRate(C)') ?? 0) * 10) / 10,
    successful,
    failed: Math.max(stats.get('FailedCall(C)') ?? 0, count - successful),
    retransmissions: stats.get('Retransmissions(C)') ?? 0,
    serverCpuMs: Math.round(serverCpuMs),
    uacCpuMs: Math.round(run.cpuMs),
    wallS: Math.round(wallS * 100) / 100,
  };
}

// ------------------------------------------------------------------------------------------------ measuring

interface Result {
  server: string;
  mode: Mode;
  steps: Array<Run & { attempt: number; cpuUsPerRegistration: number }>;
  /** Highest rate with zero failures that SIPp reached. */
  maxRate: number | undefined;
  cpuUsAt: Record<number, number>;
  memory: { bindings: number; pssBytesPerBinding: number; shmBytesPerBinding?: number; failed: number };
}

async function measure(id: string, mode: Mode, dir: string): Promise<Result> {
  const start = id === 'olelo' ? startOlelo : startKamailio;
  const sdir = join(dir, `${id}-${mode}`);
  mkdirSync(sdir, { recursive: true });
  const result: Result = {
    server: id,
    mode,
    steps: [],
    maxRate: undefined,
    cpuUsAt: {},
    memory: { bindings: BINDINGS, pssBytesPerBinding: 0, failed: 0 },
  };
  // rates
  let server = await start(sdir, mode);
  log(`${id} (${mode}): listening on udp:127.0.0.1:${server.port}, pids ${server.pids().join(' ')}`);
  try {
    const warm = await register(
      sdir,
      server,
      mode,
      usersFile(sdir, 'w', WARMUP.count),
      WARMUP.rate,
      WARMUP.count,
      'warmup',
    );
    if (warm.failed > 0)
      throw new Error(`${id} (${mode}): ${warm.failed} failed registrations in the warm-up`);
    const users = usersFile(sdir, 'u', COUNT);
    for (const rate of RATES) {
      let ok = false;
      for (let attempt = 1; attempt <= ATTEMPTS && !ok; attempt++) {
        await sleep(attempt === 1 ? 1000 : 5000);
        const r = await register(sdir, server, mode, users, rate, COUNT, `${rate}-${attempt}`);
        const step = {
          ...r,
          attempt,
          cpuUsPerRegistration: r.successful > 0 ? Math.round((r.serverCpuMs * 1000) / r.successful) : 0,
        };
        result.steps.push(step);
        log(
          `  ${String(rate).padStart(6)}/s asked${attempt > 1 ? ' (again)' : ''}: ${r.achieved}/s, ` +
            `${r.successful}/${r.count} ok, ${r.failed} failed, ${r.retransmissions} retrans, server CPU ` +
            `${r.serverCpuMs} ms = ${step.cpuUsPerRegistration} µs/registration`,
        );
        if (r.failed === 0 && r.achieved >= REACHED * rate) {
          ok = true;
          result.maxRate = r.achieved;
          result.cpuUsAt[rate] = step.cpuUsPerRegistration;
        } else if (r.failed === 0) {
          attempt = ATTEMPTS; // the client could not keep the rate: no use retrying
        }
      }
      if (!ok) break;
    }
  } finally {
    await server.stop();
  }
  // memory, on a fresh server
  server = await start(sdir, mode);
  try {
    await sleep(1000);
    const pss0 = pss(server.pids());
    const shm0 = server.shm();
    const r = await register(
      sdir,
      server,
      mode,
      usersFile(sdir, 'm', BINDINGS),
      MEMORY_RATE,
      BINDINGS,
      'memory',
    );
    await sleep(2000);
    const pss1 = pss(server.pids());
    const shm1 = server.shm();
    const n = Math.max(1, r.successful);
    result.memory = {
      bindings: r.successful,
      pssBytesPerBinding: Math.round((pss1 - pss0) / n),
      ...(shm0 !== undefined && shm1 !== undefined
        ? { shmBytesPerBinding: Math.round((shm1 - shm0) / n) }
        : {}),
      failed: r.failed,
    };
    log(
      `  memory: ${r.successful} bindings, PSS +${((pss1 - pss0) / 1048576).toFixed(1)} MiB = ` +
        `${result.memory.pssBytesPerBinding} B/binding` +
        (result.memory.shmBytesPerBinding === undefined
          ? ''
          : `, shm ${result.memory.shmBytesPerBinding} B/binding`),
    );
  } finally {
    await server.stop();
  }
  return result;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(rows[0]!),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  for (const cmd of ['sipp', ...(SERVERS.includes('kamailio') ? ['kamailio', 'kamcmd'] : [])]) {
    if (!which(cmd)) throw new Error(`${cmd} not found (Debian: apt-get install -y sip-tester kamailio)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'olelo-bench-register-'));
  log(
    `registrar bench: modes ${MODES.join(', ')}; rates ${RATES.join(', ')}/s, ${COUNT} registrations each; ` +
      `${BINDINGS} bindings for memory; ${PIN ? 'servers on CPU 1, SIPp on CPU 0' : 'not pinned'}; load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );
  const results: Result[] = [];
  try {
    for (const mode of MODES) for (const id of SERVERS) results.push(await measure(id, mode, dir));
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    else log(`files kept in ${dir}`);
  }
  const ratios = MODES.map((mode) => {
    const o = results.find((r) => r.server === 'olelo' && r.mode === mode);
    const k = results.find((r) => r.server === 'kamailio' && r.mode === mode);
    if (o === undefined || k === undefined) return undefined;
    const common = RATES.filter((r) => o.cpuUsAt[r] !== undefined && k.cpuUsAt[r] !== undefined);
    return {
      mode,
      cpuPerRegistration: Object.fromEntries(
        common.map((r) => [r, Math.round((o.cpuUsAt[r]! / k.cpuUsAt[r]!) * 100) / 100]),
      ),
      maxRate:
        o.maxRate !== undefined && k.maxRate !== undefined
          ? Math.round((o.maxRate / k.maxRate) * 100) / 100
          : undefined,
      pssPerBinding:
        k.memory.pssBytesPerBinding > 0
          ? Math.round((o.memory.pssBytesPerBinding / k.memory.pssBytesPerBinding) * 100) / 100
          : undefined,
    };
  }).filter((r) => r !== undefined);
  if (opts.json) {
    console.log(JSON.stringify({ rates: RATES, count: COUNT, bindings: BINDINGS, results, ratios }, null, 2));
    return;
  }
  const rows = [
    [
      'server',
      'mode',
      'max reg/s, 0 failed',
      ...RATES.map((r) => `µs CPU/reg @ ${r}/s`),
      'PSS B/binding',
      'shm B/binding',
    ],
  ];
  for (const r of results) {
    rows.push([
      r.server === 'olelo' ? 'olelo' : 'Kamailio -n 1',
      r.mode,
      String(r.maxRate ?? '-'),
      ...RATES.map((rate) => String(r.cpuUsAt[rate] ?? '-')),
      String(r.memory.pssBytesPerBinding),
      String(r.memory.shmBytesPerBinding ?? '-'),
    ]);
  }
  console.log(
    `\nRegistrar, SIPp → server over UDP on loopback; ${COUNT} registrations per rate; ${BINDINGS} bindings for memory.\n`,
  );
  console.log(table(rows));
  for (const r of ratios) {
    const cpu = Object.entries(r.cpuPerRegistration)
      .map(([rate, x]) => `${x}× @ ${rate}/s`)
      .join(', ');
    console.log(
      `olelo / Kamailio (${r.mode}): CPU per registration ${cpu || '-'}; max rate ${r.maxRate ?? '-'}×; memory per binding (PSS) ${r.pssPerBinding ?? '-'}×`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  killAll();
  process.exit(1);
});
