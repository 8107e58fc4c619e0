/**
 * bench/dispatcher/olelo.ts: the olelo side of the dispatcher benchmark (bench/dispatcher/run.ts), doing
 * per request what bench/dispatcher/kamailio.cfg does: the steps of bench/proxy/olelo.ts, then for a new
 * request a destination of set 1 by round-robin (`modules.dispatcher.listFile`, the same dispatcher.list
 * Kamailio reads) and a stateful relay with a failure route that marks the destination and tries the
 * next one on 500 or a timeout.
 */
import { defineRoutes, type FailureContext, type Modules } from 'olelo/script';
import { routeExisting } from '../proxy/olelo.js';

export default defineRoutes({
  async request(req, m) {
    const done = routeExisting(req, m);
    if (done !== undefined) {
      await done;
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
