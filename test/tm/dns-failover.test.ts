/**
 * RFC 3263 in the stateful proxy: a SIP URI resolved through SRV against a real DNS server on loopback,
 * with failover to the second target when the first never answers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { ZoneServer } from '../dns/zone.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-tm-dns-'));

const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (req.hasToTag) return;
    m.tm.setFrTimeout(req, 400, 2000);
    await m.tm.relay(req);
  },
});
`;

describe('stateful proxy with DNS SRV failover', () => {
  let dns: ZoneServer;
  let server: Server;
  let port: number;
  let uac: UdpPeer;
  let dead: UdpPeer;
  let live: UdpPeer;

  before(async () => {
    uac = await UdpPeer.open();
    dead = await UdpPeer.open(); // receives, never answers
    live = await UdpPeer.open();
    dns = new ZoneServer({
      '_sip._udp.svc.test': [
        { type: 'SRV', priority: 10, weight: 0, port: dead.port, target: 'dead.svc.test' },
        { type: 'SRV', priority: 20, weight: 0, port: live.port, target: 'live.svc.test' },
      ],
      'dead.svc.test': [{ type: 'A', address: '127.0.0.1' }],
      'live.svc.test': [{ type: 'A', address: '127.0.0.1' }],
    });
    await dns.start();
    const script = join(dir, 'script.ts');
    writeFileSync(script, SCRIPT);
    const started = await startServer(
      `dns:\n  servers: ["${dns.servers[0]}"]\nmodules:\n  tm:\n    t1: 100ms\n`,
      { listen: ['udp:127.0.0.1:0'], script },
    );
    server = started.server;
    port = started.listener('udp').port;
  });

  after(async () => {
    uac.close();
    dead.close();
    live.close();
    await server.stop(100);
    await dns.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tries the SRV targets in priority order and fails over when the first does not answer', async () => {
    uac.send(
      `INVITE sip:bob@svc.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-dns1;rport\r\nFrom: <sip:alice@127.0.0.1>;tag=d1\r\nTo: <sip:bob@svc.test>\r\nCall-ID: dns1@test\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      port,
    );
    const first = parseMessage(
      Buffer.from(await dead.next((t) => t.startsWith('INVITE')), 'latin1'),
    ) as SipRequest;
    assert.equal(first.requestUri, 'sip:bob@svc.test');
    // after fr_timer (400 ms) without any answer, the second target gets the INVITE on a new branch
    const second = parseMessage(
      Buffer.from(await live.next((t) => t.startsWith('INVITE'), 3000), 'latin1'),
    ) as SipRequest;
    assert.notEqual(second.topVia?.branch, first.topVia?.branch);
    const vias = second.getHeaders('via').map((v) => `Via: ${v}`);
    live.send(
      `SIP/2.0 200 OK\r\n${vias.join('\r\n')}\r\nFrom: ${second.getHeader('from')}\r\nTo: ${second.getHeader('to')};tag=live\r\nCall-ID: dns1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:${live.port}>\r\nContent-Length: 0\r\n\r\n`,
      port,
    );
    const ok = parseMessage(
      Buffer.from(await uac.next((t) => t.startsWith('SIP/2.0 200')), 'latin1'),
    ) as SipResponse;
    assert.match(ok.getHeader('to')!, /tag=live/);
  });

  it('skips the blacklisted target for the next call', async () => {
    const before = dead.received.length;
    uac.send(
      `MESSAGE sip:bob@svc.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-dns2;rport\r\nFrom: <sip:alice@127.0.0.1>;tag=d2\r\nTo: <sip:bob@svc.test>\r\nCall-ID: dns2@test\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      port,
    );
    const msg = parseMessage(
      Buffer.from(await live.next((t) => t.startsWith('MESSAGE')), 'latin1'),
    ) as SipRequest;
    assert.equal(msg.callId, 'dns2@test');
    assert.equal(dead.received.length, before);
  });
});
