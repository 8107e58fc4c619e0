/**
 * The in-memory location store: RFC 3261 §10.3 binding rules, RFC 5626 flows, q ordering, limits, AOR
 * keys, expiry on an injected clock, counts and statistics.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryLocationStore, type MemoryStoreOptions } from '../../src/modules/usrloc/memory-store.js';
import type { ContactInput } from '../../src/modules/usrloc/types.js';

const T0 = 1_700_000_000_000;

function makeStore(options: MemoryStoreOptions = {}) {
  const clock = { ms: T0 };
  const stats = { users: { value: 0 }, contacts: { value: 0 }, expired: { value: 0 } };
  const store = new MemoryLocationStore({ clock: () => clock.ms, stats, ...options });
  return { store, clock, stats };
}

function input(contact: string, extra: Partial<ContactInput> = {}): ContactInput {
  return { contact, expires: T0 / 1000 + 3600, callId: 'call-1@ua', cseq: 1, ...extra };
}

describe('usrloc store: saving bindings (RFC 3261 §10.3)', () => {
  it('inserts a binding and returns it on lookup with every field', () => {
    const { store } = makeStore();
    const r = store.save('alice@example.com', {
      contact: 'sip:alice@192.0.2.1:5060;transport=tcp',
      expires: T0 / 1000 + 600,
      callId: 'c1',
      cseq: 7,
      q: 500,
      received: 'sip:198.51.100.1:40000;transport=tcp',
      path: '<sip:edge.example.com;lr>',
      flags: 2,
      cflags: 4,
      userAgent: 'Phone/1.0',
      socket: 'tcp:192.0.2.10:5060',
      methods: 0x3ff,
      instance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
      regId: 1,
      connectionId: 42,
      keepalive: 1,
    });
    assert.equal(r.status, 'inserted');
    const [b] = store.lookup('alice@example.com');
    assert.ok(b);
    assert.match(b.ruid, /^uloc-[0-9a-f]{12}-[0-9a-z]+$/);
    assert.deepEqual(
      { ...b, next: undefined, ruid: undefined },
      {
        ruid: undefined,
        next: undefined,
        contact: 'sip:alice@192.0.2.1:5060;transport=tcp',
        received: 'sip:198.51.100.1:40000;transport=tcp',
        path: '<sip:edge.example.com;lr>',
        expires: T0 / 1000 + 600,
        q: 500,
        callId: 'c1',
        cseq: 7,
        lastModified: T0 / 1000,
        flags: 2,
        cflags: 4,
        userAgent: 'Phone/1.0',
        socket: 'tcp:192.0.2.10:5060',
        methods: 0x3ff,
        instance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
        regId: 1,
        serverId: 0,
        connectionId: 42,
        keepalive: 1,
      },
    );
  });

  it('fills absent fields with the location-table defaults', () => {
    const { store } = makeStore({ serverId: 3 });
    const r = store.save('bob', input('sip:bob@192.0.2.2'));
    assert.equal(r.status, 'inserted');
    if (r.status !== 'inserted') return;
    const b = r.binding;
    assert.deepEqual(
      [b.q, b.received, b.path, b.userAgent, b.socket, b.methods, b.instance, b.regId, b.connectionId],
      [-1, '', '', '', '', -1, '', 0, -1],
    );
    assert.equal(b.serverId, 3);
  });

  it('refreshes a binding with the same contact: a higher CSeq updates it and keeps the ruid', () => {
    const { store, clock } = makeStore();
    const first = store.save('alice', input('sip:alice@192.0.2.1'));
    clock.ms += 5000;
    const again = store.save('alice', input('sip:alice@192.0.2.1', { cseq: 2, expires: T0 / 1000 + 7200 }));
    assert.equal(again.status, 'updated');
    if (first.status !== 'inserted' || again.status !== 'updated') return;
    assert.equal(again.binding.ruid, first.binding.ruid);
    assert.equal(again.binding.expires, T0 / 1000 + 7200);
    assert.equal(again.binding.lastModified, T0 / 1000 + 5);
    assert.equal(store.lookup('alice').length, 1);
  });

  it('refuses a same-Call-ID update whose CSeq is not higher (out of order)', () => {
    const { store } = makeStore();
    store.save('alice', input('sip:alice@192.0.2.1', { cseq: 5 }));
    for (const cseq of [5, 4]) {
      const r = store.save('alice', input('sip:alice@192.0.2.1', { cseq, expires: T0 / 1000 + 1 }));
      assert.equal(r.status, 'out-of-order');
    }
    assert.equal(store.lookup('alice')[0]!.expires, T0 / 1000 + 3600);
  });

  it('accepts a lower CSeq under another Call-ID (the UA restarted)', () => {
    const { store } = makeStore();
    store.save('alice', input('sip:alice@192.0.2.1', { cseq: 50 }));
    const r = store.save('alice', input('sip:alice@192.0.2.1', { cseq: 1, callId: 'new-call' }));
    assert.equal(r.status, 'updated');
    assert.equal(store.lookup('alice')[0]!.callId, 'new-call');
  });

  it('matches contacts by RFC 3261 §19.1.4 URI equality, not by text', () => {
    const { store } = makeStore();
    store.save('alice', input('sip:alice@EXAMPLE.com:5060;transport=tcp;lr'));
    const r = store.save('alice', input('SIP:alice@example.COM:5060;lr;Transport=TCP', { cseq: 2 }));
    assert.equal(r.status, 'updated');
    assert.equal(store.lookup('alice').length, 1);
    // user parts are case-sensitive, and a port differs from no port
    assert.equal(
      store.save('alice', input('sip:ALICE@example.com:5060;transport=tcp;lr')).status,
      'inserted',
    );
    assert.equal(store.save('alice', input('sip:alice@example.com;transport=tcp;lr')).status, 'inserted');
    assert.equal(store.lookup('alice').length, 3);
  });

  it('finds and removes a binding by contact; removal respects Call-ID/CSeq ordering', () => {
    const { store } = makeStore();
    store.save('alice', input('sip:alice@192.0.2.1', { cseq: 3 }));
    store.save('alice', input('sip:alice@192.0.2.2', { cseq: 3 }));
    assert.equal(store.find('alice', { contact: 'sip:alice@192.0.2.1' })?.contact, 'sip:alice@192.0.2.1');
    assert.equal(store.find('alice', { contact: 'sip:alice@192.0.2.9' }), undefined);
    assert.equal(
      store.remove('alice', { contact: 'sip:alice@192.0.2.1' }, { callId: 'call-1@ua', cseq: 3 }),
      'out-of-order',
    );
    assert.equal(
      store.remove('alice', { contact: 'sip:alice@192.0.2.1' }, { callId: 'call-1@ua', cseq: 4 }),
      'removed',
    );
    assert.equal(store.remove('alice', { contact: 'sip:alice@192.0.2.1' }), 'not-found');
    assert.deepEqual(
      store.lookup('alice').map((b) => b.contact),
      ['sip:alice@192.0.2.2'],
    );
    assert.equal(store.removeAor('alice'), 1);
    assert.equal(store.removeAor('alice'), 0);
    assert.deepEqual(store.lookup('alice'), []);
    assert.deepEqual(store.counts(), { users: 0, contacts: 0 });
  });

  it('rejects values a binding cannot hold', () => {
    const { store } = makeStore();
    assert.throws(() => store.save('a', input('sip:a@h', { q: 0.5 })), RangeError);
    assert.throws(() => store.save('a', input('sip:a@h', { q: 1001 })), RangeError);
    assert.throws(() => store.save('a', input('sip:a@h', { expires: -1 })), RangeError);
    assert.throws(() => store.save('a', input('sip:a@h', { cseq: 1.5 })), RangeError);
  });
});

describe('usrloc store: RFC 5626 flows', () => {
  const instance = '"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"';

  it('replaces the binding of the same instance-id and reg-id even when the contact URI changed', () => {
    const { store } = makeStore();
    const first = store.save('alice', input('sip:alice@192.0.2.1:5060;ob', { instance, regId: 1 }));
    const second = store.save(
      'alice',
      input('sip:alice@203.0.113.9:6000;ob', { instance, regId: 1, callId: 'after-reboot', cseq: 1 }),
    );
    assert.equal(second.status, 'updated');
    if (first.status !== 'inserted' || second.status !== 'updated') return;
    assert.equal(second.binding.ruid, first.binding.ruid);
    assert.deepEqual(
      store.lookup('alice').map((b) => b.contact),
      ['sip:alice@203.0.113.9:6000;ob'],
    );
  });

  it('keeps one binding per flow: another reg-id of the same instance is a second flow', () => {
    const { store } = makeStore();
    store.save('alice', input('sip:alice@192.0.2.1;ob', { instance, regId: 1 }));
    const r = store.save('alice', input('sip:alice@192.0.2.1;ob', { instance, regId: 2 }));
    assert.equal(r.status, 'inserted');
    assert.equal(store.lookup('alice').length, 2);
    assert.equal(store.find('alice', { contact: 'x', instance, regId: 2 })?.regId, 2);
    assert.equal(store.remove('alice', { contact: 'x', instance, regId: 1 }), 'removed');
    assert.deepEqual(
      store.lookup('alice').map((b) => b.regId),
      [2],
    );
  });

  it('matches by instance without reg-id only when asked (GRUU registrars)', () => {
    const plain = makeStore().store;
    plain.save('alice', input('sip:alice@192.0.2.1', { instance }));
    assert.equal(plain.save('alice', input('sip:alice@192.0.2.2', { instance })).status, 'inserted');
    const gruu = makeStore({ matchInstance: true }).store;
    gruu.save('alice', input('sip:alice@192.0.2.1', { instance }));
    assert.equal(gruu.save('alice', input('sip:alice@192.0.2.2', { instance, cseq: 2 })).status, 'updated');
    assert.equal(gruu.lookup('alice').length, 1);
  });
});

describe('usrloc store: order, limits and keys', () => {
  it('orders by q (highest first, none counting as 1.0), then most recently written first', () => {
    const { store, clock } = makeStore();
    store.save('alice', input('sip:low@h', { q: 100 }));
    store.save('alice', input('sip:none@h'));
    store.save('alice', input('sip:half@h', { q: 500 }));
    store.save('alice', input('sip:full@h', { q: 1000 }));
    assert.deepEqual(
      store.lookup('alice').map((b) => b.contact),
      ['sip:full@h', 'sip:none@h', 'sip:half@h', 'sip:low@h'],
    );
    // refreshing with a new q moves the binding
    clock.ms += 1000;
    store.save('alice', input('sip:low@h', { q: 900, cseq: 2 }));
    store.save('alice', input('sip:none@h', { q: 200, cseq: 2 }));
    assert.deepEqual(
      store.lookup('alice').map((b) => b.contact),
      ['sip:full@h', 'sip:low@h', 'sip:half@h', 'sip:none@h'],
    );
  });

  it('refuses a new binding beyond maxContacts but still refreshes existing ones', () => {
    const { store } = makeStore({ maxContacts: 2 });
    assert.equal(store.save('alice', input('sip:a@h')).status, 'inserted');
    assert.equal(store.save('alice', input('sip:b@h')).status, 'inserted');
    assert.deepEqual(store.save('alice', input('sip:c@h')), { status: 'too-many', limit: 2 });
    assert.equal(store.save('alice', input('sip:b@h', { cseq: 2 })).status, 'updated');
    assert.equal(store.save('bob', input('sip:c@h')).status, 'inserted');
  });

  it('does not count expired bindings against maxContacts', () => {
    const { store, clock } = makeStore({ maxContacts: 1 });
    store.save('alice', input('sip:a@h', { expires: T0 / 1000 + 10 }));
    clock.ms += 11_000;
    assert.equal(store.save('alice', input('sip:b@h')).status, 'inserted');
  });

  it('keys AORs by the user alone unless useDomain is on (then the domain is case-insensitive)', () => {
    const noDomain = makeStore().store;
    noDomain.save('alice@one.example', input('sip:a@h'));
    assert.equal(noDomain.lookup('alice@two.example').length, 1);
    assert.equal(noDomain.aorKey('alice@one.example'), 'alice');

    const { store } = makeStore({ useDomain: true });
    store.save('alice@One.Example', input('sip:a@h'));
    assert.equal(store.aorKey('alice@One.Example'), 'alice@one.example');
    assert.equal(store.lookup('alice@one.EXAMPLE').length, 1);
    assert.equal(store.lookup('alice@two.example').length, 0);
    assert.equal(store.lookup('Alice@one.example').length, 0, 'the user part is case-sensitive');
    const [rec] = [...store.records()];
    assert.equal(rec?.username, 'alice');
    assert.equal(rec?.domain, 'one.example');
  });
});

describe('usrloc store: expiry and counts', () => {
  it('hides expired bindings at once and removes them on the next sweep, counting and reporting them', () => {
    const { store, clock, stats } = makeStore();
    const expired: string[] = [];
    store.onExpired((aor, b) => expired.push(`${aor} ${b.contact}`));
    store.save('alice', input('sip:short@h', { expires: T0 / 1000 + 30 }));
    store.save('alice', input('sip:long@h', { expires: T0 / 1000 + 300 }));
    store.save('bob', input('sip:bob@h', { expires: T0 / 1000 + 30 }));
    store.save('carol', input('sip:carol@h', { expires: 0 }));
    assert.deepEqual([stats.users.value, stats.contacts.value], [3, 4]);

    clock.ms += 30_000; // a binding is gone once its expiry time is reached
    assert.deepEqual(
      store.lookup('alice').map((b) => b.contact),
      ['sip:long@h'],
    );
    assert.deepEqual(store.lookup('bob'), []);
    assert.equal(store.find('bob', { contact: 'sip:bob@h' }), undefined);
    assert.deepEqual(expired, [], 'lookups do not remove');

    assert.equal(store.expire(), 2);
    assert.deepEqual(expired.sort(), ['alice sip:short@h', 'bob sip:bob@h']);
    assert.deepEqual(store.counts(), { users: 2, contacts: 2 });
    assert.deepEqual([stats.users.value, stats.contacts.value, stats.expired.value], [2, 2, 2]);

    clock.ms += 10 * 365 * 86400_000; // permanent bindings (expires 0) never expire
    assert.equal(store.expire(), 1);
    assert.equal(store.lookup('carol').length, 1);
  });

  it('removes an AOR’s expired bindings when it is written to', () => {
    const { store, clock, stats } = makeStore();
    store.save('alice', input('sip:old@h', { expires: T0 / 1000 + 1 }));
    clock.ms += 2000;
    store.save('alice', input('sip:new@h'));
    assert.equal(stats.expired.value, 1);
    assert.equal(stats.contacts.value, 1);
  });

  it('sweeps in chunks, letting other work run in between', async () => {
    const { store, clock } = makeStore({ sweepChunk: 100 });
    for (let i = 0; i < 1000; i++)
      store.save(`u${i}`, input(`sip:u${i}@h`, { expires: T0 / 1000 + (i % 2 ? 10 : 1000) }));
    clock.ms += 20_000;
    let turns = 0;
    let sweeping = true;
    const tick = () => {
      turns++;
      if (sweeping) setImmediate(tick);
    };
    setImmediate(tick);
    assert.equal(await store.sweep(), 500);
    sweeping = false;
    assert.ok(turns >= 9, `only ${turns} event-loop turns during the sweep`);
    assert.deepEqual(store.counts(), { users: 500, contacts: 500 });
  });

  it('lists every live binding with its AOR split into username and domain', () => {
    const { store } = makeStore({ useDomain: true });
    store.save('alice@example.com', input('sip:a1@h'));
    store.save('alice@example.com', input('sip:a2@h'));
    store.save('bob@example.org', input('sip:b@h'));
    const rows = [...store.records()].map((r) => `${r.username} ${r.domain} ${r.contact}`);
    assert.deepEqual(rows.sort(), [
      'alice example.com sip:a1@h',
      'alice example.com sip:a2@h',
      'bob example.org sip:b@h',
    ]);
  });
});
