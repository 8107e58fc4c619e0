/**
 * The statistics in Prometheus text exposition format 0.0.4, served at GET /metrics. Each stat is one
 * sample of the family `olelo_<group>_<name>` (counters end in `_total`), or of the labelled family its
 * {@link StatMetric} names; a family's HELP and TYPE are written once, families sorted by name.
 */
import type { Stat, StatsRegistry } from '../core/stats.js';

/** The Content-Type of {@link renderMetrics}'s output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Options of {@link renderMetrics}. */
export interface MetricsOptions {
  /** Prefix of every metric name (default `olelo`; `''` for none). */
  prefix?: string;
  /** Labels added to every sample (e.g. `{ instance: 'edge-1' }`). */
  labels?: Readonly<Record<string, string>>;
  /** Adds the standard `process_start_time_seconds` gauge (default true). */
  processStartTime?: boolean;
}

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: { labels: string; value: number }[];
}

/** Renders every statistic of `stats` as Prometheus text (format 0.0.4), ending with a newline. */
export function renderMetrics(stats: StatsRegistry, options: MetricsOptions = {}): string {
  const prefix = options.prefix ?? 'olelo';
  const constant = options.labels ?? {};
  const families = new Map<string, Family>();
  for (const s of stats.all()) {
    const name = metricName(prefix, s);
    let family = families.get(name);
    if (family === undefined) {
      family = { name, type: s.kind, help: s.metric?.help ?? s.doc, samples: [] };
      families.set(name, family);
    } else if (family.type !== s.kind) {
      continue; // a gauge and a counter cannot share a family: the first registered wins
    }
    const labels = formatLabels({ ...constant, ...s.metric?.labels });
    if (family.samples.some((x) => x.labels === labels)) continue; // two stats on one series
    family.samples.push({ labels, value: s.value });
  }
  if (options.processStartTime !== false) {
    const name = 'process_start_time_seconds';
    if (!families.has(name)) {
      families.set(name, {
        name,
        type: 'gauge',
        help: 'Start time of the process since unix epoch in seconds.',
        samples: [{ labels: formatLabels(constant), value: Math.floor(performance.timeOrigin / 1000) }],
      });
    }
  }
  const lines: string[] = [];
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!;
    lines.push(`# HELP ${name} ${escapeHelp(f.help || name)}`);
    lines.push(`# TYPE ${name} ${f.type}`);
    f.samples.sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0));
    for (const x of f.samples) lines.push(`${name}${x.labels} ${formatValue(x.value)}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** `olelo_<group>_<name>` (or the stat's family), sanitized; counters get `_total`. */
function metricName(prefix: string, s: Stat): string {
  const base = s.metric?.family ?? `${s.group}_${s.name}`;
  let name = sanitizeMetricName(prefix === '' ? base : `${prefix}_${base}`);
  if (s.kind === 'counter' && !name.endsWith('_total')) name += '_total';
  return name;
}

/** A metric name matching `[a-zA-Z_:][a-zA-Z0-9_:]*`: other characters become `_`. */
export function sanitizeMetricName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  if (out === '' || /^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

/** A label name matching `[a-zA-Z_][a-zA-Z0-9_]*` (names starting with `__` are reserved). */
function sanitizeLabelName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (out === '' || /^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  names.sort();
  return `{${names.map((n) => `${sanitizeLabelName(n)}="${escapeLabelValue(labels[n]!)}"`).join(',')}}`;
}

/** Label values: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}
