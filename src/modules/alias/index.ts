/**
 * alias: alias addresses from the database's `dbaliases` table (Kamailio's `alias_db`): a request to
 * `alias_username@alias_domain` is sent on to the account `username@domain` the alias points to.
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import type { AliasRecord, AliasStore, Storage } from '../../db/types.js';
import { SipParseError } from '../../sip/errors.js';
import { latin1ToText } from '../../sip/lexer.js';
import type { SipUri } from '../../sip/uri.js';

/** What {@link AliasApi.lookup} found: `found` (the Request-URI was rewritten) or `not-found`. */
export type AliasLookupResult = 'found' | 'not-found';

/** An alias target: the account an alias points to. */
export interface AliasTarget {
  readonly username: string;
  readonly domain: string;
}

/** The `alias` script API. */
export interface AliasApi {
  /**
   * Kamailio's `alias_db_lookup`: when the Request-URI's `user@host` is an alias, rewrites the Request-URI
   * to `sip:username@domain` of its target (the first one, when the alias has several), keeping the
   * scheme and dropping the port and parameters. The host is compared as written (lower-cased): an alias
   * of `example.com` does not match a Request-URI naming the server's IP address. Resolves `not-found`
   * (and changes nothing) for a Request-URI without user, a tel: URI, or a server without database.
   */
  lookup(req: RequestContext): AliasLookupResult | Promise<AliasLookupResult>;
  /** Every target of the alias `user@domain`, in the order they were added; empty when it is none. */
  targets(user: string, domain: string): Promise<AliasTarget[]>;
}

/** The database's alias table, or none when the core has no database (tests, embedding). */
function aliasStore(core: { readonly db: Storage }): AliasStore | undefined {
  try {
    return core.db?.aliases;
  } catch {
    return undefined;
  }
}

export const aliasModule = defineModule({
  name: 'alias',
  doc: 'Alias addresses (the dbaliases table) resolved to the accounts they point to.',
  create(core) {
    const store = aliasStore(core);
    const found = core.stats.counter('alias', 'found', 'Request-URIs rewritten from an alias to its account');
    const targets = async (user: string, domain: string): Promise<AliasTarget[]> => {
      if (store === undefined) return [];
      const rows: AliasRecord[] = await store.lookup(user, domain.toLowerCase());
      return rows.map((r) => ({ username: r.username, domain: r.domain }));
    };
    const api: AliasApi = {
      lookup(req) {
        let uri: SipUri | undefined;
        try {
          uri = req.sipUri;
        } catch (e) {
          if (e instanceof SipParseError) return 'not-found';
          throw e;
        }
        if (store === undefined || uri?.user === undefined) return 'not-found';
        const scheme = uri.scheme;
        return targets(latin1ToText(uri.user), latin1ToText(uri.host)).then((list) => {
          const target = list[0];
          if (target === undefined) return 'not-found';
          req.setUri(`${scheme}:${target.username}@${target.domain}`);
          found.value++;
          return 'found';
        });
      },
      targets,
    };
    return { api };
  },
});
