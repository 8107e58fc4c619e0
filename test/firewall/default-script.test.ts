/**
 * The default script's flood protection with a config that declares its own htable tables and no
 * `ipban`: requests are still answered, and a flooder is still refused (by pike alone).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer, UdpPeer } from '../helpers/server.js';

let n = 0;
function options(peer: UdpPeer, port: number): string {
  const id = `ds${process.pid}x${++n}`;
  peer.send(
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${peer.socket.address().address}:${peer.port};branch=z9hG4bK${id};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:t@example.com>;tag=${id}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ${id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    port,
  );
  return id;
}

/** Sends `count` OPTIONS and returns the status codes of the answers that come within a short while. */
async function statuses(peer: UdpPeer, port: number, count: number): Promise<number[]> {
  const ids = new Set<string>();
  for (let i = 0; i < count; i++) ids.add(options(peer, port));
  const out: number[] = [];
  for (;;) {
    try {
      const b = await peer.next(
        (t) => t.startsWith('SIP/2.0 ') && [...ids].some((id) => t.includes(id)),
        300,
      );
      out.push(Number(b.slice(8, 11)));
    } catch {
      return out;
    }
  }
}

describe('default script, tables declared without ipban', () => {
  it('answers requests, and refuses a source over the pike limit without a ban table', async () => {
    const yaml = 'modules:\n  htable:\n    tables:\n      calls: { size: 10 }\n';
    const { server, listener, logs } = await startServer(yaml, { listen: ['udp:127.0.0.1:0'] });
    const peer = await UdpPeer.open('127.0.0.6');
    try {
      const port = listener('udp').port;
      assert.deepEqual(await statuses(peer, port, 3), [200, 200, 200]);
      // pike's default: 30 a window; the rest get no answer (no 500 either)
      const flood = await statuses(peer, port, 40);
      assert.ok(
        flood.every((s) => s === 200),
        `only 200s: ${flood.join(',')}`,
      );
      assert.ok(flood.length <= 28, `${flood.length} answered, over pike's limit`);
      assert.ok(!logs.some((l) => /script_error|no table named ipban/.test(l)), 'no script error');
    } finally {
      peer.close();
      await server.stop(100);
    }
  });
});
