/**
 * The provisioning commands (Kamailio's `kamctl add|passwd|rm`, `domain`, `alias_db`, `dispatcher`):
 * accounts, domains, aliases and dispatcher destinations in the database the server uses (same
 * `--config`). They work while the server runs: SQLite is in WAL mode, and the server reads each account
 * when it needs it (the dispatcher table at start and on reload).
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../core/config.js';
import { moduleSchemas } from '../core/module.js';
import { databaseUrl, openStorage, type Storage, StorageError } from '../db/index.js';
import { dispatcherTable } from '../db/schema.js';
import type { DispatcherDestination } from '../db/types.js';
import { DispatcherListError, destinationsFromRows } from '../modules/dispatcher/list.js';
import { builtinModules } from '../script/api.js';
import { SipParseError } from '../sip/errors.js';
import { scanHostPort } from '../sip/host.js';

/** The first words of the provisioning commands. */
export const PROVISION_COMMANDS: readonly string[] = [
  'user',
  'domain',
  'alias',
  'dispatcher',
  'admin',
  'address',
];

export const PROVISION_HELP = `Provisioning (the database of --config, as the server uses it; also while it runs):
  olelo user add ADDRESS PASSWORD [--email EMAIL] [--hash-only]
                                     add an account; PASSWORD - reads it from standard input;
                                     --hash-only keeps only ha1/ha1b, not the password itself
  olelo user passwd ADDRESS PASSWORD change a password
  olelo user rm ADDRESS              remove an account
  olelo user list [DOMAIN] [--json]  list accounts
  olelo domain add DOMAIN [--did ID] | rm DOMAIN | list [--json]
  olelo alias add ALIAS ADDRESS [--force]
                                     calls to ALIAS go to ADDRESS (a local user unless --force)
  olelo alias rm ALIAS | list [ADDRESS] [--json]
  olelo dispatcher add SETID URI [--flags N] [--priority N] [--attrs ATTRS] [--description TEXT]
                                     add a destination to a set of the dispatcher table
                                     (ATTRS as in dispatcher.list: "weight=50;duid=gw1")
  olelo dispatcher rm ID | list [SETID] [--json]
                                     list prints dispatcher.list lines, each with its ID
  olelo admin add NAME [PASSWORD] [--password PASSWORD]
                                     who may log in to the web dashboard; PASSWORD - (or none)
                                     reads it from standard input
  olelo admin passwd NAME [PASSWORD] | rm NAME | list [--json]
  olelo address add GROUP IP[/PREFIX] [PORT] [--tag TAG]
                                     a trusted source of the permissions module's address table
                                     (group 1: trusted by the default script); then
                                     olelo ctl permissions.addressReload
  olelo address rm ID | list [GROUP] [--json]

ADDRESS and ALIAS are user@domain or sip:user@domain; the domain is the digest realm. A server with
modules.dispatcher.source db reads the dispatcher table at start and on reload.
Exit status: 0 done, 1 refused or failed (exists, unknown user, database), 2 wrong usage.
`;

/** A usage problem: exit 2. */
class UsageError extends Error {}
/** A refused operation: exit 1. */
class Refused extends Error {}

/** Where the commands write (tests pass their own). */
export interface ProvisionIo {
  out(line: string): void;
  err(line: string): void;
  /** Standard input as text (for a password given as `-`). */
  readStdin(): Promise<string>;
}

const processIo: ProvisionIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  async readStdin() {
    let text = '';
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin) text += chunk as string;
    return text;
  },
};

// RFC 3261 §25.1: user = 1*( unreserved / escaped / user-unreserved )
const USER_PART = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;

/** Checks a domain (a host name or IP address, no port) and lower-cases it; throws a UsageError naming `whole`. */
export function parseDomain(text: string, what: string, whole = text): string {
  if (text === '') throw new UsageError(`bad ${what} '${whole}': the domain is empty`);
  let end: number;
  let port: number | undefined;
  try {
    ({ end, port } = scanHostPort(text, 0));
  } catch (error) {
    const reason = error instanceof SipParseError ? error.reason : (error as Error).message;
    throw new UsageError(`bad ${what} '${whole}': ${reason}`);
  }
  if (end !== text.length) throw new UsageError(`bad ${what} '${whole}': unexpected '${text.slice(end)}'`);
  if (port !== undefined) throw new UsageError(`bad ${what} '${whole}': a domain takes no port`);
  return text.toLowerCase();
}

/** Parses `user@domain` or `sip:user@domain`; throws a UsageError naming what is wrong. */
export function parseAddress(text: string): { username: string; domain: string } {
  const bare = text.replace(/^sips?:/i, '');
  const at = bare.indexOf('@');
  if (at === -1) throw new UsageError(`bad address '${text}': expected user@domain`);
  const username = bare.slice(0, at);
  if (username === '') throw new UsageError(`bad address '${text}': the user part is empty`);
  if (!USER_PART.test(username))
    throw new UsageError(`bad address '${text}': '${username}' is not a SIP user part (RFC 3261 §25.1)`);
  return { username, domain: parseDomain(bare.slice(at + 1), 'address', text) };
}

const aor = (a: { username: string; domain: string }) => `${a.username}@${a.domain}`;

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      email: { type: 'string' },
      'hash-only': { type: 'boolean' },
      did: { type: 'string' },
      flags: { type: 'string' },
      priority: { type: 'string' },
      attrs: { type: 'string' },
      description: { type: 'string' },
      force: { type: 'boolean' },
      password: { type: 'string' },
      tag: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
}

type Options = ReturnType<typeof parse>['values'];

function expectArgs(rest: string[], min: number, max: number, usage: string): void {
  if (rest.length < min || rest.length > max) throw new UsageError(`usage: olelo ${usage}`);
}

async function password(given: string, io: ProvisionIo): Promise<string> {
  const text = given === '-' ? (await io.readStdin()).split(/\r?\n/)[0]! : given;
  if (text === '') throw new UsageError('the password is empty');
  return text;
}

/** What a command does with the database, once its arguments are checked. */
type Action = (db: Storage) => Promise<void>;

async function user(verb: string, rest: string[], options: Options, io: ProvisionIo): Promise<Action> {
  switch (verb) {
    case 'add': {
      expectArgs(rest, 2, 2, 'user add ADDRESS PASSWORD');
      const address = parseAddress(rest[0]!);
      const secret = await password(rest[1]!, io);
      return async (db) => {
        try {
          await db.subscribers.add({
            ...address,
            password: secret,
            storePassword: !options['hash-only'],
            ...(options.email === undefined ? {} : { emailAddress: options.email }),
          });
        } catch (error) {
          if (error instanceof StorageError && error.code === 'exists')
            throw new Refused(`user ${aor(address)} exists already`);
          throw error;
        }
        io.out(`added user ${aor(address)}`);
        const domains = await db.domains.list();
        if (domains.length > 0 && !domains.some((d) => d.domain === address.domain))
          io.err(
            `olelo: note: ${address.domain} is not in the domain table (olelo domain add ${address.domain})`,
          );
      };
    }
    case 'passwd': {
      expectArgs(rest, 2, 2, 'user passwd ADDRESS PASSWORD');
      const address = parseAddress(rest[0]!);
      const secret = await password(rest[1]!, io);
      return async (db) => {
        const existing = await db.subscribers.get(address.username, address.domain);
        if (existing === undefined) throw new Refused(`unknown user ${aor(address)}`);
        // an account kept as hashes only stays so
        const keep = !options['hash-only'] && existing.password !== undefined;
        if (!(await db.subscribers.setPassword(address.username, address.domain, secret, keep)))
          throw new Refused(`unknown user ${aor(address)}`);
        io.out(`changed the password of ${aor(address)}`);
      };
    }
    case 'rm': {
      expectArgs(rest, 1, 1, 'user rm ADDRESS');
      const address = parseAddress(rest[0]!);
      return async (db) => {
        if (!(await db.subscribers.remove(address.username, address.domain)))
          throw new Refused(`unknown user ${aor(address)}`);
        io.out(`removed user ${aor(address)}`);
        const aliases = await db.aliases.list(address);
        if (aliases.length > 0)
          io.err(
            `olelo: note: ${aliases.length} alias(es) still point to ${aor(address)} (olelo alias list ${aor(address)})`,
          );
      };
    }
    case 'list': {
      expectArgs(rest, 0, 1, 'user list [DOMAIN]');
      const domain = rest[0] === undefined ? undefined : parseDomain(rest[0], 'domain');
      return async (db) => {
        const users = await db.subscribers.list(domain === undefined ? {} : { domain });
        if (options.json) {
          const rows = users.map((u) => ({
            username: u.username,
            domain: u.domain,
            ...(u.emailAddress === undefined ? {} : { email: u.emailAddress }),
            ...(u.created === undefined ? {} : { created: new Date(u.created * 1000).toISOString() }),
          }));
          io.out(JSON.stringify(rows, null, 2));
        } else {
          for (const u of users)
            io.out(aor(u) + (u.emailAddress === undefined ? '' : ` <${u.emailAddress}>`));
        }
      };
    }
    default:
      throw new UsageError(`unknown command 'user ${verb}': add, passwd, rm or list`);
  }
}

function domain(verb: string, rest: string[], options: Options, io: ProvisionIo): Action {
  switch (verb) {
    case 'add': {
      expectArgs(rest, 1, 1, 'domain add DOMAIN [--did ID]');
      const name = parseDomain(rest[0]!, 'domain');
      return async (db) => {
        try {
          await db.domains.add(name, options.did);
        } catch (error) {
          if (error instanceof StorageError && error.code === 'exists')
            throw new Refused(`domain ${name} exists already`);
          throw error;
        }
        io.out(`added domain ${name}`);
      };
    }
    case 'rm': {
      expectArgs(rest, 1, 1, 'domain rm DOMAIN');
      const name = parseDomain(rest[0]!, 'domain');
      return async (db) => {
        if (!(await db.domains.remove(name))) throw new Refused(`unknown domain ${name}`);
        io.out(`removed domain ${name}`);
      };
    }
    case 'list':
      expectArgs(rest, 0, 0, 'domain list');
      return async (db) => {
        const domains = await db.domains.list();
        if (options.json) {
          const rows = domains.map((d) => ({
            domain: d.domain,
            ...(d.did === undefined ? {} : { did: d.did }),
          }));
          io.out(JSON.stringify(rows, null, 2));
        } else {
          for (const d of domains) io.out(d.did === undefined ? d.domain : `${d.domain} (did ${d.did})`);
        }
      };
    default:
      throw new UsageError(`unknown command 'domain ${verb}': add, rm or list`);
  }
}

function alias(verb: string, rest: string[], options: Options, io: ProvisionIo): Action {
  switch (verb) {
    case 'add': {
      expectArgs(rest, 2, 2, 'alias add ALIAS ADDRESS');
      const from = parseAddress(rest[0]!);
      const to = parseAddress(rest[1]!);
      return async (db) => {
        if (!options.force && (await db.subscribers.get(to.username, to.domain)) === undefined)
          throw new Refused(
            `unknown user ${aor(to)} (add the user first, or use --force for a target that is not a local user)`,
          );
        try {
          await db.aliases.add({ aliasUsername: from.username, aliasDomain: from.domain, ...to });
        } catch (error) {
          if (error instanceof StorageError && error.code === 'exists') {
            const [target] = await db.aliases.lookup(from.username, from.domain);
            throw new Refused(
              `alias ${aor(from)} exists already${target === undefined ? '' : ` (for ${aor(target)})`}`,
            );
          }
          throw error;
        }
        io.out(`added alias ${aor(from)} for ${aor(to)}`);
      };
    }
    case 'rm': {
      expectArgs(rest, 1, 1, 'alias rm ALIAS');
      const from = parseAddress(rest[0]!);
      return async (db) => {
        if ((await db.aliases.remove(from.username, from.domain)) === 0)
          throw new Refused(`unknown alias ${aor(from)}`);
        io.out(`removed alias ${aor(from)}`);
      };
    }
    case 'list': {
      expectArgs(rest, 0, 1, 'alias list [ADDRESS]');
      const target = rest[0] === undefined ? undefined : parseAddress(rest[0]);
      return async (db) => {
        const aliases = await db.aliases.list(target);
        if (options.json) {
          const rows = aliases.map((a) => ({ alias: `${a.aliasUsername}@${a.aliasDomain}`, target: aor(a) }));
          io.out(JSON.stringify(rows, null, 2));
        } else {
          for (const a of aliases) io.out(`${a.aliasUsername}@${a.aliasDomain} -> ${aor(a)}`);
        }
      };
    }
    default:
      throw new UsageError(`unknown command 'alias ${verb}': add, rm or list`);
  }
}

/** An integer argument of the dispatcher commands (a usage error otherwise). */
function integerArg(text: string, what: string): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${what} must be an integer: '${text}'`);
  const n = Number(text);
  if (n < -(2 ** 31) || n > 2 ** 31 - 1) throw new UsageError(`${what} is out of range: ${text}`);
  return n;
}

/** Checks a text against the length of its `dispatcher` column (the table holds no more). */
function fits(column: string, value: string, what: string): string {
  const type = dispatcherTable.columns.find((c) => c.name === column)?.type;
  const max = type?.kind === 'string' ? type.length : 0;
  if ([...value].length > max) throw new UsageError(`${what} is longer than ${max} characters`);
  return value;
}

/** A destination as a line of dispatcher.list, its id (and description) in the comment. */
function listLine(d: DispatcherDestination): string {
  const attrs = d.attrs === '' ? '' : ` ${d.attrs}`;
  const description = d.description === '' ? '' : `: ${d.description.replace(/[\r\n]+/g, ' ')}`;
  return `${d.setid} ${d.destination} ${d.flags} ${d.priority}${attrs}  # id ${d.id}${description}`;
}

function dispatcher(verb: string, rest: string[], options: Options, io: ProvisionIo): Action {
  switch (verb) {
    case 'add': {
      expectArgs(rest, 2, 2, 'dispatcher add SETID URI [--flags N] [--priority N] [--attrs ATTRS]');
      const row = {
        setid: integerArg(rest[0]!, 'the set id'),
        destination: fits('destination', rest[1]!, 'the URI'),
        flags: options.flags === undefined ? 0 : integerArg(options.flags, '--flags'),
        priority: options.priority === undefined ? 0 : integerArg(options.priority, '--priority'),
        attrs: fits('attrs', options.attrs ?? '', '--attrs'),
        description: fits('description', options.description ?? '', '--description'),
      };
      // what the dispatcher module would refuse when loading the table is refused here
      try {
        destinationsFromRows([row]);
      } catch (error) {
        if (error instanceof DispatcherListError) throw new UsageError(error.reason);
        throw error;
      }
      return async (db) => {
        const added = await db.dispatcher.add(row);
        io.out(`added dispatcher destination ${added.id}: set ${added.setid} ${added.destination}`);
      };
    }
    case 'rm': {
      expectArgs(rest, 1, 1, 'dispatcher rm ID');
      const id = integerArg(rest[0]!, 'the id');
      return async (db) => {
        if (!(await db.dispatcher.remove(id))) throw new Refused(`unknown dispatcher destination ${id}`);
        io.out(`removed dispatcher destination ${id}`);
      };
    }
    case 'list': {
      expectArgs(rest, 0, 1, 'dispatcher list [SETID]');
      const setid = rest[0] === undefined ? undefined : integerArg(rest[0], 'the set id');
      return async (db) => {
        const destinations = await db.dispatcher.list(setid === undefined ? {} : { setid });
        if (options.json) io.out(JSON.stringify(destinations, null, 2));
        else for (const d of destinations) io.out(listLine(d));
      };
    }
    default:
      throw new UsageError(`unknown command 'dispatcher ${verb}': add, rm or list`);
  }
}

const ADMIN_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

function adminName(text: string): string {
  if (!ADMIN_NAME.test(text))
    throw new UsageError(`bad administrator name '${text}': 1 to 64 letters, digits, '.', '_', '@' or '-'`);
  return text;
}

/** An administrator's password: `--password`, the argument, or (none, or `-`) the first line of stdin. */
async function adminPassword(given: string | undefined, options: Options, io: ProvisionIo): Promise<string> {
  if (options.password !== undefined && given !== undefined)
    throw new UsageError('give the password once: as an argument or with --password');
  const secret = await password(options.password ?? given ?? '-', io);
  if (secret.length < 8) throw new UsageError('the password is shorter than 8 characters');
  return secret;
}

async function admin(verb: string, rest: string[], options: Options, io: ProvisionIo): Promise<Action> {
  switch (verb) {
    case 'add': {
      expectArgs(rest, 1, 2, 'admin add NAME [PASSWORD] [--password PASSWORD]');
      const name = adminName(rest[0]!);
      const secret = await adminPassword(rest[1], options, io);
      return async (db) => {
        try {
          await db.admins.add(name, secret);
        } catch (error) {
          if (error instanceof StorageError && error.code === 'exists')
            throw new Refused(`administrator ${name} exists already`);
          throw error;
        }
        io.out(`added administrator ${name}`);
      };
    }
    case 'passwd': {
      expectArgs(rest, 1, 2, 'admin passwd NAME [PASSWORD] [--password PASSWORD]');
      const name = adminName(rest[0]!);
      const secret = await adminPassword(rest[1], options, io);
      return async (db) => {
        if (!(await db.admins.setPassword(name, secret))) throw new Refused(`no administrator ${name}`);
        io.out(`changed the password of administrator ${name}`);
      };
    }
    case 'rm': {
      expectArgs(rest, 1, 1, 'admin rm NAME');
      const name = adminName(rest[0]!);
      return async (db) => {
        if (!(await db.admins.remove(name))) throw new Refused(`no administrator ${name}`);
        io.out(`removed administrator ${name}`);
      };
    }
    case 'list': {
      expectArgs(rest, 0, 0, 'admin list [--json]');
      return async (db) => {
        const admins = await db.admins.list();
        if (options.json) io.out(JSON.stringify(admins, null, 2));
        else
          for (const a of admins)
            io.out(`${a.username}\tcreated ${new Date(a.created * 1000).toISOString()}`);
      };
    }
    default:
      throw new UsageError(`unknown command 'admin ${verb}': add, passwd, rm or list`);
  }
}

/** `IP` or `IP/PREFIX`, checked: an IPv4 prefix 0-32, an IPv6 one 0-128 (one address when left out). */
function addressArg(text: string): { ipAddr: string; mask: number } {
  const slash = text.indexOf('/');
  const ip = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) throw new UsageError(`bad address '${text}': '${ip}' is not an IPv4 or IPv6 address`);
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { ipAddr: ip, mask: max };
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max)
    throw new UsageError(`bad address '${text}': the prefix must be 0 to ${max}`);
  return { ipAddr: ip, mask: Number(prefix) };
}

function address(verb: string, rest: string[], options: Options, io: ProvisionIo): Action {
  switch (verb) {
    case 'add': {
      expectArgs(rest, 2, 3, 'address add GROUP IP[/PREFIX] [PORT] [--tag TAG]');
      const grp = integerArg(rest[0]!, 'the group');
      if (grp < 0) throw new UsageError(`the group must not be negative: ${rest[0]}`);
      const { ipAddr, mask } = addressArg(rest[1]!);
      const port = rest[2] === undefined ? 0 : integerArg(rest[2], 'the port');
      if (port < 0 || port > 65535) throw new UsageError(`the port must be 0 (any) to 65535: ${rest[2]}`);
      const tag = options.tag;
      if (tag !== undefined && tag.length > 64) throw new UsageError('the tag is longer than 64 characters');
      return async (db) => {
        const row = await db.addresses.add({
          grp,
          ipAddr,
          mask,
          port,
          ...(tag === undefined ? {} : { tag }),
        });
        io.out(
          `added address ${row.id}: group ${grp} ${ipAddr}/${mask} port ${port || 'any'}${tag ? ` tag ${tag}` : ''}`,
        );
      };
    }
    case 'rm': {
      expectArgs(rest, 1, 1, 'address rm ID');
      const id = integerArg(rest[0]!, 'the id');
      return async (db) => {
        if (!(await db.addresses.remove(id))) throw new Refused(`no address with id ${id}`);
        io.out(`removed address ${id}`);
      };
    }
    case 'list': {
      expectArgs(rest, 0, 1, 'address list [GROUP] [--json]');
      const grp = rest[0] === undefined ? undefined : integerArg(rest[0], 'the group');
      return async (db) => {
        const rows = await db.addresses.list(grp === undefined ? {} : { grp });
        if (options.json) io.out(JSON.stringify(rows, null, 2));
        else
          for (const r of rows)
            io.out(
              `${r.id}\tgroup ${r.grp}\t${r.ipAddr}/${r.mask}\tport ${r.port || 'any'}${r.tag ? `\t${r.tag}` : ''}`,
            );
      };
    }
    default:
      throw new UsageError(`unknown command 'address ${verb}': add, rm or list`);
  }
}

/** Runs a provisioning command (`user …`, `domain …`, `alias …`, `dispatcher …`); returns the exit status. */
export async function provision(args: string[], io: ProvisionIo = processIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    io.err(`olelo: ${(error as Error).message}\n\n${PROVISION_HELP}`);
    return 2;
  }
  const { values: options, positionals } = parsed;
  if (options.help) {
    io.out(PROVISION_HELP);
    return 0;
  }
  const [noun, verb, ...rest] = positionals;
  if (noun === undefined || !PROVISION_COMMANDS.includes(noun) || verb === undefined) {
    io.err(
      `olelo: expected a command: user, domain, alias, dispatcher, admin or address with add, rm, list...\n\n${PROVISION_HELP}`,
    );
    return 2;
  }
  const file = options.config ?? process.env.OLELO_CONFIG;
  let db: Storage | undefined;
  try {
    // arguments first: a usage error must not wait for (or be hidden by) the database
    const action =
      noun === 'user'
        ? await user(verb, rest, options, io)
        : noun === 'domain'
          ? domain(verb, rest, options, io)
          : noun === 'alias'
            ? alias(verb, rest, options, io)
            : noun === 'admin'
              ? await admin(verb, rest, options, io)
              : noun === 'address'
                ? address(verb, rest, options, io)
                : dispatcher(verb, rest, options, io);
    const config = loadConfig({
      ...(file === undefined ? {} : { file }),
      moduleSchemas: moduleSchemas(builtinModules),
    });
    db = await openStorage(databaseUrl(config.database, config.dataDir), {
      poolSize: 2,
      connectTimeout: config.database.connectTimeout,
      busyTimeout: config.database.busyTimeout,
    });
    await db.migrate();
    await action(db);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`olelo: ${error.message}`);
      return 2;
    }
    if (error instanceof ConfigError) io.err(`olelo: invalid configuration\n${error.message}`);
    else if (error instanceof Refused || error instanceof StorageError) io.err(`olelo: ${error.message}`);
    else throw error;
    return 1;
  } finally {
    await db?.close();
  }
}
