/**
 * bench/dispatcher/olelo.ts: the olelo side of the dispatcher benchmark (bench/dispatcher/run.ts), doing
 * per request what bench/dispatcher/kamailio.cfg does: the steps of bench/proxy/olelo.ts, then for a new
 * request a destination of set 1 by round-robin (`modules.dispatcher.listFile`, the same dispatcher.list
 * Kamailio reads) and a stateful relay with a failure route that marks the destination and tries the
 * next one on 500 or a timeout.
 */
import { defineRoutes, type FailureContext, type Modules, type RequestContext } from 'olelo/script';

/** True when the Request-URI names this server. */
function isForMe(req: RequestContext): boolean {
  const uri = req.sipUri;
  return uri !== undefined && req.isMyselfUri(uri);
}

export default defineRoutes({
  async request(req, m) {
    // RFC 3261 §16.3: reasonable requests only
    if (!m.maxfwd.process(req, 70)) {
      m.sl.reply(req, 483, 'Too Many Hops');
      return;
    }
    if (!m.sanity.check(req)) return;

    // in-dialog requests follow their Route set (RFC 3261 §16.4)
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) {
        // the ACK for a 2xx is its own transaction end to end: forwarded statelessly
        if (req.method === 'ACK') await m.forward(req);
        else await m.tm.relay(req);
        return;
      }
      if (req.method === 'ACK') return; // an ACK for one of our own replies
      m.sl.reply(req, 404, 'Not here');
      return;
    }
    // a CANCEL or ACK the transaction layer did not match: forward statelessly (RFC 3261 §16.10)
    if (req.method === 'CANCEL' || req.method === 'ACK') {
      if (m.rr.looseRoute(req) || !isForMe(req)) await m.forward(req);
      return;
    }

    // a request for the server itself (no registrar yet: nobody is known here)
    if (isForMe(req) && !m.rr.looseRoute(req)) {
      if (req.method === 'OPTIONS' && req.sipUri?.user === undefined) {
        m.sl.reply(req, 200, 'OK', [
          ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, SUBSCRIBE, REFER, INFO, UPDATE'],
        ]);
        return;
      }
      m.sl.reply(req, 404, 'Not Found');
      return;
    }

    // out-of-dialog requests: stay in the path of the dialog, pick a destination of set 1 by
    // round-robin (Kamailio's algorithm 4; the others are kept for failover), relay statefully
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE' || req.method === 'REFER')
      m.rr.recordRoute(req);
    m.rr.looseRoute(req);
    if (!m.dispatcher.selectDestination(req, 1, 4)) {
      m.sl.reply(req, 503, 'No Destination');
      return;
    }
    m.tm.onFailure(req, (f) => next(f, m));
    await m.tm.relay(req);
  },
});

/** A destination that answered 500 or did not answer: marked, and the next one tried. */
async function next(f: FailureContext, m: Modules): Promise<void> {
  if (f.isCanceled()) return;
  if (f.checkStatus(500) || (f.branchTimeout() && !f.branchReplied())) {
    m.dispatcher.markDestination(f, 'probing');
    if (m.dispatcher.nextDestination(f)) {
      m.tm.onFailure(f.req, (again) => next(again, m));
      await f.relay();
    }
  }
}
