/**
 * The ACK for a negative reply olelo sent statelessly (m.sl.reply) is recognised by its To-tag and
 * absorbed before the route script, as Kamailio's sl module does (commit 612cfed); any other ACK
 * (an end-to-end ACK for a 2xx, with the callee's To-tag) still reaches the script. Raw UDP peers on
 * loopback: a caller, and an observer the script forwards every ACK it sees to.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipResponse } from '../../src/sip/index.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-sl-ack-'));

// INVITE: a stateless 404 (407 with a challenge header for user "auth"); ACK: sent on statelessly to
// its Request-URI (the observer), so an ACK that reaches the script is seen there.
const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (req.method === 'ACK') return m.forward(req);
    if (req.method === 'INVITE') {
      if (req.sipUri?.user === 'auth') {
        return m.sl.reply(req, 407, undefined, [['Proxy-Authenticate', 'Digest realm="test", nonce="n1"']]);
      }
      return m.sl.reply(req, 404);
    }
  },
});
`;

const WAIT_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let seq = 0;
function invite(caller: UdpPeer, target: string): { text: string; callId: string; branch: string } {
  seq++;
  const callId = `slack${seq}@test`;
  const branch = `z9hG4bK-slack${seq}`;
  const text = `${[
    `INVITE ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch};rport`,
    `From: <sip:alice@127.0.0.1>;tag=a${seq}`,
    `To: <${target}>`,
    `Call-ID: ${callId}`,
    'CSeq: 7 INVITE',
    `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
    'Max-Forwards: 70',
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  return { text, callId, branch };
}

/** An ACK as a UAC builds it: same Via branch (hop-by-hop ACK, RFC 3261 §17.1.1.3) unless told otherwise. */
function ack(
  caller: UdpPeer,
  target: string,
  callId: string,
  branch: string,
  from: string,
  to: string,
): string {
  return `${[
    `ACK ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch};rport`,
    `From: ${from}`,
    `To: ${to}`,
    `Call-ID: ${callId}`,
    'CSeq: 7 ACK',
    'Max-Forwards: 70',
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
}

const asRes = (t: string) => parseMessage(Buffer.from(t, 'latin1')) as SipResponse;
const has = (callId: string, start: string) => (t: string) => t.includes(callId) && t.startsWith(start);
const acksSeen = (peer: UdpPeer, callId: string) =>
  peer.received.filter((b) => {
    const t = b.toString('latin1');
    return t.startsWith('ACK') && t.includes(callId);
  }).length;

describe('sl: the ACK for a stateless negative reply', () => {
  let server: Server;
  let port: number;
  let caller: UdpPeer;
  let observer: UdpPeer;

  before(async () => {
    const script = join(dir, 'sl-ack.ts');
    writeFileSync(script, SCRIPT);
    const started = await startServer('', { listen: ['udp:127.0.0.1:0'], script });
    server = started.server;
    port = started.listener('udp').port;
    caller = await UdpPeer.open();
    observer = await UdpPeer.open();
  });

  after(async () => {
    caller.close();
    observer.close();
    await server.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [user, status] of [
    ['nobody', 404],
    ['auth', 407],
  ] as const) {
    it(`absorbs the ACK for a stateless ${status} before the script, and counts it as dropped`, async () => {
      const target = `sip:${user}@127.0.0.1:${observer.port}`;
      const { text, callId, branch } = invite(caller, target);
      caller.send(text, port);
      const reply = asRes(await caller.next(has(callId, `SIP/2.0 ${status}`)));
      const to = reply.getHeader('to')!;
      assert.match(to, /;tag=sl/);

      const dropped = server.stats.get('core.drop_messages')!;
      const ackText = ack(caller, target, callId, branch, reply.getHeader('from')!, to);
      caller.send(ackText, port);
      caller.send(ackText, port); // a retransmitted ACK is absorbed too
      await sleep(WAIT_MS);
      assert.equal(acksSeen(observer, callId), 0, 'the script forwarded the ACK for the stateless reply');
      assert.equal(server.stats.get('core.drop_messages'), dropped + 2);
    });
  }

  it('still gives the script an ACK with another To-tag (an end-to-end ACK for a 2xx)', async () => {
    const target = `sip:nobody@127.0.0.1:${observer.port}`;
    const { text, callId } = invite(caller, target);
    caller.send(text, port);
    const reply = asRes(await caller.next(has(callId, 'SIP/2.0 404')));
    const slTo = reply.getHeader('to')!;

    // the callee's tag, and a new branch: a 2xx ACK is a transaction of its own (RFC 3261 §17.1.1.3)
    const dropped = server.stats.get('core.drop_messages')!;
    const to = `<${target}>;tag=callee-2xx`;
    caller.send(ack(caller, target, callId, 'z9hG4bK-slack-e2e', reply.getHeader('from')!, to), port);
    const seen = await observer.next(has(callId, 'ACK'), 2000);
    assert.match(seen, /tag=callee-2xx/);
    assert.equal(server.stats.get('core.drop_messages'), dropped);

    // also an ACK whose tag merely looks stateless ("sl" prefix) but is not the one olelo gave
    const forged = slTo.replace(/;tag=sl[^;]*/, ';tag=sl0000');
    assert.notEqual(forged, slTo);
    caller.send(ack(caller, target, callId, 'z9hG4bK-slack-e2e2', reply.getHeader('from')!, forged), port);
    assert.match(await observer.next(has(callId, 'ACK'), 2000), /tag=sl0000/);
  });
});
