/**
 * Topology hiding end to end: a stateful record-routing proxy on 127.0.0.1 between an inside UA on
 * 127.0.0.2 and an outside UA on 127.0.0.3 (raw UDP peers bound to those addresses). Every message the
 * outside UA receives is captured and searched for the inside's address, port and Call-ID.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pipeline } from '../../src/core/pipeline.js';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const INSIDE = '127.0.0.2';
const OUTSIDE = '127.0.0.3';

const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (!m.maxfwd.process(req)) return m.sl.reply(req, 483);
    if (req.hasToTag) {
      if (!m.rr.looseRoute(req)) return m.sl.reply(req, 404);
      if (req.method === 'ACK') return m.forward(req);
      await m.tm.relay(req);
      return;
    }
    if (req.method === 'ACK') return;
    m.rr.recordRoute(req);
    await m.tm.relay(req);
  },
});
`;

const parse = (t: string) => parseMessage(Buffer.from(t, 'latin1'));
const asReq = (t: string) => parse(t) as SipRequest;
const asRes = (t: string) => parse(t) as SipResponse;

/** A UA on its own loopback address: records everything it receives. */
class Ua {
  readonly captured: string[] = [];
  private constructor(
    readonly peer: UdpPeer,
    readonly name: string,
  ) {
    peer.socket.on('message', (m) => this.captured.push(m.toString('latin1')));
  }
  static async open(address: string, name: string): Promise<Ua> {
    return new Ua(await UdpPeer.open(address), name);
  }
  get address(): string {
    return this.peer.socket.address().address;
  }
  get port(): number {
    return this.peer.port;
  }
  get contact(): string {
    return `<sip:${this.name}@${this.address}:${this.port}>`;
  }
  send(text: string, proxyPort: number): void {
    this.peer.send(text, proxyPort, '127.0.0.1');
  }
  nextRequest(method: string, callId?: string): Promise<SipRequest> {
    return this.peer
      .next((t) => t.startsWith(`${method} `) && (callId === undefined || asReq(t).callId === callId))
      .then(asReq);
  }
  nextResponse(status: number, method: string): Promise<SipResponse> {
    return this.peer
      .next((t) => t.startsWith(`SIP/2.0 ${status} `) && asRes(t).cseq?.method === method)
      .then(asRes);
  }
}

/** One side's view of a dialog: what it needs to send in-dialog requests and answers. */
interface Leg {
  ua: Ua;
  callId: string;
  localTag: string;
  remoteTag: string;
  local: string;
  remote: string;
  target: string;
  routes: string[];
  cseq: number;
}

let branchSeq = 0;

function request(leg: Leg, method: string, cseqNumber = ++leg.cseq): string {
  const lines = [
    `${method} ${leg.target} SIP/2.0`,
    `Via: SIP/2.0/UDP ${leg.ua.address}:${leg.ua.port};branch=z9hG4bK-${leg.ua.name}${++branchSeq};rport`,
    'Max-Forwards: 70',
    ...leg.routes.map((r) => `Route: ${r}`),
    `From: ${leg.local};tag=${leg.localTag}`,
    `To: ${leg.remote};tag=${leg.remoteTag}`,
    `Call-ID: ${leg.callId}`,
    `CSeq: ${cseqNumber} ${method}`,
  ];
  if (method === 'INVITE') lines.push(`Contact: ${leg.ua.contact}`);
  return `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
}

/** A response to `req`, echoing Via, From, To (plus a tag), Call-ID, CSeq and, for a 2xx, Record-Route. */
function response(ua: Ua, req: SipRequest, status: number, reason: string, toTag: string): string {
  const to = req.getHeader('to')!;
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...req.getHeaders('via').map((v) => `Via: ${v}`),
    `From: ${req.getHeader('from')}`,
    `To: ${to.includes('tag=') ? to : `${to};tag=${toTag}`}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.getHeader('cseq')}`,
  ];
  if (status >= 200 && status < 300 && req.method === 'INVITE') {
    lines.push(...req.getHeaders('record-route').map((r) => `Record-Route: ${r}`));
    lines.push(`Contact: ${ua.contact}`);
  }
  return `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
}

const contactUri = (m: SipRequest | SipResponse): string => {
  const c = m.getHeader('contact')!;
  return c.slice(c.indexOf('<') + 1, c.indexOf('>'));
};

/** Throws when a captured message shows anything of the inside. */
function assertNothingInside(messages: string[], secrets: string[], insidePort: number): void {
  assert.ok(messages.length > 0, 'nothing captured');
  const port = new RegExp(`(?<![A-Za-z0-9_-])${insidePort}(?![A-Za-z0-9_-])`);
  for (const m of messages) {
    assert.ok(!m.includes(INSIDE), `inside address seen outside:\n${m}`);
    assert.ok(!port.test(m), `inside port ${insidePort} seen outside:\n${m}`);
    for (const s of secrets) assert.ok(!m.includes(s), `${s} seen outside:\n${m}`);
  }
}

describe('topoh: topology hiding through a stateful proxy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'olelo-topoh-'));
  let server: Server;
  let port: number;
  let alice: Ua; // inside
  let bob: Ua; // outside

  before(async () => {
    const script = join(dir, 'topoh.ts');
    writeFileSync(script, SCRIPT);
    ({ server } = await startServer(
      `modules:\n  topoh:\n    enabled: true\n    maskKey: test-secret\n    inside: ["${INSIDE}/32"]\n`,
      { listen: ['udp:127.0.0.1:0'], script },
    ));
    port = server.listeners[0]!.port;
    alice = await Ua.open(INSIDE, 'alice');
    bob = await Ua.open(OUTSIDE, 'bob');
  });

  after(async () => {
    alice?.peer.close();
    bob?.peer.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A → proxy → B: INVITE, 180, 200, ACK. Returns both legs. */
  async function call(n: number): Promise<{ a: Leg; b: Leg }> {
    const callId = `inside-call-${n}-${Date.now()}`;
    const a: Leg = {
      ua: alice,
      callId,
      localTag: `at${n}`,
      remoteTag: '',
      local: '<sip:alice@example.com>',
      remote: '<sip:bob@example.com>',
      target: `sip:bob@${OUTSIDE}:${bob.port}`,
      routes: [],
      cseq: 0,
    };
    const inviteText = request(a, 'INVITE').replace(/;tag=\r\n/, '\r\n');
    alice.send(inviteText, port);
    const invite = await bob.nextRequest('INVITE');
    // what the outside sees of the INVITE
    assert.equal(invite.via.length, 1, 'one Via (ours) on the outside');
    assert.ok(invite.topVia!.params.get('th'), 'the Vias below ours travel masked in ours');
    assert.ok(invite.callId!.startsWith('!!:'), `Call-ID masked: ${invite.callId}`);
    assert.notEqual(invite.callId, callId);
    assert.match(contactUri(invite), /^sip:127\.0\.0\.1:\d+;line=sr-[A-Za-z0-9_-]+$/);
    assert.equal(invite.recordRoute.length, 1);
    assert.match(invite.getHeader('record-route')!, /^<sip:127\.0\.0\.1:\d+;lr;line=sr-[A-Za-z0-9_-]+>$/);
    await alice.nextResponse(100, 'INVITE');

    bob.send(response(bob, invite, 180, 'Ringing', `bt${n}`), port);
    const ringing = await alice.nextResponse(180, 'INVITE');
    assert.equal(ringing.callId, callId, 'the inside gets its own Call-ID back');
    bob.send(response(bob, invite, 200, 'OK', `bt${n}`), port);
    const ok = await alice.nextResponse(200, 'INVITE');
    assert.equal(ok.callId, callId);
    assert.equal(ok.via.length, 1);
    assert.equal(ok.topVia!.branch, asReq(inviteText).topVia!.branch, 'the inside gets its own Via back');
    assert.ok(!ok.getHeader('via')!.includes('th-side'), 'the side flag is not sent back');
    // the inside sees the real Record-Route (the proxy) and the callee's real Contact
    assert.equal(ok.recordRoute.length, 1);
    assert.match(ok.getHeader('record-route')!, /^<sip:127\.0\.0\.1:\d+;lr>$/);
    assert.equal(contactUri(ok), `sip:bob@${OUTSIDE}:${bob.port}`);

    a.remoteTag = `bt${n}`;
    a.target = contactUri(ok);
    a.routes = ok.getHeaders('record-route').reverse();
    const b: Leg = {
      ua: bob,
      callId: invite.callId!,
      localTag: `bt${n}`,
      remoteTag: `at${n}`,
      local: '<sip:bob@example.com>',
      remote: '<sip:alice@example.com>',
      target: contactUri(invite),
      // RFC 3261 §12.1.1: the callee's route set is the Record-Route as received, in order
      routes: invite.getHeaders('record-route'),
      cseq: 100,
    };
    alice.send(request(a, 'ACK', 1), port);
    const ack = await bob.nextRequest('ACK', b.callId);
    assert.equal(ack.via.length, 1);
    return { a, b };
  }

  /** `from` sends a re-INVITE (or BYE) in the dialog; `to` answers 200; for INVITE, `from` ACKs. */
  async function inDialog(from: Leg, to: Leg, method: 'INVITE' | 'BYE'): Promise<void> {
    from.ua.send(request(from, method), port);
    const got = await to.ua.nextRequest(method, to.callId);
    assert.equal(got.callId, to.callId, `${method} arrives with the Call-ID its side knows`);
    assert.equal(got.getHeader('route'), undefined, 'no Route left for the UA');
    assert.equal(got.requestUri, to.ua.contact.slice(1, -1), `${method} reaches the real contact`);
    to.ua.send(response(to.ua, got, 200, 'OK', to.localTag), port);
    const ok = await from.ua.nextResponse(200, method);
    assert.equal(ok.callId, from.callId);
    if (method === 'INVITE') {
      from.ua.send(request(from, 'ACK', from.cseq), port);
      const ack = await to.ua.nextRequest('ACK', to.callId);
      assert.equal(ack.getHeader('cseq'), `${from.cseq} ACK`);
    }
  }

  it('hides the inside through a call with re-INVITEs from both sides and a BYE from the callee', async () => {
    bob.captured.length = 0;
    const { a, b } = await call(1);
    await inDialog(a, b, 'INVITE');
    await inDialog(b, a, 'INVITE');
    await inDialog(b, a, 'BYE');
    assertNothingInside(bob.captured, [a.callId, 'z9hG4bK-alice'], alice.port);
    assert.ok(bob.captured.length >= 6, `captured ${bob.captured.length} messages`);
  });

  it('hides the inside through a second call ended by the caller', async () => {
    bob.captured.length = 0;
    const { a, b } = await call(2);
    await inDialog(a, b, 'BYE');
    assertNothingInside(bob.captured, [a.callId, 'z9hG4bK-alice'], alice.port);
    assert.ok(server.stats.get('topoh.masked')! > 0);
    assert.ok(server.stats.get('topoh.unmasked')! > 0);
  });

  it('drops a forged or mangled mask, counts it, and keeps serving', async () => {
    const { a, b } = await call(3);
    const before = server.stats.get('topoh.bad_masks')!;
    // a mangled Call-ID mask
    const mangled: Leg = { ...b, callId: `${b.callId.slice(0, -3)}AAA` };
    bob.send(request(mangled, 'BYE'), port);
    // a forged Contact mask as Request-URI
    const forged: Leg = { ...b, target: b.target.replace(/line=sr-[A-Za-z0-9_-]{6}/, 'line=sr-AAAAAA') };
    bob.send(request(forged, 'BYE'), port);
    // a response whose Via mask was tampered with
    const okBye = `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKx;th=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n`;
    bob.send(okBye, port);
    const deadline = Date.now() + 2000;
    while (server.stats.get('topoh.bad_masks')! < before + 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.stats.get('topoh.bad_masks'), before + 3);
    await assert.rejects(alice.nextRequest('BYE', a.callId), /no matching message/);
    // the dialog still works with the real masks
    await inDialog(b, a, 'BYE');
  });

  it("keeps an outside caller's Call-ID on the outside and masks it toward the inside", async () => {
    bob.captured.length = 0;
    const callId = `outside-call-${Date.now()}`;
    const b: Leg = {
      ua: bob,
      callId,
      localTag: 'bo1',
      remoteTag: '',
      local: '<sip:bob@example.com>',
      remote: '<sip:alice@example.com>',
      target: `sip:alice@${INSIDE}:${alice.port}`,
      routes: [],
      cseq: 0,
    };
    bob.send(request(b, 'INVITE').replace(/;tag=\r\n/, '\r\n'), port);
    const invite = await alice.nextRequest('INVITE');
    assert.ok(invite.callId!.startsWith('!!:'), 'the inside sees a mask of the outside Call-ID');
    alice.send(response(alice, invite, 200, 'OK', 'ai1'), port);
    const ok = await bob.nextResponse(200, 'INVITE');
    assert.equal(ok.callId, callId, 'the outside caller keeps its Call-ID');
    assert.ok(!ok.getHeader('via')!.includes('th-side'), 'the side flag is not sent back');
    assert.equal(ok.recordRoute.length, 1);
    b.remoteTag = 'ai1';
    b.target = contactUri(ok);
    b.routes = ok.getHeaders('record-route').reverse();
    const a: Leg = {
      ua: alice,
      callId: invite.callId!,
      localTag: 'ai1',
      remoteTag: 'bo1',
      local: '<sip:alice@example.com>',
      remote: '<sip:bob@example.com>',
      target: contactUri(invite),
      routes: invite.getHeaders('record-route'),
      cseq: 0,
    };
    bob.send(request(b, 'ACK', 1), port);
    const ack = await alice.nextRequest('ACK', a.callId);
    assert.equal(ack.requestUri, alice.contact.slice(1, -1));
    await inDialog(a, b, 'INVITE');
    await inDialog(a, b, 'BYE');
    assertNothingInside(bob.captured, [a.callId], alice.port);
  });

  it('masks the CANCEL and the ACK for the 487 that tm builds like their INVITE', async () => {
    bob.captured.length = 0;
    const callId = `inside-cancel-${Date.now()}`;
    const a: Leg = {
      ua: alice,
      callId,
      localTag: 'ac1',
      remoteTag: '',
      local: '<sip:alice@example.com>',
      remote: '<sip:bob@example.com>',
      target: `sip:bob@${OUTSIDE}:${bob.port}`,
      routes: [],
      cseq: 0,
    };
    const inviteText = request(a, 'INVITE').replace(/;tag=\r\n/, '\r\n');
    alice.send(inviteText, port);
    const invite = await bob.nextRequest('INVITE');
    bob.send(response(bob, invite, 180, 'Ringing', 'bc1'), port);
    await alice.nextResponse(180, 'INVITE');
    const cancelText = inviteText
      .replace(/^INVITE /, 'CANCEL ')
      .replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL')
      .replace(/Contact: [^\r]*\r\n/, '');
    alice.send(cancelText, port);
    await alice.nextResponse(200, 'CANCEL');
    const cancel = await bob.nextRequest('CANCEL');
    assert.equal(cancel.callId, invite.callId, "the CANCEL has the INVITE's masked Call-ID");
    assert.equal(cancel.topVia!.branch, invite.topVia!.branch);
    bob.send(response(bob, cancel, 200, 'OK', 'bc1'), port);
    bob.send(response(bob, invite, 487, 'Request Terminated', 'bc1'), port);
    const terminated = await alice.nextResponse(487, 'INVITE');
    assert.equal(terminated.callId, callId);
    const ack = await bob.nextRequest('ACK', invite.callId);
    assert.equal(ack.topVia!.branch, invite.topVia!.branch, 'the hop-by-hop ACK for the 487');
    assertNothingInside(bob.captured, [callId, 'z9hG4bK-alice'], alice.port);
  });

  it('masks an inside Contact registered at an outside registrar and restores it in the 200', async () => {
    bob.captured.length = 0;
    const callId = `inside-register-${Date.now()}`;
    const register = [
      `REGISTER sip:${OUTSIDE}:${bob.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${INSIDE}:${alice.port};branch=z9hG4bK-alice-reg${++branchSeq};rport`,
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=ar1',
      'To: <sip:alice@example.com>',
      `Call-ID: ${callId}`,
      'CSeq: 1 REGISTER',
      `Contact: ${alice.contact};expires=600`,
      'Content-Length: 0',
    ].join('\r\n');
    alice.send(`${register}\r\n\r\n`, port);
    const got = await bob.nextRequest('REGISTER');
    assert.match(got.getHeader('contact')!, /^<sip:127\.0\.0\.1:\d+;line=sr-[A-Za-z0-9_-]+>;expires=600$/);
    // the registrar answers with the binding as it stored it (masked)
    const ok = response(bob, got, 200, 'OK', 'reg1').replace(
      'Content-Length: 0',
      `Contact: ${got.getHeader('contact')}\r\nContent-Length: 0`,
    );
    bob.send(ok, port);
    const answer = await alice.nextResponse(200, 'REGISTER');
    assert.equal(answer.getHeader('contact'), `${alice.contact};expires=600`);
    assert.equal(answer.callId, callId);
    assertNothingInside(bob.captured, [callId, 'z9hG4bK-alice'], alice.port);
  });

  it('registers one message filter when enabled', () => {
    const pipeline = (server as unknown as { pipeline: Pipeline }).pipeline;
    assert.equal(pipeline.messageFilterCount, 1);
  });
});

describe('topoh: off by default', () => {
  it('registers no message filter, so the receive and send paths pay one length check', async () => {
    const { server } = await startServer('', { listen: ['udp:127.0.0.1:0'] });
    try {
      const pipeline = (server as unknown as { pipeline: Pipeline }).pipeline;
      assert.equal(pipeline.messageFilterCount, 0);
    } finally {
      await server.stop();
    }
  });
});
