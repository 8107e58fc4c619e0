/**
 * Computed statistics over figures other layers keep themselves: the transport's counters (connections by
 * protocol, Kamailio's `tcp` group), the DNS resolver's cache and blacklist, and the process (CPU, memory,
 * event loop). Nothing here runs on the hot path: each value is read when a snapshot or a scrape asks.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DnsStats } from '../dns/resolver.js';
import type { Protocol, TransportStats } from '../transport/types.js';
import { readOncePerTurn, type StatsRegistry } from './stats.js';

const PROTOCOLS: readonly Protocol[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];
const STREAMS: readonly Protocol[] = ['tcp', 'tls', 'ws', 'wss'];

/**
 * Registers the transport's figures: `transport.*` per protocol (labelled `protocol` for Prometheus) and
 * Kamailio's `tcp.*` over every stream protocol (TCP, TLS, WS, WSS). `read` returns the counters
 * (`() => transport.stats()`); it is called once per snapshot.
 */
export function registerTransportStats(stats: StatsRegistry, read: () => TransportStats): void {
  const t = readOncePerTurn(read);
  const perProtocol = (
    name: string,
    kind: 'counter' | 'gauge',
    doc: string,
    pick: (s: TransportStats) => Record<Protocol, number>,
    protocols: readonly Protocol[] = PROTOCOLS,
  ) => {
    for (const p of protocols) {
      const options = {
        read: () => pick(t())[p],
        metric: { family: `transport_${name}`, labels: { protocol: p }, help: doc },
      };
      if (kind === 'counter') stats.counter('transport', `${name}_${p}`, `${doc} (${p})`, options);
      else stats.gauge('transport', `${name}_${p}`, `${doc} (${p})`, options);
    }
  };
  perProtocol('connections', 'gauge', 'connections open now', (s) => s.connections.current, STREAMS);
  perProtocol('connections_opened', 'counter', 'connections opened', (s) => s.connections.total, STREAMS);
  perProtocol(
    'connections_refused',
    'counter',
    'inbound connections refused by the limits',
    (s) => s.connections.refused,
    STREAMS,
  );
  perProtocol('rcv_messages', 'counter', 'messages received', (s) => s.received);
  perProtocol('sent_messages', 'counter', 'messages sent', (s) => s.sent);
  perProtocol('send_failures', 'counter', 'sends that failed, at once or later', (s) => s.sendFailures);
  perProtocol('rcv_bytes', 'counter', 'bytes of messages received', (s) => s.receivedBytes);
  perProtocol('sent_bytes', 'counter', 'bytes of messages sent', (s) => s.sentBytes);

  const closedDoc = 'connections closed, by reason';
  for (const reason of Object.keys(read().closed) as (keyof TransportStats['closed'])[]) {
    stats.counter('transport', `closed_${reason.replace(/-/g, '_')}`, `${closedDoc}: ${reason}`, {
      read: () => t().closed[reason],
      metric: { family: 'transport_connections_closed', labels: { reason }, help: closedDoc },
    });
  }
  const framingDoc = 'stream framing errors, by reason (each closed its connection)';
  for (const reason of Object.keys(read().framingErrors) as (keyof TransportStats['framingErrors'])[]) {
    stats.counter('transport', `framing_errors_${reason.replace(/-/g, '_')}`, `${framingDoc}: ${reason}`, {
      read: () => t().framingErrors[reason],
      metric: { family: 'transport_framing_errors', labels: { reason }, help: framingDoc },
    });
  }
  const droppedDoc = 'datagrams not handed on: too large, or not starting like SIP';
  for (const reason of ['oversize', 'garbage'] as const) {
    stats.counter('transport', `datagrams_dropped_${reason}`, `${droppedDoc}: ${reason}`, {
      read: () => t().datagramsDropped[reason],
      metric: { family: 'transport_datagrams_dropped', labels: { reason }, help: droppedDoc },
    });
  }
  stats.counter(
    'transport',
    'keepalive_pings',
    'CRLFCRLF pings received on streams (RFC 5626)',
    () => t().keepalives.pingsReceived,
  );
  stats.counter(
    'transport',
    'keepalive_pongs',
    'CRLF pongs sent on streams (RFC 5626)',
    () => t().keepalives.pongsSent,
  );
  stats.counter(
    'transport',
    'udp_keepalives',
    'UDP keepalive datagrams received (CRLF)',
    () => t().keepalives.udpKeepalives,
  );
  stats.counter(
    'transport',
    'write_queue_drops',
    'sends refused: the write buffer was full',
    () => t().writeQueueDrops,
  );
  stats.counter(
    'transport',
    'handler_errors',
    'exceptions thrown by the message handler (caught)',
    () => t().handlerErrors,
  );
  stats.counter(
    'transport',
    'tls_handshake_failures',
    'inbound TLS handshakes that failed: not TLS, no shared version or cipher, client certificate refused, aborted, too slow',
    () => t().tlsHandshakeFailures,
  );

  // Kamailio's tcp group, over every stream protocol (Kamailio's counts TLS and WS connections too)
  const sum = (r: Record<Protocol, number>) => r.tcp + r.tls + r.ws + r.wss;
  stats.gauge('tcp', 'current_opened_connections', 'stream connections open now (TCP, TLS, WS, WSS)', () =>
    sum(t().connections.current),
  );
  stats.counter('tcp', 'established', 'stream connections opened, inbound and outbound', () =>
    sum(t().connections.total),
  );
  stats.counter(
    'tcp',
    'connect_failed',
    'outbound connections that failed or timed out while connecting',
    () => t().closed['connect-failed'] + t().closed['connect-timeout'],
  );
  stats.counter('tcp', 'local_reject', 'inbound connections refused by the limits', () =>
    sum(t().connections.refused),
  );
  stats.counter('tcp', 'con_timeout', 'connections closed for being idle too long', () => t().closed.idle);
  stats.counter(
    'tcp',
    'con_reset',
    'connections closed by a socket error (resets included)',
    () => t().closed.error,
  );
  stats.counter('tcp', 'sendq_full', 'sends refused: the write buffer was full', () => t().writeQueueDrops);
}

/** Registers the resolver's figures in the `dns` group; `read` is `() => resolver.stats()`. */
export function registerDnsStats(stats: StatsRegistry, read: () => DnsStats): void {
  const d = readOncePerTurn(read);
  stats.counter('dns', 'queries', 'queries sent to DNS servers', () => d().queries);
  stats.counter(
    'dns',
    'cache_hits',
    'lookups answered from the cache (negative answers included)',
    () => d().cacheHits,
  );
  stats.counter(
    'dns',
    'cache_misses',
    'lookups not in the cache (a query sent or joined)',
    () => d().cacheMisses,
  );
  stats.counter('dns', 'coalesced', 'lookups that joined an identical query in flight', () => d().coalesced);
  stats.counter(
    'dns',
    'failed_dns_request',
    'queries that failed without an answer (SERVFAIL, timeout, refused, network error)',
    () => d().failures,
  );
  stats.gauge('dns', 'blacklisted', 'destinations blacklisted now (RFC 3263 §4.3)', () => d().blacklisted);
  stats.gauge('dns', 'cached', 'answers in the cache', () => d().cached);
}

/** Event loop delay, measured only once something reads it (a histogram with a 20 ms timer). */
let loopDelay: ReturnType<typeof monitorEventLoopDelay> | undefined;
const LOOP_RESOLUTION_MS = 20;

/**
 * The event loop's delay beyond the timer's resolution since the previous read: mean and max, in ms
 * (0 until there is a measure). The histogram is per process and starts at the first read.
 */
function readLoopDelay(): { mean: number; max: number } {
  if (loopDelay === undefined) {
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loopDelay.enable();
  }
  if (loopDelay.count === 0) return { mean: 0, max: 0 };
  const out = {
    mean: Math.max(0, loopDelay.mean / 1e6 - LOOP_RESOLUTION_MS),
    max: Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS),
  };
  loopDelay.reset();
  return out;
}

/** Registers the `process` group: CPU time, memory, event loop delay, start time. */
export function registerProcessStats(stats: StatsRegistry): void {
  const cpu = readOncePerTurn(() => process.cpuUsage());
  const memory = readOncePerTurn(() => process.memoryUsage());
  const loop = readOncePerTurn(readLoopDelay);
  stats.counter('process', 'cpu_user_us', 'CPU time in user mode, µs', () => cpu().user);
  stats.counter('process', 'cpu_system_us', 'CPU time in system mode, µs', () => cpu().system);
  stats.gauge('process', 'rss', 'resident set size, bytes', () => memory().rss);
  stats.gauge('process', 'heap_used', 'V8 heap in use, bytes', () => memory().heapUsed);
  stats.gauge('process', 'heap_total', 'V8 heap allocated, bytes', () => memory().heapTotal);
  stats.gauge(
    'process',
    'external',
    'memory of C++ objects bound to JavaScript (Buffers), bytes',
    () => memory().external,
  );
  stats.gauge(
    'process',
    'event_loop_lag_ms',
    'mean event loop delay since the previous read, ms (measured from the first read on)',
    () => loop().mean,
  );
  stats.gauge(
    'process',
    'event_loop_lag_max_ms',
    'largest event loop delay since the previous read, ms',
    () => loop().max,
  );
  const start = (performance.timeOrigin + 0) / 1000;
  stats.gauge(
    'process',
    'start_time_seconds',
    'when the process started, seconds since the Unix epoch',
    () => Math.round(start * 1000) / 1000,
  );
}
