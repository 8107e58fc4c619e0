/**
 * The stateful proxy (tm) end to end over UDP on loopback, with raw UDP peers as UAC and UASes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-tm-'));

// Routing for these tests: the user part of the Request-URI picks the behaviour.
const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (!m.maxfwd.process(req)) return m.sl.reply(req, 483);
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) return m.forward(req);
      return;
    }
    const user = req.sipUri?.user ?? '';
    const alt = req.header('x-alt');
    if (user.startsWith('failover') && alt) {
      if (user === 'failover-timeout') m.tm.setFrTimeout(req, 300, 400);
      m.tm.onFailure(req, async (f) => {
        f.req.set('failed', f.status);
        if (f.checkStatus(/^(500|408)$/)) {
          f.appendBranch(alt);
          await f.relay();
        }
      });
    }
    if (user === 'fork' && alt) {
      m.tm.appendBranch(req, req.msg.requestUri, 1);
      m.tm.appendBranch(req, alt, 1);
    }
    if (user === 'serial' && alt) {
      m.tm.appendBranch(req, req.msg.requestUri, 1);
      m.tm.appendBranch(req, alt, 0.5);
    }
    if (user === 'local') return m.tm.reply(req, 480, 'Nobody Home');
    if (user === 'originate' && alt) {
      const res = await m.tm.newRequest({ method: 'OPTIONS', uri: alt, from: '<sip:olelo@127.0.0.1>', to: '<' + alt + '>' });
      return m.sl.reply(req, 202, 'Originated ' + res.status);
    }
    m.rr.recordRoute(req);
    await m.tm.relay(req);
  },
});
`;

let seq = 0;
function invite(
  uac: UdpPeer,
  _port: number,
  target: string,
  extra: string[] = [],
  method = 'INVITE',
): { text: string; callId: string; branch: string } {
  seq++;
  const callId = `tm${seq}@test`;
  const branch = `z9hG4bK-tm${seq}`;
  const text = `${[
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=${branch};rport`,
    `From: <sip:alice@127.0.0.1>;tag=a${seq}`,
    `To: <${target}>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:alice@127.0.0.1:${uac.port}>`,
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  return { text, callId, branch };
}

/** A response to a received request, sent back to its top Via (the proxy). */
function respond(
  peer: UdpPeer,
  req: SipRequest,
  port: number,
  status: number,
  reason: string,
  toTag = 'uas1',
): void {
  const vias = req.getHeaders('via').map((v) => `Via: ${v}`);
  const to = req.getHeader('to')!;
  const text = `${[
    `SIP/2.0 ${status} ${reason}`,
    ...vias,
    `From: ${req.getHeader('from')}`,
    `To: ${to.includes('tag=') || status === 100 ? to : `${to};tag=${toTag}`}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.getHeader('cseq')}`,
    ...(status >= 200 && status < 300 ? [`Contact: <sip:bob@127.0.0.1:${peer.port}>`] : []),
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  peer.send(text, port);
}

const req = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipRequest;
const res = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipResponse;
const has = (callId: string, start?: string) => (t: string) =>
  t.includes(callId) && (start === undefined || t.startsWith(start));

describe('stateful proxy (tm)', () => {
  let server: Server;
  let port: number;
  let uac: UdpPeer;
  let uas: UdpPeer;
  let uas2: UdpPeer;

  before(async () => {
    const script = join(dir, 'tm-script.ts');
    writeFileSync(script, SCRIPT);
    const started = await startServer('modules:\n  tm:\n    t1: 100ms\n', {
      listen: ['udp:127.0.0.1:0'],
      script,
    });
    server = started.server;
    port = started.listener('udp').port;
    uac = await UdpPeer.open();
    uas = await UdpPeer.open();
    uas2 = await UdpPeer.open();
  });

  after(async () => {
    uac.close();
    uas.close();
    uas2.close();
    await server.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('relays an INVITE with 100 Trying, its own branch, and forwards 180 and 200', async () => {
    const { text, callId } = invite(uac, port, `sip:bob@127.0.0.1:${uas.port}`);
    uac.send(text, port);
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 100'))).status, 100);
    const inv = req(await uas.next(has(callId, 'INVITE')));
    assert.equal(inv.via.length, 2);
    assert.match(inv.via[0]!.branch!, /^z9hG4bK[0-9a-z]+\.[0-9a-z]+\.0$/);
    assert.equal(inv.recordRoute.length, 1);
    respond(uas, inv, port, 180, 'Ringing');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 180'))).via.length, 1);
    respond(uas, inv, port, 200, 'OK');
    const ok = res(await uac.next(has(callId, 'SIP/2.0 200')));
    assert.equal(ok.via.length, 1);
    assert.equal(ok.topVia?.branch, inv.via[1]!.branch);
  });

  it('absorbs a retransmitted INVITE and replays the last response', async () => {
    const { text, callId } = invite(uac, port, `sip:bob@127.0.0.1:${uas.port}`);
    uac.send(text, port);
    const inv = req(await uas.next(has(callId, 'INVITE')));
    respond(uas, inv, port, 180, 'Ringing');
    await uac.next(has(callId, 'SIP/2.0 180'));
    uac.send(text, port);
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 180'))).status, 180);
    respond(uas, inv, port, 486, 'Busy Here');
    await uac.next(has(callId, 'SIP/2.0 486'));
    // the UAS got exactly one INVITE (the proxy's own retransmissions stopped at the 180)
    assert.equal(
      uas.received.filter(
        (b) => b.toString('latin1').startsWith('INVITE') && b.toString('latin1').includes(callId),
      ).length,
      0,
    );
  });

  it('ACKs a non-2xx hop by hop and absorbs the caller ACK', async () => {
    const { text, callId } = invite(uac, port, `sip:bob@127.0.0.1:${uas.port}`);
    uac.send(text, port);
    const inv = req(await uas.next(has(callId, 'INVITE')));
    respond(uas, inv, port, 486, 'Busy Here');
    const ack = req(await uas.next(has(callId, 'ACK')));
    assert.equal(ack.topVia?.branch, inv.topVia?.branch);
    assert.equal(ack.cseq?.method, 'ACK');
    assert.match(ack.getHeader('to')!, /tag=uas1/);
    const busy = res(await uac.next(has(callId, 'SIP/2.0 486')));
    const before = server.stats.get('tm.absorbed_requests')!;
    uac.send(
      `ACK sip:bob@127.0.0.1:${uas.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=${busy.topVia?.branch};rport\r\nFrom: ${busy.getHeader('from')}\r\nTo: ${busy.getHeader('to')}\r\nCall-ID: ${callId}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      port,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.stats.get('tm.absorbed_requests'), before + 1);
    assert.equal(
      uas.received.filter(
        (b) => b.toString('latin1').startsWith('ACK') && b.toString('latin1').includes(callId),
      ).length,
      0,
    );
  });

  it('CANCELs the branch and answers 487 when the caller cancels', async () => {
    const { text, callId, branch } = invite(uac, port, `sip:bob@127.0.0.1:${uas.port}`);
    uac.send(text, port);
    const inv = req(await uas.next(has(callId, 'INVITE')));
    respond(uas, inv, port, 180, 'Ringing');
    await uac.next(has(callId, 'SIP/2.0 180'));
    uac.send(
      `CANCEL sip:bob@127.0.0.1:${uas.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=${branch};rport\r\nFrom: <sip:alice@127.0.0.1>;tag=a${seq}\r\nTo: <sip:bob@127.0.0.1:${uas.port}>\r\nCall-ID: ${callId}\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      port,
    );
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 200'))).cseq?.method, 'CANCEL');
    const cancel = req(await uas.next(has(callId, 'CANCEL')));
    assert.equal(cancel.topVia?.branch, inv.topVia?.branch);
    respond(uas, cancel, port, 200, 'OK');
    respond(uas, inv, port, 487, 'Request Terminated');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 487'))).status, 487);
  });

  it('re-routes from the failure route when the first UAS answers 500', async () => {
    const { text, callId } = invite(uac, port, `sip:failover@127.0.0.1:${uas.port}`, [
      `X-Alt: sip:bob@127.0.0.1:${uas2.port}`,
    ]);
    uac.send(text, port);
    const first = req(await uas.next(has(callId, 'INVITE')));
    respond(uas, first, port, 500, 'Server Error');
    const second = req(await uas2.next(has(callId, 'INVITE')));
    assert.match(second.topVia!.branch!, /\.1$/);
    respond(uas2, second, port, 200, 'OK', 'uas2');
    const ok = res(await uac.next(has(callId, 'SIP/2.0 200')));
    assert.match(ok.getHeader('to')!, /tag=uas2/);
  });

  it('times out a branch with fr_inv_timer (local 408) and re-routes', async () => {
    const { text, callId } = invite(uac, port, `sip:failover-timeout@127.0.0.1:${uas.port}`, [
      `X-Alt: sip:bob@127.0.0.1:${uas2.port}`,
    ]);
    uac.send(text, port);
    const first = req(await uas.next(has(callId, 'INVITE')));
    respond(uas, first, port, 180, 'Ringing');
    // no final answer: after fr_inv_timer the branch is canceled and the failure route re-routes
    const cancel = req(await uas.next(has(callId, 'CANCEL'), 3000));
    respond(uas, cancel, port, 200, 'OK');
    respond(uas, first, port, 487, 'Request Terminated');
    const second = req(await uas2.next(has(callId, 'INVITE'), 3000));
    respond(uas2, second, port, 200, 'OK', 'uas2');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 200'))).status, 200);
  });

  it('forks in parallel; the first 200 wins and the other branch is canceled', async () => {
    const { text, callId } = invite(uac, port, `sip:fork@127.0.0.1:${uas.port}`, [
      `X-Alt: sip:bob@127.0.0.1:${uas2.port}`,
    ]);
    uac.send(text, port);
    const a = req(await uas.next(has(callId, 'INVITE')));
    const b = req(await uas2.next(has(callId, 'INVITE')));
    respond(uas2, b, port, 180, 'Ringing', 'uas2');
    respond(uas, a, port, 200, 'OK');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 200'))).status, 200);
    const cancel = req(await uas2.next(has(callId, 'CANCEL')));
    assert.equal(cancel.topVia?.branch, b.topVia?.branch);
  });

  it('forks serially by q: the lower q is tried after the first fails', async () => {
    const { text, callId } = invite(uac, port, `sip:serial@127.0.0.1:${uas.port}`, [
      `X-Alt: sip:bob@127.0.0.1:${uas2.port}`,
    ]);
    uac.send(text, port);
    const a = req(await uas.next(has(callId, 'INVITE')));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      uas2.received.some((x) => x.toString('latin1').includes(callId)),
      false,
    );
    respond(uas, a, port, 404, 'Not Found');
    const b = req(await uas2.next(has(callId, 'INVITE')));
    respond(uas2, b, port, 200, 'OK', 'uas2');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 200'))).status, 200);
  });

  it('turns a 503 into 500 upstream', async () => {
    const { text, callId } = invite(uac, port, `sip:bob@127.0.0.1:${uas.port}`, [], 'MESSAGE');
    uac.send(text, port);
    const m = req(await uas.next(has(callId, 'MESSAGE')));
    respond(uas, m, port, 503, 'Service Unavailable');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 '))).status, 500);
  });

  it('replies statefully and retransmits the final response until the ACK', async () => {
    const { text, callId } = invite(uac, port, `sip:local@127.0.0.1:${port}`);
    uac.send(text, port);
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 480'))).reasonPhrase, 'Nobody Home');
    // Timer G: the 480 comes again after T1 (100 ms in this test)
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 480'), 1000)).status, 480);
  });

  it('originates a request of its own and learns its final response (t.newRequest)', async () => {
    const { text, callId } = invite(
      uac,
      port,
      `sip:originate@127.0.0.1:${port}`,
      [`X-Alt: sip:bob@127.0.0.1:${uas2.port}`],
      'MESSAGE',
    );
    uac.send(text, port);
    const options = req(await uas2.next((t) => t.startsWith('OPTIONS sip:bob@')));
    assert.equal(options.via.length, 1);
    assert.equal(options.via[0]!.port, port);
    respond(uas2, options, port, 200, 'OK', 'uas2');
    assert.equal(res(await uac.next(has(callId, 'SIP/2.0 202'))).reasonPhrase, 'Originated 200');
  });

  it('counts transactions and replies', () => {
    const stats = server.stats.snapshot('tm');
    assert.ok(stats['tm.total']! >= 9);
    assert.ok(stats['tm.2xx_replies']! >= 4);
    assert.ok(stats['tm.local_replies']! >= 1);
  });
});
