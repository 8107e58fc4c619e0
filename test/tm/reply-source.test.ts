/**
 * tm's per-transaction reply route (m.tm.onReply) sees the response's source: the downstream peer
 * that sent the response, not the caller that sent the request (commit 88b3706). nathelper fixes a
 * callee's Contact in that route with it. Raw UDP peers on loopback as caller and callees.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-reply-source-'));

// The reply handler writes the source it was given into the response, which the caller receives.
const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) return m.forward(req);
      return;
    }
    const alt = req.header('x-alt');
    if (alt) {
      m.tm.appendBranch(req, req.msg.requestUri, 1);
      m.tm.appendBranch(req, alt, 1);
    }
    m.tm.onReply(req, (res) => {
      res.addHeader('X-Reply-Source', res.source.protocol + ':' + res.source.address + ':' + res.source.port);
    });
    await m.tm.relay(req);
  },
});
`;

let seq = 0;
function invite(caller: UdpPeer, target: string, extra: string[] = []): { text: string; callId: string } {
  seq++;
  const callId = `rs${seq}@test`;
  const text = `${[
    `INVITE ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-rs${seq};rport`,
    `From: <sip:alice@127.0.0.1>;tag=a${seq}`,
    `To: <${target}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  return { text, callId };
}

/** A response to a received request, sent by `peer` back to the proxy. */
function respond(
  peer: UdpPeer,
  req: SipRequest,
  port: number,
  status: number,
  reason: string,
  toTag: string,
): void {
  const text = `${[
    `SIP/2.0 ${status} ${reason}`,
    ...req.getHeaders('via').map((v) => `Via: ${v}`),
    `From: ${req.getHeader('from')}`,
    `To: ${req.getHeader('to')};tag=${toTag}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.getHeader('cseq')}`,
    ...(status >= 200 && status < 300 ? [`Contact: <sip:bob@127.0.0.1:${peer.port}>`] : []),
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  peer.send(text, port);
}

const asReq = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipRequest;
const asRes = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipResponse;
const has = (callId: string, start: string, also?: string) => (t: string) =>
  t.includes(callId) && t.startsWith(start) && (also === undefined || t.includes(also));

describe('tm reply route: the source is the response sender', () => {
  let server: Server;
  let port: number;
  let caller: UdpPeer;
  let callee: UdpPeer;
  let callee2: UdpPeer;

  before(async () => {
    const script = join(dir, 'reply-source.ts');
    writeFileSync(script, SCRIPT);
    const started = await startServer('modules:\n  tm:\n    t1: 100ms\n', {
      listen: ['udp:127.0.0.1:0'],
      script,
    });
    server = started.server;
    port = started.listener('udp').port;
    caller = await UdpPeer.open();
    callee = await UdpPeer.open();
    callee2 = await UdpPeer.open();
  });

  after(async () => {
    caller.close();
    callee.close();
    callee2.close();
    await server.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the handler the callee's address for its 180 and 200, not the caller's", async () => {
    const { text, callId } = invite(caller, `sip:bob@127.0.0.1:${callee.port}`);
    caller.send(text, port);
    const inv = asReq(await callee.next(has(callId, 'INVITE')));
    const expected = `udp:127.0.0.1:${callee.port}`;

    respond(callee, inv, port, 180, 'Ringing', 'b1');
    const ringing = asRes(await caller.next(has(callId, 'SIP/2.0 180')));
    assert.equal(ringing.getHeader('x-reply-source'), expected);
    assert.notEqual(ringing.getHeader('x-reply-source'), `udp:127.0.0.1:${caller.port}`);

    respond(callee, inv, port, 200, 'OK', 'b1');
    const ok = asRes(await caller.next(has(callId, 'SIP/2.0 200')));
    assert.equal(ok.getHeader('x-reply-source'), expected);
  });

  it('gives each forked branch its own callee as the source', async () => {
    const { text, callId } = invite(caller, `sip:bob@127.0.0.1:${callee.port}`, [
      `X-Alt: sip:bob@127.0.0.1:${callee2.port}`,
    ]);
    caller.send(text, port);
    const inv1 = asReq(await callee.next(has(callId, 'INVITE')));
    const inv2 = asReq(await callee2.next(has(callId, 'INVITE')));

    respond(callee2, inv2, port, 180, 'Ringing', 'c2');
    const r2 = asRes(await caller.next(has(callId, 'SIP/2.0 180', 'tag=c2')));
    assert.equal(r2.getHeader('x-reply-source'), `udp:127.0.0.1:${callee2.port}`);

    respond(callee, inv1, port, 180, 'Ringing', 'c1');
    const r1 = asRes(await caller.next(has(callId, 'SIP/2.0 180', 'tag=c1')));
    assert.equal(r1.getHeader('x-reply-source'), `udp:127.0.0.1:${callee.port}`);

    respond(callee2, inv2, port, 486, 'Busy Here', 'c2');
    await callee2.next(has(callId, 'ACK')); // hop-by-hop ACK for the 486
    respond(callee, inv1, port, 200, 'OK', 'c1');
    const ok = asRes(await caller.next(has(callId, 'SIP/2.0 200')));
    assert.equal(ok.getHeader('x-reply-source'), `udp:127.0.0.1:${callee.port}`);
  });
});
