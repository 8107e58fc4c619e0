/**
 * bench/register/olelo.ts: the olelo side of the registrar benchmark (bench/register/run.ts), doing per
 * request what bench/register/kamailio.cfg does: Max-Forwards, sanity, OPTIONS for the server answered,
 * REGISTER saved into the in-memory location service — with BENCH_REGISTER_AUTH=1, after digest
 * authentication (the config sets MD5 and qop=auth; nonce-count replay protection is on by default)
 * against one password for every user.
 */
import { defineRoutes } from 'olelo/script';

const AUTH = process.env.BENCH_REGISTER_AUTH === '1';

export default defineRoutes({
  events: {
    start(m) {
      // every user's password is "secret" (Kamailio: pv_www_authenticate with a fixed password)
      m.auth.setCredentialSource({ lookup: () => ({ password: 'secret' }) });
    },
  },
  async request(req, m) {
    if (!m.maxfwd.process(req, 70)) {
      m.sl.reply(req, 483, 'Too Many Hops');
      return;
    }
    if (!m.sanity.check(req)) return;
    if (req.method === 'OPTIONS' && req.sipUri?.user === undefined && req.isMyselfUri(req.sipUri!)) {
      m.sl.reply(req, 200, 'OK');
      return;
    }
    if (req.method === 'REGISTER') {
      if (AUTH) {
        if ((await m.auth.wwwAuthorize(req)) !== 'authorized') {
          m.auth.wwwChallenge(req);
          return;
        }
        m.auth.consumeCredentials(req);
      }
      await m.registrar.save(req);
      return;
    }
    m.sl.reply(req, 404, 'Not here');
  },
});
