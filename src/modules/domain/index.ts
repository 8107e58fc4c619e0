/**
 * domain: which domains this server is responsible for (Kamailio's `domain` module): the database's
 * `domain` table, cached in memory and reloaded periodically and on demand, plus the server's own names
 * (the `domains` setting and the listeners' addresses, Kamailio's `myself`).
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import type { Storage } from '../../db/types.js';
import { SipParseError } from '../../sip/errors.js';
import { isSipUri, parseUri, type Uri } from '../../sip/uri.js';
import { type DomainSource, DomainTable } from './table.js';

export { type DomainSource, DomainTable, normalizeDomain } from './table.js';

/** The control commands of the module, for the RPC server. */
export interface DomainRpc {
  /** Reads the `domain` table again (Kamailio's `domain.reload`). */
  'domain.reload'(): Promise<{ domains: number }>;
  /** The domains of the table as last loaded (Kamailio's `domain.dump`). */
  'domain.dump'(): { domains: string[] };
}

/** The `domain` script API. */
export interface DomainApi {
  /**
   * True when `host` is one of ours: a domain of the table, a configured domain or a listener's address,
   * whatever the port (Kamailio's `is_domain_local`, plus `myself`).
   */
  isLocal(host: string): boolean;
  /**
   * True when a SIP URI names one of our domains (Kamailio's `is_uri_host_local`): its host is in the
   * table (any port), or it names this server the way `req.isMyselfUri` does (a configured domain or a
   * listener's address, with one of the listeners' ports). False for tel: and other URIs, and for text
   * that is no URI.
   */
  isUriLocal(uri: Uri | string | undefined): boolean;
  /** True when the From URI is in one of our domains (Kamailio's `is_from_local`). False when From is unreadable. */
  isFromLocal(req: RequestContext): boolean;
  /** Reads the table again now; resolves with how many domains it holds (rejects when the database fails). */
  reload(): Promise<number>;
  /** The domains of the table as last loaded, sorted (without the configured ones). */
  list(): string[];
  readonly rpc: DomainRpc;
}

/** The database's domain table, or none when the core has no database (tests, embedding). */
function domainSource(core: { readonly db: Storage }): DomainSource | undefined {
  try {
    return core.db?.domains;
  } catch {
    return undefined;
  }
}

export const domainModule = defineModule({
  name: 'domain',
  doc: 'Local domains: the domain table (cached), the configured domains and the listeners.',
  params: s.object({
    reloadInterval: s.duration({
      default: '30s',
      doc: 'How often the domain table is read again, so domains added or removed with `olelo domain add|rm` take effect without a restart; 0 = only at start and when the script calls `reload()`.',
    }),
  }),
  create(core, params) {
    const table = new DomainTable(domainSource(core));
    const interval = params.reloadInterval as number;
    const log = core.log.child({ module: 'domain' });
    const size = core.stats.gauge('domain', 'domains', 'domains in the domain table');
    const errors = core.stats.counter('domain', 'reload_errors', 'failed reads of the domain table');
    let timer: NodeJS.Timeout | undefined;

    const reload = async (): Promise<number> => {
      try {
        const n = await table.reload();
        size.value = n;
        return n;
      } catch (error) {
        errors.value++;
        throw error;
      }
    };

    const isUriLocal = (uri: Uri | string | undefined): boolean => {
      if (uri === undefined) return false;
      let u: Uri;
      try {
        u = typeof uri === 'string' ? parseUri(uri) : uri;
      } catch (e) {
        if (e instanceof SipParseError) return false;
        throw e;
      }
      return isSipUri(u) && (table.has(u.host) || core.myself.matchesUri(u));
    };

    const api: DomainApi = {
      isLocal: (host) => table.has(host) || core.myself.matchesHost(host),
      isUriLocal,
      isFromLocal(req) {
        let from: Uri | undefined;
        try {
          from = req.msg.from?.uri;
        } catch (e) {
          if (e instanceof SipParseError) return false;
          throw e;
        }
        return isUriLocal(from);
      },
      reload,
      list: () => table.list(),
      rpc: {
        'domain.reload': async () => ({ domains: await reload() }),
        'domain.dump': () => ({ domains: table.list() }),
      },
    };
    return {
      api,
      rpc: {
        'domain.reload': {
          doc: 'Reads the domain table again; answers the domains now served.',
          handler: api.rpc['domain.reload'],
        },
        'domain.dump': { doc: 'The domains read from the domain table.', handler: api.rpc['domain.dump'] },
      },
      async start() {
        // a table that cannot be read at start stops the start: running with none would refuse every user
        await reload();
        if (interval > 0) {
          timer = setInterval(() => {
            reload().catch((error: unknown) =>
              log.error('cannot reload the domain table; keeping the last one', { error: error as Error }),
            );
          }, interval);
          timer.unref();
        }
      },
      stop() {
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
      },
    };
  },
});
