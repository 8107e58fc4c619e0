/**
 * rr: Record-Route and loose routing (RFC 3261 §16.4, §16.6 step 4, §16.12; RFC 5658 double Record-Route).
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { isSipUri, type SipUri } from '../../sip/uri.js';

/** The `rr` script API. */
export interface RrApi {
  /**
   * Adds this proxy to the Record-Route set of the request. The header is written when the request is
   * forwarded, with the address of the outgoing listener; when the request leaves on a different
   * listener (transport or interface) than it came in on, two values are written (RFC 5658).
   * `params` are extra URI parameters, e.g. `'ftag=abc'`.
   */
  recordRoute(req: RequestContext, params?: string): void;
  /**
   * Routes a request by its Route set (RFC 3261 §16.4): when a strict router put our URI in the
   * Request-URI, restores the Request-URI from the last Route; removes the Route values that are ours.
   * Returns true when the request had a Route set (an in-dialog request to be sent by it).
   */
  looseRoute(req: RequestContext): boolean;
}

export const rrModule = defineModule({
  name: 'rr',
  doc: 'Record-Route and loose routing.',
  create(core) {
    const isOurs = (uri: SipUri): boolean => core.myself.matchesUri(uri);
    const api: RrApi = {
      recordRoute(req, params) {
        req.recordRouteParams = params ?? '';
      },
      looseRoute(req) {
        const msg = req.msg;
        // RFC 3261 §16.4: a strict router (no `lr`) sent us a request with our Record-Route URI as the
        // Request-URI; the original Request-URI is the last Route value
        const ruri = msg.uri;
        if (isSipUri(ruri) && ruri.params.has('lr') && ruri.user === undefined && isOurs(ruri)) {
          const routes = msg.route;
          const last = routes[routes.length - 1];
          if (last !== undefined) {
            msg.setUri(last.uri);
            msg.removeHeaderValue('route', 'last');
          }
        }
        const routes = msg.route;
        if (routes.length === 0) return false;
        // remove our own values from the top (two of them after a double Record-Route)
        for (const route of routes) {
          if (!isSipUri(route.uri) || !isOurs(route.uri)) break;
          msg.removeHeaderValue('route', 'first');
        }
        return true;
      },
    };
    return { api };
  },
});
