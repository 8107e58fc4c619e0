/**
 * olelo's configuration: the core schema, and the loader that reads a YAML file, applies `OLELO_*`
 * environment overrides, validates everything (core and module parameters) and reports each problem
 * with the file, line and column, or the environment variable, it came from.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { parseDatabaseUrl, redactUrl, resolveDatabaseUrl } from '../db/url.js';
import { isIPv4, isIPv6, scanHostPort } from '../sip/host.js';
import { DEFAULT_LIMITS } from '../sip/limits.js';
import {
  type AnySchema,
  describeValue,
  formatIssue,
  formatPath,
  type Infer,
  type Issue,
  type Path,
  s,
  suggest,
  validate,
} from './schema.js';

// ---------------------------------------------------------------------------------------------------
// Listeners

/** The transports a listener can serve. */
export const PROTOCOLS = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;

/** A transport protocol. */
export type Protocol = (typeof PROTOCOLS)[number];

/** The port a listener uses when none is written. */
export const DEFAULT_PORTS: Readonly<Record<Protocol, number>> = Object.freeze({
  udp: 5060,
  tcp: 5060,
  tls: 5061,
  ws: 8080,
  wss: 8443,
});

/** A normalized listener. Addresses are bare (IPv6 without brackets). */
export interface ListenerConfig {
  protocol: Protocol;
  /** The IP address to bind. */
  address: string;
  port: number;
  family: 4 | 6;
  /** The host and port to put in Via, Record-Route and Contact instead of the bound address (NAT). */
  advertise?: { host: string; port: number };
}

const LISTENER_SHAPE = "'proto:address:port' with proto udp|tcp|tls|ws|wss";

function isProtocol(text: string): text is Protocol {
  return (PROTOCOLS as readonly string[]).includes(text);
}

/** Splits `address[:port]` where an IPv6 address is in brackets; throws with a reason. */
function splitAddress(text: string): { address: string; family: 4 | 6; port: number | undefined } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) throw new Error("IPv6 address without closing ']'");
    const address = text.slice(1, close);
    if (!isIPv6(address)) throw new Error(`'${address}' is not an IPv6 address`);
    const rest = text.slice(close + 1);
    if (rest === '') return { address, family: 6, port: undefined };
    if (!rest.startsWith(':')) throw new Error(`unexpected '${rest}' after the address`);
    return { address, family: 6, port: parsePort(rest.slice(1)) };
  }
  const colon = text.indexOf(':');
  const address = colon === -1 ? text : text.slice(0, colon);
  if (colon !== -1 && text.indexOf(':', colon + 1) !== -1)
    throw new Error('write IPv6 addresses in brackets: [::1]');
  if (!isIPv4(address)) throw new Error(`'${address}' is not an IP address`);
  return { address, family: 4, port: colon === -1 ? undefined : parsePort(text.slice(colon + 1)) };
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new Error(`'${text}' is not a port (0-65535)`);
  return Number(text);
}

/** Parses an advertised `host[:port]`; the port defaults to the listener's. Throws with a reason. */
function parseAdvertise(text: string, listenerPort: number): { host: string; port: number } {
  let hostPort: ReturnType<typeof scanHostPort>;
  try {
    hostPort = scanHostPort(text, 0);
  } catch (error) {
    throw new Error(`advertise: ${(error as Error).message}`);
  }
  if (hostPort.end !== text.length) throw new Error(`advertise: unexpected '${text.slice(hostPort.end)}'`);
  if (hostPort.port === 0) throw new Error('advertise: port 0 cannot be reached');
  const host = hostPort.kind === 'ipv6' ? hostPort.host.slice(1, -1) : hostPort.host.toLowerCase();
  return { host, port: hostPort.port ?? listenerPort };
}

/**
 * Parses a listener string: `proto:address[:port][ advertise host[:port]]`, e.g. `udp:10.0.0.5:5060`,
 * `tls:[2001:db8::5]`, `udp:10.0.0.5:5060 advertise 203.0.113.7:5060`. Throws an Error whose message
 * is the reason (empty when the overall shape is wrong).
 */
export function parseListener(text: string): ListenerConfig {
  const words = text.trim().split(/\s+/);
  const colon = words[0]!.indexOf(':');
  const protocol = colon === -1 ? '' : words[0]!.slice(0, colon).toLowerCase();
  if (!isProtocol(protocol)) throw new Error();
  const { address, family, port: written } = splitAddress(words[0]!.slice(colon + 1));
  const port = written ?? DEFAULT_PORTS[protocol];
  const listener: ListenerConfig = { protocol, address, port, family };
  if (words.length === 1) return listener;
  if (words.length !== 3 || words[1] !== 'advertise')
    throw new Error(`expected 'advertise host[:port]' after the address`);
  listener.advertise = parseAdvertise(words[2]!, port);
  return listener;
}

/** Formats a listener the way it is written in a config: `udp:[::1]:5060 advertise 203.0.113.7:5060`. */
export function formatListener(listener: ListenerConfig): string {
  const address = listener.family === 6 ? `[${listener.address}]` : listener.address;
  const base = `${listener.protocol}:${address}:${listener.port}`;
  const advertise = listener.advertise;
  if (advertise === undefined) return base;
  const host = advertise.host.includes(':') ? `[${advertise.host}]` : advertise.host;
  return `${base} advertise ${host}:${advertise.port}`;
}

const listenerString = s.custom<ListenerConfig, string>((value) => {
  if (typeof value !== 'string') throw new TypeError();
  return parseListener(value);
}, LISTENER_SHAPE);

const ipAddress = s.custom<{ address: string; family: 4 | 6 }, string>((value) => {
  if (typeof value !== 'string') throw new TypeError();
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (isIPv4(bare)) return { address: bare, family: 4 };
  if (isIPv6(bare)) return { address: bare, family: 6 };
  throw new Error();
}, 'an IPv4 or IPv6 address');

const advertiseString = s.custom<string, string>((value) => {
  if (typeof value !== 'string') throw new TypeError();
  parseAdvertise(value, 1);
  return value;
}, 'host[:port]');

const listenerObject = s
  .object({
    proto: s.enum(PROTOCOLS),
    address: ipAddress,
    port: s.integer({ min: 0, max: 65535 }).optional(),
    advertise: advertiseString.optional(),
  })
  .map((o): ListenerConfig => {
    const port = o.port ?? DEFAULT_PORTS[o.proto];
    const listener: ListenerConfig = {
      protocol: o.proto,
      address: o.address.address,
      port,
      family: o.address.family,
    };
    if (o.advertise !== undefined) listener.advertise = parseAdvertise(o.advertise, port);
    return listener;
  });

const listener = s.union([listenerString, listenerObject]);

// ---------------------------------------------------------------------------------------------------
// The control API

/** Where the control HTTP server binds, or `off`. */
export type ControlListen = { host: string; port: number } | 'off';

const controlListen = s.custom<ControlListen, string>(
  (value) => {
    if (value === 'off' || value === false) return 'off';
    if (typeof value !== 'string') throw new TypeError();
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)|([a-zA-Z0-9.-]+)):(\d{1,5})$/.exec(value);
    const port = m === null ? Number.NaN : Number(m[4]);
    if (m === null || port > 65535)
      throw new Error(`expected host:port ([v6]:port) or off, got ${JSON.stringify(value)}`);
    const host = m[1] ?? m[2] ?? m[3]!;
    if (m[1] !== undefined && !isIPv6(host)) throw new Error(`${host} is not an IPv6 address`);
    if (m[2] !== undefined && !isIPv4(host)) throw new Error(`${host} is not an IPv4 address`);
    return { host, port };
  },
  'host:port or off',
  {
    default: '127.0.0.1:8090',
    doc:
      'Address of the HTTP server for JSON-RPC (`POST /RPC`), Prometheus metrics (`/metrics`) and the web ' +
      'dashboard; `off` for none. Bound to a loopback address, `/RPC` and `/metrics` need no credentials; ' +
      'bound elsewhere they need `control.http.token` (the dashboard always needs a login).',
    example: '0.0.0.0:8090',
  },
);

// ---------------------------------------------------------------------------------------------------
// The database

const databaseUrlSetting = s.custom<string, string>(
  (value) => {
    if (typeof value !== 'string') throw new TypeError();
    parseDatabaseUrl(value); // throws a StorageError saying what is wrong
    return value;
  },
  'a database URL',
  {
    doc:
      'The database: `sqlite:FILE` (embedded; a relative path is taken from the config file’s folder), ' +
      '`postgres://user:password@host:port/database` or `mysql://user:password@host:port/database` ' +
      '(MySQL or MariaDB). Unset: the SQLite file `olelo.db` in `dataDir`. Keep passwords out of the file ' +
      'with the variable OLELO_DATABASE__URL.',
    example: 'postgres://olelo:secret@db.example.com:5432/kamailio',
    show: (value) => (typeof value === 'string' ? JSON.stringify(redactUrl(value)) : describeValue(value)),
  },
);

// ---------------------------------------------------------------------------------------------------
// The core schema

const domain = s.custom<string, string>((value) => {
  if (typeof value !== 'string') throw new TypeError();
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (isIPv6(bare)) return bare.toLowerCase();
  const hostPort = scanHostPort(value, 0);
  if (hostPort.end !== value.length) throw new Error();
  if (hostPort.port !== undefined) throw new Error('a domain takes no port');
  return value.toLowerCase();
}, 'a hostname or IP address');

/** Cross-field rule: a `tls` or `wss` listener needs `tls.certificate` and `tls.key`. */
function requireTlsFiles(config: {
  listen: ListenerConfig[];
  tls: { certificate?: string; key?: string };
}): Array<{ path: Path; message: string }> {
  const index = config.listen.findIndex((l) => l.protocol === 'tls' || l.protocol === 'wss');
  if (index === -1 || (config.tls.certificate !== undefined && config.tls.key !== undefined)) return [];
  const missing = [
    config.tls.certificate === undefined ? 'tls.certificate' : '',
    config.tls.key === undefined ? 'tls.key' : '',
  ]
    .filter((name) => name !== '')
    .join(' and ');
  const protocol = config.listen[index]!.protocol;
  return [{ path: ['listen', index], message: `a ${protocol} listener needs ${missing} to be set` }];
}

const coreFields = {
  listen: s.array(listener, {
    minItems: 1,
    default: ['udp:0.0.0.0:5060', 'tcp:0.0.0.0:5060', 'udp:[::]:5060', 'tcp:[::]:5060', 'ws:0.0.0.0:8080'],
    doc:
      'Where to receive SIP. Each listener is `proto:address[:port]` (proto udp, tcp, tls, ws or wss; IPv6 in ' +
      'brackets; port defaults to 5060 for udp and tcp, 5061 for tls, 8080 for ws, 8443 for wss), optionally ' +
      'followed by `advertise host[:port]`: the address to put in Via and Record-Route when olelo is behind NAT. ' +
      'A listener may also be a map `{ proto, address, port, advertise }`. Port 0 picks a free port (for tests). ' +
      'Of the defaults, the IPv6 listeners are left out on hosts without IPv6. Transports are switched on here: ' +
      'the default `ws:0.0.0.0:8080` serves WebSocket clients (JsSIP, SIP.js; leave it out to switch WebSocket off), ' +
      'and adding `tls:0.0.0.0:5061` or `wss:0.0.0.0:8443` (with `tls.certificate` and `tls.key`) switches TLS on.',
    example: ['udp:10.0.0.5:5060 advertise 203.0.113.7', 'tls:[2001:db8::5]', 'wss:0.0.0.0:443'],
  }),
  domains: s.array(domain, {
    default: [],
    doc:
      'The domains and extra host names this server answers for (its own, like Kamailio `alias`); requests ' +
      'to them are handled here rather than forwarded. The listeners’ addresses count too, without being listed.',
    example: ['example.com', 'sip.example.com'],
  }),
  tls: s.object(
    {
      certificate: s
        .path({ doc: 'PEM certificate chain. Required when a `tls` or `wss` listener exists.' })
        .optional(),
      key: s.path({ doc: 'PEM private key of the certificate. Required with the certificate.' }).optional(),
      ca: s
        .path({ doc: 'PEM CA bundle to verify client certificates with; the system CAs when unset.' })
        .optional(),
      verifyClient: s.enum(['none', 'optional', 'required'], {
        default: 'none',
        doc: 'Whether TLS clients must present a certificate the CA signed.',
      }),
      minVersion: s.enum(['TLSv1.2', 'TLSv1.3'], {
        default: 'TLSv1.2',
        doc: 'The oldest TLS version accepted.',
      }),
      ciphers: s
        .string({
          minLength: 1,
          doc:
            'OpenSSL cipher list for TLS 1.2 (and TLS 1.3 suites named `TLS_...`), as node:tls takes it; ' +
            'the Node.js default when unset. A client offering none of them fails the handshake.',
          example: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384',
        })
        .optional(),
    },
    {
      doc: 'Certificates and policy for `tls` and `wss` listeners. Relative paths are taken from the config file’s folder.',
    },
  ),
  limits: s.object(
    {
      maxMessageSize: s.integer({
        min: 512,
        max: 16 * 1024 * 1024,
        default: 65535,
        doc: 'Largest SIP message accepted, in bytes (start line, headers and body).',
      }),
      maxHeaderCount: s.integer({
        min: 16,
        max: 100_000,
        default: DEFAULT_LIMITS.maxHeaderCount,
        doc: 'Most header fields in one message.',
      }),
      maxLineLength: s.integer({
        min: 256,
        max: 1024 * 1024,
        default: DEFAULT_LIMITS.maxLineLength,
        doc: 'Longest header line, in bytes.',
      }),
      maxViaCount: s.integer({
        min: 2,
        max: 10_000,
        default: DEFAULT_LIMITS.maxViaCount,
        doc: 'Most Via header fields in one message.',
      }),
      maxConnections: s.integer({
        runtime: true,
        min: 1,
        max: 10_000_000,
        default: 10_000,
        doc: 'Most open TCP, TLS and WebSocket connections; new ones are refused beyond it.',
      }),
      maxConnectionsPerIp: s.integer({
        runtime: true,
        min: 1,
        max: 10_000_000,
        default: 100,
        doc: 'Most open connections from one IP address.',
      }),
      connectionIdleTimeout: s.duration({
        runtime: true,
        min: 1000,
        default: '10m',
        doc: 'A connection with no traffic for this long is closed.',
      }),
      messageReadTimeout: s.duration({
        runtime: true,
        min: 100,
        default: '10s',
        doc: 'A connection that stalls in the middle of a message for longer than this is closed (slowloris defence).',
      }),
      maxTransactions: s.integer({
        runtime: true,
        min: 0,
        max: 100_000_000,
        default: 0,
        doc:
          'Most transactions in progress (`tm.current`); beyond it, new requests (not ACK, CANCEL or in-dialog ' +
          'requests) get 503 with Retry-After before the route script runs. 0: no limit.',
      }),
      memoryHighWatermark: s.number({
        runtime: true,
        min: 0,
        max: 1,
        default: 0.85,
        doc:
          'Share of the JavaScript heap limit in use (sampled every 250 ms) above which new requests get 503 ' +
          'with Retry-After, until it falls below 90% of this. 0: off.',
      }),
      maxEventLoopUtilization: s.number({
        runtime: true,
        min: 0,
        max: 1,
        default: 0,
        doc:
          'Share of time the event loop may be busy (sampled every 100 ms). Above it only a share of new requests ' +
          'is admitted (cut in proportion to the excess, raised again below 90% of this); the others get 503 with ' +
          'Retry-After. Past its CPU a UDP server queues datagrams until the socket drops them and the ' +
          'retransmissions add load. 0.9 suits a server on its own core. 0: off.',
      }),
      overloadRetryAfter: s.integer({
        runtime: true,
        min: 0,
        max: 86_400,
        default: 5,
        doc: 'Seconds in the Retry-After header of the 503 sent when overloaded.',
      }),
    },
    { doc: 'Bounds that protect the server against hostile or broken peers.' },
  ),
  dns: s.object(
    {
      servers: s
        .array(s.string({ minLength: 1 }), {
          doc: 'DNS servers as `ip` or `ip:port`; the system resolver configuration when unset.',
          example: ['127.0.0.1:5353'],
        })
        .optional(),
      cacheSize: s.integer({
        min: 0,
        max: 10_000_000,
        default: 10_000,
        doc: 'Most records kept in the DNS cache.',
      }),
      negativeTtl: s.duration({ default: '30s', doc: 'How long a name that does not exist is remembered.' }),
      blacklistTime: s.duration({
        default: '60s',
        doc: 'How long a destination that failed (transport error, timeout, 503) is skipped while others remain.',
      }),
      timeout: s.duration({ default: '2s', doc: 'Longest wait for one DNS lookup, retries included.' }),
      preferIPv6: s.boolean({ default: false, doc: 'Try AAAA addresses before A ones.' }),
    },
    {
      doc: 'Resolving next hops (RFC 3263: NAPTR, SRV, A/AAAA), with a cache and a blacklist of failed destinations.',
    },
  ),
  log: s.object(
    {
      level: s.enum(['error', 'warn', 'info', 'debug'], {
        default: 'info',
        runtime: true,
        doc: 'The least severe messages written.',
      }),
      format: s.enum(['text', 'json'], {
        default: 'text',
        doc: '`text` for people, `json` (one object per line) for log collectors.',
      }),
    },
    { doc: 'Logging, to standard output.' },
  ),
  script: s.path({
    default: 'scripts/default.ts',
    doc: 'The route script (TypeScript or JavaScript): what to do with each request and reply.',
    example: 'routes.ts',
  }),
  features: s.object(
    {
      auth: s.boolean({
        default: true,
        doc:
          'Digest authentication against the `subscriber` table (and `modules.auth.users`): a REGISTER is ' +
          'challenged (401) and may bind only the authenticated user’s own AOR; a request whose From is in a ' +
          'local domain is challenged (407) and its From must be the authenticated user (else 403); a request ' +
          'from a foreign domain to a foreign domain is refused with 403, so the server is no open relay. ' +
          'Off: anyone may register any AOR of a local domain and every request is relayed — for a closed ' +
          'network or a test bench only.',
      }),
      nat: s.boolean({
        default: true,
        doc:
          'Clients behind NAT and WebSocket clients: a REGISTER from behind a NAT is bound to the address it ' +
          'came from (`fixNatedRegister`), and the Contact of their other requests gets an `alias` parameter ' +
          'naming their real address (`setContactAlias`), which in-dialog requests follow back ' +
          '(`handleRuriAlias`). Off: Contacts are taken as written (clients on TCP, TLS and WebSocket are still ' +
          'reached over their connection, by their registration).',
      }),
      aliases: s.boolean({
        default: true,
        doc:
          'Alias numbers and names from the `dbaliases` table (`olelo alias add`): a call to an alias that is ' +
          'not itself registered reaches the user it points to.',
      }),
      blockScanners: s.boolean({
        default: true,
        doc:
          'Requests whose User-Agent names a known SIP scanner (`modules.permissions.scannerUserAgents`: ' +
          'friendly-scanner, sipvicious, sipcli, ...) are dropped without reply, before any other work. Off: ' +
          'they are handled like any request (and refused by authentication).',
      }),
      registerRateLimit: s.boolean({
        default: true,
        doc:
          'REGISTERs pass through the `ratelimit` pipe `register` (when it exists; 20,000 a second by default, ' +
          'see `modules.ratelimit.pipes`) before authentication: over the limit they are answered 503 with ' +
          'Retry-After (`modules.ratelimit.retryAfter`). Off: REGISTERs are not counted.',
      }),
      floodProtection: s.boolean({
        default: true,
        doc:
          'Flood protection (Kamailio’s WITH_ANTIFLOOD): a source IP sending more requests than `modules.pike` ' +
          'allows (30 per 2 s by default) is put in the htable `ipban` and its requests are dropped without ' +
          'reply until the ban expires (the table’s `autoExpire`, 5 minutes by default). The server’s own ' +
          'addresses and trusted sources (`permissions` address group 1) are never counted nor banned. Off: ' +
          'no request is counted or dropped for its rate.',
      }),
    },
    {
      doc:
        'Switches of the route script, like the `WITH_*` defines of kamailio.cfg: scripts read them as ' +
        '`m.features` (`if (m.features.auth) …`) and scripts/default.ts honours each of them. Changing one ' +
        'needs a restart. TLS and WebSocket need no switch: they are on when `listen` has a `tls` or `wss` ' +
        'listener (with `tls.certificate` and `tls.key`) or a `ws` one.',
    },
  ),
  control: s.object(
    {
      http: s.object(
        {
          listen: controlListen,
          token: s
            .string({
              minLength: 16,
              doc:
                'Secret for `/RPC` and `/metrics` (`Authorization: Bearer TOKEN`, or HTTP Basic with the token ' +
                'as password). Needed when `listen` is not a loopback address; keep it out of the file with ' +
                'OLELO_CONTROL__HTTP__TOKEN.',
            })
            .optional(),
          sessionTimeout: s.duration({
            min: 60_000,
            default: '12h',
            doc: 'A dashboard login ends after this long without a request.',
          }),
        },
        { doc: 'The control HTTP server.' },
      ),
      socket: s.string({
        default: '',
        doc:
          'Unix socket for JSON-RPC (HTTP over the socket: `olelo ctl` uses it, or `curl --unix-socket`); ' +
          'only users who may open the file can call. Empty: `olelo.sock` in `dataDir`; `off` for none.',
        example: '/run/olelo/olelo.sock',
      }),
    },
    {
      doc:
        'The control API (JSON-RPC 2.0 with Kamailio’s method names: `olelo ctl help`), Prometheus metrics and ' +
        'the web dashboard.',
    },
  ),
  dataDir: s.path({
    default: './data',
    doc: 'Folder for the embedded database and other state; created when missing.',
    example: '/var/lib/olelo',
  }),
  database: s.object(
    {
      url: databaseUrlSetting.optional(),
      poolSize: s.integer({
        min: 1,
        max: 1000,
        default: 10,
        doc: 'Most connections open at once to PostgreSQL or MySQL/MariaDB (SQLite uses one).',
      }),
      connectTimeout: s.duration({
        min: 100,
        default: '10s',
        doc: 'Longest wait to connect to a database server; start-up fails after it.',
      }),
      busyTimeout: s.duration({
        min: 0,
        default: '5s',
        doc: 'SQLite: how long a write waits while another process (the `olelo user` commands) holds the write lock.',
      }),
    },
    {
      doc:
        'Where subscribers, domains, aliases and (when persisted) registrations are kept. The tables are ' +
        'Kamailio’s (`subscriber`, `domain`, `dbaliases`, `location`, `version`), so olelo can share an existing ' +
        'Kamailio database; missing tables are created at start (see src/db/README.md).',
    },
  ),
  modules: s.record(
    s.custom((value) => value, 'module parameters'),
    {
      default: {},
      doc: 'Parameters of the modules, by module name (each module’s README lists its own). A module left out runs with its defaults.',
      example: { registrar: { maxContacts: 5 } },
    },
  ),
};

/** The core settings; `modules` is replaced by the loaded modules' schemas in {@link loadConfig}. */
export const coreSchema = s.object(coreFields, { check: requireTlsFiles });

/** A validated configuration; `M` maps module names to their parameter schemas. */
export type Config<M extends Record<string, AnySchema> = Record<string, AnySchema>> = Omit<
  Infer<typeof coreSchema>,
  'modules'
> & { modules: { [K in keyof M]: Infer<M[K]> } };

/** The feature switches of the route script (`features` in the config, `m.features` in scripts). */
export type Features = Infer<typeof coreSchema>['features'];

/** Builds the full schema: the core settings plus one field under `modules` per module. */
export function configSchema(moduleSchemas: Record<string, AnySchema> = {}): AnySchema {
  const modules = s.object(moduleSchemas, { doc: coreFields.modules.options.doc, unknownLabel: 'module' });
  return s.object({ ...coreFields, modules }, { check: requireTlsFiles });
}

// ---------------------------------------------------------------------------------------------------
// Environment variables

/** `OLELO_*` variables that are not settings. `OLELO_CONFIG` names the config file. */
export const ENV_ALLOW_LIST: readonly string[] = ['OLELO_CONFIG'];

const ENV_PREFIX = 'OLELO_';

/** One name in a path to its variable form: `maxConnectionsPerIp` → `MAX_CONNECTIONS_PER_IP`. */
function envSegment(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toUpperCase();
}

/** The environment variable for a setting: `['limits', 'maxConnections']` → `OLELO_LIMITS__MAX_CONNECTIONS`. */
export function envVariableName(path: readonly string[]): string {
  return ENV_PREFIX + path.map(envSegment).join('__');
}

/** Every variable name the schema answers to (objects and their fields), for suggestions. */
function envNames(schema: AnySchema, path: string[], out: string[]): string[] {
  if (path.length > 0) out.push(envVariableName(path));
  if (schema.kind === 'object') {
    for (const [name, field] of Object.entries(schema.info.fields ?? {}))
      envNames(field, [...path, name], out);
  }
  return out;
}

/** Finds the setting a variable names: the schema path, or `undefined`. Records take the key lower-cased. */
function envTarget(schema: AnySchema, variable: string): { path: string[]; schema: AnySchema } | undefined {
  const segments = variable.slice(ENV_PREFIX.length).split('__');
  const path: string[] = [];
  let current = schema;
  for (const segment of segments) {
    if (segment === '') return undefined;
    if (current.kind === 'object') {
      const fields = current.info.fields ?? {};
      const name = Object.keys(fields).find((key) => envSegment(key) === segment.toUpperCase());
      if (name === undefined) return undefined;
      path.push(name);
      current = fields[name]!;
    } else if (current.kind === 'record') {
      path.push(segment.toLowerCase());
      current = current.info.item!;
    } else {
      return undefined;
    }
  }
  return { path, schema: current };
}

const STRING_KINDS = new Set(['string', 'path', 'enum', 'duration', 'custom']);

/** Converts a variable's text to the type its schema wants; what cannot convert stays text for validation to reject. */
function fromEnvText(schema: AnySchema, text: string): unknown {
  const trimmed = text.trim();
  switch (schema.kind) {
    case 'integer':
    case 'number':
      return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : text;
    case 'boolean': {
      const lower = trimmed.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(lower)) return true;
      if (['false', 'no', 'off', '0'].includes(lower)) return false;
      return text;
    }
    case 'duration':
      return /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
    case 'array':
      if (trimmed.startsWith('[')) return parseJson(text);
      return trimmed
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
        .map((item) => fromEnvText(schema.info.item!, item));
    case 'object':
    case 'record':
      return trimmed.startsWith('{') ? parseJson(text) : text;
    case 'union': {
      const members = schema.info.members ?? [];
      const structured = members.some((m) => !STRING_KINDS.has(m.kind));
      if (structured && (trimmed.startsWith('{') || trimmed.startsWith('['))) return parseJson(text);
      return text;
    }
    default:
      return text;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------------
// Errors

/** One configuration problem, located in the file or in the environment. */
export interface ConfigIssue {
  /** The config file, when the problem is in it. */
  file?: string;
  /** 1-based line and column in the file. */
  line?: number;
  column?: number;
  /** The environment variable, when the problem is in one. */
  variable?: string;
  /** The setting, as `listen[1]` or `limits.maxConnections`; empty for the whole document. */
  path: string;
  message: string;
}

function formatConfigIssue(issue: ConfigIssue): string {
  let where = issue.variable ?? issue.file ?? 'defaults';
  if (issue.variable === undefined && issue.line !== undefined) where += `:${issue.line}:${issue.column}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Thrown by {@link loadConfig}; `message` lists every issue, one per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatConfigIssue).join('\n'));
  }
}

// ---------------------------------------------------------------------------------------------------
// Loading

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions<M extends Record<string, AnySchema>> {
  /** The config file. With `text`, only names the source in messages and sets the folder paths are relative to. */
  file?: string;
  /** The YAML text itself (tests, embedding). */
  text?: string;
  /** Environment to read `OLELO_*` overrides from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Parameter schemas of the loaded modules, by module name. */
  moduleSchemas?: M;
  /** Whether the host has IPv6; detected from the network interfaces by default. */
  hasIPv6?: boolean;
  /** The folder relative paths from environment variables, and all paths without a file, start from. */
  cwd?: string;
}

/** True when any interface has an IPv6 address (`::1` included: binding `[::]` then works). */
export function hostHasIPv6(): boolean {
  for (const addresses of Object.values(networkInterfaces())) {
    if (addresses?.some((a) => a.family === 'IPv6')) return true;
  }
  return false;
}

interface Located {
  line: number;
  column: number;
}

/** Finds a value's node in the YAML document: the node itself, or its nearest existing ancestor. */
function locate(
  contents: Node | null,
  lineCounter: LineCounter,
  path: Path,
  preferKey: boolean,
): Located | undefined {
  let node: unknown = contents;
  let key: unknown;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    let next: unknown;
    let nextKey: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair !== undefined) {
        nextKey = pair.key;
        next = pair.value ?? pair.key;
      }
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment];
    }
    if (next === undefined) {
      // missing field: point at its parent, by the key that introduced it when there is one
      break;
    }
    node = next;
    key = nextKey;
    if (i === path.length - 1 && !preferKey) key = undefined;
  }
  const target = (key ?? node) as { range?: [number, number, number] } | null;
  const offset = target?.range?.[0];
  if (offset === undefined) return undefined;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function startsWith(path: Path, prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment);
}

/** Walks a validated value and resolves every `path` setting against the folder it is relative to. */
function resolvePaths(
  schema: AnySchema,
  value: unknown,
  path: string[],
  baseFor: (path: string[]) => string,
): unknown {
  if (value === undefined || value === null) return value;
  if (schema.kind === 'path' && typeof value === 'string') return resolve(baseFor(path), value);
  if (schema.kind === 'object' && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const [name, field] of Object.entries(schema.info.fields ?? {})) {
      if (name in record) record[name] = resolvePaths(field, record[name], [...path, name], baseFor);
    }
  } else if (schema.kind === 'record' && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record))
      record[key] = resolvePaths(schema.info.item!, record[key], [...path, key], baseFor);
  } else if (schema.kind === 'array' && Array.isArray(value)) {
    return value.map((item, i) => resolvePaths(schema.info.item!, item, [...path, String(i)], baseFor));
  }
  return value;
}

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (next === undefined || next === null) node[segment] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) return; // the file's own issue will be reported
    node = node[segment] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/**
 * Loads, merges and validates the configuration: the YAML file (or `text`), then `OLELO_*` variables
 * over it. Relative paths in the file (and default paths) are relative to the file's folder; those from
 * variables, to `cwd`. Throws a {@link ConfigError} listing every problem.
 */
export function loadConfig<M extends Record<string, AnySchema> = Record<string, AnySchema>>(
  options: LoadConfigOptions<M> = {},
): Config<M> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ?? (options.text === undefined ? env.OLELO_CONFIG : undefined);
  const fileName = file ?? '<config>';
  const baseDir = file === undefined ? cwd : dirname(resolve(cwd, file));
  const schema = configSchema(options.moduleSchemas ?? {});
  const issues: ConfigIssue[] = [];

  // 1. The file
  let text = options.text;
  if (text === undefined && file !== undefined) {
    try {
      text = readFileSync(resolve(cwd, file), 'utf8');
    } catch (error) {
      const reason =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      throw new ConfigError([{ file, path: '', message: `cannot read the config file: ${reason}` }]);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text ?? '', { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { file: fileName, line, column: col, path: '', message: `YAML syntax: ${error.message}` };
      }),
    );
  }
  const contents = doc.contents as Node | null;
  let raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    const where = locate(contents, lineCounter, [], false);
    throw new ConfigError([
      { file: fileName, ...where, path: '', message: 'expected a map of settings at the top level' },
    ]);
  }
  const merged = raw as Record<string, unknown>;

  // 2. The environment, over the file
  const overrides: Array<{ path: string[]; variable: string }> = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith(ENV_PREFIX) || ENV_ALLOW_LIST.includes(variable)) continue;
    const target = envTarget(schema, variable);
    if (target === undefined) {
      const hint = suggest(variable, [...envNames(schema, [], []), ...ENV_ALLOW_LIST]);
      const message = `unknown setting${hint === undefined ? '' : `; did you mean ${hint}?`}`;
      issues.push({ variable, path: '', message });
      continue;
    }
    const value = env[variable] ?? '';
    // an empty variable unsets the setting (the default applies), as container tooling often sets ''
    setAt(merged, target.path, value === '' ? undefined : fromEnvText(target.schema, value));
    overrides.push({ path: target.path, variable });
  }

  // 3. Validation, with each issue traced to its variable or its node
  const originOf = (path: Path) => overrides.findLast((o) => startsWith(path, o.path));
  const result = validate(schema, merged);
  if (!result.ok) {
    for (const issue of result.issues) issues.push(locateIssue(issue));
  }
  if (issues.length > 0) throw new ConfigError(sortIssues(issues));

  function locateIssue(issue: Issue): ConfigIssue {
    const path = formatPath(issue.path);
    const message = formatIssue(issue);
    const override = originOf(issue.path);
    if (override !== undefined) return { variable: override.variable, path, message };
    const where = locate(contents, lineCounter, issue.path, issue.kind === 'unknown');
    return { file: fileName, ...where, path, message };
  }

  const config = (result as { value: Config<M> }).value;
  const baseFor = (path: string[]) => (originOf(path) === undefined ? baseDir : cwd);
  resolvePaths(schema, config, [], baseFor);
  // a relative SQLite file, like every other path, is taken from the config file's folder
  if (config.database.url !== undefined)
    config.database.url = resolveDatabaseUrl(config.database.url, baseFor(['database', 'url']));
  // the IPv6 defaults only where IPv6 exists; listeners someone wrote are kept as written
  if (merged.listen === undefined && !(options.hasIPv6 ?? hostHasIPv6())) {
    config.listen = config.listen.filter((l) => l.family !== 6);
  }
  return config;
}

/** File issues in file order, then environment issues. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const rank = (i: ConfigIssue) => (i.variable === undefined ? 0 : 1);
  return issues.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      (a.variable ?? '').localeCompare(b.variable ?? ''),
  );
}
