/**
 * bench/proxy/olelo.ts: the olelo side of the stateful-proxy benchmark (bench/proxy/run.ts), doing per
 * request what bench/proxy/kamailio.cfg does: Max-Forwards, sanity, OPTIONS aimed at the server answered,
 * in-dialog requests routed by their Route set, everything else relayed statefully (t_relay) with
 * Record-Route on INVITE/SUBSCRIBE/REFER. (It was olelo's default script before the default service got
 * a registrar and authentication; scripts/default.ts is that service now.)
 */
import { defineRoutes, type Modules, type RequestContext } from 'olelo/script';

/** True when the Request-URI names this server. */
function isForMe(req: RequestContext): boolean {
  const uri = req.sipUri;
  return uri !== undefined && req.isMyselfUri(uri);
}

/**
 * Everything but the relay of a new request: checks, in-dialog requests, CANCEL/ACK without transaction,
 * requests for the server itself. `undefined` when the request is a new one to relay; otherwise `true`
 * (finished) or the Promise of what finishes it. Shared with bench/dispatcher/olelo.ts.
 */
export function routeExisting(req: RequestContext, m: Modules): Promise<unknown> | true | undefined {
  // RFC 3261 §16.3: reasonable requests only
  if (!m.maxfwd.process(req, 70)) {
    m.sl.reply(req, 483, 'Too Many Hops');
    return true;
  }
  if (!m.sanity.check(req)) return true;

  // in-dialog requests follow their Route set (RFC 3261 §16.4)
  if (req.hasToTag) {
    if (m.rr.looseRoute(req)) {
      // the ACK for a 2xx is its own transaction end to end: forwarded statelessly
      return req.method === 'ACK' ? m.forward(req) : m.tm.relay(req);
    }
    if (req.method === 'ACK') return true; // an ACK for one of our own replies
    m.sl.reply(req, 404, 'Not here');
    return true;
  }
  // a CANCEL or ACK the transaction layer did not match: forward statelessly (RFC 3261 §16.10)
  if (req.method === 'CANCEL' || req.method === 'ACK') {
    return m.rr.looseRoute(req) || !isForMe(req) ? m.forward(req) : true;
  }

  // a request for the server itself (no registrar yet: nobody is known here)
  if (isForMe(req) && !m.rr.looseRoute(req)) {
    if (req.method === 'OPTIONS' && req.sipUri?.user === undefined) {
      m.sl.reply(req, 200, 'OK', [
        ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, SUBSCRIBE, REFER, INFO, UPDATE'],
      ]);
      return true;
    }
    m.sl.reply(req, 404, 'Not Found');
    return true;
  }
  return undefined;
}

export default defineRoutes({
  async request(req, m) {
    const done = routeExisting(req, m);
    if (done !== undefined) {
      await done;
      return;
    }
    // out-of-dialog requests: stay in the path of the dialog, then relay statefully
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE' || req.method === 'REFER')
      m.rr.recordRoute(req);
    m.rr.looseRoute(req);
    await m.tm.relay(req);
  },
});
