/**
 * registrar.save over real UDP (RFC 3261 §10.3): bindings added, refreshed and removed, `*`, default,
 * minimum and maximum intervals, q-values, Call-ID/CSeq ordering, query-only REGISTERs, all-or-nothing
 * processing, the contact limit, Require, and the statistics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UdpPeer } from '../helpers/server.js';
import { contactsOf, registerRequest, registrarServer, sipRequest, transact, unique } from './helpers.js';

const YAML = `
modules:
  usrloc:
    useDomain: true
    maxContacts: 3
  registrar:
    minExpires: 60
    maxExpires: 7200
`;

describe('registrar save (RFC 3261 §10.3)', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  let ua: UdpPeer;
  let port: number;
  const reg = (user: string, options: Parameters<typeof registerRequest>[2] = {}) =>
    transact(ua, registerRequest(user, ua.port, options), port);
  const contact = (user: string, n = 0, params = '') => `<sip:${user}@127.0.0.1:${ua.port + n}>${params}`;
  const query = async (user: string) => contactsOf(await reg(user, { callId: unique('q') }));

  before(async () => {
    srv = await registrarServer(YAML);
    port = srv.udpPort;
    ua = await UdpPeer.open();
  });
  after(async () => {
    ua.close();
    await srv.stop();
  });

  it('registers a contact and answers 200 with it, its expires and a Date', async () => {
    const res = await reg('alice', { contact: contact('alice'), expires: 300 });
    assert.equal(res.status, 200);
    const contacts = contactsOf(res);
    assert.equal(contacts.length, 1);
    assert.equal(contacts[0]!.uri, `sip:alice@127.0.0.1:${ua.port}`);
    assert.ok(Number(contacts[0]!.params.get('expires')) >= 299);
    assert.ok(res.date instanceof Date && Math.abs(res.date.getTime() - Date.now()) < 5000);
    assert.match(res.getHeader('to') ?? '', /;tag=/);
  });

  it('grants defaultExpires without an interval and shortens one above maxExpires', async () => {
    const none = contactsOf(await reg('bob', { contact: contact('bob') }));
    assert.equal(none[0]!.params.get('expires'), '3600');
    const long = contactsOf(await reg('bob', { contact: contact('bob', 1, ';expires=100000') }));
    const byUri = new Map(long.map((c) => [c.uri, c.params.get('expires')]));
    assert.equal(byUri.get(`sip:bob@127.0.0.1:${ua.port + 1}`), '7200');
    const stats = srv.server.stats.snapshot('registrar');
    assert.ok(stats['registrar.default_expires_used']! >= 1);
    assert.ok(stats['registrar.max_expires_capped']! >= 1);
  });

  it('refreshes a binding with a higher CSeq and removes it with expires 0', async () => {
    const callId = unique('c');
    assert.equal(
      (await reg('carol', { contact: contact('carol'), expires: 120, callId, cseq: 1 })).status,
      200,
    );
    const refreshed = contactsOf(
      await reg('carol', { contact: contact('carol'), expires: 600, callId, cseq: 2 }),
    );
    assert.equal(refreshed.length, 1);
    assert.ok(Number(refreshed[0]!.params.get('expires')) > 500);
    const removed = await reg('carol', { contact: contact('carol', 0, ';expires=0'), callId, cseq: 3 });
    assert.equal(removed.status, 200);
    assert.equal(contactsOf(removed).length, 0);
    const asked = await transact(
      ua,
      sipRequest({
        method: 'OPTIONS',
        uri: 'sip:carol@example.com',
        port: ua.port,
        headers: ['X-Registered: 1'],
      }),
      port,
    );
    assert.equal(asked.status, 404);
  });

  it('removes every binding with `*` and Expires 0, and refuses `*` otherwise with 400', async () => {
    await reg('dave', { contact: [contact('dave'), contact('dave', 1)], expires: 300 });
    assert.equal((await query('dave')).length, 2);
    const starExpires = await reg('dave', { contact: '*', expires: 300, callId: unique('s') });
    assert.equal(starExpires.status, 400);
    const starNoExpires = await reg('dave', { contact: '*', callId: unique('s') });
    assert.equal(starNoExpires.status, 400);
    const starWithOthers = await reg('dave', {
      contact: ['*', contact('dave', 2)],
      expires: 0,
      callId: unique('s'),
    });
    assert.equal(starWithOthers.status, 400);
    assert.equal((await query('dave')).length, 2, 'the refused requests changed nothing');
    const star = await reg('dave', { contact: '*', expires: 0, callId: unique('s') });
    assert.equal(star.status, 200);
    assert.equal(contactsOf(star).length, 0);
    assert.equal((await query('dave')).length, 0);
  });

  it('answers 423 Interval Too Brief with Min-Expires and stores nothing', async () => {
    const res = await reg('erin', {
      contact: [contact('erin'), contact('erin', 1, ';expires=10')],
      expires: 300,
    });
    assert.equal(res.status, 423);
    assert.equal(res.minExpires, 60);
    assert.equal((await query('erin')).length, 0);
  });

  it('answers a REGISTER without Contact with the current bindings (a query)', async () => {
    await reg('frank', { contact: contact('frank'), expires: 300 });
    const res = await reg('frank', { callId: unique('q') });
    assert.equal(res.status, 200);
    assert.deepEqual(
      contactsOf(res).map((c) => c.uri),
      [`sip:frank@127.0.0.1:${ua.port}`],
    );
    assert.ok(res.hasHeader('date'));
  });

  it('lists the bindings highest q first, with their q', async () => {
    await reg('gina', {
      contact: [contact('gina', 0, ';q=0.1'), contact('gina', 1, ';q=0.9'), contact('gina', 2, ';q=0.5')],
      expires: 300,
    });
    const listed = await query('gina');
    assert.deepEqual(
      listed.map((c) => c.params.get('q')),
      ['0.9', '0.5', '0.1'],
    );
    assert.deepEqual(
      listed.map((c) => c.uri),
      [1, 2, 0].map((n) => `sip:gina@127.0.0.1:${ua.port + n}`),
    );
  });

  it('refuses an out-of-order CSeq with 500, answers a repeated CSeq again, lets a new Call-ID in', async () => {
    const callId = unique('c');
    assert.equal(
      (await reg('hank', { contact: contact('hank'), expires: 300, callId, cseq: 5 })).status,
      200,
    );
    const older = await reg('hank', { contact: contact('hank'), expires: 900, callId, cseq: 4 });
    assert.equal(older.status, 500);
    assert.match(older.reasonPhrase, /out of order/i);
    const again = await reg('hank', { contact: contact('hank'), expires: 900, callId, cseq: 5 });
    assert.equal(again.status, 200, 'the same CSeq again is a retransmission, answered with the bindings');
    assert.ok(Number(contactsOf(again)[0]!.params.get('expires')) <= 300, 'and it changed nothing');
    const other = await reg('hank', { contact: contact('hank'), expires: 900, callId: unique('c'), cseq: 1 });
    assert.equal(other.status, 200);
    assert.ok(Number(contactsOf(other)[0]!.params.get('expires')) > 800);
    // `*` is ordered the same way (step 6)
    const star = await reg('hank', { contact: '*', expires: 0, callId, cseq: 3 });
    assert.equal(star.status, 200, 'another Call-ID holds the binding now: removed');
  });

  it('stores all the contacts of a REGISTER or none: one bad contact makes it 400', async () => {
    for (const bad of [';q=7', ';expires=soon', ';+sip.instance="<urn:uuid:1>";reg-id=0']) {
      const res = await reg('ivan', { contact: [contact('ivan'), contact('ivan', 1, bad)], expires: 300 });
      assert.equal(res.status, 400, bad);
      assert.equal((await query('ivan')).length, 0, bad);
    }
    const tel = await reg('ivan', { contact: [contact('ivan'), '<tel:+15551234>'], expires: 300 });
    assert.equal(tel.status, 400);
    assert.equal((await query('ivan')).length, 0);
  });

  it('refuses contacts beyond usrloc maxContacts with 503, counting removals of the same request', async () => {
    await reg('judy', { contact: [contact('judy'), contact('judy', 1)], expires: 300 });
    const tooMany = await reg('judy', {
      contact: [contact('judy', 2), contact('judy', 3)],
      expires: 300,
      callId: unique('c'),
    });
    assert.equal(tooMany.status, 503);
    assert.equal((await query('judy')).length, 2, 'none of its contacts was stored');
    const swap = await reg('judy', {
      contact: [contact('judy', 0, ';expires=0'), contact('judy', 2), contact('judy', 3)],
      expires: 300,
      callId: unique('c'),
    });
    assert.equal(swap.status, 200);
    assert.equal(contactsOf(swap).length, 3);
  });

  it('answers 420 with Unsupported for a required extension it does not know', async () => {
    const res = await reg('kate', {
      contact: contact('kate'),
      expires: 300,
      headers: ['Require: foo, path'],
    });
    assert.equal(res.status, 420);
    assert.equal(res.getHeader('unsupported'), 'foo');
  });

  it('answers 400 for a To URI without user', async () => {
    const text = sipRequest({
      method: 'REGISTER',
      uri: 'sip:example.com',
      port: ua.port,
      to: '<sip:example.com>',
      headers: [`Contact: ${contact('x')}`],
    });
    assert.equal((await transact(ua, text, port)).status, 400);
  });

  it('counts accepted and rejected registrations', () => {
    const stats = srv.server.stats.snapshot('registrar');
    assert.ok(stats['registrar.accepted_regs']! > 10);
    assert.ok(stats['registrar.rejected_regs']! >= 10);
  });
});
