/**
 * A load balancer (Kamailio's dispatcher role): new requests are spread over destination set 1 with
 * round-robin; a destination that answers 5xx or does not answer in time is marked inactive (and probed
 * back to life, with `modules.dispatcher.probingInterval`) and the call moves to the next one; when none
 * is left the caller gets 503. No registrar, no authentication: put it in front of media servers, PBXs
 * or gateways. Use `script: scripts/loadbalancer.ts` and `modules.dispatcher.listFile` in the config.
 */
import { defineRoutes, type FailureContext, type Modules } from 'olelo/script';

/** The destination set calls go to, and Kamailio's algorithm number (4: round-robin). */
const SET = 1;
const ALGORITHM = 4;

export default defineRoutes({
  async request(req, m) {
    // RFC 3261 §16.3: reasonable requests only
    if (!m.maxfwd.process(req, 70)) {
      m.sl.reply(req, 483, 'Too Many Hops');
      return;
    }
    if (!m.sanity.check(req)) return;

    // in-dialog requests follow the Route set we recorded
    if (req.hasToTag) {
      if (!m.rr.looseRoute(req)) {
        if (req.method !== 'ACK') m.sl.reply(req, 404, 'Not here');
        return;
      }
      // the call ends: it no longer counts in its destination's load
      if (req.method === 'BYE') m.dispatcher.loadUpdate(req);
      if (req.method === 'ACK') await m.forward(req);
      else await m.tm.relay(req);
      return;
    }
    // a CANCEL or ACK the transaction layer did not match belongs to nothing of ours
    if (req.method === 'CANCEL' || req.method === 'ACK') {
      if (m.rr.looseRoute(req)) await m.forward(req);
      return;
    }
    // keepalives aimed at the balancer itself (a destination's own probes, monitoring)
    const uri = req.sipUri;
    if (req.method === 'OPTIONS' && uri !== undefined && uri.user === undefined && req.isMyselfUri(uri)) {
      m.sl.reply(req, 200, 'OK');
      return;
    }

    if (!m.dispatcher.selectDestination(req, SET, ALGORITHM)) {
      m.sl.reply(req, 503, 'No destination available');
      return;
    }
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE') m.rr.recordRoute(req);
    m.tm.onFailure(req, (f) => failover(f, m));
    await m.tm.relay(req);
  },
});

/** Failure route: on 5xx or a timeout, mark the destination and try the next one; 503 when none is left. */
async function failover(f: FailureContext, m: Modules): Promise<void> {
  if (f.isCanceled()) {
    m.dispatcher.loadUnset(f);
    return;
  }
  if (!f.checkStatus(/^5\d\d$/) && !f.branchTimeout()) {
    // a final answer of the destination (busy, declined...): it goes back to the caller as it is
    m.dispatcher.loadUnset(f);
    return;
  }
  // inactive until a probe finds it answering again
  m.dispatcher.markDestination(f, 'probing');
  if (!m.dispatcher.nextDestination(f)) {
    f.reply(503, 'No destination available');
    return;
  }
  m.tm.onFailure(f.req, (again) => failover(again, m));
  await f.relay();
}
