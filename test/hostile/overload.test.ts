/**
 * Overload protection (limits.maxTransactions, limits.memoryHighWatermark, limits.overloadRetryAfter)
 * against a real server on loopback: a UAS that never answers keeps INVITE transactions in progress;
 * beyond the limit, new requests get 503 with Retry-After before the route script runs, while
 * retransmissions, CANCEL, ACK and in-dialog requests still pass. The limits change at runtime.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-overload-'));

// OPTIONS to the server and in-dialog requests are answered here; the rest is relayed statefully.
const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (req.hasToTag) return m.sl.reply(req, 200, 'In Dialog');
    if (req.method === 'OPTIONS') return m.sl.reply(req, 200);
    await m.tm.relay(req);
  },
});
`;

let seq = 0;
function request(
  uac: UdpPeer,
  method: string,
  target: string,
  options: { callId?: string; branch?: string; toTag?: string; cseq?: string } = {},
): { text: string; callId: string; branch: string } {
  seq++;
  const callId = options.callId ?? `ovl${seq}@test`;
  const branch = options.branch ?? `z9hG4bK-ovl${seq}`;
  const text = `${[
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=${branch};rport`,
    `From: <sip:alice@127.0.0.1>;tag=a${callId}`,
    `To: <${target}>${options.toTag === undefined ? '' : `;tag=${options.toTag}`}`,
    `Call-ID: ${callId}`,
    `CSeq: ${options.cseq ?? `1 ${method}`}`,
    `Contact: <sip:alice@127.0.0.1:${uac.port}>`,
    'Max-Forwards: 70',
    'Content-Length: 0',
  ].join('\r\n')}\r\n\r\n`;
  return { text, callId, branch };
}

const reply = (callId: string, status: number, method: string) => (t: string) =>
  t.startsWith(`SIP/2.0 ${status} `) && t.includes(`Call-ID: ${callId}\r\n`) && t.includes(` ${method}\r\n`);

describe('overload protection', () => {
  let server: Server;
  let port: number;
  let uac: UdpPeer;
  let uas: UdpPeer;
  let target: string;
  const stat = (key: string) => server.stats.get(key);

  before(async () => {
    const script = join(dir, 'overload-script.ts');
    writeFileSync(script, SCRIPT);
    const started = await startServer(
      'limits:\n  maxTransactions: 5\n  overloadRetryAfter: 7\nmodules:\n  tm:\n    t1: 100ms\n',
      { listen: ['udp:127.0.0.1:0'], script },
    );
    server = started.server;
    port = started.listener('udp').port;
    uac = await UdpPeer.open();
    uas = await UdpPeer.open(); // never answers
    target = `sip:bob@127.0.0.1:${uas.port}`;
  });

  after(async () => {
    uac.close();
    uas.close();
    await server.stop(100);
    rmSync(dir, { recursive: true, force: true });
  });

  const invites: Array<{ text: string; callId: string; branch: string }> = [];

  it('relays 5 INVITEs to a UAS that never answers: 5 transactions in progress', async () => {
    for (let i = 0; i < 5; i++) {
      const inv = request(uac, 'INVITE', target);
      invites.push(inv);
      uac.send(inv.text, port);
      await uac.next(reply(inv.callId, 100, 'INVITE'));
      await uas.next((t) => t.startsWith('INVITE ') && t.includes(inv.callId));
    }
    assert.equal(stat('tm.current'), 5);
    assert.equal(stat('core.overload_rejected'), 0);
  });

  it('answers the 6th new INVITE 503 with Retry-After: 7 without relaying it, and absorbs its ACK', async () => {
    const inv = request(uac, 'INVITE', target);
    uac.send(inv.text, port);
    const res = await uac.next(reply(inv.callId, 503, 'INVITE'));
    assert.match(res, /\r\nRetry-After: 7\r\n/);
    assert.equal(stat('core.overload_rejected_transactions'), 1);
    assert.equal(stat('core.overload_rejected'), 1);
    assert.equal(stat('tm.current'), 5);
    // the ACK for the 503 ends here, like any ACK for a stateless reply
    const toTag = /\r\nTo: [^\r]*;tag=([^\r;]+)/.exec(res)![1]!;
    const ack = request(uac, 'ACK', target, { callId: inv.callId, branch: inv.branch, toTag, cseq: '1 ACK' });
    const absorbed = stat('sl.received_ACKs') ?? 0;
    uac.send(ack.text, port);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stat('sl.received_ACKs'), absorbed + 1, 'the ACK was absorbed');
    assert.equal(
      uas.received.some((b) => b.toString('latin1').includes(inv.callId)),
      false,
      'nothing of the refused call reached the UAS',
    );
  });

  it('refuses a new OPTIONS too (a health probe sees the overload), but lets in-dialog requests through', async () => {
    const options = request(uac, 'OPTIONS', `sip:127.0.0.1:${port}`);
    uac.send(options.text, port);
    assert.match(await uac.next(reply(options.callId, 503, 'OPTIONS')), /Retry-After: 7/);
    const bye = request(uac, 'BYE', target, { toTag: 'b1' });
    uac.send(bye.text, port);
    await uac.next(reply(bye.callId, 200, 'BYE'));
    assert.equal(stat('core.overload_rejected'), 2);
  });

  it('absorbs a retransmission of an INVITE in progress instead of refusing it', async () => {
    const first = invites[0]!;
    uac.send(first.text, port);
    await uac.next(reply(first.callId, 100, 'INVITE'));
    assert.equal(stat('core.overload_rejected'), 2);
  });

  it('passes CANCEL (200 to it); the cancelled INVITE counts until its branch ends', async () => {
    const first = invites[0]!;
    const cancel = request(uac, 'CANCEL', target, {
      callId: first.callId,
      branch: first.branch,
      cseq: '1 CANCEL',
    });
    uac.send(cancel.text, port);
    await uac.next(reply(first.callId, 200, 'CANCEL'));
    // the UAS never answers the CANCEL either: the INVITE ends when its branch times out (487 upstream)
    const inv = request(uac, 'INVITE', target);
    // until then the INVITE is still in progress (tm.current 5): refused
    uac.send(inv.text, port);
    await uac.next(reply(inv.callId, 503, 'INVITE'));
  });

  it('applies a runtime change of maxTransactions to the next request', async () => {
    server.runtimeConfig.set('limits', 'maxTransactions', '0');
    const inv = request(uac, 'INVITE', target);
    uac.send(inv.text, port);
    await uac.next(reply(inv.callId, 100, 'INVITE'));
    assert.equal(stat('tm.current'), 6);
    server.runtimeConfig.set('limits', 'maxTransactions', 6);
    server.runtimeConfig.set('limits', 'overloadRetryAfter', 30);
    const refused = request(uac, 'INVITE', target);
    uac.send(refused.text, port);
    assert.match(await uac.next(reply(refused.callId, 503, 'INVITE')), /\r\nRetry-After: 30\r\n/);
    server.runtimeConfig.set('limits', 'maxTransactions', 0);
  });

  /**
   * With `limit` set to `value` (its flag `high` up at once), a new OPTIONS gets 503 with Retry-After and
   * counts in `rejected`; set back to 0, the flag is down and the next OPTIONS is served.
   */
  async function refusedWhileSet(limit: string, value: number, high: string, rejected: string) {
    assert.equal(stat(high), 0);
    server.runtimeConfig.set('limits', limit, value);
    assert.equal(stat(high), 1);
    const options = request(uac, 'OPTIONS', `sip:127.0.0.1:${port}`);
    uac.send(options.text, port);
    assert.match(await uac.next(reply(options.callId, 503, 'OPTIONS')), /Retry-After: 30/);
    assert.equal(stat(rejected), 1);
    server.runtimeConfig.set('limits', limit, 0);
    assert.equal(stat(high), 0);
    const again = request(uac, 'OPTIONS', `sip:127.0.0.1:${port}`);
    uac.send(again.text, port);
    await uac.next(reply(again.callId, 200, 'OPTIONS'));
  }

  it('refuses new requests while the heap is above memoryHighWatermark, and serves again below it', async () => {
    // any running server uses more than 0.01% of its heap limit
    await refusedWhileSet('memoryHighWatermark', 0.0001, 'core.memory_high', 'core.overload_rejected_memory');
  });

  it('applies a runtime change of maxEventLoopUtilization: new requests thinned at once, served again at 0', async () => {
    // some busy time since the last load sample, so any running loop is above a 0.01% limit
    const end = performance.now() + 5;
    while (performance.now() < end) {
      // spinning
    }
    await refusedWhileSet('maxEventLoopUtilization', 0.0001, 'core.load_high', 'core.overload_rejected_load');
  });

  it('refuses a value out of range and keeps the old one', () => {
    assert.throws(() => server.runtimeConfig.set('limits', 'memoryHighWatermark', 2), /memoryHighWatermark/);
    assert.throws(() => server.runtimeConfig.set('limits', 'maxTransactions', -1), /maxTransactions/);
    assert.equal(server.runtimeConfig.get('limits', 'memoryHighWatermark'), 0);
    assert.equal(server.runtimeConfig.get('limits', 'maxTransactions'), 0);
  });
});
