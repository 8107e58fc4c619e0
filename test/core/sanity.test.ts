import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-sanity-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, 'sanity.ts');
writeFileSync(
  script,
  "import { defineRoutes } from 'olelo/script';\nexport default defineRoutes({ request(req, m) { if (m.sanity.check(req)) m.sl.reply(req, 200); } });\n",
);

async function statusFor(yaml: string, extra: string): Promise<string> {
  const { server, listener } = await startServer(yaml, { listen: ['udp:127.0.0.1:0'], script });
  const peer = await UdpPeer.open();
  try {
    const port = listener('udp').port;
    peer.send(
      `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-s1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\n${extra}Content-Length: 0\r\n\r\n`,
      port,
    );
    return (await peer.next()).split('\r\n')[0]!;
  } finally {
    peer.close();
    await server.stop(100);
  }
}

describe('sanity module', () => {
  it('leaves headers routing does not read alone by default', async () => {
    assert.equal(await statusFor('', 'Contact: <sip:broken\r\n'), 'SIP/2.0 200 OK');
  });

  it('checks every header with checkAllHeaders, answering 400 naming it', async () => {
    const line = await statusFor(
      'modules:\n  sanity:\n    checkAllHeaders: true\n',
      'Contact: <sip:broken\r\n',
    );
    assert.match(line, /^SIP\/2\.0 400 /);
  });

  it('answers 400 for a malformed header routing needs', async () => {
    assert.match(await statusFor('', 'Max-Forwards: lots\r\n'), /^SIP\/2\.0 400 .*Max-Forwards/i);
  });
});
