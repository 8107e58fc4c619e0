/**
 * renderMetrics: the Prometheus text exposition format 0.0.4, checked line by line against its grammar.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatsRegistry } from '../../src/core/stats.js';
import { METRICS_CONTENT_TYPE, renderMetrics, sanitizeMetricName } from '../../src/rpc/metrics.js';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const HELP = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/;
const TYPE = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/;
// name, optional {label="value",...} with escaped values, a float
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? ([-+]?(?:[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?|NaN|Inf))$/;

interface Parsed {
  families: Map<string, { help: string; type: string; samples: { labels: string; value: string }[] }>;
  order: string[];
}

/** Parses an exposition, failing on any line outside the grammar or a family split in two. */
function parse(text: string): Parsed {
  assert.ok(text.endsWith('\n'), 'ends with a line feed');
  const families: Parsed['families'] = new Map();
  const order: string[] = [];
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    let m = HELP.exec(line);
    if (m !== null) {
      assert.ok(!families.has(m[1]!), `HELP of ${m[1]} once`);
      families.set(m[1]!, { help: m[2]!, type: '', samples: [] });
      order.push(m[1]!);
      current = m[1]!;
      continue;
    }
    m = TYPE.exec(line);
    if (m !== null) {
      assert.equal(m[1], current, `TYPE right after the HELP of ${m[1]}`);
      const f = families.get(m[1]!)!;
      assert.equal(f.type, '', `TYPE of ${m[1]} once`);
      f.type = m[2]!;
      continue;
    }
    m = SAMPLE.exec(line);
    assert.ok(m !== null, `a sample line: ${JSON.stringify(line)}`);
    assert.equal(m[1], current, `sample ${m[1]} within its family`);
    families.get(current!)!.samples.push({ labels: m[2] ?? '', value: m[3]! });
  }
  return { families, order };
}

describe('renderMetrics', () => {
  it('exports the content type of format 0.0.4', () => {
    assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });

  it('writes olelo_<group>_<name>, _total on counters, HELP and TYPE once per family, sorted', () => {
    const stats = new StatsRegistry();
    stats.counter('core', 'rcv_requests', 'requests received').value = 12;
    stats.gauge('tm', 'current', 'transactions in progress').value = 3;
    stats.gauge('process', 'rss', 'resident set size', () => 4096);
    stats.counter('usrloc', 'location_expires', 'contacts expired').value = 1;
    const p = parse(renderMetrics(stats, { processStartTime: false }));
    assert.deepEqual(p.order, [
      'olelo_core_rcv_requests_total',
      'olelo_process_rss',
      'olelo_tm_current',
      'olelo_usrloc_location_expires_total',
    ]);
    const core = p.families.get('olelo_core_rcv_requests_total')!;
    assert.deepEqual(core, {
      help: 'requests received',
      type: 'counter',
      samples: [{ labels: '', value: '12' }],
    });
    assert.equal(p.families.get('olelo_tm_current')!.type, 'gauge');
    assert.equal(p.families.get('olelo_process_rss')!.samples[0]!.value, '4096');
  });

  it('groups a labelled family: one HELP/TYPE, one sample per member, labels sorted', () => {
    const stats = new StatsRegistry();
    const help = 'requests received, by method';
    for (const [m, n] of [
      ['INVITE', 5],
      ['ACK', 4],
      ['BYE', 2],
    ] as const) {
      stats.counter('core', `rcv_requests_${m.toLowerCase()}`, `${m}s`, {
        metric: { family: 'core_rcv_requests_by_method', labels: { method: m }, help },
      }).value = n;
    }
    const text = renderMetrics(stats, { processStartTime: false });
    const f = parse(text).families.get('olelo_core_rcv_requests_by_method_total')!;
    assert.equal(f.help, help);
    assert.equal(f.type, 'counter');
    assert.deepEqual(f.samples, [
      { labels: '{method="ACK"}', value: '4' },
      { labels: '{method="BYE"}', value: '2' },
      { labels: '{method="INVITE"}', value: '5' },
    ]);
    assert.equal(text.match(/# HELP/g)?.length, 1);
  });

  it('escapes label values and HELP text, sanitizes names', () => {
    const stats = new StatsRegistry();
    stats.gauge('my-module', '1st.value', 'a "doc" with \\ and\nnewline', {
      metric: { family: 'my-module/odd', labels: { 'bad-label': 'quote " back \\ nl \n end' } },
    }).value = 1.5;
    const text = renderMetrics(stats, { processStartTime: false });
    const p = parse(text);
    const f = p.families.get('olelo_my_module_odd')!;
    assert.equal(f.help, 'a "doc" with \\\\ and\\nnewline');
    assert.deepEqual(f.samples, [{ labels: '{bad_label="quote \\" back \\\\ nl \\n end"}', value: '1.5' }]);
    assert.equal(sanitizeMetricName('9lives.x'), '_9lives_x');
    assert.match(sanitizeMetricName('a-b c:d'), NAME);
  });

  it('writes NaN and infinities in the format’s spelling, and constant labels on every sample', () => {
    const stats = new StatsRegistry();
    stats.gauge('x', 'nan', 'n', () => Number.NaN);
    stats.gauge('x', 'inf', 'i', () => Number.POSITIVE_INFINITY);
    stats.gauge('x', 'ninf', 'i', () => Number.NEGATIVE_INFINITY);
    const p = parse(renderMetrics(stats, { processStartTime: false, labels: { instance: 'a"b' } }));
    assert.deepEqual(p.families.get('olelo_x_nan')!.samples, [
      { labels: '{instance="a\\"b"}', value: 'NaN' },
    ]);
    assert.equal(p.families.get('olelo_x_inf')!.samples[0]!.value, '+Inf');
    assert.equal(p.families.get('olelo_x_ninf')!.samples[0]!.value, '-Inf');
  });

  it('adds process_start_time_seconds, and never the same series twice', () => {
    const stats = new StatsRegistry();
    stats.counter('a', 'b_total', 'x').value = 1;
    stats.counter('a', 'b', 'y').value = 2; // sanitizes to the same name: the first one is kept
    const p = parse(renderMetrics(stats));
    assert.deepEqual(p.families.get('olelo_a_b_total')!.samples, [{ labels: '', value: '1' }]);
    const start = Number(p.families.get('process_start_time_seconds')!.samples[0]!.value);
    assert.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 5, `start ${start}`);
  });

  it('renders a server’s whole registry in the grammar', async () => {
    const { startServer } = await import('../helpers/server.js');
    const { server } = await startServer();
    try {
      const p = parse(renderMetrics(server.stats));
      for (const family of [
        'olelo_core_rcv_requests_by_method_total',
        'olelo_sl_replies_by_class_total',
        'olelo_tm_replies_by_class_total',
        'olelo_transport_connections',
        'olelo_tcp_current_opened_connections',
        'olelo_dns_cache_hits_total',
        'olelo_process_cpu_user_us_total',
        'olelo_usrloc_location_contacts',
      ]) {
        assert.ok(p.families.has(family), family);
      }
      assert.equal(p.families.get('olelo_core_rcv_requests_by_method_total')!.samples.length, 15);
    } finally {
      await server.stop(100);
    }
  });
});
