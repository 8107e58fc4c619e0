/**
 * olelo's default service: the registrar and authenticating proxy of the local domains — the job of
 * Kamailio's default configuration, written for olelo.
 *
 * - Local domains: the `domain` table (`olelo domain add`), the `domains` setting, and the server's own
 *   addresses. Local users: the `subscriber` table (`olelo user add`).
 * - Switches (`features` in the config file, like kamailio.cfg's WITH_* defines): `auth`, `nat`,
 *   `aliases`, `floodProtection`, read here as `m.features`. TLS and WebSocket are switched by the
 *   listeners (`listen`).
 *
 * A request goes through, in order: checks → NAT detection → CANCEL / in-dialog routing →
 * authentication → Record-Route → relay out (foreign domains) or registrar (REGISTER) or delivery to a
 * local user (aliases, location: 404 / 480) → relay, with a failure route for calls nobody answers.
 * Retransmissions, CANCELs of calls in progress and ACKs of error responses never get here: the
 * transaction layer answers them before the script runs.
 *
 * Copy this file to start your own service; scripts/README.md explains each step.
 */
import { defineRoutes, type FailureContext, type Modules, type RequestContext } from 'olelo/script';
import { isSipUri, latin1ToText, uriEquals } from 'olelo/sip';

/** What the server answers OPTIONS with, and the methods it routes. */
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE';

/** Requests that start a dialog: this proxy stays in its path (Record-Route). */
const DIALOG_FORMING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

export default defineRoutes({
  async request(req, m) {
    if (m.features.floodProtection && !withinFloodLimits(req, m)) return;
    if (!checkRequest(req, m)) return;

    // the server itself: OPTIONS keepalives and monitoring probes
    const uri = req.sipUri;
    if (req.method === 'OPTIONS' && uri?.user === undefined && m.domain.isUriLocal(uri) && !req.hasToTag) {
      m.sl.reply(req, 200, 'OK', [
        ['Allow', ALLOW],
        ['Accept', 'application/sdp'],
      ]);
      return;
    }

    if (m.features.nat) detectNat(req, m);

    // a CANCEL the transaction layer did not match: its INVITE is not (or no longer) ours
    if (req.method === 'CANCEL') {
      // RFC 3261 §16.10: forwarded statelessly; a local user's call has nothing left to cancel
      if (!m.domain.isUriLocal(uri)) await m.forward(req);
      return;
    }

    if (req.hasToTag) {
      await withinDialog(req, m);
      return;
    }
    if (req.method === 'ACK') return; // an ACK without dialog or transaction acknowledges nothing here
    if (req.method === 'REGISTER' && m.features.registerRateLimit && !withinRegisterBudget(req, m)) return;

    if (m.features.auth && !(await authorize(req, m))) return;

    // a new request does not choose its path through us: Route values it brought (ours included) go
    req.removeHeader('route');
    if (DIALOG_FORMING.has(req.method)) m.rr.recordRoute(req);

    // another domain's request: relayed there (authorize() refused it unless the caller is ours)
    if (!m.domain.isUriLocal(req.sipUri)) {
      await relay(req, m);
      return;
    }

    if (req.method === 'REGISTER') {
      // RFC 3261 §10.3: bindings changed and 200 (or 400/423/500/503) sent by the registrar
      await m.registrar.save(req);
      return;
    }
    await toLocalUser(req, m);
  },
});

/** Loop protection, sanity, and the hook for flood protection. False when the request is finished. */
function checkRequest(req: RequestContext, m: Modules): boolean {
  if (!withinLimits(req, m)) return false;
  // RFC 3261 §16.3 step 3
  if (!m.maxfwd.process(req, 70)) {
    m.sl.reply(req, 483, 'Too Many Hops');
    return false;
  }
  // RFC 3261 §16.3 steps 1-2, 4: a well-formed request (sanity answers 400/416/420 itself)
  return m.sanity.check(req);
}

/**
 * Scanners looking for open accounts (SIPVicious's friendly-scanner and its kin, the list in
 * `modules.permissions.scannerUserAgents`) get no answer at all: a reply would confirm a SIP server here.
 * One precompiled pattern, tried only when the request has a User-Agent.
 */
function withinLimits(req: RequestContext, m: Modules): boolean {
  if (m.features.blockScanners && m.permissions.isScanner(req)) {
    req.drop();
    return false;
  }
  return true;
}

/**
 * REGISTER budget (Kamailio's pipelimit): a storm of REGISTERs — phones reconnecting all at once, a
 * password guesser — costs a challenge and a database read each; over the `register` pipe's limit they
 * are answered 503 with Retry-After, which a phone honours (RFC 3261 §21.5.4). No pipe, no limit.
 */
function withinRegisterBudget(req: RequestContext, m: Modules): boolean {
  if (!m.ratelimit.active('register') || m.ratelimit.check('register')) return true;
  m.ratelimit.reply503(req);
  return false;
}

/**
 * Flood protection (Kamailio's ANTIFLOOD block), first of all: a banned source's requests are dropped
 * without reply (no answer tells a flooder anything, nor costs us a send); a source going over pike's
 * limit is put in the htable `ipban` for the table's autoExpire (the ban time) and dropped. The server's
 * own addresses and trusted sources (permissions group 1) are never banned. Without an `ipban` table
 * (a config declaring other tables only) pike's verdict alone drops requests. False when dropped.
 */
function withinFloodLimits(req: RequestContext, m: Modules): boolean {
  const ip = req.source.address;
  // a config that declares its own htable tables without `ipban`: pike alone, no ban
  const ipban = m.htable.hasTable('ipban') ? m.htable.table('ipban') : undefined;
  // the flood path: one Map lookup, checked before anything else
  if (ipban?.has(ip)) {
    req.drop();
    return false;
  }
  // the server's own addresses and trusted peers (carriers, gateways: permissions group 1) are not counted
  if (req.isMyself(ip) || m.permissions.allowSourceAddress(req, 1) || m.pike.checkRequest(req)) return true;
  if (ipban !== undefined) {
    ipban.set(ip, req.source.receivedAt);
    req.log.warn('flood: source banned', { ip });
  }
  req.drop();
  return false;
}

/**
 * Clients behind a NAT, and WebSocket clients (whose Contact host is a made-up `<random>.invalid`),
 * cannot be reached at the Contact they write. A REGISTER keeps the address it came from as the
 * binding's `received`; any other request of theirs gets that address in its Contact as an `alias`
 * parameter, which routes the other party's requests back (see routeToContact).
 */
function detectNat(req: RequestContext, m: Modules): void {
  const websocket = req.source.protocol === 'ws' || req.source.protocol === 'wss';
  if (!websocket && !m.nathelper.isBehindNat(req)) return;
  if (req.method === 'REGISTER') m.nathelper.fixNatedRegister(req);
  // only a client's own Contact: with one Via the request comes straight from it
  else if (req.msg.via.length === 1) m.nathelper.setContactAlias(req);
}

/** In-dialog requests (RFC 3261 §12.2) follow the Route set the dialog recorded. */
async function withinDialog(req: RequestContext, m: Modules): Promise<void> {
  if (!m.rr.looseRoute(req)) {
    // not routed through us: an ACK is dropped, anything else refused
    if (req.method !== 'ACK') m.sl.reply(req, 404, 'Not Here');
    return;
  }
  // we are the last hop in the Route set: the Request-URI is the other party's Contact
  if (!req.hasHeader('route') && !(await routeToContact(req, m))) {
    if (req.method !== 'ACK') m.sl.reply(req, 480, 'Temporarily Unavailable');
    return;
  }
  // RFC 3261 §13.2.2.4: the ACK for a 2xx is a transaction of its own, forwarded statelessly
  if (req.method === 'ACK') await m.forward(req);
  else await relay(req, m);
}

/**
 * An in-dialog request goes to the Contact in its Request-URI. When that Contact cannot be reached as
 * written: its `alias` parameter (set by detectNat on the way in) names where its owner really is; a GRUU
 * we handed out stands for the phone that registered it; else, when the recipient registered that
 * Contact, the request goes where the registration came from — the client's NAT binding, or its TCP,
 * TLS or WebSocket connection. (The To of an in-dialog request is its recipient's address, whichever
 * side of the dialog sent it.) False when the Request-URI is a GRUU whose phone is no longer registered.
 */
async function routeToContact(req: RequestContext, m: Modules): Promise<boolean> {
  if (m.features.nat && m.nathelper.handleRuriAlias(req) === 'routed') return true;
  const target = req.sipUri;
  if (target === undefined) return true;
  // RFC 5627 §5.1: a GRUU we handed out stands for the phone (instance) that registered it
  if (target.params.has('gr') && m.domain.isUriLocal(target))
    return (await m.registrar.lookup(req)) === 'found';
  const to = req.msg.to?.uri;
  if (to === undefined || !isSipUri(to) || to.user === undefined || !m.domain.isUriLocal(to)) return true;
  const aor = `${latin1ToText(to.user)}@${latin1ToText(to.host).toLowerCase()}`;
  for (const binding of await m.usrloc.lookup(aor)) {
    if (binding.received !== '' && uriEquals(binding.contact, target)) {
      req.nextHop = binding.received;
      break;
    }
  }
  return true;
}

/**
 * Kamailio's AUTH route. A REGISTER, or any request from a local domain, must carry the credentials of
 * the user it is for (401/407 challenge, 403 for another user's address). A request from elsewhere may
 * reach our users without credentials, but nothing else: we are no open relay.
 */
async function authorize(req: RequestContext, m: Modules): Promise<boolean> {
  if (req.method === 'REGISTER' || m.domain.isFromLocal(req)) return m.auth.authenticate(req);
  if (m.domain.isUriLocal(req.sipUri)) return true;
  m.sl.reply(req, 403, 'Relaying Denied');
  return false;
}

/** A request for a user of a local domain: its registered contacts, through an alias if need be. */
async function toLocalUser(req: RequestContext, m: Modules): Promise<void> {
  const uri = req.sipUri;
  if (uri?.user === undefined) {
    m.sl.reply(req, 484, 'Address Incomplete');
    return;
  }
  if (req.method === 'PUBLISH' || req.method === 'SUBSCRIBE') {
    // no presence server (yet): the subscription is refused rather than sent to the user's phones
    m.sl.reply(req, 404, 'No Presence Service');
    return;
  }
  // registrar lookup: the Request-URI becomes the best contact, the others go to the destination set
  let found = await m.registrar.lookup(req);
  if (found === 'not-found' && m.features.aliases && (await m.alias.lookup(req)) === 'found') {
    // the Request-URI is now the account the alias points to (which may be another domain's)
    if (!m.domain.isUriLocal(req.sipUri)) {
      await relay(req, m);
      return;
    }
    found = await m.registrar.lookup(req);
  }
  if (found === 'method-not-allowed') {
    m.sl.reply(req, 405, 'Method Not Allowed', [['Allow', ALLOW]]);
    return;
  }
  if (found === 'not-found') {
    // a user who exists but has no phone registered now is unavailable; anyone else does not exist
    const user = req.sipUri!;
    const known = await m.auth.isSubscriber(latin1ToText(user.user!), latin1ToText(user.host));
    if (known) m.sl.reply(req, 480, 'Temporarily Unavailable');
    else m.sl.reply(req, 404, 'Not Found');
    return;
  }
  await relay(req, m);
}

/** Stateful relay (Kamailio's t_relay), with a failure route for calls. */
async function relay(req: RequestContext, m: Modules): Promise<void> {
  if (req.method === 'INVITE') m.tm.onFailure(req, noAnswer);
  await m.tm.relay(req);
}

/**
 * Failure route of a call: every branch failed. A busy or declining phone's answer goes back as it is;
 * a call that timed out says why. (Forward to voicemail here: `f.appendBranch(uri); await f.relay()`.)
 * Not run when the caller canceled: its 487 goes back.
 */
function noAnswer(f: FailureContext): void {
  if (!f.branchTimeout()) return;
  // it rang until tm's frInvTimer ran out: nobody picked up; no response at all: the phone is unreachable
  if (f.branchReplied()) f.reply(480, 'No Answer');
  else f.reply(408, 'Request Timeout');
}
