/**
 * The examples of the pike and htable READMEs, run as route scripts with raw SIP over UDP from
 * loopback addresses other than the server's (pike does not count the server's own).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { tempDir } from '../helpers/process.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';

const dir = tempDir('fw-readme');
after(() => dir.remove());

/** The `ts` example of a module's README, as a script file. */
function readmeScript(module: string): string {
  const readme = readFileSync(`${ROOT}src/modules/${module}/README.md`, 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, `the ${module} README has a ts example`);
  return dir.file(`${module}.ts`, code);
}

let n = 0;
function options(peer: UdpPeer, port: number): string {
  const id = `rd${process.pid}x${++n}`;
  peer.send(
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${peer.socket.address().address}:${peer.port};branch=z9hG4bK${id};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:t@example.com>;tag=${id}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ${id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    port,
  );
  return id;
}

/** Sends `count` OPTIONS and counts the 200s that come back within a short while. */
async function answered(peer: UdpPeer, port: number, count: number): Promise<number> {
  const ids = new Set<string>();
  for (let i = 0; i < count; i++) ids.add(options(peer, port));
  let got = 0;
  for (;;) {
    try {
      await peer.next((t) => t.startsWith('SIP/2.0 200') && [...ids].some((id) => t.includes(id)), 300);
      got++;
    } catch {
      return got;
    }
  }
}

describe('pike and htable README examples', () => {
  it('pike: a source over 30 requests per window gets no answer, another one still does', async () => {
    const { server, listener } = await startServer('modules:\n  pike:\n    removeLatency: 10s\n', {
      listen: ['udp:127.0.0.1:0'],
      script: readmeScript('pike'),
    });
    const flooder = await UdpPeer.open('127.0.0.4');
    const other = await UdpPeer.open('127.0.0.5');
    try {
      const port = listener('udp').port;
      assert.equal(await answered(flooder, port, 45), 30);
      assert.equal(await answered(other, port, 5), 5);
      const top = (await server.rpc.call('pike.top', [])) as { list: { ip_addr: string; status: string }[] };
      assert.deepEqual(
        top.list.map((e) => [e.ip_addr, e.status]),
        [['127.0.0.4', 'HOT']],
      );
    } finally {
      flooder.close();
      other.close();
      await server.stop(100);
    }
  });

  it('htable: a banned source gets no answer until the ban is lifted', async () => {
    const { server, listener } = await startServer(
      'modules:\n  htable:\n    tables:\n      ipban: { autoExpire: 1h }\n      authfail: { autoExpire: 10m }\n',
      { listen: ['udp:127.0.0.1:0'], script: readmeScript('htable') },
    );
    const peer = await UdpPeer.open('127.0.0.6');
    try {
      const port = listener('udp').port;
      assert.equal(await answered(peer, port, 2), 2);
      await server.rpc.call('htable.seti', ['ipban', '127.0.0.6', 1]);
      assert.equal(await answered(peer, port, 2), 0);
      await server.rpc.call('htable.delete', ['ipban', '127.0.0.6']);
      assert.equal(await answered(peer, port, 2), 2);
    } finally {
      peer.close();
      await server.stop(100);
    }
  });
});

describe('default script: flood protection spares trusted sources', () => {
  it('a source in permissions group 1 is never counted or banned; an untrusted one is banned', async () => {
    const list = dir.file('trusted.list', '1 127.0.0.7 0 any trunk\n');
    const { server, listener } = await startServer(
      `domains: [127.0.0.1]\nmodules:\n  pike:\n    reqsDensityPerUnit: 10\n    removeLatency: 10s\n  permissions:\n    addressFile: ${JSON.stringify(list)}\n`,
      { listen: ['udp:127.0.0.1:0'] },
    );
    const trunk = await UdpPeer.open('127.0.0.7');
    const stranger = await UdpPeer.open('127.0.0.8');
    try {
      const port = listener('udp').port;
      assert.equal(await answered(trunk, port, 40), 40);
      const banned = await answered(stranger, port, 40);
      assert.ok(banned >= 10 && banned < 40, `the untrusted source got ${banned} answers`);
      const bans = (await server.rpc.call('htable.dump', ['ipban'])) as unknown;
      assert.match(JSON.stringify(bans), /127\.0\.0\.8/);
      assert.doesNotMatch(JSON.stringify(bans), /127\.0\.0\.7/);
      // still served after the flood
      assert.equal(await answered(trunk, port, 5), 5);
    } finally {
      trunk.close();
      stranger.close();
      await server.stop(100);
    }
  });
});
