/**
 * The `ul.*` control commands: Kamailio-shaped results, 404s for unknown AORs and contacts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryLocationStore } from '../../src/modules/usrloc/memory-store.js';
import { RpcError, usrlocRpc } from '../../src/modules/usrloc/rpc.js';

const T0 = 1_700_000_000_000;
const NOW = T0 / 1000;

function setup() {
  const clock = { ms: T0 };
  const store = new MemoryLocationStore({ useDomain: true, clock: () => clock.ms });
  store.save('alice@example.com', {
    contact: 'sip:alice@192.0.2.1:5060;transport=tcp',
    expires: NOW + 3600,
    callId: 'c1',
    cseq: 2,
    q: 500,
    received: 'sip:198.51.100.7:40000;transport=tcp',
    userAgent: 'Phone/1.0',
    socket: 'tcp:192.0.2.10:5060',
    connectionId: 9,
  });
  store.save('alice@example.com', { contact: 'sip:alice@192.0.2.2', expires: 0, callId: 'c2', cseq: 1 });
  store.save('bob@example.com', { contact: 'sip:bob@192.0.2.3', expires: NOW + 60, callId: 'c3', cseq: 1 });
  clock.ms += 10_000;
  return { store, rpc: usrlocRpc(store), clock };
}

async function rejectsWith(p: Promise<unknown>, code: number, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === code && e.message === message);
}

describe('usrloc RPC commands', () => {
  it('ul.lookup lists the contacts of an AOR, best q first', async () => {
    const { store, rpc } = setup();
    const ruid = store.lookup('alice@example.com')[1]!.ruid;
    const result = await rpc['ul.lookup']('sip:alice@EXAMPLE.com');
    assert.equal(result.AoR, 'alice@example.com');
    assert.deepEqual(
      result.Contacts.map((c) => c.Contact.Address),
      ['sip:alice@192.0.2.2', 'sip:alice@192.0.2.1:5060;transport=tcp'],
    );
    assert.deepEqual(result.Contacts[0]!.Contact.Expires, 'permanent');
    assert.deepEqual(result.Contacts[1], {
      Contact: {
        Address: 'sip:alice@192.0.2.1:5060;transport=tcp',
        Expires: 3590,
        Q: 0.5,
        'Call-ID': 'c1',
        CSeq: 2,
        'User-Agent': 'Phone/1.0',
        Received: 'sip:198.51.100.7:40000;transport=tcp',
        Path: '[not set]',
        Flags: 0,
        CFlags: 0,
        Socket: 'tcp:192.0.2.10:5060',
        Methods: -1,
        Ruid: ruid,
        Instance: '[not set]',
        'Reg-Id': 0,
        'Server-Id': 0,
        'Tcpconn-Id': 9,
        Keepalive: 0,
        'Last-Modified': NOW,
      },
    });
    await rejectsWith(rpc['ul.lookup']('carol@example.com'), 404, 'AOR not found');
  });

  it('ul.dump lists every AOR under one location domain, in full or brief', async () => {
    const { rpc } = setup();
    const full = await rpc['ul.dump']();
    assert.equal(full.Domains.length, 1);
    const domain = full.Domains[0]!.Domain;
    assert.equal(domain.Domain, 'location');
    assert.deepEqual(domain.Stats, { Records: 2, Contacts: 3 });
    assert.deepEqual(
      domain.AoRs.map((a) => [a.Info.AoR, a.Info.Contacts.length]),
      [
        ['alice@example.com', 2],
        ['bob@example.com', 1],
      ],
    );
    assert.equal(Object.keys(domain.AoRs[0]!.Info.Contacts[0]!.Contact).length, 19);

    const brief = await rpc['ul.dump']('brief');
    assert.deepEqual(brief.Domains[0]!.Domain.AoRs[1], {
      Info: {
        AoR: 'bob@example.com',
        Contacts: [{ Contact: { Address: 'sip:bob@192.0.2.3', Expires: 50 } }],
      },
    });
  });

  it('ul.rm removes one contact (URI comparison) or the whole AOR; 404 when absent', async () => {
    const { store, rpc } = setup();
    await rpc['ul.rm']('alice@example.com', 'sip:alice@192.0.2.1:5060;TRANSPORT=tcp');
    assert.deepEqual(
      store.lookup('alice@example.com').map((b) => b.contact),
      ['sip:alice@192.0.2.2'],
    );
    await rejectsWith(rpc['ul.rm']('alice@example.com', 'sip:alice@192.0.2.9'), 404, 'Contact not found');
    await rpc['ul.rm']('bob@example.com');
    assert.deepEqual(store.counts(), { users: 1, contacts: 1 });
    await rejectsWith(rpc['ul.rm']('bob@example.com'), 404, 'AOR not found');
    await rejectsWith(rpc['ul.rm']('nobody@example.com', 'sip:x@h'), 404, 'AOR not found');
    await rejectsWith(rpc['ul.lookup'](''), 400, 'AOR missing');
  });
});
