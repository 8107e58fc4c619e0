/**
 * sanity: request validation on demand (RFC 3261 §16.3, §8.2.2).
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { SipParseError } from '../../sip/errors.js';

/** The `sanity` script API. */
export interface SanityApi {
  /**
   * Checks the request and, when it fails, replies (400 naming the defect, 416 for an unsupported
   * Request-URI scheme, 420 with Unsupported for unknown Proxy-Require tags) and returns false.
   * Checks: mandatory headers present, every header readable, CSeq method matches, Max-Forwards,
   * Proxy-Require.
   */
  check(req: RequestContext): boolean;
}

/**
 * What a proxy needs readable to route a request (RFC 3261 §16.3): the headers checked by default. With
 * `checkAllHeaders`, every header olelo has a typed view for is checked too (Contact, Route, auth, Date...).
 */
const ROUTING_HEADERS: ReadonlySet<string> = new Set([
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'max-forwards',
  'content-length',
  'content-type',
  'proxy-require',
  'route',
]);

/** Proxy-Require option tags this proxy supports (none yet). */
const SUPPORTED_PROXY_EXTENSIONS = new Set<string>();

export const sanityModule = defineModule({
  name: 'sanity',
  doc: 'Request sanity checks with the right error replies.',
  params: s.object({
    checkAllHeaders: s.boolean({
      default: false,
      doc: 'Also check every header olelo can read (Contact, Record-Route, auth, Event, Date...), not only those routing needs.',
    }),
  }),
  create(core, params) {
    const only = params.checkAllHeaders === true ? undefined : ROUTING_HEADERS;
    const failed = core.stats.counter('sanity', 'failed', 'requests that failed sanity checks');
    const api: SanityApi = {
      check(req) {
        const msg = req.msg;
        const missing = msg.missingHeaders();
        if (missing.length > 0) {
          failed.value++;
          core.reply(req, 400, `Missing ${missing.join(', ')}`);
          return false;
        }
        try {
          msg.validate(only);
        } catch (e) {
          if (!(e instanceof SipParseError)) throw e;
          failed.value++;
          core.reply(req, 400, e.reason);
          return false;
        }
        const scheme = msg.uri.scheme;
        if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
          failed.value++;
          core.reply(req, 416);
          return false;
        }
        // RFC 3261 §16.3 step 5: Proxy-Require
        const proxyRequire = msg.proxyRequire;
        if (proxyRequire !== undefined) {
          const unsupported = proxyRequire.filter((t) => !SUPPORTED_PROXY_EXTENSIONS.has(t.toLowerCase()));
          if (unsupported.length > 0) {
            failed.value++;
            core.reply(req, 420, undefined, [['Unsupported', unsupported.join(', ')]]);
            return false;
          }
        }
        return true;
      },
    };
    return { api };
  },
});
