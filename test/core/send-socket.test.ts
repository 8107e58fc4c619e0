import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseMessage, type SipRequest } from '../../src/sip/index.js';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-socket-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('outgoing socket selection', () => {
  it('sends from the listener a script forces (Kamailio force_send_socket)', async () => {
    const script = join(dir, 'force.ts');
    writeFileSync(
      script,
      "import { defineRoutes } from 'olelo/script';\nexport default defineRoutes({ request(req, m) { req.sendSocket = req.header('x-socket'); return m.forward(req); } });\n",
    );
    const { server } = await startServer('', { listen: ['udp:127.0.0.1:0', 'udp:127.0.0.1:0'], script });
    const [a, b] = server.listeners;
    const uac = await UdpPeer.open();
    const uas = await UdpPeer.open();
    try {
      for (const [inbound, forced] of [
        [a!, b!],
        [a!, a!],
      ]) {
        uac.send(
          `MESSAGE sip:bob@127.0.0.1:${uas.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-f${forced.port}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: f${forced.port}\r\nCSeq: 1 MESSAGE\r\nX-Socket: udp:127.0.0.1:${forced.port}\r\nContent-Length: 0\r\n\r\n`,
          inbound.port,
        );
        const got = parseMessage(
          Buffer.from(await uas.next((t) => t.includes(`f${forced.port}`)), 'latin1'),
        ) as SipRequest;
        assert.equal(got.topVia?.port, forced.port);
      }
      // the datagram itself left from the forced socket
      const rinfo = await new Promise<number>((resolve) => {
        uas.socket.once('message', (_m, r) => resolve(r.port));
        uac.send(
          `MESSAGE sip:bob@127.0.0.1:${uas.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-g1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: g1\r\nCSeq: 1 MESSAGE\r\nX-Socket: udp:127.0.0.1:${b!.port}\r\nContent-Length: 0\r\n\r\n`,
          a!.port,
        );
      });
      assert.equal(rinfo, b!.port);
    } finally {
      uac.close();
      uas.close();
      await server.stop(100);
    }
  });
});
