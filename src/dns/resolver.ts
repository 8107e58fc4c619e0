/**
 * RFC 3263 §4 server location: the ordered (transport, IP address, port) targets to try for a SIP URI,
 * through NAPTR, SRV (RFC 2782) and A/AAAA lookups, with a TTL cache, coalesced queries and a blacklist
 * of destinations that failed.
 */
import type { NaptrRecord, RecordWithTtl, SrvRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIPv4, isIPv6 } from '../sip/host.js';
import type { SipUri } from '../sip/uri.js';
import type { Protocol } from '../transport/types.js';
import { ExpiringSet, TtlCache } from './cache.js';
import { DnsError, type DnsErrorCode } from './errors.js';
import { orderSrv } from './srv.js';

/** How a target was found. */
export type ResolutionStep =
  /** The URI (or its maddr) held an IP address: no lookup. */
  | 'literal'
  /** A/AAAA lookup of the URI host (RFC 3263 §4.2). */
  | 'address'
  /** SRV lookup of `_sip._<proto>.<host>` / `_sips._tcp.<host>` (RFC 3263 §4.1, §4.2). */
  | 'srv'
  /** NAPTR lookup, then SRV, then A/AAAA (RFC 3263 §4.1). */
  | 'naptr';

/** One place to send a request to, in the order RFC 3263 says to try them. */
export interface ResolvedTarget {
  protocol: Protocol;
  /** An IP literal, without IPv6 brackets. */
  address: string;
  port: number;
  /** The name whose A/AAAA records gave `address` (an SRV target, or the URI host); the IP itself for a literal. */
  host: string;
  /**
   * The host (or maddr) of the URI, no brackets. For TLS this is the name the server certificate must
   * match (RFC 5922 §4.1), not `host`.
   */
  domain: string;
  /** The SRV record the target came from. */
  srv?: { name: string; priority: number; weight: number };
  step: ResolutionStep;
}

/** Configuration of a {@link SipResolver}. Times in seconds unless named otherwise. */
export interface DnsOptions {
  /** Cached answers (one per name and record type), least recently used evicted first. Default 10 000. */
  cacheSize?: number;
  /** A/AAAA TTLs are raised to at least this. Default 0. */
  minTtl?: number;
  /** TTLs are capped at this. Default 86 400. */
  maxTtl?: number;
  /**
   * How long NAPTR and SRV answers are cached (clamped to minTtl..maxTtl): node:dns does not report
   * their TTL. Default 300.
   */
  defaultTtl?: number;
  /** How long NXDOMAIN and empty answers are cached. Default 30. */
  negativeTtl?: number;
  /** How long (ms) a destination marked failed is skipped. Default 60 000; 0 disables the blacklist. */
  blacklistTime?: number;
  /** Destinations held in the blacklist at most (the oldest mark is dropped first). Default 10 000. */
  blacklistSize?: number;
  /**
   * Deadline (ms) of one lookup, retries included: past it the lookup counts as a timeout and the
   * resolution moves on (a late answer is still cached). Default 2 000.
   */
  timeout?: number;
  /** Attempts (datagrams) per query and server within `timeout`. Default 2. */
  tries?: number;
  /** DNS servers, `ip`, `ip:port` or `[ipv6]:port`; the system's when absent. */
  servers?: string[];
  /**
   * Transports to choose from NAPTR and SRV (the ones we have listeners for). Default udp, tcp, tls:
   * olelo opens no outbound WebSocket connections. A `transport=` parameter is obeyed regardless.
   */
  supported?: Protocol[];
  /** List AAAA addresses before A ones (both are looked up). Default false: A only, AAAA when no A. */
  preferIPv6?: boolean;
  /** Targets returned for one URI at most. Default 32. */
  maxTargets?: number;
}

/** Counters since construction (or the last {@link SipResolver.clear}). */
export interface DnsStats {
  /** Queries sent to DNS servers. */
  queries: number;
  /** Lookups answered from the cache (negative answers included). */
  cacheHits: number;
  /** Lookups not in the cache: each either sent a query or joined one in flight. */
  cacheMisses: number;
  /** Lookups that joined an identical query already in flight. */
  coalesced: number;
  /** Queries that failed without an answer: SERVFAIL, timeout, refused, network error, overload. */
  failures: number;
  /** Destinations blacklisted now. */
  blacklisted: number;
  /** Answers in the cache, expired ones not yet dropped included. */
  cached: number;
}

type RecordType = 'A' | 'AAAA' | 'SRV' | 'NAPTR';

/** Why a query gave no records. NXDOMAIN and NODATA are answers; the others are failures. */
type QueryError =
  | 'NXDOMAIN'
  | 'NODATA'
  | 'SERVFAIL'
  | 'TIMEOUT'
  | 'REFUSED'
  | 'CANCELLED'
  | 'OVERLOADED'
  | 'ERROR';

/** The outcome of one lookup; never a rejection. */
interface Answer<T> {
  readonly records: readonly T[];
  readonly error: QueryError | undefined;
}

/** The answer of one query and how long to cache it. */
interface Outcome {
  answer: Answer<unknown>;
  /** Seconds; 0 = do not cache. */
  ttl: number;
  /** Failed without an answer (SERVFAIL, timeout, ...). */
  failed: boolean;
}

/** State of one URI's resolution. */
interface Resolution {
  domain: string;
  /** `targetKey`s already listed (a NAPTR and an SRV fallback may name the same server). */
  seen: Set<string>;
  count: number;
  /** The first failure met, reported if nothing is found. */
  failure: DnsErrorCode | undefined;
}

interface NaptrService {
  protocol: Protocol;
  replacement: string;
  order: number;
  preference: number;
}

// Bounds of one answer and of the work in flight.
const MAX_NAPTR = 16;
const MAX_SRV = 32;
const MAX_ADDRESSES = 16;
const MAX_IN_FLIGHT = 4096;

const NO_DATA: Answer<never> = Object.freeze({ records: Object.freeze([]), error: 'NODATA' });
const TIMED_OUT: Answer<never> = Object.freeze({ records: Object.freeze([]), error: 'TIMEOUT' });
const OVERLOADED: Answer<never> = Object.freeze({ records: Object.freeze([]), error: 'OVERLOADED' });

/** Default port of a transport (RFC 3261 §19.1.2; RFC 7118 uses the WebSocket server's port). */
function defaultPort(protocol: Protocol): number {
  return protocol === 'tls' ? 5061 : protocol === 'wss' ? 443 : protocol === 'ws' ? 80 : 5060;
}

function bareHost(host: string): string {
  return host.charCodeAt(0) === 0x5b ? host.slice(1, -1) : host;
}

function isIp(host: string): boolean {
  return isIPv4(host) || isIPv6(host);
}

function targetKey(protocol: Protocol, address: string, port: number): string {
  return `${protocol} ${address} ${port}`;
}

/** SRV owner-name prefix of a transport (RFC 3263 §4.1); none for ws/wss. */
function srvPrefix(protocol: Protocol): string | undefined {
  switch (protocol) {
    case 'udp':
      return '_sip._udp.';
    case 'tcp':
      return '_sip._tcp.';
    case 'tls':
      return '_sips._tcp.';
    default:
      return undefined;
  }
}

/** Transport of a NAPTR service field (RFC 3263 §4.1, RFC 7118 §5.1); a sips URI takes only SIPS+ ones. */
function naptrProtocol(service: string, secure: boolean): Protocol | undefined {
  switch (service.toUpperCase()) {
    case 'SIP+D2U':
      return secure ? undefined : 'udp';
    case 'SIP+D2T':
      return secure ? undefined : 'tcp';
    case 'SIP+D2W':
      return secure ? undefined : 'ws';
    case 'SIPS+D2T':
      return 'tls';
    case 'SIPS+D2W':
      return 'wss';
    default:
      return undefined;
  }
}

/** The transport a `transport=` parameter asks for (RFC 3263 §4.1), the secure one for a sips URI. */
function explicitProtocol(uri: SipUri, secure: boolean, domain: string): Protocol | undefined {
  const value = uri.params.get('transport');
  if (value === undefined || value === null) return undefined;
  switch (value.toLowerCase()) {
    case 'udp':
      if (secure)
        throw new DnsError('NO_TRANSPORT', domain, `cannot resolve ${domain}: sips with transport=udp`);
      return 'udp';
    case 'tcp':
      return secure ? 'tls' : 'tcp';
    case 'tls':
      return 'tls';
    case 'ws':
      return secure ? 'wss' : 'ws';
    case 'wss':
      return 'wss';
    default:
      throw new DnsError('NO_TRANSPORT', domain, `cannot resolve ${domain}: unsupported transport=${value}`);
  }
}

function queryError(err: unknown): QueryError {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  switch (code) {
    case 'ENOTFOUND':
      return 'NXDOMAIN';
    case 'ENODATA':
      return 'NODATA';
    case 'ESERVFAIL':
      return 'SERVFAIL';
    case 'ETIMEOUT':
      return 'TIMEOUT';
    case 'EREFUSED':
      return 'REFUSED';
    case 'ECANCELLED':
    case 'EDESTRUCTION':
      return 'CANCELLED';
    default:
      return 'ERROR';
  }
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`DnsOptions.${name} must be a number >= 0`);
  return value;
}

/**
 * Locates SIP servers (RFC 3263 §4): turns a SIP URI into the ordered list of (transport, address, port)
 * targets to try, for the transaction layer to walk with failover.
 *
 * - An IP host (or maddr) is used as is: transport from `transport=`, else UDP (TLS for sips); port from
 *   the URI, else the transport's default.
 * - A name with a port: A/AAAA only.
 * - A name with `transport=` but no port: SRV for that transport, else A/AAAA at the default port.
 * - A name alone: NAPTR (services filtered to `supported`, and to SIPS+ for sips), each service's SRV
 *   name in order/preference; else SRV `_sip._udp`, `_sip._tcp`, `_sips._tcp` (sips: `_sips._tcp` only)
 *   in that order; else A/AAAA with UDP (TLS for sips) at the default port. Every step that yields no
 *   target (no records, no usable record, or SERVFAIL/timeout) falls through to the next.
 *
 * SRV records are ordered by priority, and by weighted random choice within a priority on every call
 * (RFC 2782). Answers are cached for their TTL; NAPTR and SRV for `defaultTtl` since node:dns does not
 * report theirs. Identical concurrent queries share one query. Names are resolved through DNS only
 * (`node:dns` Resolver: the hosts file is not read).
 */
export class SipResolver {
  readonly #resolver: Resolver;
  readonly #cache: TtlCache<Answer<unknown>>;
  readonly #inflight = new Map<string, Promise<Answer<unknown>>>();
  readonly #blacklist: ExpiringSet;
  readonly #supported: ReadonlySet<Protocol>;
  readonly #minTtl: number;
  readonly #maxTtl: number;
  readonly #defaultTtl: number;
  readonly #negativeTtl: number;
  readonly #blacklistTime: number;
  readonly #preferIPv6: boolean;
  readonly #maxTargets: number;
  readonly #timeout: number;
  /** Bumped by clear(): answers of queries started before are not cached. */
  #generation = 0;
  #stats = { queries: 0, cacheHits: 0, cacheMisses: 0, coalesced: 0, failures: 0 };

  constructor(options: DnsOptions = {}) {
    this.#timeout = Math.max(1, nonNegative('timeout', options.timeout, 2000));
    const tries = Math.max(1, Math.floor(nonNegative('tries', options.tries, 2)));
    // c-ares backs off (and jitters) between attempts; give it a first-attempt timeout that leaves room
    // for its retries within our own deadline of `timeout`, which is what bounds a lookup.
    this.#resolver = new Resolver({ timeout: Math.max(1, Math.floor(this.#timeout / (2 * tries))), tries });
    if (options.servers !== undefined && options.servers.length > 0)
      this.#resolver.setServers(options.servers);
    this.#cache = new TtlCache(nonNegative('cacheSize', options.cacheSize, 10_000));
    this.#blacklist = new ExpiringSet(nonNegative('blacklistSize', options.blacklistSize, 10_000));
    this.#minTtl = nonNegative('minTtl', options.minTtl, 0);
    this.#maxTtl = Math.max(this.#minTtl, nonNegative('maxTtl', options.maxTtl, 86_400));
    this.#defaultTtl = this.#clampTtl(nonNegative('defaultTtl', options.defaultTtl, 300));
    this.#negativeTtl = nonNegative('negativeTtl', options.negativeTtl, 30);
    this.#blacklistTime = nonNegative('blacklistTime', options.blacklistTime, 60_000);
    this.#preferIPv6 = options.preferIPv6 === true;
    this.#maxTargets = Math.max(1, Math.floor(nonNegative('maxTargets', options.maxTargets, 32)));
    this.#supported = new Set(options.supported ?? ['udp', 'tcp', 'tls']);
  }

  /**
   * The targets to try for `uri`, best first (RFC 3263 §4). Blacklisted targets are left out unless
   * all are blacklisted, in which case all are returned so the request can still be tried.
   * Rejects with a {@link DnsError} when nothing resolves.
   */
  /**
   * The target of a URI whose host (or maddr) is an IP address, at once and without DNS (RFC 3263 §4.2);
   * `undefined` when the URI names a host that needs resolving. Throws like {@link resolve} rejects.
   */
  literal(uri: SipUri): ResolvedTarget | undefined {
    return this.#literal(uri);
  }

  resolve(uri: SipUri): Promise<ResolvedTarget[]> {
    try {
      const literal = this.#literal(uri);
      if (literal !== undefined) return Promise.resolve([literal]);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#collect(uri);
  }

  /**
   * The same targets as {@link resolve}, produced lazily: the first is available as soon as its own
   * lookups are done, and later steps (the SRV fallback after NAPTR, A/AAAA after SRV) are only looked
   * up if the caller asks for more. The blacklist is consulted as each target is reached, so a target
   * marked failed meanwhile is skipped. Throws a {@link DnsError} from `next()` when nothing resolves.
   */
  async *targets(uri: SipUri): AsyncGenerator<ResolvedTarget, void, undefined> {
    const held: ResolvedTarget[] = [];
    let yielded = 0;
    for await (const target of this.#candidates(uri)) {
      if (this.isBlacklisted(target)) {
        held.push(target);
      } else {
        yielded++;
        yield target;
      }
    }
    // Every candidate blacklisted: offer them anyway rather than fail the request outright.
    if (yielded === 0) yield* held;
  }

  /** Blacklists a target that failed (transport error, timeout, 503) for `blacklistTime`. */
  markFailed(target: Pick<ResolvedTarget, 'protocol' | 'address' | 'port'>): void {
    if (this.#blacklistTime <= 0) return;
    this.#blacklist.add(
      targetKey(target.protocol, target.address, target.port),
      performance.now() + this.#blacklistTime,
    );
  }

  /** Whether a (protocol, address, port) is blacklisted now. */
  isBlacklisted(target: Pick<ResolvedTarget, 'protocol' | 'address' | 'port'>): boolean {
    return this.#blacklist.has(targetKey(target.protocol, target.address, target.port), performance.now());
  }

  /** Counters, and the current sizes of the blacklist and the cache. */
  stats(): DnsStats {
    return {
      ...this.#stats,
      blacklisted: this.#blacklist.count(performance.now()),
      cached: this.#cache.size,
    };
  }

  /** Empties the cache and the blacklist and resets the counters; queries in flight are not cached. */
  clear(): void {
    this.#generation++;
    this.#cache.clear();
    this.#inflight.clear();
    this.#blacklist.clear();
    this.#stats = { queries: 0, cacheHits: 0, cacheMisses: 0, coalesced: 0, failures: 0 };
  }

  /** Cancels the queries in flight (their lookups end as failures); the resolver stays usable. */
  close(): void {
    this.#resolver.cancel();
  }

  async #collect(uri: SipUri): Promise<ResolvedTarget[]> {
    const targets: ResolvedTarget[] = [];
    for await (const target of this.targets(uri)) targets.push(target);
    return targets;
  }

  /** The target of a URI whose host or maddr is an IP address (RFC 3263 §4.1, §4.2), else undefined. */
  #literal(uri: SipUri): ResolvedTarget | undefined {
    const domain = this.#domain(uri);
    if (!isIp(domain)) return undefined;
    const secure = uri.scheme === 'sips';
    const protocol = explicitProtocol(uri, secure, domain) ?? (secure ? 'tls' : 'udp');
    const port = uri.port ?? defaultPort(protocol);
    return { protocol, address: domain, port, host: domain, domain, step: 'literal' };
  }

  /** RFC 3263 §4: maddr, when present, is the target instead of the host. */
  #domain(uri: SipUri): string {
    const maddr = uri.params.get('maddr');
    return bareHost(maddr ? maddr : uri.host);
  }

  /** Every target in RFC 3263 order, deduplicated, blacklist ignored; throws DnsError when none. */
  async *#candidates(uri: SipUri): AsyncGenerator<ResolvedTarget, void, undefined> {
    const literal = this.#literal(uri);
    if (literal !== undefined) {
      yield literal;
      return;
    }
    const domain = this.#domain(uri);
    const secure = uri.scheme === 'sips';
    const explicit = explicitProtocol(uri, secure, domain);
    const r: Resolution = { domain, seen: new Set(), count: 0, failure: undefined };

    if (uri.port !== undefined) {
      // §4.2: a port but not an IP: A/AAAA only.
      const protocol = explicit ?? this.#defaultProtocol(secure);
      yield* this.#fromAddresses(
        r,
        domain,
        protocol,
        uri.port,
        undefined,
        'address',
        this.#addresses(r, domain),
      );
    } else if (explicit !== undefined) {
      // §4.2: transport known, no port: SRV for that transport, else A/AAAA at its default port.
      const prefix = srvPrefix(explicit);
      if (prefix !== undefined) {
        const name = prefix + domain;
        yield* this.#fromSrv(r, name, explicit, 'srv', this.#lookup<SrvRecord>('SRV', name));
      }
      if (r.count === 0) {
        const addresses = this.#addresses(r, domain);
        yield* this.#fromAddresses(
          r,
          domain,
          explicit,
          defaultPort(explicit),
          undefined,
          'address',
          addresses,
        );
      }
    } else {
      // §4.1: NAPTR, else SRV per transport; §4.2: else A/AAAA with the default transport.
      yield* this.#fromNaptr(r, domain, secure);
      if (r.count === 0) yield* this.#fromSrvPerTransport(r, domain, secure);
      if (r.count === 0) {
        const protocol = this.#defaultProtocol(secure);
        const addresses = this.#addresses(r, domain);
        yield* this.#fromAddresses(
          r,
          domain,
          protocol,
          defaultPort(protocol),
          undefined,
          'address',
          addresses,
        );
      }
    }
    if (r.count === 0) throw new DnsError(r.failure ?? 'NOT_FOUND', domain);
  }

  /** RFC 3263 §4.1: UDP for sip (TCP when we have no UDP listener), TLS for sips. */
  #defaultProtocol(secure: boolean): Protocol {
    if (secure) return 'tls';
    return !this.#supported.has('udp') && this.#supported.has('tcp') ? 'tcp' : 'udp';
  }

  /** RFC 3263 §4.1: usable NAPTR services by order then preference, each resolved through SRV. */
  async *#fromNaptr(r: Resolution, domain: string, secure: boolean): AsyncGenerator<ResolvedTarget, void> {
    const answer = await this.#lookup<NaptrRecord>('NAPTR', domain);
    this.#note(r, answer);
    const services: NaptrService[] = [];
    for (const record of answer.records) {
      // Only the "S" flag (next lookup is SRV) is used by RFC 3263; the regexp field is not.
      if (record.flags !== 's' && record.flags !== 'S') continue;
      const protocol = naptrProtocol(record.service, secure);
      if (protocol === undefined || !this.#supported.has(protocol)) continue;
      const replacement = record.replacement;
      if (replacement === '' || replacement === '.') continue;
      services.push({ protocol, replacement, order: record.order, preference: record.preference });
      if (services.length === MAX_NAPTR) break;
    }
    services.sort((a, b) => a.order - b.order || a.preference - b.preference);
    // Every SRV query at once; targets still come out in NAPTR order.
    const answers = services.map((s) => this.#lookup<SrvRecord>('SRV', s.replacement));
    for (let i = 0; i < services.length; i++) {
      if (r.count >= this.#maxTargets) return;
      const service = services[i]!;
      yield* this.#fromSrv(r, service.replacement, service.protocol, 'naptr', answers[i]!);
    }
  }

  /** RFC 3263 §4.1 without NAPTR: `_sip._udp`, `_sip._tcp`, `_sips._tcp` (sips: `_sips._tcp`), if supported. */
  async *#fromSrvPerTransport(
    r: Resolution,
    domain: string,
    secure: boolean,
  ): AsyncGenerator<ResolvedTarget, void> {
    const protocols: Protocol[] = [];
    for (const protocol of secure ? (['tls'] as const) : (['udp', 'tcp', 'tls'] as const)) {
      if (this.#supported.has(protocol)) protocols.push(protocol);
    }
    const names = protocols.map((p) => srvPrefix(p)! + domain);
    const answers = names.map((name) => this.#lookup<SrvRecord>('SRV', name));
    for (let i = 0; i < protocols.length; i++) {
      if (r.count >= this.#maxTargets) return;
      yield* this.#fromSrv(r, names[i]!, protocols[i]!, 'srv', answers[i]!);
    }
  }

  /** RFC 2782: the records of one SRV name in try order, each target's addresses in turn. */
  async *#fromSrv(
    r: Resolution,
    name: string,
    protocol: Protocol,
    step: ResolutionStep,
    pending: Answer<SrvRecord> | Promise<Answer<SrvRecord>>,
  ): AsyncGenerator<ResolvedTarget, void> {
    const answer = await pending;
    this.#note(r, answer);
    if (answer.records.length === 0) return;
    const records = orderSrv(answer.records);
    // Look up every target's addresses at once; list them in SRV order.
    const addresses = records.map((record) => this.#addresses(r, record.name));
    for (let i = 0; i < records.length; i++) {
      if (r.count >= this.#maxTargets) return;
      const record = records[i]!;
      const srv = { name, priority: record.priority, weight: record.weight };
      yield* this.#fromAddresses(r, record.name, protocol, record.port, srv, step, addresses[i]!);
    }
  }

  async *#fromAddresses(
    r: Resolution,
    host: string,
    protocol: Protocol,
    port: number,
    srv: ResolvedTarget['srv'],
    step: ResolutionStep,
    pending: Promise<readonly string[]>,
  ): AsyncGenerator<ResolvedTarget, void> {
    const addresses = await pending;
    for (const address of addresses) {
      if (r.count >= this.#maxTargets) return;
      const key = targetKey(protocol, address, port);
      if (r.seen.has(key)) continue;
      r.seen.add(key);
      r.count++;
      const target: ResolvedTarget = { protocol, address, port, host, domain: r.domain, step };
      if (srv !== undefined) target.srv = srv;
      yield target;
    }
  }

  /** A then (only if none) AAAA; with preferIPv6, AAAA then A. An IP literal (in an SRV target) as is. */
  async #addresses(r: Resolution, name: string): Promise<readonly string[]> {
    if (isIp(name)) return [name];
    if (this.#preferIPv6) {
      const [v6, v4] = await Promise.all([
        this.#lookup<string>('AAAA', name),
        this.#lookup<string>('A', name),
      ]);
      this.#note(r, v6);
      this.#note(r, v4);
      if (v4.records.length === 0) return v6.records;
      if (v6.records.length === 0) return v4.records;
      return [...v6.records, ...v4.records];
    }
    const v4 = await this.#lookup<string>('A', name);
    this.#note(r, v4);
    if (v4.records.length > 0) return v4.records;
    const v6 = await this.#lookup<string>('AAAA', name);
    this.#note(r, v6);
    return v6.records;
  }

  /** Remembers the first failure of a resolution, to report if nothing is found. */
  #note(r: Resolution, answer: Answer<unknown>): void {
    const error = answer.error;
    if (r.failure !== undefined || error === undefined || error === 'NXDOMAIN' || error === 'NODATA') return;
    r.failure = error;
  }

  /** A cached answer, the answer of an identical query in flight, or a new query's. Never rejects. */
  #lookup<T>(type: RecordType, name: string): Answer<T> | Promise<Answer<T>> {
    const lower = name.toLowerCase();
    const key = `${type} ${lower}`;
    const cached = this.#cache.get(key, performance.now());
    if (cached !== undefined) {
      this.#stats.cacheHits++;
      return cached as Answer<T>;
    }
    this.#stats.cacheMisses++;
    const inflight = this.#inflight.get(key);
    if (inflight !== undefined) {
      this.#stats.coalesced++;
      return inflight as Promise<Answer<T>>;
    }
    if (this.#inflight.size >= MAX_IN_FLIGHT) {
      this.#stats.failures++;
      return OVERLOADED;
    }
    const query = this.#query(type, lower, key, this.#generation);
    this.#inflight.set(key, query);
    return query as Promise<Answer<T>>;
  }

  async #query(type: RecordType, name: string, key: string, generation: number): Promise<Answer<unknown>> {
    this.#stats.queries++;
    const asked = this.#ask(type, name);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#timeout);
    });
    const outcome = await Promise.race([asked, deadline]);
    clearTimeout(timer);
    if (generation === this.#generation) this.#inflight.delete(key);
    if (outcome === undefined) {
      // Our deadline passed (c-ares retries with its own, longer, backoff): a failure for this lookup.
      // The query goes on; a late answer is still cached for the next lookup.
      this.#stats.failures++;
      void asked.then((late) => this.#store(key, late, generation));
      return TIMED_OUT;
    }
    if (outcome.failed) this.#stats.failures++;
    this.#store(key, outcome, generation);
    return outcome.answer;
  }

  #store(key: string, outcome: Outcome, generation: number): void {
    if (outcome.ttl > 0 && generation === this.#generation) {
      this.#cache.set(key, outcome.answer, performance.now() + outcome.ttl * 1000);
    }
  }

  /** Runs one query through c-ares; never rejects. */
  async #ask(type: RecordType, name: string): Promise<Outcome> {
    try {
      switch (type) {
        case 'A':
        case 'AAAA': {
          const records: RecordWithTtl[] =
            type === 'A'
              ? await this.#resolver.resolve4(name, { ttl: true })
              : await this.#resolver.resolve6(name, { ttl: true });
          const addresses: string[] = [];
          let minTtl = Number.POSITIVE_INFINITY;
          for (const record of records) {
            if (addresses.length < MAX_ADDRESSES) addresses.push(record.address);
            if (record.ttl < minTtl) minTtl = record.ttl;
          }
          if (addresses.length === 0) return { answer: NO_DATA, ttl: this.#negativeTtl, failed: false };
          // RFC 2181 §5.2: one TTL per RRset; take the lowest if they differ.
          return {
            answer: { records: addresses, error: undefined },
            ttl: this.#clampTtl(minTtl),
            failed: false,
          };
        }
        case 'SRV': {
          const records: SrvRecord[] = [];
          for (const record of await this.#resolver.resolveSrv(name)) {
            // RFC 2782: a target of "." means the service is decidedly not available here.
            if (record.name === '' || record.name === '.') continue;
            records.push(record);
            if (records.length === MAX_SRV) break;
          }
          const answer = records.length > 0 ? { records, error: undefined } : NO_DATA;
          return { answer, ttl: this.#defaultTtl, failed: false };
        }
        case 'NAPTR': {
          const records = (await this.#resolver.resolveNaptr(name)).slice(0, 4 * MAX_NAPTR);
          const answer = records.length > 0 ? { records, error: undefined } : NO_DATA;
          return { answer, ttl: this.#defaultTtl, failed: false };
        }
      }
    } catch (err) {
      const error = queryError(err);
      const answer = { records: NO_DATA.records, error };
      // RFC 2308: NXDOMAIN and NODATA are cached; SERVFAIL, timeouts, ... are not: the next lookup asks again.
      if (error === 'NXDOMAIN' || error === 'NODATA')
        return { answer, ttl: this.#negativeTtl, failed: false };
      return { answer, ttl: 0, failed: true };
    }
  }

  #clampTtl(ttl: number): number {
    return Math.min(this.#maxTtl, Math.max(this.#minTtl, ttl));
  }
}
