/**
 * The transaction layer's tables, driven directly: client transactions in slots named by their branch
 * (RFC 3261 §17.1.3 matching stays exact: a response is only matched by the whole branch and its CSeq
 * method, whatever slot number its branch names).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RequestContext } from '../../src/core/context.js';
import { Logger } from '../../src/core/logger.js';
import type { Pipeline } from '../../src/core/pipeline.js';
import { StatsRegistry } from '../../src/core/stats.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import type {
  ClientTransaction,
  ClientTransactionUser,
  RequestTemplate,
} from '../../src/tm/client-transaction.js';
import type { ServerTransaction } from '../../src/tm/server-transaction.js';
import { slotOf, TransactionLayer } from '../../src/tm/transaction-layer.js';
import type { Destination, Listener, Source } from '../../src/transport/types.js';

const DEST: Destination = { protocol: 'udp', address: '127.0.0.1', port: 5070 } as Destination;
const SOURCE: Source = { protocol: 'udp', address: '127.0.0.1', port: 5070 } as Source;
const TEMPLATE: RequestTemplate = {
  uri: 'sip:b@127.0.0.1:5070',
  via: 'SIP/2.0/UDP 127.0.0.1:5060;branch=x',
  from: '<sip:a@127.0.0.1>;tag=f',
  to: '<sip:b@127.0.0.1>',
  callId: 'c1',
  cseq: 1,
  routes: [],
};

function layer(): TransactionLayer {
  return new TransactionLayer({
    core: {} as Pipeline,
    send: () => undefined,
    stats: new StatsRegistry(),
    log: Logger.create({ level: 'error' }),
  });
}

/** A user that records the statuses it was given. */
function recorder(): ClientTransactionUser & { got: number[] } {
  const got: number[] = [];
  return {
    got,
    clientResponse(_ct: ClientTransaction, res: SipResponse) {
      got.push(res.status);
    },
    clientFailed() {},
  };
}

function response(branch: string, status: number, method = 'INVITE'): SipResponse {
  const text = `SIP/2.0 ${status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}\r\nFrom: <sip:a@127.0.0.1>;tag=f\r\nTo: <sip:b@127.0.0.1>;tag=t\r\nCall-ID: c1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`;
  return parseMessage(Buffer.from(text, 'latin1')) as SipResponse;
}

function deliver(tl: TransactionLayer, res: SipResponse): boolean {
  return tl.response(res, res.topVia!, SOURCE);
}

function client(
  tl: TransactionLayer,
  user: ClientTransactionUser,
  method = 'INVITE',
  unique = 'a',
): ClientTransaction {
  const branch = `${tl.clientBranchPrefix()}${unique}`;
  const ct = tl.createClient(user, branch, method, Buffer.from('x'), TEMPLATE, DEST);
  ct.start();
  return ct;
}

describe('transaction tables', () => {
  it('reads slot numbers only from branches shaped like ours', () => {
    assert.equal(slotOf('z9hG4bK0.abc'), 0);
    assert.equal(slotOf('z9hG4bKz.abc'), 35);
    assert.equal(slotOf('z9hG4bK10.abc'), 36);
    assert.equal(slotOf('z9hG4bK.abc'), -1);
    assert.equal(slotOf('z9hG4bK12'), -1);
    assert.equal(slotOf('z9hG4bK-12.x'), -1);
    assert.equal(slotOf('z9hG4bKzzzzzzzzz.x'), -1); // more than 8 digits
    assert.equal(slotOf('z9hG4bKzzzzzzzz.x'), 36 ** 8 - 1);
  });

  it('matches a response by its whole branch, not by the slot it names', () => {
    const tl = layer();
    const user = recorder();
    const ct = client(tl, user, 'INVITE', 'first');
    assert.equal(ct.slot, 0);
    // same slot, another branch: no match; slot out of range, forged: no match
    assert.equal(deliver(tl, response('z9hG4bK0.forged', 180)), false);
    assert.equal(deliver(tl, response('z9hG4bKzzzzzzzz.first', 180)), false);
    assert.equal(deliver(tl, response('z9hG4bK1.first', 180)), false);
    // the right branch, the wrong CSeq method: no match (§17.1.3)
    assert.equal(deliver(tl, response(ct.branch, 180, 'BYE')), false);
    assert.equal(deliver(tl, response(ct.branch, 180)), true);
    assert.deepEqual(user.got, [180]);
    tl.stop();
  });

  it('a response for a freed slot, or for its earlier owner once the slot is reused, matches nothing', () => {
    const tl = layer();
    const first = recorder();
    const a = client(tl, first, 'INVITE', 'one');
    const old = a.branch;
    a.terminate();
    assert.equal(tl.size.clients, 0);
    assert.equal(deliver(tl, response(old, 180)), false);
    // the slot is reused by the next transaction, under another branch
    const second = recorder();
    const b = client(tl, second, 'INVITE', 'two');
    assert.equal(b.slot, a.slot);
    assert.equal(deliver(tl, response(old, 200)), false);
    assert.deepEqual(first.got, []);
    assert.deepEqual(second.got, []);
    assert.equal(deliver(tl, response(b.branch, 200)), true);
    assert.deepEqual(second.got, [200]);
    tl.stop();
  });

  it("keeps an INVITE's slot while its CANCEL lives, and matches the CANCEL's responses apart", () => {
    const tl = layer();
    const inviteUser = recorder();
    const invite = client(tl, inviteUser, 'INVITE', 'inv');
    assert.equal(deliver(tl, response(invite.branch, 180)), true);
    const cancelUser = recorder();
    const cancel = tl.createClient(cancelUser, invite.branch, 'CANCEL', Buffer.from('c'), TEMPLATE, DEST);
    cancel.start();
    assert.equal(cancel.slot, invite.slot);
    assert.equal(tl.size.clients, 2);
    // the INVITE ends first (a transport error, say): its slot stays taken by the CANCEL
    invite.terminate();
    const other = client(tl, recorder(), 'INVITE', 'other');
    assert.notEqual(other.slot, invite.slot);
    assert.equal(deliver(tl, response(invite.branch, 200, 'CANCEL')), true);
    assert.deepEqual(cancelUser.got, [200]);
    assert.deepEqual(inviteUser.got, [180]);
    cancel.terminate();
    // now both are gone: the slot is free again
    const again = client(tl, recorder(), 'INVITE', 'again');
    assert.equal(again.slot, invite.slot);
    assert.equal(deliver(tl, response(invite.branch, 200, 'CANCEL')), false);
    tl.stop();
  });

  it('keeps branches without a slot (tm.newRequest) in a table by branch', () => {
    const tl = layer();
    const user = recorder();
    // a random branch, and one that looks like a slot branch but was not asked for
    const a = tl.createClient(user, 'z9hG4bKrandom-1', 'OPTIONS', Buffer.from('x'), TEMPLATE, DEST);
    const b = tl.createClient(user, 'z9hG4bK5.not-asked', 'OPTIONS', Buffer.from('x'), TEMPLATE, DEST);
    a.start();
    b.start();
    assert.equal(a.slot, -1);
    assert.equal(b.slot, -1);
    assert.equal(deliver(tl, response('z9hG4bKrandom-1', 200, 'OPTIONS')), true);
    assert.equal(deliver(tl, response('z9hG4bK5.not-asked', 200, 'OPTIONS')), true);
    assert.deepEqual(user.got, [200, 200]);
    tl.stop();
  });
});

function request(
  method: string,
  branch: string | undefined,
  sentBy = '127.0.0.1:5062',
  cseq = 1,
): SipRequest {
  const text = `${method} sip:b@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP ${sentBy}${branch === undefined ? '' : `;branch=${branch}`}\r\nFrom: <sip:a@127.0.0.1>;tag=f\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: ${cseq} ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  return parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
}

/** Creates the server transaction of `msg` as the script's first use would (Kamailio's t_newtran). */
function serve(tl: TransactionLayer, msg: SipRequest): ServerTransaction {
  const ctx = { msg, source: SOURCE, transaction: undefined } as unknown as RequestContext;
  return tl.proxyFor(ctx).st;
}

function absorbed(tl: TransactionLayer, msg: SipRequest): boolean {
  return tl.request(msg, msg.topVia!, SOURCE);
}

describe('server transaction tables', () => {
  it('matches by branch, sent-by and method: two UAs with the same branch have a transaction each', () => {
    const tl = layer();
    const a = serve(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.1:5060'));
    const b = serve(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.2:5060'));
    const c = serve(tl, request('OPTIONS', 'z9hG4bKsame', '10.0.0.1:5060'));
    assert.equal(tl.size.servers, 3);
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.1:5060')), true);
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.2:5060')), true);
    assert.equal(absorbed(tl, request('OPTIONS', 'z9hG4bKsame', '10.0.0.1:5060')), true);
    // another port, no port, another method, another branch: new requests
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.1:5070')), false);
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.1')), false);
    assert.equal(absorbed(tl, request('OPTIONS', 'z9hG4bKsame', '10.0.0.2:5060')), false);
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKother', '10.0.0.1:5060')), false);
    // ending one leaves the others findable, whichever of the chain it was
    b.terminate();
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.2:5060')), false);
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.1:5060')), true);
    a.terminate();
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKsame', '10.0.0.1:5060')), false);
    assert.equal(absorbed(tl, request('OPTIONS', 'z9hG4bKsame', '10.0.0.1:5060')), true);
    c.terminate();
    assert.equal(tl.size.servers, 0);
    tl.stop();
  });

  it('finds every transaction as the table grows and shrinks again', () => {
    const tl = layer();
    const n = 5000;
    const sts: ServerTransaction[] = [];
    for (let i = 0; i < n; i++)
      sts.push(serve(tl, request('MESSAGE', `z9hG4bKgrow${i}`, `10.0.${i & 3}.1:5060`)));
    assert.equal(tl.size.servers, n);
    for (let i = 0; i < n; i += 97) {
      assert.equal(absorbed(tl, request('MESSAGE', `z9hG4bKgrow${i}`, `10.0.${i & 3}.1:5060`)), true);
      assert.equal(absorbed(tl, request('MESSAGE', `z9hG4bKgrow${i}`, `10.0.${(i + 1) & 3}.1:5060`)), false);
    }
    // end all but every 500th: the table shrinks, and the rest are still found
    for (let i = 0; i < n; i++) if (i % 500 !== 0) sts[i]!.terminate();
    assert.equal(tl.size.servers, n / 500);
    for (let i = 0; i < n; i += 250) {
      assert.equal(
        absorbed(tl, request('MESSAGE', `z9hG4bKgrow${i}`, `10.0.${i & 3}.1:5060`)),
        i % 500 === 0,
      );
    }
    tl.stop();
  });

  it('a transaction created again for the same request replaces the first, which then removes nothing', () => {
    const tl = layer();
    const first = serve(tl, request('MESSAGE', 'z9hG4bKtwice'));
    const second = serve(tl, request('MESSAGE', 'z9hG4bKtwice'));
    assert.equal(tl.size.servers, 1);
    first.terminate();
    assert.equal(tl.size.servers, 1);
    assert.equal(absorbed(tl, request('MESSAGE', 'z9hG4bKtwice')), true);
    second.terminate();
    assert.equal(tl.size.servers, 0);
    tl.stop();
  });

  it('shares the reply destination of a UDP peer between its transactions, within a bound', () => {
    const tl = layer();
    const listener = { id: 0, protocol: 'udp' } as Listener;
    const from = (port: number) => ({ protocol: 'udp', address: '10.0.0.9', port, listener }) as Source;
    const serveFrom = (msg: SipRequest, source: Source) =>
      tl.proxyFor({ msg, source, transaction: undefined } as unknown as RequestContext).st;
    const a = serveFrom(request('MESSAGE', 'z9hG4bKshare1', '10.0.0.9:5060'), from(5060));
    const b = serveFrom(request('MESSAGE', 'z9hG4bKshare2', '10.0.0.9:5060'), from(5060));
    const c = serveFrom(request('MESSAGE', 'z9hG4bKshare3', '10.0.0.9:5061'), from(5061));
    assert.equal(a.replyDestination, b.replyDestination);
    assert.notEqual(a.replyDestination, c.replyDestination);
    assert.deepEqual(
      { ...a.replyDestination },
      { protocol: 'udp', address: '10.0.0.9', port: 5060, listener },
    );
    // one address with thousands of ports (a NAT): the shared set starts over instead of growing
    for (let p = 10_000; p < 15_000; p++)
      serveFrom(request('MESSAGE', `z9hG4bKmany${p}`, `10.0.0.9:${p}`), from(p)).terminate();
    const kept = tl as unknown as { destinationCount: number };
    assert.ok(kept.destinationCount > 0 && kept.destinationCount <= 4096, String(kept.destinationCount));
    tl.stop();
  });

  it('matches RFC 2543 requests (no magic cookie) by Request-URI, tags, Call-ID, CSeq and Via', () => {
    const tl = layer();
    const st = serve(tl, request('INVITE', '12345', '10.0.0.1:5060'));
    const plain = serve(tl, request('MESSAGE', undefined, '10.0.0.1:5060'));
    assert.equal(absorbed(tl, request('INVITE', '12345', '10.0.0.1:5060')), true);
    assert.equal(absorbed(tl, request('MESSAGE', undefined, '10.0.0.1:5060')), true);
    assert.equal(absorbed(tl, request('MESSAGE', undefined, '10.0.0.1:5060', 2)), false);
    assert.equal(absorbed(tl, request('INVITE', '12345', '10.0.0.2:5060')), false);
    // a branch of exactly the magic cookie is not an RFC 3261 branch either
    const cookie = serve(tl, request('OPTIONS', 'z9hG4bK', '10.0.0.1:5060'));
    assert.equal(absorbed(tl, request('OPTIONS', 'z9hG4bK', '10.0.0.1:5060')), true);
    assert.equal(tl.size.servers, 3);
    st.terminate();
    plain.terminate();
    cookie.terminate();
    assert.equal(tl.size.servers, 0);
    assert.equal(absorbed(tl, request('INVITE', '12345', '10.0.0.1:5060')), false);
    tl.stop();
  });
});

describe('finished transactions waiting out their timers (linger records)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** A layer with T1 = 5 ms (Timers J, L, M: 320 ms) and T4 = 40 ms (Timer K), recording what it sends. */
  function recordingLayer(sent: string[], stats = new StatsRegistry()): TransactionLayer {
    return new TransactionLayer({
      core: {} as Pipeline,
      send: (data) => {
        sent.push(data.toString('latin1'));
        return undefined;
      },
      stats,
      log: Logger.create({ level: 'error' }),
      config: { t1: 5, t4: 40 },
    });
  }

  it('a server transaction in Completed (J) or Accepted (L) hands over its place and timer', async () => {
    const sent: string[] = [];
    const stats = new StatsRegistry();
    const tl = recordingLayer(sent, stats);
    const freed = () => stats.get('tm.freed');
    const message = serve(tl, request('MESSAGE', 'z9hG4bKlinger-j'));
    // still in Trying: nothing to hand over
    assert.equal(tl.lingerServer(message), undefined);
    message.respond(Buffer.from('SIP/2.0 202 Accepted\r\n\r\n', 'latin1'), 202);
    const j = tl.lingerServer(message);
    assert.ok(j !== undefined);
    assert.equal(tl.lingerServer(message), undefined, 'handed over once');
    const invite = serve(tl, request('INVITE', 'z9hG4bKlinger-l'));
    invite.respond(Buffer.from('SIP/2.0 200 OK\r\n\r\n', 'latin1'), 200);
    const l = tl.lingerServer(invite);
    assert.ok(l !== undefined);
    assert.equal(tl.size.servers, 2);
    sent.length = 0;
    // J: a retransmission is matched and answered with the same final response
    assert.equal(absorbed(tl, request('MESSAGE', 'z9hG4bKlinger-j')), true);
    assert.deepEqual(sent, ['SIP/2.0 202 Accepted\r\n\r\n']);
    // L: a retransmitted INVITE is absorbed with nothing sent; the ACK for the 2xx is not absorbed
    assert.equal(absorbed(tl, request('INVITE', 'z9hG4bKlinger-l')), true);
    assert.equal(absorbed(tl, request('ACK', 'z9hG4bKlinger-l')), false);
    assert.equal(sent.length, 1);
    // RFC 6026: a later 2xx (another branch's) still goes upstream; a non-2xx does not
    l.respond(Buffer.from('SIP/2.0 200 OK\r\nX: late\r\n\r\n', 'latin1'), 200);
    l.respond(Buffer.from('SIP/2.0 486 Busy\r\n\r\n', 'latin1'), 486);
    assert.deepEqual(sent.slice(1), ['SIP/2.0 200 OK\r\nX: late\r\n\r\n']);
    // requests that are not the same still match nothing
    assert.equal(absorbed(tl, request('MESSAGE', 'z9hG4bKlinger-j', '127.0.0.1:5099')), false);
    // after 64*T1 both are gone from the table, counted as freed
    const before = freed();
    await sleep(450);
    assert.equal(tl.size.servers, 0);
    assert.equal(freed(), (before ?? 0) + 2);
    assert.equal(absorbed(tl, request('MESSAGE', 'z9hG4bKlinger-j')), false);
    tl.stop();
  });

  it('a client transaction in Accepted (M) or Completed (K) hands over its slot and timer', async () => {
    const tl = recordingLayer([]);
    const user = recorder();
    const invite = client(tl, user, 'INVITE', 'm');
    const options = client(tl, user, 'OPTIONS', 'k');
    // still in Calling: nothing to hand over
    assert.equal(tl.lingerClient(invite, undefined), false);
    assert.equal(deliver(tl, response(invite.branch, 200)), true);
    assert.equal(deliver(tl, response(options.branch, 200, 'OPTIONS')), true);
    assert.deepEqual(user.got, [200, 200]);
    const slots = [invite.slot, options.slot];
    assert.ok(slots[0]! >= 0 && slots[1]! >= 0);
    const late: number[] = [];
    assert.equal(tl.lingerClient(invite, { respond: (_data, status) => late.push(status) }), true);
    assert.equal(tl.lingerClient(options, undefined), true);
    assert.equal(tl.size.clients, 2);
    // M: further 2xx go upstream (RFC 6026 §7.2), anything else is matched and dropped
    assert.equal(deliver(tl, response(invite.branch, 200)), true);
    assert.equal(deliver(tl, response(invite.branch, 183)), true);
    assert.deepEqual(late, [200]);
    // K: response retransmissions are absorbed
    assert.equal(deliver(tl, response(options.branch, 200, 'OPTIONS')), true);
    assert.deepEqual(user.got, [200, 200]);
    // T4 = 40 ms: Timer K is over, the OPTIONS' slot is free again; the INVITE's still waits
    await sleep(120);
    assert.equal(tl.size.clients, 1);
    assert.equal(deliver(tl, response(options.branch, 200, 'OPTIONS')), false);
    assert.equal(deliver(tl, response(invite.branch, 200)), true);
    await sleep(350);
    assert.equal(tl.size.clients, 0);
    assert.equal(deliver(tl, response(invite.branch, 200)), false);
    assert.deepEqual(late, [200, 200]);
    // a freed slot is handed out again
    const next = client(tl, user, 'INVITE', 'again');
    assert.ok(slots.includes(next.slot));
    tl.stop();
  });

  it('wait (tm.wtTimer, Kamailio wt_timer) shortens Timers J, L, M and D; unset they last 64*T1', async () => {
    const waiting = (wait: number | undefined) =>
      new TransactionLayer({
        core: {} as Pipeline,
        send: () => undefined,
        stats: new StatsRegistry(),
        log: Logger.create({ level: 'error' }),
        // T1 = 5 ms: 64*T1 = 320 ms (Timer D: at least 32 s whatever T1 is)
        config: wait === undefined ? { t1: 5 } : { t1: 5, wait },
      });
    const finish = (tl: TransactionLayer, tag: string) => {
      const j = serve(tl, request('MESSAGE', `z9hG4bKwait-j-${tag}`));
      j.respond(Buffer.from('SIP/2.0 200 OK\r\n\r\n', 'latin1'), 200);
      const l = serve(tl, request('INVITE', `z9hG4bKwait-l-${tag}`));
      l.respond(Buffer.from('SIP/2.0 200 OK\r\n\r\n', 'latin1'), 200);
      const user = recorder();
      const m = client(tl, user, 'INVITE', `m-${tag}`);
      const d = client(tl, user, 'INVITE', `d-${tag}`);
      assert.equal(deliver(tl, response(m.branch, 200)), true);
      assert.equal(deliver(tl, response(d.branch, 486)), true);
      assert.deepEqual(user.got, [200, 486]);
      assert.equal(tl.size.servers, 2);
      assert.equal(tl.size.clients, 2);
    };
    const sizes = (tl: TransactionLayer) => [tl.size.servers, tl.size.clients];
    const short = waiting(40);
    const rfc = waiting(undefined);
    finish(short, 'short');
    finish(rfc, 'rfc');
    await sleep(200);
    // 40 ms: all four gone; 64*T1 (320 ms): all four still there
    assert.deepEqual(sizes(short), [0, 0]);
    assert.deepEqual(sizes(rfc), [2, 2]);
    // a retransmission now is a new request to the short-lived layer (Kamailio after wt_timer), absorbed by the other
    assert.equal(absorbed(short, request('MESSAGE', 'z9hG4bKwait-j-short')), false);
    assert.equal(absorbed(rfc, request('MESSAGE', 'z9hG4bKwait-j-rfc')), true);
    await sleep(250);
    // J, L and M end at 64*T1; D lasts at least 32 s
    assert.deepEqual(sizes(rfc), [0, 1]);
    short.stop();
    rfc.stop();
  });
});
