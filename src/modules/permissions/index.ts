/**
 * permissions: trusted source addresses (Kamailio's `address` table and `allow_source_address`), routing
 * rules by From and Request-URI (`allow_routing` with `permissions.allow` / `permissions.deny`), and the
 * User-Agents of known SIP scanners.
 */
import { readFileSync } from 'node:fs';
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { RpcError } from '../../rpc/types.js';
import { formatUri } from '../../sip/uri.js';
import type { Protocol } from '../../transport/types.js';
import { type AddressEntry, AddressTable, makeEntry, parseAddressFile } from './addresses.js';
import { parseRuleFile, type Rule, routingAllowed } from './rules.js';

export type { AddressEntry } from './addresses.js';

/** The `permissions` script API. */
export interface PermissionsApi {
  /**
   * True when the request's source (address, port, protocol) is in the address table under `group`
   * (Kamailio's `allow_source_address`).
   */
  allowSourceAddress(req: RequestContext, group?: number): boolean;
  /** The tag of the entry of `group` the request's source matches; undefined when none matches. */
  sourceTag(req: RequestContext, group?: number): string | undefined;
  /** The lowest group whose entries match the source, or -1 (Kamailio's `allow_source_address_group`). */
  sourceGroup(req: RequestContext): number;
  /**
   * True when `address`/`port` (port 0: any entry's port) is in `group` (Kamailio's `allow_address`); the
   * address may be written in any valid form (`2001:DB8::1`, `::ffff:192.0.2.1`).
   */
  allowAddress(group: number, address: string, port?: number, protocol?: Protocol): boolean;
  /** The matching entry (with its tag and origin), for any use the booleans do not cover. */
  matchAddress(group: number, address: string, port?: number, protocol?: Protocol): AddressEntry | undefined;
  /**
   * Kamailio's `allow_routing`: true when (From URI, Request-URI) matches a rule of `allowFile`, else
   * false when it matches one of `denyFile`, else true (and true when neither file is set).
   */
  allowRouting(req: RequestContext): boolean;
  /** True when the request has a User-Agent of a known scanner (`scannerUserAgents`). */
  isScanner(req: RequestContext): boolean;
  /** Reads the address file and table again; the old table stays when either fails (which then throws). */
  reloadAddresses(): Promise<number>;
}

/** Scanners and attack tools that announce themselves; matched as case-insensitive substrings. */
export const DEFAULT_SCANNERS = [
  'friendly-scanner',
  'sipvicious',
  'sipcli',
  'sip-scan',
  'VaxSIPUserAgent',
  'iWar',
  'sundayddr',
  'SIVuS',
];

/** One regular expression for every scanner name (substrings, case-insensitive); undefined for none. */
export function scannerPattern(names: readonly string[]): RegExp | undefined {
  const parts = names.filter((n) => n !== '').map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return parts.length === 0 ? undefined : new RegExp(parts.join('|'), 'i');
}

export const permissionsModule = defineModule({
  name: 'permissions',
  doc: 'Trusted source addresses (file or the address table), allow/deny routing rules, scanner User-Agents.',
  params: s.object({
    addressFile: s
      .path({
        doc: 'Trusted addresses, one a line: `GROUP ADDRESS[/PREFIX] [PORT [PROTOCOL [TAG]]]` (see the module README).',
        example: '/etc/olelo/address.list',
      })
      .optional(),
    addressDb: s.boolean({
      default: false,
      doc: 'Also read trusted addresses from the `address` table (Kamailio’s: grp, ip_addr, mask, port, tag).',
    }),
    allowFile: s
      .path({
        doc: 'Routing rules allowing (From, Request-URI) pairs: `FROM_LIST : REQUEST_URI_LIST` (Kamailio’s permissions.allow).',
        example: '/etc/olelo/permissions.allow',
      })
      .optional(),
    denyFile: s
      .path({
        doc: 'Routing rules denying pairs not allowed by `allowFile` (Kamailio’s permissions.deny).',
        example: '/etc/olelo/permissions.deny',
      })
      .optional(),
    scannerUserAgents: s.array(s.string({ minLength: 1 }), {
      default: DEFAULT_SCANNERS,
      doc: 'User-Agents (case-insensitive substrings) of SIP scanners: `isScanner` is true for them; the default script drops their requests without reply.',
    }),
  }),
  create(core, params) {
    const addressFile = params.addressFile as string | undefined;
    const addressDb = params.addressDb === true;
    const scanners = scannerPattern((params.scannerUserAgents as string[] | undefined) ?? DEFAULT_SCANNERS);
    const allow: Rule[] =
      params.allowFile === undefined
        ? []
        : parseRuleFile(readFileSync(params.allowFile as string, 'utf8'), params.allowFile as string);
    const deny: Rule[] =
      params.denyFile === undefined
        ? []
        : parseRuleFile(readFileSync(params.denyFile as string, 'utf8'), params.denyFile as string);
    const fileEntries = () =>
      addressFile === undefined ? [] : parseAddressFile(readFileSync(addressFile, 'utf8'), addressFile);
    // the file is read at once (a bad file stops the start); the table when the module starts
    let table = new AddressTable(fileEntries());
    const reloads = core.stats.counter('permissions', 'address_reloads', 'Address table reloads.');
    core.stats.gauge(
      'permissions',
      'addresses',
      'Entries of the address table.',
      () => table.entries().length,
    );

    async function load(): Promise<AddressTable> {
      const entries = fileEntries();
      if (addressDb) {
        for (const row of await core.db.addresses.list()) {
          try {
            entries.push(
              makeEntry({
                group: row.grp,
                address: row.ipAddr,
                prefix: row.mask,
                port: row.port,
                tag: row.tag,
                origin: `db:${row.id}`,
              }),
            );
          } catch (error) {
            // one bad row is skipped, as Kamailio does, and said
            core.log.warn(`permissions: address row ${row.id} skipped: ${(error as Error).message}`);
          }
        }
      }
      return new AddressTable(entries);
    }

    async function reload(): Promise<number> {
      table = await load();
      reloads.value++;
      return table.entries().length;
    }

    const api: PermissionsApi = {
      allowSourceAddress(req, group = 1) {
        const src = req.source;
        return table.match(group, src.address, src.port, src.protocol) !== undefined;
      },
      sourceTag(req, group = 1) {
        const src = req.source;
        return table.match(group, src.address, src.port, src.protocol)?.tag;
      },
      sourceGroup(req) {
        const src = req.source;
        return table.matchGroup(src.address, src.port, src.protocol);
      },
      allowAddress: (group, address, port = 0, protocol) =>
        table.matchText(group, address, port, protocol) !== undefined,
      matchAddress: (group, address, port = 0, protocol) => table.matchText(group, address, port, protocol),
      allowRouting(req) {
        if (allow.length === 0 && deny.length === 0) return true;
        const from = req.msg.from?.uri;
        return routingAllowed(allow, deny, from === undefined ? '' : formatUri(from), req.msg.requestUri);
      },
      isScanner(req) {
        if (scanners === undefined) return false;
        const ua = req.header('user-agent');
        return ua !== undefined && scanners.test(ua);
      },
      reloadAddresses: reload,
    };

    return {
      api,
      rpc: {
        'permissions.addressReload': {
          doc: 'Reads the address file and the address table again; answers the number of entries. The old table stays when reading fails (error 500 with the reason).',
          handler: async () => {
            try {
              return { entries: await reload() };
            } catch (error) {
              throw new RpcError(500, `address reload failed: ${(error as Error).message}`);
            }
          },
        },
        'permissions.addressDump': {
          doc: 'The single addresses of the table: gid, ip, port, proto, tag, origin (subnets: permissions.subnetDump).',
          handler: () =>
            table
              .entries()
              .filter((e) => e.prefix === (e.address.includes(':') ? 128 : 32))
              .map((e) => ({
                gid: e.group,
                ip: e.address,
                port: e.port,
                proto: e.protocol,
                tag: e.tag,
                origin: e.origin,
              })),
        },
        'permissions.subnetDump': {
          doc: 'The subnets of the table: gid, ip, mask, port, proto, tag, origin.',
          handler: () =>
            table
              .entries()
              .filter((e) => e.prefix !== (e.address.includes(':') ? 128 : 32))
              .map((e) => ({
                gid: e.group,
                ip: e.address,
                mask: e.prefix,
                port: e.port,
                proto: e.protocol,
                tag: e.tag,
                origin: e.origin,
              })),
        },
        'permissions.testAddress': {
          doc: 'Whether an address and port (0: any) is in a group (Kamailio’s allow_address): answers 1 with the tag, or -1.',
          params: [
            { name: 'group', type: 'number' },
            { name: 'ip', type: 'string' },
            { name: 'port', type: 'number', optional: true },
          ],
          handler: (group: number, ip: string, port = 0) => {
            const e = table.matchText(group, ip, port);
            return e === undefined ? { result: -1 } : { result: 1, tag: e.tag };
          },
        },
      },
      async start() {
        if (addressDb) await reload();
      },
    };
  },
});
