/**
 * A stateless proxy (RFC 3261 §16.11): no transaction state at all, the cheapest way to relay.
 *
 * Checks every request (sanity, Max-Forwards), answers OPTIONS aimed at the server itself, routes
 * in-dialog requests by their Route set, and forwards everything else statelessly with Record-Route.
 * Use `script: scripts/stateless.ts` in the config.
 */
import { defineRoutes } from 'olelo/script';

export default defineRoutes({
  request(req, m) {
    // RFC 3261 §16.3: reasonable requests only
    if (!m.maxfwd.process(req, 70)) {
      m.sl.reply(req, 483, 'Too Many Hops');
      return;
    }
    if (!m.sanity.check(req)) return;

    // in-dialog requests follow their Route set (RFC 3261 §16.4)
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) {
        return m.forward(req);
      }
      if (req.method === 'ACK') return; // an ACK for a local reply: absorbed
      m.sl.reply(req, 404, 'Not here');
      return;
    }
    if (req.method === 'CANCEL' || req.method === 'ACK') {
      // stateless: pass them on like the request they belong to
      if (m.rr.looseRoute(req) || !isForMe(req)) return m.forward(req);
    }

    // a request for the server itself (no registrar yet: nobody is known here)
    if (isForMe(req)) {
      if (req.method === 'OPTIONS' && req.sipUri?.user === undefined) {
        m.sl.reply(req, 200, 'OK', [
          ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, SUBSCRIBE, REFER, INFO, UPDATE'],
        ]);
        return;
      }
      if (!m.rr.looseRoute(req)) {
        m.sl.reply(req, 404, 'Not Found');
        return;
      }
      return m.forward(req);
    }
    if (m.rr.looseRoute(req)) {
      return m.forward(req);
    }

    // out-of-dialog requests: stay in the path of the dialog, then relay
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE' || req.method === 'REFER')
      m.rr.recordRoute(req);
    return m.forward(req);

    function isForMe(r: typeof req): boolean {
      const uri = r.sipUri;
      return uri !== undefined && r.isMyselfUri(uri);
    }
  },
});
