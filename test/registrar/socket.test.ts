/**
 * With two UDP listeners, each branch of a lookup leaves from the listener its contact registered on
 * (the NAT binding of a UDP client only lets in what comes from the address it sent to), while the
 * Request-URI branch and the destination-set branches fork together.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UdpPeer } from '../helpers/server.js';
import { answer, registerRequest, registrarServer, request, sipRequest, transact } from './helpers.js';

describe('per-branch listener', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  let first: number;
  let second: number;
  before(async () => {
    srv = await registrarServer('modules:\n  usrloc:\n    useDomain: true\n', {
      listen: ['udp:127.0.0.1:0', 'udp:127.0.0.2:0'],
    });
    first = srv.server.listeners.find((l) => l.address === '127.0.0.1')!.port;
    second = srv.server.listeners.find((l) => l.address === '127.0.0.2')!.port;
  });
  after(() => srv.stop());

  it('sends each branch from the listener its contact registered on', async () => {
    const one = await UdpPeer.open();
    const two = await UdpPeer.open();
    const caller = await UdpPeer.open();
    try {
      const reg = (p: UdpPeer, to: number, address: string) => {
        const text = registerRequest('sam', p.port, {
          contact: `<sip:sam@127.0.0.1:${p.port}>`,
          expires: 300,
        });
        p.socket.send(Buffer.from(text, 'latin1'), to, address);
        return p.next((t) => t.startsWith('SIP/2.0 '));
      };
      assert.match(await reg(one, first, '127.0.0.1'), /^SIP\/2\.0 200 /);
      assert.match(await reg(two, second, '127.0.0.2'), /^SIP\/2\.0 200 /);
      caller.send(sipRequest({ method: 'MESSAGE', uri: 'sip:sam@example.com', port: caller.port }), first);
      const [atOne, atTwo] = await Promise.all([
        one.next((t) => t.startsWith('MESSAGE ')),
        two.next((t) => t.startsWith('MESSAGE ')),
      ]);
      assert.equal(request(atOne).topVia?.host, '127.0.0.1');
      assert.equal(
        request(atTwo).topVia?.host,
        '127.0.0.2',
        'left from the listener the contact registered on',
      );
      one.send(answer(atOne, 200, 'OK'), first);
      two.send(answer(atTwo, 200, 'OK'), second, '127.0.0.2');
      assert.match(await caller.next((t) => t.startsWith('SIP/2.0 2')), /^SIP\/2\.0 200 /);
      // a plain relay without lookup still goes to the Request-URI from the default listener
      const direct = await transact(
        caller,
        sipRequest({ method: 'MESSAGE', uri: 'sip:nobody@example.com', port: caller.port }),
        first,
      );
      assert.equal(direct.status, 404);
    } finally {
      one.close();
      two.close();
      caller.close();
    }
  });
});
