/**
 * registrar.lookup and tm's relay over real UDP: forking by q (RFC 3261 §16.6), NAT-fixed contacts,
 * Path as Route (RFC 3327 §5.3), RFC 5626 flows (one per instance, 439), RFC 5627 GRUUs (pub and temp,
 * reaching their instance only), and the 404 for an AOR without contacts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UdpPeer } from '../helpers/server.js';
import {
  answer,
  contactsOf,
  registerRequest,
  registrarServer,
  request,
  sipRequest,
  transact,
  unique,
} from './helpers.js';

const YAML = `
modules:
  usrloc:
    useDomain: true
  registrar:
    flowTimer: 25
`;

const isRequest = (method: string) => (t: string) => t.startsWith(`${method} `);

/** Resolves false when no message matching `test` arrives within `ms`. */
async function silent(peer: UdpPeer, test: (t: string) => boolean, ms = 300): Promise<boolean> {
  try {
    await peer.next(test, ms);
    return false;
  } catch {
    return true;
  }
}

describe('registrar lookup and relay', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  let port: number;
  const peers: UdpPeer[] = [];
  const peer = async () => {
    const p = await UdpPeer.open();
    peers.push(p);
    return p;
  };
  const message = (to: string, from: UdpPeer, headers: string[] = []) =>
    sipRequest({ method: 'MESSAGE', uri: to, port: from.port, to: `<${to}>`, headers });

  before(async () => {
    srv = await registrarServer(YAML);
    port = srv.udpPort;
  });
  after(async () => {
    for (const p of peers) p.close();
    await srv.stop();
  });

  it('forks to equal q in parallel, then to the lower q when they fail', async () => {
    const [a, b, c, caller] = [await peer(), await peer(), await peer(), await peer()];
    const contacts = [
      `<sip:lena@127.0.0.1:${a.port}>;q=1`,
      `<sip:lena@127.0.0.1:${b.port}>;q=1.0`,
      `<sip:lena@127.0.0.1:${c.port}>;q=0.5`,
    ];
    assert.equal(
      (await transact(a, registerRequest('lena', a.port, { contact: contacts, expires: 300 }), port)).status,
      200,
    );
    const sent = message('sip:lena@example.com', caller);
    caller.send(sent, port);
    const [atA, atB] = await Promise.all([a.next(isRequest('MESSAGE')), b.next(isRequest('MESSAGE'))]);
    assert.equal(request(atA).requestUri, `sip:lena@127.0.0.1:${a.port}`);
    assert.equal(request(atB).requestUri, `sip:lena@127.0.0.1:${b.port}`);
    assert.ok(await silent(c, isRequest('MESSAGE'), 200), 'the lower q waits');
    a.send(answer(atA, 480, 'Temporarily Unavailable'), port);
    b.send(answer(atB, 486, 'Busy Here'), port);
    const atC = await c.next(isRequest('MESSAGE'));
    c.send(answer(atC, 200, 'OK'), port);
    const final = await caller.next((t) => t.startsWith('SIP/2.0 2'));
    assert.match(final, /^SIP\/2\.0 200 /);
  });

  it('answers 404 for an AOR without contacts', async () => {
    const caller = await peer();
    const res = await transact(caller, message('sip:nobody@example.com', caller), port);
    assert.equal(res.status, 404);
  });

  it('sends to the source address saved by fixNatedRegister, not to the private Contact', async () => {
    const ua = await peer();
    const caller = await peer();
    const reg = registerRequest('mike', ua.port, {
      contact: '<sip:mike@192.168.1.20:5060>',
      expires: 300,
      headers: ['X-Nat: yes'],
    });
    assert.equal((await transact(ua, reg, port)).status, 200);
    caller.send(message('sip:mike@example.com', caller), port);
    const got = request(await ua.next(isRequest('MESSAGE')));
    assert.equal(
      got.requestUri,
      'sip:mike@192.168.1.20:5060',
      'the Request-URI stays the registered Contact',
    );
    ua.send(answer(got.toString(), 200, 'OK'), port);
    assert.equal((await caller.next((t) => t.startsWith('SIP/2.0 2'))).slice(0, 11), 'SIP/2.0 200');
  });

  it('stores and returns Path (only with Supported: path), and routes through it', async () => {
    const edge = await peer();
    const caller = await peer();
    const path = `<sip:edge@127.0.0.1:${edge.port};lr>`;
    const refused = await transact(
      edge,
      registerRequest('nina', edge.port, {
        contact: '<sip:nina@10.0.0.7:5060>',
        expires: 300,
        headers: [`Path: ${path}`],
      }),
      port,
    );
    assert.equal(refused.status, 420);
    assert.equal(refused.getHeader('unsupported'), 'path');
    const ok = await transact(
      edge,
      registerRequest('nina', edge.port, {
        contact: '<sip:nina@10.0.0.7:5060>',
        expires: 300,
        headers: [`Path: ${path}`, 'Supported: path'],
      }),
      port,
    );
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.getHeaders('path'), [path]);
    caller.send(message('sip:nina@example.com', caller), port);
    const got = request(await edge.next(isRequest('MESSAGE')));
    assert.equal(got.requestUri, 'sip:nina@10.0.0.7:5060');
    assert.deepEqual(got.getHeaders('route'), [path]);
  });

  it('keeps RFC 5626 flows by instance and reg-id and sends to one flow of an instance', async () => {
    const flow1 = await peer();
    const flow2 = await peer();
    const caller = await peer();
    const instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-0000000000aa>"';
    const register = (p: UdpPeer, regId: number, callId: string, cseq = 1, host = '127.0.0.1') =>
      transact(
        p,
        registerRequest('olga', p.port, {
          contact: `<sip:olga@${host}:${p.port};ob>;${instance};reg-id=${regId}`,
          expires: 300,
          callId,
          cseq,
          headers: ['Supported: outbound, path'],
        }),
        port,
      );
    const call1 = unique('f1');
    const first = await register(flow1, 1, call1);
    assert.equal(first.status, 200);
    assert.deepEqual(first.require, ['outbound']);
    assert.equal(first.getHeader('flow-timer'), '25');
    assert.equal(contactsOf(first)[0]!.params.get('reg-id'), '1');
    const second = await register(flow2, 2, unique('f2'));
    assert.equal(contactsOf(second).length, 2, 'two flows of one instance');
    // a refresh of flow 1 with another Contact URI replaces it (the flow, not the URI, is the key)
    const moved = await register(flow1, 1, call1, 2, '127.0.0.2');
    const listed = contactsOf(moved);
    assert.equal(listed.length, 2);
    assert.ok(listed.some((c) => c.uri.includes('127.0.0.2')));

    caller.send(message('sip:olga@example.com', caller), port);
    const got = request(await flow1.next(isRequest('MESSAGE')));
    assert.ok(await silent(flow2, isRequest('MESSAGE')), 'one flow per instance (RFC 5626 §7)');
    flow1.send(answer(got.toString(), 200, 'OK'), port);

    // not the first hop and no `ob` Path: 439 (RFC 5626 §6)
    const relayed = registerRequest('olga', flow2.port, {
      contact: `<sip:olga@127.0.0.1:${flow2.port};ob>;${instance};reg-id=3`,
      expires: 300,
      headers: ['Supported: outbound'],
    }).replace(/(Via: [^\r]*\r\n)/, '$1Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKua1\r\n');
    assert.equal((await transact(flow2, relayed, port)).status, 439);
  });

  it('hands out GRUUs (RFC 5627) and routes a GRUU to its instance only', async () => {
    const phone = await peer();
    const laptop = await peer();
    const caller = await peer();
    const register = (p: UdpPeer, uuid: string, callId = unique('g')) =>
      transact(
        p,
        registerRequest('paul', p.port, {
          contact: `<sip:paul@127.0.0.1:${p.port}>;+sip.instance="<urn:uuid:${uuid}>"`,
          expires: 300,
          callId,
          headers: ['Supported: gruu'],
        }),
        port,
      );
    const phoneId = '11111111-1111-1111-1111-111111111111';
    const laptopId = '22222222-2222-2222-2222-222222222222';
    const phoneReg = await register(phone, phoneId);
    const mine = contactsOf(phoneReg).find((c) => c.uri.endsWith(`:${phone.port}`))!;
    assert.equal(mine.params.get('pub-gruu'), `sip:paul@example.com;gr=urn:uuid:${phoneId}`);
    const temp = mine.params.get('temp-gruu')!;
    assert.match(temp, /^sip:tgruu\.[A-Za-z0-9_-]+@example\.com;gr$/);
    assert.equal(mine.params.get('+sip.instance'), `<urn:uuid:${phoneId}>`);
    const laptopReg = await register(laptop, laptopId);
    const laptopTemp = contactsOf(laptopReg)
      .find((c) => c.uri.endsWith(`:${laptop.port}`))!
      .params.get('temp-gruu')!;
    assert.notEqual(laptopTemp, temp);

    caller.send(message(`sip:paul@example.com;gr=urn:uuid:${phoneId}`, caller), port);
    const atPhone = request(await phone.next(isRequest('MESSAGE')));
    assert.equal(atPhone.requestUri, `sip:paul@127.0.0.1:${phone.port}`);
    assert.ok(await silent(laptop, isRequest('MESSAGE')), 'the other instance is not reached');
    phone.send(answer(atPhone.toString(), 200, 'OK'), port);

    caller.send(message(laptopTemp, caller), port);
    const atLaptop = request(await laptop.next(isRequest('MESSAGE')));
    assert.ok(await silent(phone, isRequest('MESSAGE')));
    laptop.send(answer(atLaptop.toString(), 200, 'OK'), port);

    // a forged temporary GRUU, and one from before the instance changed its Call-ID, resolve to nothing
    const forged = temp.replace(/tgruu\.(.)/, (_m, c: string) => `tgruu.${c === 'A' ? 'B' : 'A'}`);
    assert.equal((await transact(caller, message(forged, caller), port)).status, 404);
    await register(phone, phoneId, unique('new-call-id'));
    assert.equal((await transact(caller, message(temp, caller), port)).status, 404);
  });

  it('without Supported: gruu hands out no GRUUs', async () => {
    const ua = await peer();
    const res = await transact(
      ua,
      registerRequest('quinn', ua.port, {
        contact: `<sip:quinn@127.0.0.1:${ua.port}>;+sip.instance="<urn:uuid:33333333-3333-3333-3333-333333333333>"`,
        expires: 300,
      }),
      port,
    );
    const c = contactsOf(res)[0]!;
    assert.equal(c.params.has('pub-gruu'), false);
    assert.equal(c.params.has('temp-gruu'), false);
  });
});
