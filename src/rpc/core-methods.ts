/**
 * The control methods of the core: `core.*`, `stats.*`, `tm.stats`, `sl.stats`, `cfg.*`, `script.reload`
 * and `system.*`. Names, arguments and result shapes follow Kamailio's where Kamailio has the method, so
 * tools written for `kamcmd`/jsonrpcs (Prometheus exporters, scripts) read olelo unchanged; olelo's own
 * (`core.memory`, `stats.get`, `stats.reset`) return plain objects.
 */
import { arch, platform } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import type { RuntimeConfig } from '../core/runtime-config.js';
import type { StatsRegistry } from '../core/stats.js';
import type { Listener, TransportStats } from '../transport/types.js';
import { type RpcRegistry, signature } from './registry.js';
import { RpcError, type RpcMethods } from './types.js';

/** What the core methods need of the server. */
export interface ControlTarget {
  readonly name: string;
  readonly version: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly stats: StatsRegistry;
  readonly listeners: readonly Listener[];
  readonly scriptPath: string;
  readonly runtimeConfig: RuntimeConfig;
  readonly limits: { maxConnections: number; maxConnectionsPerIp: number };
  transportStats(): TransportStats | undefined;
  reloadScript(): Promise<{ ok: true } | { ok: false; error: string }>;
}

/** `Mon Nov 23 17:34:42 2026`, the C `ctime` form Kamailio prints (local time). */
export function ctime(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${days[date.getDay()]} ${months[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())} ${date.getFullYear()}`;
}

function listenerUri(l: Listener): string {
  const host = l.family === 6 ? `[${l.address}]` : l.address;
  return `${l.protocol}:${host}:${l.port}`;
}

/** Statistics selected by Kamailio's arguments: `all`, `group:` or a bare statistic name. */
function selectStats(
  stats: StatsRegistry,
  names: readonly string[],
): Array<{ group: string; name: string; value: number }> {
  const wanted = names.length === 0 ? ['all'] : names;
  const out: Array<{ group: string; name: string; value: number }> = [];
  const seen = new Set<string>();
  const all = [...stats.all()];
  for (const w of wanted) {
    for (const s of all) {
      const key = `${s.group}.${s.name}`;
      const match =
        w === 'all' ||
        (w.endsWith(':') && s.group === w.slice(0, -1)) ||
        s.name === w ||
        key === w ||
        `${s.group}:${s.name}` === w;
      if (match && !seen.has(key)) {
        seen.add(key);
        out.push({ group: s.group, name: s.name, value: s.value });
      }
    }
  }
  return out.sort((a, b) => (a.group === b.group ? (a.name < b.name ? -1 : 1) : a.group < b.group ? -1 : 1));
}

/** `group.name` keys of a selection, for `stats.reset`. */
function resetSelection(stats: StatsRegistry, names: readonly string[]): number {
  const chosen = selectStats(stats, names);
  for (const s of chosen) stats.reset(`${s.group}.${s.name}`);
  return chosen.length;
}

/** The core's methods. `registry` answers the `system.*` introspection methods. */
export function coreMethods(target: ControlTarget, registry: RpcRegistry): RpcMethods {
  let maxHeapUsed = 0;
  const heap = () => {
    const h = getHeapStatistics();
    maxHeapUsed = Math.max(maxHeapUsed, h.used_heap_size);
    return h;
  };
  const stat = (key: string) => target.stats.get(key) ?? 0;
  const connections = () =>
    target.transportStats()?.connections.current ?? { udp: 0, tcp: 0, tls: 0, ws: 0, wss: 0 };

  return {
    'core.version': {
      doc: 'The server version, as `olelo VERSION (ARCH/OS) node VERSION`.',
      handler: () => `${target.name} ${target.version} (${arch()}/${platform()}) node ${process.version}`,
    },
    'core.uptime': {
      doc: 'The current time, the start time and the seconds since the start (Kamailio shape: now, up_since, uptime).',
      handler: () => ({
        now: ctime(new Date()),
        up_since: ctime(new Date(target.startedAt)),
        uptime: Math.floor((Date.now() - target.startedAt) / 1000),
      }),
    },
    'core.info': {
      doc: 'Version, process, route script, listeners and workers.',
      handler: () => ({
        version: `${target.name} ${target.version}`,
        id: target.name,
        compiler: `node ${process.version}`,
        compiled: '',
        flags: 'USE_TCP, USE_TLS, USE_WEBSOCKET, USE_IPV6, USE_DNS_CACHE, USE_NAPTR, USE_DST_BLOCKLIST',
        pid: process.pid,
        script: target.scriptPath,
        workers: 1,
        listeners: target.listeners.map((l) => ({
          proto: l.protocol,
          address: l.address,
          port: l.port,
          family: l.family === 6 ? 'ipv6' : 'ipv4',
          advertise: `${l.advertisedHost}:${l.advertisedPort}`,
          uri: listenerUri(l),
        })),
      }),
    },
    'core.psx': {
      doc: 'The processes of the server (one: olelo runs its work on one event loop), Kamailio shape.',
      handler: () => [{ IDX: 0, PID: process.pid, DSC: 'main process - event loop' }],
    },
    'core.sockets_list': {
      doc: 'The bound SIP listeners.',
      handler: () => ({
        socket: target.listeners.map((l) => ({
          PROTO: l.protocol,
          NAME: l.address,
          ADDRLIST: { ADDR: l.address },
          PORT: l.port,
          MCAST: 'no',
          MHOMED: 'no',
          ADVERTISE: `${l.advertisedHost}:${l.advertisedPort}`,
        })),
      }),
    },
    'core.memory': {
      doc: 'Process memory in bytes: resident set, JavaScript heap (used, total, limit), external and array buffers.',
      handler: () => {
        const m = process.memoryUsage();
        const h = heap();
        return {
          rss: m.rss,
          heap_used: m.heapUsed,
          heap_total: m.heapTotal,
          heap_limit: h.heap_size_limit,
          heap_max_used: maxHeapUsed,
          external: m.external,
          array_buffers: m.arrayBuffers,
        };
      },
    },
    'core.shmmem': {
      doc:
        'Memory in Kamailio’s shared-memory shape (total, free, used, real_used, max_used, fragments), read ' +
        'from the JavaScript heap: total is its limit, used what is live.',
      handler: () => {
        const h = heap();
        return {
          total: h.heap_size_limit,
          free: h.heap_size_limit - h.used_heap_size,
          used: h.used_heap_size,
          real_used: h.total_heap_size,
          max_used: maxHeapUsed,
          fragments: 0,
        };
      },
    },
    'core.tcp_info': {
      doc:
        'Stream connections (Kamailio shape: readers, max_connections, opened_connections, opened_tls_connections...), ' +
        'with olelo’s count by protocol.',
      handler: () => {
        const c = connections();
        return {
          readers: 1,
          max_connections: target.limits.maxConnections,
          max_tls_connections: target.limits.maxConnections,
          opened_connections: c.tcp + c.ws,
          opened_tls_connections: c.tls + c.wss,
          write_queued_bytes: 0,
          by_protocol: { tcp: c.tcp, tls: c.tls, ws: c.ws, wss: c.wss },
        };
      },
    },
    'core.echo': {
      doc: 'Returns its arguments (a connectivity check).',
      params: [{ name: 'values', type: 'any', rest: true }],
      handler: (...values: unknown[]) => values,
    },

    'stats.get': {
      doc: 'Statistics as `{ "group.name": value }`: all, one group (`tm`) or one statistic (`tm.current`).',
      params: [{ name: 'which', type: 'string', optional: true, doc: 'a group or group.name' }],
      handler: (which?: string) => {
        if (which === undefined || which === 'all') return target.stats.snapshot();
        if (which.includes('.')) {
          const value = target.stats.get(which);
          if (value === undefined) throw new RpcError(404, `no statistic ${which}`);
          return { [which]: value };
        }
        const group = target.stats.snapshot(which);
        if (Object.keys(group).length === 0) throw new RpcError(404, `no statistics group ${which}`);
        return group;
      },
    },
    'stats.reset': {
      doc: 'Sets counters to zero (gauges keep their value): all, one group or one statistic. Returns how many were reset.',
      params: [{ name: 'which', type: 'string', optional: true, doc: 'a group or group.name' }],
      handler: (which?: string) => {
        const names =
          which === undefined || which === 'all' ? ['all'] : which.includes('.') ? [which] : [`${which}:`];
        const n = resetSelection(target.stats, names);
        if (n === 0) throw new RpcError(404, `no statistic or group ${which}`);
        return { reset: n };
      },
    },
    'stats.get_statistics': {
      doc: 'Kamailio form: `all`, `group:` or names; answers a list of `group:name = value`.',
      params: [{ name: 'names', type: 'string', rest: true }],
      handler: (...names: string[]) =>
        selectStats(target.stats, names).map((s) => `${s.group}:${s.name} = ${s.value}`),
    },
    'stats.fetch': {
      doc: 'Kamailio form: `all`, `group:` or names; answers `{ "group.name": "value" }` (values as strings).',
      params: [{ name: 'names', type: 'string', rest: true }],
      handler: (...names: string[]) =>
        Object.fromEntries(
          selectStats(target.stats, names).map((s) => [`${s.group}.${s.name}`, String(s.value)]),
        ),
    },
    'stats.reset_statistics': {
      doc: 'Kamailio form: sets the named counters (`all`, `group:`, names) to zero.',
      params: [{ name: 'names', type: 'string', rest: true }],
      handler: (...names: string[]) => {
        resetSelection(target.stats, names);
        return {};
      },
    },
    'stats.clear_statistics': {
      doc: 'Kamailio form: answers the named statistics like stats.get_statistics, then sets the counters among them to zero.',
      params: [{ name: 'names', type: 'string', rest: true }],
      handler: (...names: string[]) => {
        const before = selectStats(target.stats, names).map((s) => `${s.group}:${s.name} = ${s.value}`);
        resetSelection(target.stats, names);
        return before;
      },
    },
    'tm.stats': {
      doc: 'Transaction statistics in Kamailio’s shape (current, waiting, total, total_local, replies by class...).',
      handler: () => ({
        current: stat('tm.current'),
        waiting: stat('tm.waiting'),
        total: stat('tm.total'),
        total_local: stat('tm.total_local'),
        rpl_received: stat('tm.rpl_received'),
        rpl_generated: stat('tm.rpl_generated'),
        rpl_sent: stat('tm.rpl_sent'),
        '6xx': stat('tm.6xx_replies'),
        '5xx': stat('tm.5xx_replies'),
        '4xx': stat('tm.4xx_replies'),
        '3xx': stat('tm.3xx_replies'),
        '2xx': stat('tm.2xx_replies'),
        created: stat('tm.created') || stat('tm.total'),
        freed: stat('tm.freed') || Math.max(0, stat('tm.total') - stat('tm.current')),
        delayed_free: 0,
      }),
    },
    'sl.stats': {
      doc: 'Stateless replies sent, by code and class (Kamailio shape).',
      handler: () => {
        const out: Record<string, number> = {};
        const codes = [
          '200',
          '202',
          '2xx',
          '300',
          '301',
          '302',
          '3xx',
          '400',
          '401',
          '403',
          '404',
          '407',
          '408',
          '483',
          '4xx',
          '500',
          '5xx',
          '6xx',
          'xxx',
        ];
        for (const c of codes) out[c] = stat(`sl.${c}_replies`);
        return out;
      },
    },

    'cfg.get': {
      doc: 'The value of a setting changeable at runtime (`cfg.list` lists them); names as in the config file or Kamailio’s (`fr_inv_timer`).',
      params: [
        { name: 'group', type: 'string', doc: 'log, tm, registrar...' },
        { name: 'name', type: 'string' },
      ],
      handler: (group: string, name: string) => target.runtimeConfig.get(group, name),
    },
    'cfg.set': {
      doc: 'Changes a setting at once, after checking it as the config file would (durations in ms or as `5s`); answers the value now in force.',
      params: [
        { name: 'group', type: 'string' },
        { name: 'name', type: 'string' },
        { name: 'value', type: 'any' },
      ],
      handler: (group: string, name: string, value: unknown) => target.runtimeConfig.set(group, name, value),
    },
    'cfg.list': {
      doc: 'The settings changeable at runtime, as `group: name` (Kamailio form).',
      handler: () => target.runtimeConfig.list().map((s) => `${s.group}: ${s.name}`),
    },
    'cfg.help': {
      doc: 'What a runtime setting means and what it accepts.',
      params: [
        { name: 'group', type: 'string' },
        { name: 'name', type: 'string' },
      ],
      handler: (group: string, name: string) => {
        const s = target.runtimeConfig.find(group, name);
        return `${s.schema.options.doc ?? ''} (${s.schema.expected})`.trim();
      },
    },

    'script.reload': {
      doc: 'Loads the route script again; the running one stays when the new one does not compile or load (error 500 with the reason).',
      handler: async () => {
        const result = await target.reloadScript();
        if (!result.ok) throw new RpcError(500, `script not reloaded: ${result.error}`);
        return { reloaded: target.scriptPath };
      },
    },

    'system.listMethods': {
      doc: 'Every method name.',
      handler: () => registry.names(),
    },
    'system.methodHelp': {
      doc: 'What a method does.',
      params: [{ name: 'method', type: 'string' }],
      handler: (name: string) => {
        const m = registry.get(name);
        if (m === undefined) throw new RpcError(404, `no method ${name}`);
        return m.doc;
      },
    },
    'system.methodSignature': {
      doc: 'How a method is called: its name and parameters (optional ones in brackets).',
      params: [{ name: 'method', type: 'string' }],
      handler: (name: string) => {
        const m = registry.get(name);
        if (m === undefined) throw new RpcError(404, `no method ${name}`);
        return signature(name, m);
      },
    },
  };
}
