/**
 * tm's relay with a destination set (`req.branches`, Kamailio's dset): the Request-URI branch and the set
 * fork together; `m.tm.appendBranch` targets still replace the Request-URI branch (the set is added to
 * them); Route values (`routes`, `req.uriRoutes`) go to their own branch only; the set is used up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UdpPeer } from '../helpers/server.js';
import { answer, registrarServer, request, sipRequest } from './helpers.js';

const SCRIPT = `
import { defineRoutes } from 'olelo/script';

export default defineRoutes({
  async request(req, m) {
    if (req.method === 'ACK' || req.method === 'CANCEL') return m.forward(req);
    const set = req.header('x-set');
    if (set !== undefined) {
      req.branches = set.split(',').map((uri) => {
        const [target, route] = uri.trim().split(' via ');
        return route === undefined ? { uri: target, q: 1 } : { uri: target, q: 1, routes: ['<' + route + ';lr>'] };
      });
    }
    const append = req.header('x-append');
    if (append !== undefined) m.tm.appendBranch(req, append);
    const route = req.header('x-uri-route');
    if (route !== undefined) req.uriRoutes = ['<' + route + ';lr>'];
    await m.tm.relay(req);
    if (req.branches !== undefined) throw new Error('the destination set was not used up');
  },
});
`;

describe('destination set', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  const peers: UdpPeer[] = [];
  before(async () => {
    srv = await registrarServer('', { script: SCRIPT, listen: ['udp:127.0.0.1:0'] });
    for (let i = 0; i < 4; i++) peers.push(await UdpPeer.open());
  });
  after(async () => {
    for (const p of peers) p.close();
    await srv.stop();
  });
  const uri = (p: UdpPeer) => `sip:u@127.0.0.1:${p.port}`;
  const isMessage = (t: string) => t.startsWith('MESSAGE ');
  const silent = async (p: UdpPeer) => {
    try {
      await p.next(isMessage, 250);
      return false;
    } catch {
      return true;
    }
  };
  /** Sends a MESSAGE, answers it 200 wherever it arrives, and resolves with the final status at the caller. */
  async function finish(caller: UdpPeer, arrived: Array<{ peer: UdpPeer; text: string }>): Promise<string> {
    for (const a of arrived) a.peer.send(answer(a.text, 200, 'OK'), srv.udpPort);
    const callId = request(arrived[0]!.text).callId;
    return caller.next((t) => t.startsWith('SIP/2.0 2') && t.includes(`Call-ID: ${callId}\r\n`));
  }

  it('forks to the Request-URI and the set together', async () => {
    const [a, b, , caller] = peers as [UdpPeer, UdpPeer, UdpPeer, UdpPeer];
    caller.send(
      sipRequest({ method: 'MESSAGE', uri: uri(a), port: caller.port, headers: [`X-Set: ${uri(b)}`] }),
      srv.udpPort,
    );
    const [atA, atB] = await Promise.all([a.next(isMessage), b.next(isMessage)]);
    assert.equal(request(atA).requestUri, uri(a));
    assert.equal(request(atB).requestUri, uri(b));
    assert.match(
      await finish(caller, [
        { peer: a, text: atA },
        { peer: b, text: atB },
      ]),
      /^SIP\/2\.0 200/,
    );
  });

  it('keeps appendBranch replacing the Request-URI branch, with the set added', async () => {
    const [a, b, c, caller] = peers as [UdpPeer, UdpPeer, UdpPeer, UdpPeer];
    caller.send(
      sipRequest({
        method: 'MESSAGE',
        uri: uri(a),
        port: caller.port,
        headers: [`X-Set: ${uri(b)}`, `X-Append: ${uri(c)}`],
      }),
      srv.udpPort,
    );
    const [atB, atC] = await Promise.all([b.next(isMessage), c.next(isMessage)]);
    assert.ok(await silent(a), 'the Request-URI branch was replaced by the appended one');
    assert.match(
      await finish(caller, [
        { peer: b, text: atB },
        { peer: c, text: atC },
      ]),
      /^SIP\/2\.0 200/,
    );
  });

  it('puts Route values on their own branch only', async () => {
    const [a, b, edge, caller] = peers as [UdpPeer, UdpPeer, UdpPeer, UdpPeer];
    const via = `sip:127.0.0.1:${edge.port}`;
    caller.send(
      sipRequest({
        method: 'MESSAGE',
        uri: uri(a),
        port: caller.port,
        headers: [`X-Set: ${uri(b)}, sip:v@192.0.2.99 via ${via}`],
      }),
      srv.udpPort,
    );
    const [atA, atB, atEdge] = await Promise.all([
      a.next(isMessage),
      b.next(isMessage),
      edge.next(isMessage),
    ]);
    assert.deepEqual(request(atA).getHeaders('route'), []);
    assert.deepEqual(request(atB).getHeaders('route'), []);
    assert.equal(request(atEdge).requestUri, 'sip:v@192.0.2.99');
    assert.deepEqual(request(atEdge).getHeaders('route'), [`<${via};lr>`]);
    const arrived = [
      { peer: a, text: atA },
      { peer: b, text: atB },
      { peer: edge, text: atEdge },
    ];
    assert.match(await finish(caller, arrived), /^SIP\/2\.0 200/);

    caller.send(
      sipRequest({
        method: 'MESSAGE',
        uri: 'sip:w@192.0.2.98',
        port: caller.port,
        headers: [`X-Uri-Route: ${via}`],
      }),
      srv.udpPort,
    );
    const routed = await edge.next(isMessage);
    assert.equal(request(routed).requestUri, 'sip:w@192.0.2.98');
    assert.deepEqual(request(routed).getHeaders('route'), [`<${via};lr>`]);
    assert.match(await finish(caller, [{ peer: edge, text: routed }]), /^SIP\/2\.0 200/);
  });
});
