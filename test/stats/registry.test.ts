/**
 * The statistics registry: plain and computed stats, reset of everything, a group or one key, Prometheus
 * metadata; the pipeline's counters by method and class.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  registerDnsStats,
  registerProcessStats,
  registerTransportStats,
} from '../../src/core/layer-stats.js';
import { ReceivedCounters, StatelessReplyCounters } from '../../src/core/message-stats.js';
import { readOncePerTurn, StatsRegistry } from '../../src/core/stats.js';
import { createStats } from '../../src/transport/stats.js';

describe('StatsRegistry', () => {
  it('returns the same object for the same counter, incremented in place', () => {
    const stats = new StatsRegistry();
    const a = stats.counter('core', 'rcv_requests', 'requests received');
    a.value++;
    a.value++;
    assert.equal(stats.counter('core', 'rcv_requests'), a);
    assert.equal(stats.get('core.rcv_requests'), 2);
    assert.equal(stats.get('core.nothing'), undefined);
    assert.deepEqual(stats.snapshot('core'), { 'core.rcv_requests': 2 });
  });

  it('reads a computed stat when asked, and refuses writes to it', () => {
    const stats = new StatsRegistry();
    let connections = 3;
    const g = stats.gauge('transport', 'connections_tcp', 'open', () => connections);
    assert.equal(g.computed, true);
    assert.equal(stats.get('transport.connections_tcp'), 3);
    connections = 5;
    assert.deepEqual(stats.snapshot('transport'), { 'transport.connections_tcp': 5 });
    assert.throws(() => {
      g.value = 1;
    }, TypeError);
  });

  it('replaces the reader of a computed stat registered again, and refuses to turn a plain stat computed', () => {
    const stats = new StatsRegistry();
    stats.gauge('dns', 'cached', '', () => 1);
    stats.gauge('dns', 'cached', '', () => 2);
    assert.equal(stats.get('dns.cached'), 2);
    stats.counter('core', 'x');
    assert.throws(() => stats.counter('core', 'x', '', () => 1), /not computed/);
    assert.throws(() => stats.gauge('dns', 'cached'), /is computed/);
  });

  it('resets every counter, one group, or one group.name, never gauges', () => {
    const stats = new StatsRegistry();
    const a = stats.counter('core', 'a');
    const b = stats.counter('core', 'b');
    const t = stats.counter('tm', 'total');
    const g = stats.gauge('tm', 'current');
    a.value = 1;
    b.value = 2;
    t.value = 3;
    g.value = 4;
    assert.equal(stats.reset('core.a'), 1);
    assert.deepEqual(stats.snapshot(), { 'core.a': 0, 'core.b': 2, 'tm.total': 3, 'tm.current': 4 });
    assert.equal(stats.reset('tm'), 1);
    assert.deepEqual(stats.snapshot(), { 'core.a': 0, 'core.b': 2, 'tm.total': 0, 'tm.current': 4 });
    assert.equal(stats.reset('tm.current'), 0);
    assert.equal(stats.get('tm.current'), 4);
    a.value = 7;
    assert.equal(stats.reset(), 3);
    assert.deepEqual(stats.snapshot(), { 'core.a': 0, 'core.b': 0, 'tm.total': 0, 'tm.current': 4 });
    assert.equal(stats.reset('nosuch'), 0);
  });

  it('resets a computed counter by counting from the value it had', () => {
    const stats = new StatsRegistry();
    let raw = 10;
    stats.counter('dns', 'queries', '', () => raw);
    assert.equal(stats.reset('dns.queries'), 1);
    assert.equal(stats.get('dns.queries'), 0);
    raw = 13;
    assert.equal(stats.get('dns.queries'), 3);
    raw = 2; // the source restarted (the resolver's clear())
    assert.equal(stats.get('dns.queries'), 2);
  });

  it('keeps the Prometheus family and labels of a stat', () => {
    const stats = new StatsRegistry();
    const s = stats.counter('core', 'rcv_requests_invite', 'INVITEs', {
      metric: { family: 'core_rcv_requests_by_method', labels: { method: 'INVITE' } },
    });
    assert.deepEqual(s.metric, { family: 'core_rcv_requests_by_method', labels: { method: 'INVITE' } });
    assert.equal(stats.counter('core', 'plain').metric, undefined);
    assert.deepEqual(stats.groups(), ['core']);
  });

  it('readOncePerTurn shares one read within a synchronous turn', async () => {
    let reads = 0;
    const read = readOncePerTurn(() => ({ n: ++reads }));
    assert.equal(read().n, 1);
    assert.equal(read().n, 1);
    await Promise.resolve();
    assert.equal(read().n, 2);
  });
});

describe('ReceivedCounters and StatelessReplyCounters', () => {
  it('counts requests by method, others as unsupported_methods, and replies by class and code', () => {
    const stats = new StatsRegistry();
    const r = new ReceivedCounters(stats);
    for (const m of ['INVITE', 'INVITE', 'ACK', 'BYE', 'OPTIONS', 'UPDATE', 'FOO', 'invite']) r.request(m);
    for (const s of [100, 180, 183, 200, 401, 404, 486, 503, 603]) r.reply(s);
    const core = stats.snapshot('core');
    assert.equal(core['core.rcv_requests_invite'], 2);
    assert.equal(core['core.rcv_requests_ack'], 1);
    assert.equal(core['core.rcv_requests_bye'], 1);
    assert.equal(core['core.rcv_requests_options'], 1);
    assert.equal(core['core.rcv_requests_update'], 1);
    assert.equal(core['core.rcv_requests_register'], 0);
    // method names are case-sensitive (RFC 3261 §7.1): `invite` is another method
    assert.equal(core['core.unsupported_methods'], 2);
    assert.equal(core['core.rcv_replies_1xx'], 3);
    assert.equal(core['core.rcv_replies_18x'], 2);
    assert.equal(core['core.rcv_replies_2xx'], 1);
    assert.equal(core['core.rcv_replies_4xx'], 3);
    assert.equal(core['core.rcv_replies_401'], 1);
    assert.equal(core['core.rcv_replies_404'], 1);
    assert.equal(core['core.rcv_replies_486'], 1);
    assert.equal(core['core.rcv_replies_5xx'], 1);
    assert.equal(core['core.rcv_replies_6xx'], 1);
  });

  it('counts stateless replies by class, by code, and in sent_replies', () => {
    const stats = new StatsRegistry();
    const sl = new StatelessReplyCounters(stats);
    for (const s of [100, 200, 200, 202, 404, 407, 480, 500, 503, 603, 799]) sl.reply(s);
    const g = stats.snapshot('sl');
    assert.equal(g['sl.sent_replies'], 11);
    assert.equal(g['sl.1xx_replies'], 1);
    assert.equal(g['sl.2xx_replies'], 3);
    assert.equal(g['sl.200_replies'], 2);
    assert.equal(g['sl.202_replies'], 1);
    assert.equal(g['sl.4xx_replies'], 3);
    assert.equal(g['sl.404_replies'], 1);
    assert.equal(g['sl.407_replies'], 1);
    assert.equal(g['sl.5xx_replies'], 2);
    assert.equal(g['sl.500_replies'], 1);
    assert.equal(g['sl.6xx_replies'], 1);
    assert.equal(g['sl.xxx_replies'], 1);
  });
});

describe('computed stats of other layers', () => {
  it('transport: connections per stream protocol and Kamailio’s tcp group', () => {
    const stats = new StatsRegistry();
    const counters = createStats();
    let copies = 0;
    registerTransportStats(stats, () => {
      copies++;
      return counters;
    });
    counters.connections.current.tcp = 2;
    counters.connections.current.tls = 1;
    counters.connections.total.tcp = 7;
    counters.connections.refused.ws = 1;
    counters.received.udp = 40;
    counters.sent.tcp = 9;
    counters.closed['connect-failed'] = 1;
    counters.closed['connect-timeout'] = 2;
    counters.closed.idle = 3;
    copies = 0;
    const snap = stats.snapshot();
    assert.equal(copies, 1, 'one read of the transport per snapshot');
    assert.equal(snap['transport.connections_tcp'], 2);
    assert.equal(snap['transport.connections_tls'], 1);
    assert.equal(snap['transport.connections_udp'], undefined);
    assert.equal(snap['transport.connections_opened_tcp'], 7);
    assert.equal(snap['transport.rcv_messages_udp'], 40);
    assert.equal(snap['transport.sent_messages_tcp'], 9);
    assert.equal(snap['transport.closed_connect_failed'], 1);
    assert.equal(snap['tcp.current_opened_connections'], 3);
    assert.equal(snap['tcp.established'], 7);
    assert.equal(snap['tcp.connect_failed'], 3);
    assert.equal(snap['tcp.local_reject'], 1);
    assert.equal(snap['tcp.con_timeout'], 3);
    assert.equal(stats.find('transport.connections_tcp')?.metric?.labels.protocol, 'tcp');
  });

  it('dns: hits, misses, failures, blacklist', () => {
    const stats = new StatsRegistry();
    registerDnsStats(stats, () => ({
      queries: 4,
      cacheHits: 10,
      cacheMisses: 5,
      coalesced: 1,
      failures: 2,
      blacklisted: 3,
      cached: 6,
    }));
    assert.deepEqual(stats.snapshot('dns'), {
      'dns.queries': 4,
      'dns.cache_hits': 10,
      'dns.cache_misses': 5,
      'dns.coalesced': 1,
      'dns.failed_dns_request': 2,
      'dns.blacklisted': 3,
      'dns.cached': 6,
    });
  });

  it('process: CPU time grows, memory is the process’s', async () => {
    const stats = new StatsRegistry();
    registerProcessStats(stats);
    const before = stats.get('process.cpu_user_us')! + stats.get('process.cpu_system_us')!;
    const end = performance.now() + 30;
    while (performance.now() < end) {
      // burn CPU
    }
    await Promise.resolve(); // values read within one turn are one reading
    const after = stats.get('process.cpu_user_us')! + stats.get('process.cpu_system_us')!;
    assert.ok(after - before >= 10_000, `cpu grew ${after - before} µs`);
    const rss = stats.get('process.rss')!;
    assert.ok(Math.abs(rss - process.memoryUsage.rss()) < 64 * 1024 * 1024, `rss ${rss}`);
    assert.ok(stats.get('process.heap_used')! <= stats.get('process.heap_total')!);
    const start = stats.get('process.start_time_seconds')!;
    assert.ok(Math.abs(start - (Date.now() - process.uptime() * 1000) / 1000) < 5, `start ${start}`);
    assert.equal(stats.find('process.event_loop_lag_ms')?.kind, 'gauge');
  });
});
