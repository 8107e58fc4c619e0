/**
 * Provisioning over the control API: accounts, domains and aliases in the server's database, as the
 * `olelo user|domain|alias` commands do (same address checks), for the web dashboard and `olelo ctl`.
 * Results never carry a password or its hashes.
 */
import { parseAddress, parseDomain } from '../cli/provision.js';
import { type Storage, StorageError } from '../db/index.js';
import type { AliasRecord, DomainRecord, Subscriber } from '../db/types.js';
import { RpcError, type RpcMethods } from './types.js';

/** What the server does after a table changed (the domain module's cache is reloaded, ...). */
export interface ProvisionHooks {
  domainsChanged?(): Promise<unknown>;
  aliasesChanged?(): Promise<unknown>;
}

/** An account as the methods show it: no password, no hashes. */
export interface RpcSubscriber {
  address: string;
  username: string;
  domain: string;
  email?: string;
  /** ISO 8601, when olelo created it. */
  created?: string;
}

export interface RpcDomain {
  domain: string;
  did?: string;
  /** ISO 8601. */
  lastModified: string;
}

export interface RpcAlias {
  alias: string;
  target: string;
}

const aor = (a: { username: string; domain: string }) => `${a.username}@${a.domain}`;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** The address checks of the CLI, failing as 400. */
function address(text: string): { username: string; domain: string } {
  try {
    return parseAddress(text);
  } catch (error) {
    throw new RpcError(400, (error as Error).message);
  }
}

function domainName(text: string): string {
  try {
    return parseDomain(text, 'domain');
  } catch (error) {
    throw new RpcError(400, (error as Error).message);
  }
}

function nonEmptyPassword(password: string): string {
  if (password === '') throw new RpcError(400, 'the password is empty');
  return password;
}

function subscriberView(s: Subscriber): RpcSubscriber {
  return {
    address: aor(s),
    username: s.username,
    domain: s.domain,
    ...(s.emailAddress === undefined ? {} : { email: s.emailAddress }),
    ...(s.created === undefined ? {} : { created: iso(s.created) }),
  };
}

function domainView(d: DomainRecord): RpcDomain {
  return {
    domain: d.domain,
    ...(d.did === undefined ? {} : { did: d.did }),
    lastModified: iso(d.lastModified),
  };
}

const aliasView = (a: AliasRecord): RpcAlias => ({
  alias: `${a.aliasUsername}@${a.aliasDomain}`,
  target: aor(a),
});

/** Runs a write; a storage `exists` refusal becomes 409 with `message`. */
async function refuseExisting<T>(write: Promise<T>, message: () => Promise<string> | string): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof StorageError && error.code === 'exists') throw new RpcError(409, await message());
    throw error;
  }
}

/** The provisioning methods (`subscriber.*`, `domain.list|add|rm`, `alias.*`) over `db`. */
export function provisionMethods(db: Storage, hooks: ProvisionHooks = {}): RpcMethods {
  return {
    'subscriber.list': {
      doc: 'Lists accounts (address, username, domain, email, created), of one domain when given, and only those whose user@domain contains SEARCH (case-insensitive) when given. No passwords.',
      params: [
        { name: 'domain', type: 'string', optional: true, doc: 'only this domain; "" for every domain' },
        { name: 'search', type: 'string', optional: true, doc: 'a part of user@domain' },
      ],
      async handler(domain?: string, search?: string): Promise<RpcSubscriber[]> {
        const filter = domain === undefined || domain === '' ? {} : { domain: domainName(domain) };
        const needle = search?.toLowerCase() ?? '';
        const all = await db.subscribers.list(filter);
        return all.filter((s) => needle === '' || aor(s).toLowerCase().includes(needle)).map(subscriberView);
      },
    },
    'subscriber.add': {
      doc: 'Adds an account user@domain with a password (its hashes computed with the domain as realm) and an optional email; returns the account. 409 when it exists.',
      params: [
        { name: 'address', type: 'string', doc: 'user@domain or sip:user@domain' },
        { name: 'password', type: 'string' },
        { name: 'email', type: 'string', optional: true },
      ],
      async handler(text: string, password: string, email?: string): Promise<RpcSubscriber> {
        const a = address(text);
        nonEmptyPassword(password);
        const added = await refuseExisting(
          db.subscribers.add({
            ...a,
            password,
            ...(email === undefined || email === '' ? {} : { emailAddress: email }),
          }),
          () => `user ${aor(a)} exists already`,
        );
        return subscriberView(added);
      },
    },
    'subscriber.passwd': {
      doc: 'Sets the password of an account (an account stored as hashes only stays so). 404 for an unknown account.',
      params: [
        { name: 'address', type: 'string', doc: 'user@domain' },
        { name: 'password', type: 'string' },
      ],
      async handler(text: string, password: string): Promise<{ address: string }> {
        const a = address(text);
        nonEmptyPassword(password);
        const existing = await db.subscribers.get(a.username, a.domain);
        if (existing === undefined) throw new RpcError(404, `unknown user ${aor(a)}`);
        const keep = existing.password !== undefined;
        if (!(await db.subscribers.setPassword(a.username, a.domain, password, keep)))
          throw new RpcError(404, `unknown user ${aor(a)}`);
        return { address: aor(a) };
      },
    },
    'subscriber.rm': {
      doc: 'Removes an account; returns how many aliases still point at it. 404 for an unknown account.',
      params: [{ name: 'address', type: 'string', doc: 'user@domain' }],
      async handler(text: string): Promise<{ address: string; aliases: number }> {
        const a = address(text);
        if (!(await db.subscribers.remove(a.username, a.domain)))
          throw new RpcError(404, `unknown user ${aor(a)}`);
        return { address: aor(a), aliases: (await db.aliases.list(a)).length };
      },
    },
    'domain.list': {
      doc: 'Lists the domain table (domain, did, lastModified).',
      handler: async (): Promise<RpcDomain[]> => (await db.domains.list()).map(domainView),
    },
    'domain.add': {
      doc: 'Adds a domain to the domain table (and reloads the domain cache); 409 when it is there.',
      params: [
        { name: 'domain', type: 'string' },
        { name: 'did', type: 'string', optional: true, doc: 'domain id grouping several names' },
      ],
      async handler(text: string, did?: string): Promise<RpcDomain> {
        const name = domainName(text);
        const added = await refuseExisting(
          db.domains.add(name, did === '' ? undefined : did),
          () => `domain ${name} exists already`,
        );
        await hooks.domainsChanged?.();
        return domainView(added);
      },
    },
    'domain.rm': {
      doc: 'Removes a domain from the domain table (and reloads the domain cache); 404 when it is not there.',
      params: [{ name: 'domain', type: 'string' }],
      async handler(text: string): Promise<{ domain: string }> {
        const name = domainName(text);
        if (!(await db.domains.remove(name))) throw new RpcError(404, `unknown domain ${name}`);
        await hooks.domainsChanged?.();
        return { domain: name };
      },
    },
    'alias.list': {
      doc: 'Lists the aliases (alias, target), of one target account when given.',
      params: [{ name: 'address', type: 'string', optional: true, doc: 'only aliases of this user@domain' }],
      async handler(text?: string): Promise<RpcAlias[]> {
        const target = text === undefined || text === '' ? undefined : address(text);
        return (await db.aliases.list(target)).map(aliasView);
      },
    },
    'alias.add': {
      doc: 'Makes ALIAS (user@domain) lead to the account ADDRESS, which must exist. 404 for an unknown account, 409 when the alias is taken.',
      params: [
        { name: 'alias', type: 'string', doc: 'user@domain' },
        { name: 'address', type: 'string', doc: 'the account, user@domain' },
      ],
      async handler(aliasText: string, targetText: string): Promise<RpcAlias> {
        const from = address(aliasText);
        const to = address(targetText);
        if ((await db.subscribers.get(to.username, to.domain)) === undefined)
          throw new RpcError(404, `unknown user ${aor(to)}`);
        const added = await refuseExisting(
          db.aliases.add({ aliasUsername: from.username, aliasDomain: from.domain, ...to }),
          async () => {
            const [target] = await db.aliases.lookup(from.username, from.domain);
            return `alias ${aor(from)} exists already${target === undefined ? '' : ` (for ${aor(target)})`}`;
          },
        );
        await hooks.aliasesChanged?.();
        return aliasView(added);
      },
    },
    'alias.rm': {
      doc: 'Removes an alias (every target it had); 404 when there is none.',
      params: [{ name: 'alias', type: 'string', doc: 'user@domain' }],
      async handler(text: string): Promise<{ alias: string; removed: number }> {
        const from = address(text);
        const removed = await db.aliases.remove(from.username, from.domain);
        if (removed === 0) throw new RpcError(404, `unknown alias ${aor(from)}`);
        await hooks.aliasesChanged?.();
        return { alias: aor(from), removed };
      },
    },
  };
}
