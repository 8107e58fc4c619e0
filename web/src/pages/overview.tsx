/**
 * The live overview: `stats.get` every REFRESH_MS, the last WINDOW_S seconds kept (in memory, also while
 * another page is shown), rates from counter deltas, gauges as they are; version and uptime above.
 */
import { useEffect, useState } from 'preact/hooks';
import type { AlignedData } from 'uplot';
import { rpc, Unauthorized } from '../api';
import { Chart, type Headline, PALETTE, type SeriesSpec } from '../chart';
import { ErrorMessage, messageOf, PageHeader } from '../components';
import { ratePerSecond } from '../rates';

/** How often the statistics are read, ms. */
export const REFRESH_MS = 2000;
/** How much history the charts keep, seconds. */
export const WINDOW_S = 300;

type Stats = Record<string, number>;

interface Sample {
  /** Unix seconds (fractional). */
  t: number;
  stats: Stats;
}

const METHODS = [
  'invite',
  'ack',
  'bye',
  'cancel',
  'register',
  'options',
  'message',
  'subscribe',
  'notify',
  'publish',
  'refer',
  'info',
  'prack',
  'update',
];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'];

/** One chart: its series and how each series' value is read from two consecutive samples. */
interface ChartSpec {
  title: string;
  unit: string;
  decimals: number;
  headline?: Headline;
  series: (SeriesSpec & { value(previous: Sample, current: Sample): number })[];
}

const read = (s: Sample, name: string) => s.stats[name] ?? 0;
/** The summed rate per second of counters between two samples (each reset counter counted from zero). */
const rate =
  (...names: string[]) =>
  (p: Sample, c: Sample) =>
    ratePerSecond(p.stats, c.stats, names, c.t - p.t);
const gauge =
  (name: string, scale = 1) =>
  (_p: Sample, c: Sample) =>
    read(c, name) / scale;
/** CPU microseconds per wall-clock microsecond, in %. */
const cpu = (name: string) => (p: Sample, c: Sample) =>
  ratePerSecond(p.stats, c.stats, [name], c.t - p.t) / 1e4;
const color = (i: number) => PALETTE[i % PALETTE.length]!;

const CHARTS: ChartSpec[] = [
  {
    title: 'Requests/s by method',
    unit: '/s',
    decimals: 1,
    series: [
      ...METHODS.map((m, i) => ({
        label: m.toUpperCase(),
        color: color(i),
        value: rate(`core.rcv_requests_${m}`),
      })),
      { label: 'other', color: color(METHODS.length), value: rate('core.unsupported_methods') },
    ],
  },
  {
    title: 'Replies sent/s by class',
    unit: '/s',
    decimals: 1,
    series: CLASSES.map((c, i) => ({
      label: c,
      color: color(i),
      value: rate(`sl.${c}_replies`, `tm.${c}_replies`),
    })),
  },
  {
    title: 'Replies received/s by class',
    unit: '/s',
    decimals: 1,
    series: CLASSES.map((c, i) => ({ label: c, color: color(i), value: rate(`core.rcv_replies_${c}`) })),
  },
  {
    title: 'Active transactions',
    unit: '',
    decimals: 0,
    series: [{ label: 'transactions', color: color(0), value: gauge('tm.current') }],
  },
  {
    title: 'Registered contacts',
    unit: '',
    decimals: 0,
    headline: 'first',
    series: [
      { label: 'contacts', color: color(0), value: gauge('usrloc.location_contacts') },
      { label: 'users', color: color(2), value: gauge('usrloc.registered_users') },
    ],
  },
  {
    title: 'CPU',
    unit: '%',
    decimals: 1,
    series: [
      { label: 'user', color: color(0), value: cpu('process.cpu_user_us') },
      { label: 'system', color: color(1), value: cpu('process.cpu_system_us') },
    ],
  },
  {
    title: 'Memory',
    unit: 'MiB',
    decimals: 1,
    headline: 'first',
    series: [
      { label: 'RSS', color: color(0), value: gauge('process.rss', 1024 * 1024) },
      { label: 'heap used', color: color(2), value: gauge('process.heap_used', 1024 * 1024) },
    ],
  },
];

/** The samples, kept while the app runs so coming back to the page shows the last minutes. */
const samples: Sample[] = [];

function addSample(sample: Sample): void {
  samples.push(sample);
  while (samples.length > 0 && samples[0]!.t < sample.t - WINDOW_S - REFRESH_MS / 1000) samples.shift();
}

/** A chart's aligned data: one point per pair of consecutive samples; a gap (> 3 periods) is a null point. */
function chartData(spec: ChartSpec): AlignedData {
  const times: number[] = [];
  const columns: (number | null)[][] = spec.series.map(() => []);
  for (let i = 1; i < samples.length; i++) {
    const p = samples[i - 1]!;
    const c = samples[i]!;
    const gap = c.t - p.t > (3 * REFRESH_MS) / 1000;
    times.push(c.t);
    spec.series.forEach((s, k) => {
      columns[k]!.push(gap ? null : s.value(p, c));
    });
  }
  return [times, ...columns] as AlignedData;
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return `${d > 0 ? `${d}d ` : ''}${h}h ${m}m ${s}s`;
}

/** `core.version` may answer a string or an object; `core.uptime` seconds or Kamailio's {uptime, ...}. */
function versionText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const parts = [o.name ?? o.server, o.version, o.full].filter((x) => typeof x === 'string');
    if (parts.length > 0) return parts.join(' ');
  }
  return JSON.stringify(v);
}

function uptimeSeconds(u: unknown): number | undefined {
  if (typeof u === 'number') return u;
  if (u !== null && typeof u === 'object') {
    const up = (u as Record<string, unknown>).uptime;
    if (typeof up === 'number') return up;
  }
  return undefined;
}

export function Overview() {
  const [, setTick] = useState(0);
  const [error, setError] = useState<string | undefined>(undefined);
  const [version, setVersion] = useState<string | undefined>(undefined);
  const [uptime, setUptime] = useState<number | undefined>(undefined);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const [stats, up] = await Promise.all([rpc<Stats>('stats.get'), rpc<unknown>('core.uptime')]);
        if (stopped) return;
        addSample({ t: Date.now() / 1000, stats });
        setUptime(uptimeSeconds(up));
        setError(undefined);
        setTick((n) => n + 1);
      } catch (e) {
        if (e instanceof Unauthorized) return; // the app shows the login form
        if (!stopped) setError(messageOf(e));
      }
      if (!stopped) timer = setTimeout(poll, REFRESH_MS);
    };
    rpc<unknown>('core.version').then(
      (v) => !stopped && setVersion(versionText(v)),
      (e) => !stopped && !(e instanceof Unauthorized) && setError(messageOf(e)),
    );
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  return (
    <section>
      <PageHeader title="Overview">
        <dl class="facts">
          <dt>Version</dt>
          <dd data-testid="version">{version ?? '…'}</dd>
          <dt>Uptime</dt>
          <dd data-testid="uptime">{uptime === undefined ? '…' : formatUptime(uptime)}</dd>
          <dt>Refresh</dt>
          <dd>
            every {REFRESH_MS / 1000} s, last {WINDOW_S / 60} min
          </dd>
        </dl>
      </PageHeader>
      <ErrorMessage error={error} />
      <div class="charts">
        {CHARTS.map((spec) => (
          <Chart
            key={spec.title}
            title={spec.title}
            unit={spec.unit}
            decimals={spec.decimals}
            headline={spec.headline ?? 'sum'}
            series={spec.series}
            data={chartData(spec)}
          />
        ))}
      </div>
    </section>
  );
}
