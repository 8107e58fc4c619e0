/**
 * Regression tests for transaction-layer fixes (issue 4), end to end over UDP on loopback with raw UDP
 * peers as UAC and UASes:
 * - Timer B only runs in Calling: a branch that rang is ended by fr_inv_timer, not by 64*T1;
 * - a retransmitted CANCEL gets a 200 with the same To-tag;
 * - a canceled transaction is counted once, however often the CANCEL comes;
 * - `req.nextHop` applies to the Request-URI branch only, not to branches appended with appendBranch.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-tm-fixes-'));
const script = join(dir, 'tm-fixes.ts');

// `X-Hop` sets req.nextHop; `X-Alt` appends a branch (then only that branch is relayed).
writeFileSync(
  script,
  `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (!m.maxfwd.process(req)) return m.sl.reply(req, 483);
    if (req.hasToTag) return;
    const hop = req.header('x-hop');
    if (hop) req.nextHop = hop;
    const alt = req.header('x-alt');
    if (alt) m.tm.appendBranch(req, alt);
    await m.tm.relay(req);
  },
});
`,
);

after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
/** A request from the UAC; also returns its CANCEL (same Via branch, same From/To/Call-ID/CSeq number). */
function request(
  uac: UdpPeer,
  target: string,
  method = 'INVITE',
  extra: string[] = [],
): { text: string; cancel: string; callId: string } {
  seq++;
  const callId = `fix${seq}@test`;
  const via = `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-fix${seq};rport`;
  const common = [`From: <sip:alice@127.0.0.1>;tag=a${seq}`, `To: <${target}>`, `Call-ID: ${callId}`];
  const text = `${[
    `${method} ${target} SIP/2.0`,
    via,
    ...common,
    `CSeq: 1 ${method}`,
    `Contact: <sip:alice@127.0.0.1:${uac.port}>`,
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  const cancel = `${[
    `CANCEL ${target} SIP/2.0`,
    via,
    ...common,
    'CSeq: 1 CANCEL',
    'Max-Forwards: 70',
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  return { text, cancel, callId };
}

/** A response to a received request, sent back to its top Via (the proxy). */
function respond(peer: UdpPeer, req: SipRequest, port: number, status: number, reason: string): void {
  const to = req.getHeader('to')!;
  const text = `${[
    `SIP/2.0 ${status} ${reason}`,
    ...req.getHeaders('via').map((v) => `Via: ${v}`),
    `From: ${req.getHeader('from')}`,
    `To: ${to.includes('tag=') ? to : `${to};tag=uas${peer.port}`}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.getHeader('cseq')}`,
    ...(status >= 200 && status < 300 ? [`Contact: <sip:bob@127.0.0.1:${peer.port}>`] : []),
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  peer.send(text, port);
}

/** The ACK of a non-2xx final response, as the UAC sends it (same branch as the INVITE). */
function ackFor(uac: UdpPeer, final: SipResponse, target: string): string {
  return `${[
    `ACK ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=${final.topVia?.branch};rport`,
    `From: ${final.getHeader('from')}`,
    `To: ${final.getHeader('to')}`,
    `Call-ID: ${final.callId}`,
    'CSeq: 1 ACK',
    'Max-Forwards: 70',
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
}

const req = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipRequest;
const res = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipResponse;
const has = (callId: string, start?: string, cseq?: string) => (t: string) =>
  t.includes(callId) &&
  (start === undefined || t.startsWith(start)) &&
  (cseq === undefined || t.includes(`CSeq: 1 ${cseq}\r\n`));
const count = (peer: UdpPeer, test: (t: string) => boolean) =>
  peer.received.filter((b) => test(b.toString('latin1'))).length;
const toTag = (r: SipResponse) => /;\s*tag=([^;>\s]+)/i.exec(r.getHeader('to') ?? '')?.[1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tm fix: Timer B only in Calling', () => {
  // 64*T1 = 640 ms, well before fr_inv_timer (1200 ms)
  const T1 = 10;
  const FR_INV = 1200;
  let server: Server;
  let port: number;
  let uac: UdpPeer;
  let uas: UdpPeer;

  before(async () => {
    const started = await startServer(`modules:\n  tm:\n    t1: ${T1}ms\n    frInvTimer: ${FR_INV}ms\n`, {
      listen: ['udp:127.0.0.1:0'],
      script,
    });
    server = started.server;
    port = started.listener('udp').port;
    uac = await UdpPeer.open();
    uas = await UdpPeer.open();
  });

  after(async () => {
    uac.close();
    uas.close();
    await server.stop(100);
  });

  it('a branch that answered 180 ends by fr_inv_timer (408), not by Timer B at 64*T1', async () => {
    assert.ok(64 * T1 < FR_INV - 300);
    const target = `sip:bob@127.0.0.1:${uas.port}`;
    const { text, callId } = request(uac, target);
    uac.send(text, port);
    const inv = req(await uas.next(has(callId, 'INVITE')));
    // Timer B (if it ran) started when the INVITE left the proxy; fr_inv_timer when the 180 arrives
    const sent = Date.now();
    respond(uas, inv, port, 180, 'Ringing');
    await uac.next(has(callId, 'SIP/2.0 180'));
    const timeout = res(await uac.next(has(callId, 'SIP/2.0 408'), FR_INV + 1500));
    const elapsed = Date.now() - sent;
    assert.ok(elapsed >= FR_INV - 50, `408 after ${elapsed} ms, before fr_inv_timer (${FR_INV} ms)`);
    assert.ok(elapsed < FR_INV + 1000, `408 after ${elapsed} ms`);
    uac.send(ackFor(uac, timeout, target), port);
    // fr_inv_timer CANCELs the ringing branch (RFC 3261 §16.8)
    const cancel = req(await uas.next(has(callId, 'CANCEL')));
    assert.equal(cancel.topVia?.branch, inv.topVia?.branch);
    respond(uas, cancel, port, 200, 'OK');
    respond(uas, inv, port, 487, 'Request Terminated');
    await uas.next(has(callId, 'ACK'));
  });
});

describe('tm fixes: CANCEL retransmissions, nextHop of appended branches', () => {
  let server: Server;
  let port: number;
  let uac: UdpPeer;
  let uas1: UdpPeer;
  let uas2: UdpPeer;

  before(async () => {
    // T1 = 500 ms: no 487 retransmission (Timer G) before the UAC's ACK
    const started = await startServer('', { listen: ['udp:127.0.0.1:0'], script });
    server = started.server;
    port = started.listener('udp').port;
    uac = await UdpPeer.open();
    uas1 = await UdpPeer.open();
    uas2 = await UdpPeer.open();
  });

  after(async () => {
    uac.close();
    uas1.close();
    uas2.close();
    await server.stop(100);
  });

  /** INVITE to UAS 1, which rings; returns what the call needs to be canceled. */
  async function ringing(): Promise<{ target: string; cancel: string; callId: string; inv: SipRequest }> {
    const target = `sip:bob@127.0.0.1:${uas1.port}`;
    const { text, cancel, callId } = request(uac, target);
    uac.send(text, port);
    const inv = req(await uas1.next(has(callId, 'INVITE')));
    respond(uas1, inv, port, 180, 'Ringing');
    await uac.next(has(callId, 'SIP/2.0 180'));
    return { target, cancel, callId, inv };
  }

  /** UAS 1 answers the proxy's CANCEL and ends the INVITE with 487; the UAC gets the 487 and ACKs it. */
  async function terminated(callId: string, inv: SipRequest, target: string): Promise<SipResponse> {
    const down = req(await uas1.next(has(callId, 'CANCEL')));
    respond(uas1, down, port, 200, 'OK');
    respond(uas1, inv, port, 487, 'Request Terminated');
    const final = res(await uac.next(has(callId, 'SIP/2.0 487')));
    uac.send(ackFor(uac, final, target), port);
    return final;
  }

  it('answers every retransmission of a CANCEL with a 200 of the same To-tag', async () => {
    const { target, cancel, callId, inv } = await ringing();
    uac.send(cancel, port);
    const first = res(await uac.next(has(callId, 'SIP/2.0 200', 'CANCEL')));
    uac.send(cancel, port); // a retransmission: the very same bytes
    const second = res(await uac.next(has(callId, 'SIP/2.0 200', 'CANCEL')));
    const tag = toTag(first);
    assert.ok(tag !== undefined && tag.length > 0, 'the 200 to CANCEL has a To-tag');
    assert.equal(toTag(second), tag);
    const final = await terminated(callId, inv, target);
    assert.equal(final.cseq?.method, 'INVITE');
    // after the INVITE ended, a late retransmission still gets the same 200
    uac.send(cancel, port);
    assert.equal(toTag(res(await uac.next(has(callId, 'SIP/2.0 200', 'CANCEL')))), tag);
    // one 487 to the caller: the ACK came before Timer G, and the second CANCEL ended nothing more
    await sleep(200);
    assert.equal(count(uac, has(callId, 'SIP/2.0 487')), 0);
    // the proxy sent one CANCEL downstream, however many it received
    assert.equal(count(uas1, has(callId, 'CANCEL')), 0);
  });

  it('counts a canceled transaction once when the CANCEL is retransmitted', async () => {
    const before = server.stats.get('tm.canceled');
    assert.equal(typeof before, 'number');
    const { target, cancel, callId, inv } = await ringing();
    uac.send(cancel, port);
    await uac.next(has(callId, 'SIP/2.0 200', 'CANCEL'));
    // the retransmission comes while the INVITE is still unanswered (no 487 yet)
    uac.send(cancel, port);
    await uac.next(has(callId, 'SIP/2.0 200', 'CANCEL'));
    assert.equal(server.stats.get('tm.canceled'), before! + 1);
    await terminated(callId, inv, target);
    uac.send(cancel, port);
    await uac.next(has(callId, 'SIP/2.0 200', 'CANCEL'));
    assert.equal(server.stats.get('tm.canceled'), before! + 1);
  });

  it('sends a branch from appendBranch to its own URI, not to req.nextHop', async () => {
    // control: req.nextHop steers the Request-URI branch (to UAS 1, though the Request-URI names UAS 2)
    const viaHop = request(uac, `sip:carol@127.0.0.1:${uas2.port}`, 'MESSAGE', [
      `X-Hop: sip:127.0.0.1:${uas1.port}`,
    ]);
    uac.send(viaHop.text, port);
    const m1 = req(await uas1.next(has(viaHop.callId, 'MESSAGE')));
    assert.equal(m1.requestUri, `sip:carol@127.0.0.1:${uas2.port}`);
    respond(uas1, m1, port, 200, 'OK');
    await uac.next(has(viaHop.callId, 'SIP/2.0 200'));

    // nextHop to UAS 1, and an appended branch to UAS 2: that branch goes to UAS 2
    const appended = request(uac, `sip:bob@127.0.0.1:${uas1.port}`, 'MESSAGE', [
      `X-Hop: sip:127.0.0.1:${uas1.port}`,
      `X-Alt: sip:carol@127.0.0.1:${uas2.port}`,
    ]);
    uac.send(appended.text, port);
    const m2 = req(await uas2.next(has(appended.callId, 'MESSAGE'), 1500));
    assert.equal(m2.requestUri, `sip:carol@127.0.0.1:${uas2.port}`);
    respond(uas2, m2, port, 200, 'OK');
    assert.match(
      res(await uac.next(has(appended.callId, 'SIP/2.0 200'))).getHeader('to')!,
      new RegExp(`tag=uas${uas2.port}`),
    );
    assert.equal(count(uas1, has(appended.callId)), 0);
  });
});
