/**
 * The nathelper README example in a server: a UA behind NAT (private Contact) registers and is reached
 * at its source address; a caller behind NAT gets its INVITE's Contact rewritten to its source address.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, UdpPeer } from '../helpers/server.js';
import { answer, registerRequest, registrarServer, request, sipRequest, transact } from './helpers.js';

function readmeScript(): string {
  const readme = readFileSync(join(ROOT, 'src/modules/nathelper/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 1, 'one ts example in the README');
  return blocks[0]![1]!;
}

describe('nathelper README example', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  before(async () => {
    srv = await registrarServer('', { script: readmeScript(), listen: ['udp:127.0.0.1:0'] });
  });
  after(() => srv.stop());

  it('reaches a NATed UA at its source and fixes the Contact of a NATed caller', async () => {
    const callee = await UdpPeer.open();
    const caller = await UdpPeer.open();
    try {
      const reg = registerRequest('tina', callee.port, {
        contact: '<sip:tina@192.168.0.23:5060>',
        expires: 300,
      });
      assert.equal((await transact(callee, reg, srv.udpPort)).status, 200);
      const invite = sipRequest({
        method: 'INVITE',
        uri: 'sip:tina@example.com',
        port: caller.port,
        headers: ['Contact: <sip:caller@10.7.0.5:5060>'],
      }).replace(`Via: SIP/2.0/UDP 127.0.0.1:${caller.port}`, 'Via: SIP/2.0/UDP 10.7.0.5:5060');
      caller.send(invite, srv.udpPort);
      const got = await callee.next((t) => t.startsWith('INVITE '));
      const req = request(got);
      assert.equal(req.requestUri, 'sip:tina@192.168.0.23:5060');
      assert.equal(req.getHeader('contact'), `<sip:caller@127.0.0.1:${caller.port}>`);
      callee.send(answer(got, 486, 'Busy Here'), srv.udpPort);
      assert.match(await caller.next((t) => / 486 /.test(t.slice(0, 20))), /^SIP\/2\.0 486 /);
    } finally {
      callee.close();
      caller.close();
    }
  });
});
