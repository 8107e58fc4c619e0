/**
 * The trusted address table (Kamailio's `address` table and `allow_source_address`): entries of a group
 * are single addresses, kept in a Map by their canonical text (a source address is looked up as the
 * socket reports it, with no parsing), and subnets, kept per address family from the longest prefix to
 * the shortest and scanned only when no single address matched and the group has subnets of that family.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Protocol } from '../../transport/types.js';

/** The protocols an entry may name; `any` matches each. */
export const ENTRY_PROTOCOLS = ['any', 'udp', 'tcp', 'tls', 'ws', 'wss'] as const;
export type EntryProtocol = (typeof ENTRY_PROTOCOLS)[number];

/** One trusted address or subnet. */
export interface AddressEntry {
  /** The group (Kamailio's `grp`). */
  readonly group: number;
  /** The address in canonical form (IPv6 per RFC 5952), the network address for a subnet. */
  readonly address: string;
  /** Prefix length: 32 (IPv4) or 128 (IPv6) for a single address. */
  readonly prefix: number;
  /** Source port; 0 for any. */
  readonly port: number;
  readonly protocol: EntryProtocol;
  /** Free text handed back on a match (Kamailio's `tag`); `''` when none. */
  readonly tag: string;
  /** Where it came from: `FILE:LINE` or `db:ID`. */
  readonly origin: string;
}

/** An entry as written before validation. */
export interface EntryInput {
  group: number;
  address: string;
  prefix?: number;
  port?: number;
  protocol?: string;
  tag?: string;
  origin: string;
}

// ---------------------------------------------------------------------------------------------------
// Addresses as numbers

/** An IPv4 address as an unsigned 32-bit number; NaN when it is not one. */
export function ipv4ToNumber(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return Number.NaN;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      part = part * 10 + (c - 0x30);
      digits++;
      if (part > 255) return Number.NaN;
    } else return Number.NaN;
  }
  if (dots !== 3 || digits === 0) return Number.NaN;
  return value * 256 + part;
}

/** An IPv6 address (with an optional trailing IPv4 part) as eight 16-bit groups; undefined when invalid. */
export function ipv6ToGroups(text: string): number[] | undefined {
  if (!isIPv6(text)) return undefined;
  let head = text;
  const tailGroups: number[] = [];
  const lastColon = head.lastIndexOf(':');
  if (head.indexOf('.', lastColon) !== -1) {
    const v4 = ipv4ToNumber(head.slice(lastColon + 1));
    if (Number.isNaN(v4)) return undefined;
    tailGroups.push(Math.floor(v4 / 65536), v4 % 65536);
    head = head.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const split = head.indexOf('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  let groups: number[];
  if (split === -1) groups = [...parse(head), ...tailGroups];
  else {
    const left = parse(head.slice(0, split));
    const right = [...parse(head.slice(split + 2)), ...tailGroups];
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : undefined;
}

/** Eight groups in RFC 5952 form (lower case, longest run of two or more zero groups as `::`). */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4 peers) as IPv4. */
export function unmapIpv4(address: string): string {
  return address.length > 7 && address.startsWith('::ffff:') && address.includes('.', 7)
    ? address.slice(7)
    : address;
}

/** The canonical text of an address (IPv4 as is, IPv6 per RFC 5952); undefined when it is not an IP. */
export function canonicalAddress(text: string): string | undefined {
  const t = unmapIpv4(text.trim());
  if (isIPv4(t)) return Number.isNaN(ipv4ToNumber(t)) ? undefined : t;
  const groups = ipv6ToGroups(t);
  if (groups === undefined) return undefined;
  // IPv4-mapped in any spelling (`::FFFF:192.0.2.1`, `::ffff:c000:201`): the IPv4 address
  if (
    groups[5] === 0xffff &&
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0
  )
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  return formatIpv6(groups);
}

/** IPv6 groups as four 32-bit words. */
function words(groups: readonly number[]): number[] {
  return [0, 2, 4, 6].map((i) => groups[i]! * 65536 + groups[i + 1]!);
}

/** Word `w` of a mask of `prefix` bits over 128. */
function maskWord(prefix: number, w: number): number {
  const bits = Math.max(0, Math.min(32, prefix - w * 32));
  return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

// ---------------------------------------------------------------------------------------------------
// The table

interface Subnet4 {
  readonly network: number;
  readonly mask: number;
  readonly entry: AddressEntry;
}

interface Subnet6 {
  readonly network: readonly number[];
  readonly mask: readonly number[];
  readonly entry: AddressEntry;
}

class GroupTable {
  readonly exact = new Map<string, AddressEntry[]>();
  readonly v4: Subnet4[] = [];
  readonly v6: Subnet6[] = [];
}

/** Port 0 on either side matches any port: an entry for any port, or a check that names none. */
function protocolMatches(entry: AddressEntry, port: number, protocol: Protocol | undefined): boolean {
  return (
    (entry.port === 0 || port === 0 || entry.port === port) &&
    (entry.protocol === 'any' || protocol === undefined || entry.protocol === protocol)
  );
}

/** Validates an entry; throws an Error whose message says what is wrong (without the origin). */
export function makeEntry(input: EntryInput): AddressEntry {
  const { group, origin } = input;
  if (!Number.isInteger(group) || group < 0 || group > 0xffffffff)
    throw new Error(`bad group ${JSON.stringify(group)}`);
  const t = unmapIpv4(input.address.trim());
  const family = isIPv4(t) ? 4 : isIPv6(t) ? 6 : 0;
  if (family === 0) throw new Error(`not an IP address: ${JSON.stringify(input.address)}`);
  const bits = family === 4 ? 32 : 128;
  const prefix = input.prefix ?? bits;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits)
    throw new Error(`bad prefix length ${prefix} for an IPv${family} address (0 to ${bits})`);
  const port = input.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${port}`);
  const protocol = (input.protocol ?? 'any').toLowerCase();
  if (!(ENTRY_PROTOCOLS as readonly string[]).includes(protocol))
    throw new Error(`bad protocol ${JSON.stringify(input.protocol)} (${ENTRY_PROTOCOLS.join(', ')})`);
  let address: string;
  if (family === 4) {
    const n = ipv4ToNumber(t);
    if (Number.isNaN(n)) throw new Error(`not an IP address: ${JSON.stringify(input.address)}`);
    const network = (n & maskWord(prefix, 0)) >>> 0;
    address = [24, 16, 8, 0].map((s) => (network >>> s) & 255).join('.');
  } else {
    const groups = ipv6ToGroups(t)!;
    const w = words(groups).map((x, i) => (x & maskWord(prefix, i)) >>> 0);
    address = formatIpv6(w.flatMap((x) => [Math.floor(x / 65536), x % 65536]));
  }
  return { group, address, prefix, port, protocol: protocol as EntryProtocol, tag: input.tag ?? '', origin };
}

/** The trusted addresses of every group. Built once, then only read: a reload builds a new table. */
export class AddressTable {
  private readonly groups = new Map<number, GroupTable>();
  private readonly all: AddressEntry[] = [];

  constructor(entries: Iterable<AddressEntry> = []) {
    for (const e of entries) this.add(e);
    for (const g of this.groups.values()) {
      // the most specific subnet first, so its tag is the one handed back
      g.v4.sort((a, b) => b.entry.prefix - a.entry.prefix);
      g.v6.sort((a, b) => b.entry.prefix - a.entry.prefix);
    }
  }

  private add(e: AddressEntry): void {
    this.all.push(e);
    let g = this.groups.get(e.group);
    if (g === undefined) {
      g = new GroupTable();
      this.groups.set(e.group, g);
    }
    const v4 = !e.address.includes(':');
    if (e.prefix === (v4 ? 32 : 128)) {
      const list = g.exact.get(e.address);
      if (list === undefined) g.exact.set(e.address, [e]);
      else list.push(e);
    } else if (v4) g.v4.push({ network: ipv4ToNumber(e.address), mask: maskWord(e.prefix, 0), entry: e });
    else {
      const network = words(ipv6ToGroups(e.address)!);
      g.v6.push({ network, mask: [0, 1, 2, 3].map((i) => maskWord(e.prefix, i)), entry: e });
    }
  }

  /** Every entry, in the order read. */
  entries(): readonly AddressEntry[] {
    return this.all;
  }

  /** The groups present, ascending. */
  groupIds(): number[] {
    return [...this.groups.keys()].sort((a, b) => a - b);
  }

  /**
   * The entry of `group` matching a source (single addresses before subnets, longer prefixes first), or
   * undefined. `address` is taken as the socket reports it (RFC 5952 for IPv6: see {@link matchText} for
   * text written by anyone else); port 0 and `protocol` undefined match any entry.
   */
  match(group: number, address: string, port: number, protocol?: Protocol): AddressEntry | undefined {
    const g = this.groups.get(group);
    if (g === undefined) return undefined;
    let exact = g.exact.get(address);
    if (exact === undefined && address.startsWith('::ffff:')) exact = g.exact.get(unmapIpv4(address));
    if (exact !== undefined) for (const e of exact) if (protocolMatches(e, port, protocol)) return e;
    if (g.v4.length === 0 && g.v6.length === 0) return undefined;
    const plain = unmapIpv4(address);
    if (!plain.includes(':')) {
      if (g.v4.length === 0) return undefined;
      const n = ipv4ToNumber(plain);
      if (Number.isNaN(n)) return undefined;
      for (const s of g.v4)
        if ((n & s.mask) >>> 0 === s.network && protocolMatches(s.entry, port, protocol)) return s.entry;
      return undefined;
    }
    if (g.v6.length === 0) return undefined;
    const groups = ipv6ToGroups(plain);
    if (groups === undefined) return undefined;
    const w = words(groups);
    for (const s of g.v6) {
      if (
        (w[0]! & s.mask[0]!) >>> 0 === s.network[0] &&
        (w[1]! & s.mask[1]!) >>> 0 === s.network[1] &&
        (w[2]! & s.mask[2]!) >>> 0 === s.network[2] &&
        (w[3]! & s.mask[3]!) >>> 0 === s.network[3] &&
        protocolMatches(s.entry, port, protocol)
      )
        return s.entry;
    }
    return undefined;
  }

  /**
   * {@link match} for an address written by anyone (a script, a header, an operator): IPv6 in any case or
   * zero compression, an IPv4-mapped form. Not for the per-request path, where sockets already report
   * the canonical form: this parses the address.
   */
  matchText(group: number, address: string, port: number, protocol?: Protocol): AddressEntry | undefined {
    return this.match(group, canonicalAddress(address) ?? address, port, protocol);
  }

  /** The lowest group with an entry matching the source, or -1 (Kamailio's `allow_source_address_group`). */
  matchGroup(address: string, port: number, protocol?: Protocol): number {
    for (const group of this.groupIds())
      if (this.match(group, address, port, protocol) !== undefined) return group;
    return -1;
  }
}

/** A file's error: `FILE:LINE: message`. */
export class AddressFileError extends Error {
  override readonly name = 'AddressFileError';
}

/**
 * Parses an address file: one entry a line, `GROUP ADDRESS[/PREFIX] [PORT [PROTOCOL [TAG]]]`, fields
 * separated by spaces or tabs; `#` starts a comment; blank lines are skipped. Throws an
 * {@link AddressFileError} naming the file and line of the first bad one.
 */
export function parseAddressFile(text: string, file: string): AddressEntry[] {
  const out: AddressEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const origin = `${file}:${i + 1}`;
    const fields = line.split(/\s+/);
    try {
      if (fields.length < 2 || fields.length > 5)
        throw new Error(
          `expected GROUP ADDRESS[/PREFIX] [PORT [PROTOCOL [TAG]]], got ${fields.length} fields`,
        );
      const [groupText, addressText, portText, protocol, tag] = fields as [string, string, ...string[]];
      const slash = addressText.indexOf('/');
      const prefixText = slash === -1 ? undefined : addressText.slice(slash + 1);
      out.push(
        makeEntry({
          group: integerField(groupText, 'group'),
          address: slash === -1 ? addressText : addressText.slice(0, slash),
          ...(prefixText === undefined ? {} : { prefix: integerField(prefixText, 'prefix length') }),
          ...(portText === undefined ? {} : { port: integerField(portText, 'port') }),
          ...(protocol === undefined ? {} : { protocol }),
          ...(tag === undefined ? {} : { tag }),
          origin,
        }),
      );
    } catch (error) {
      throw new AddressFileError(`${origin}: ${(error as Error).message}`);
    }
  }
  return out;
}

function integerField(text: string, what: string): number {
  if (!/^\d{1,10}$/.test(text)) throw new Error(`bad ${what} ${JSON.stringify(text)}`);
  return Number(text);
}
