/**
 * The receive pipeline and the default script, end to end over real UDP sockets on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';

function request(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

describe('stateless proxy over UDP (scripts/stateless.ts)', () => {
  let server: Server;
  let port: number;
  let uac: UdpPeer;
  let uas: UdpPeer;

  before(async () => {
    const started = await startServer('', { script: `${ROOT}scripts/stateless.ts` });
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

  it('answers OPTIONS aimed at the server with 200, a To-tag and rport filled', async () => {
    uac.send(
      request([
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-opt1;rport`,
        `From: <sip:probe@127.0.0.1>;tag=a1`,
        `To: <sip:127.0.0.1:${port}>`,
        'Call-ID: opt1@test',
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ]),
      port,
    );
    const res = parseMessage(Buffer.from(await uac.next(), 'latin1')) as SipResponse;
    assert.equal(res.status, 200);
    assert.ok(res.to?.params.get('tag'));
    assert.equal(res.topVia?.rport, uac.port);
    assert.equal(res.topVia?.received, '127.0.0.1');
    assert.equal(res.callId, 'opt1@test');
  });

  it('gives a retransmitted request the same To-tag', async () => {
    const opts = request([
      `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-opt2`,
      `From: <sip:probe@127.0.0.1>;tag=a2`,
      `To: <sip:127.0.0.1:${port}>`,
      'Call-ID: opt2@test',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
    ]);
    uac.send(opts, port);
    const first = parseMessage(Buffer.from(await uac.next(), 'latin1')) as SipResponse;
    uac.send(opts, port);
    const second = parseMessage(Buffer.from(await uac.next(), 'latin1')) as SipResponse;
    assert.equal(first.to?.params.get('tag'), second.to?.params.get('tag'));
  });

  it('forwards an INVITE with its Via, Record-Route and Max-Forwards, and the response back', async () => {
    uac.send(
      request([
        `INVITE sip:bob@127.0.0.1:${uas.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-inv1;rport`,
        `From: "Alice" <sip:alice@127.0.0.1>;tag=f1`,
        `To: <sip:bob@127.0.0.1:${uas.port}>`,
        'Call-ID: inv1@test',
        'CSeq: 1 INVITE',
        `Contact: <sip:alice@127.0.0.1:${uac.port}>`,
        'Max-Forwards: 70',
        'Content-Length: 0',
      ]),
      port,
    );
    const inv = parseMessage(Buffer.from(await uas.next(), 'latin1')) as SipRequest;
    assert.equal(inv.method, 'INVITE');
    assert.equal(inv.maxForwards, 69);
    assert.equal(inv.via.length, 2);
    assert.equal(inv.via[0]!.host, '127.0.0.1');
    assert.equal(inv.via[0]!.port, port);
    assert.match(inv.via[0]!.branch ?? '', /^z9hG4bK/);
    assert.equal(inv.via[1]!.received, '127.0.0.1');
    assert.equal(inv.via[1]!.rport, uac.port);
    assert.deepEqual(
      inv.recordRoute.map((r) => r.uri),
      [
        {
          scheme: 'sip',
          user: undefined,
          password: undefined,
          host: '127.0.0.1',
          hostKind: 'ipv4',
          port,
          params: new Map([['lr', null]]),
          headers: [],
        },
      ],
    );
    // the UAS answers to the top Via: the proxy
    const vias = inv.getHeaders('via').map((v) => `Via: ${v}`);
    uas.send(
      request([
        'SIP/2.0 180 Ringing',
        ...vias,
        `From: "Alice" <sip:alice@127.0.0.1>;tag=f1`,
        `To: <sip:bob@127.0.0.1:${uas.port}>;tag=t1`,
        'Call-ID: inv1@test',
        'CSeq: 1 INVITE',
        'Content-Length: 0',
      ]),
      port,
    );
    const ringing = parseMessage(Buffer.from(await uac.next(), 'latin1')) as SipResponse;
    assert.equal(ringing.status, 180);
    assert.equal(ringing.via.length, 1);
    assert.equal(ringing.topVia?.branch, 'z9hG4bK-inv1');
  });

  it('uses the same branch for a retransmitted request', async () => {
    const inv = request([
      `INVITE sip:bob@127.0.0.1:${uas.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-inv2`,
      `From: <sip:alice@127.0.0.1>;tag=f2`,
      `To: <sip:bob@127.0.0.1:${uas.port}>`,
      'Call-ID: inv2@test',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ]);
    uac.send(inv, port);
    const a = parseMessage(Buffer.from(await uas.next((t) => t.includes('inv2@test')), 'latin1'));
    uac.send(inv, port);
    const b = parseMessage(Buffer.from(await uas.next((t) => t.includes('inv2@test')), 'latin1'));
    assert.equal(a.topVia?.branch, b.topVia?.branch);
  });

  it('answers 483 when Max-Forwards is 0', async () => {
    uac.send(
      request([
        `MESSAGE sip:bob@127.0.0.1:${uas.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-mf0`,
        `From: <sip:alice@127.0.0.1>;tag=f3`,
        `To: <sip:bob@127.0.0.1>`,
        'Call-ID: mf0@test',
        'CSeq: 1 MESSAGE',
        'Max-Forwards: 0',
        'Content-Length: 0',
      ]),
      port,
    );
    const res = parseMessage(
      Buffer.from(await uac.next((t) => t.includes('mf0@test')), 'latin1'),
    ) as SipResponse;
    assert.equal(res.status, 483);
  });

  it('answers 400 naming the defect for a request that does not parse but has a readable Via', async () => {
    uac.send(
      request([
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-bad1`,
        `From: <sip:a@b>;tag=x`,
        'To: <sip:c@d>',
        'Call-ID: bad1@test',
        'CSeq: 1 OPTIONS',
        'Content-Length: 9999',
      ]),
      port,
    );
    const res = parseMessage(
      Buffer.from(await uac.next((t) => t.includes('bad1@test')), 'latin1'),
    ) as SipResponse;
    assert.equal(res.status, 400);
    assert.match(res.reasonPhrase, /Content-Length/);
  });

  it('answers 400 naming the header when a header is malformed', async () => {
    uac.send(
      request([
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-bad2`,
        `From: <sip:a@b>;tag=x`,
        'To: <sip:c@d>',
        'Call-ID: bad2@test',
        'CSeq: 99999999999 OPTIONS',
        'Content-Length: 0',
      ]),
      port,
    );
    const res = parseMessage(
      Buffer.from(await uac.next((t) => t.includes('bad2@test')), 'latin1'),
    ) as SipResponse;
    assert.equal(res.status, 400);
    assert.match(res.reasonPhrase, /CSeq/);
  });

  it('answers 420 with Unsupported for a Proxy-Require it does not support', async () => {
    uac.send(
      request([
        `OPTIONS sip:bob@127.0.0.1:${uas.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-pr1`,
        `From: <sip:a@b>;tag=x`,
        'To: <sip:c@d>',
        'Call-ID: pr1@test',
        'CSeq: 1 OPTIONS',
        'Proxy-Require: foo, bar',
        'Content-Length: 0',
      ]),
      port,
    );
    const res = parseMessage(
      Buffer.from(await uac.next((t) => t.includes('pr1@test')), 'latin1'),
    ) as SipResponse;
    assert.equal(res.status, 420);
    assert.deepEqual(res.unsupported, ['foo', 'bar']);
  });

  it('drops garbage and keeps serving', async () => {
    const before = server.stats.get('core.drop_messages') ?? 0;
    uac.send('garbage that is not SIP at all\r\n\r\n', port);
    uac.send(
      request([
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-after`,
        `From: <sip:a@b>;tag=x`,
        'To: <sip:c@d>',
        'Call-ID: after@test',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
      ]),
      port,
    );
    const res = parseMessage(
      Buffer.from(await uac.next((t) => t.includes('after@test')), 'latin1'),
    ) as SipResponse;
    assert.equal(res.status, 200);
    assert.equal(server.stats.get('core.drop_messages'), before + 1);
  });

  it('drops a response whose top Via is not this server', async () => {
    const before = server.stats.get('core.drop_messages') ?? 0;
    uas.send(
      request([
        'SIP/2.0 200 OK',
        'Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-notours',
        `From: <sip:a@b>;tag=x`,
        'To: <sip:c@d>;tag=y',
        'Call-ID: notours@test',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
      ]),
      port,
    );
    // a valid request after it proves the response was processed first (same socket, in order)
    uac.send(
      request([
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-after2`,
        `From: <sip:a@b>;tag=x`,
        'To: <sip:c@d>',
        'Call-ID: after2@test',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
      ]),
      port,
    );
    await uac.next((t) => t.includes('after2@test'));
    assert.equal(server.stats.get('core.drop_messages'), before + 1);
  });
});
