/**
 * JsSIP ↔ JsSIP over WebSocket through olelo (issue 5): two users register with digest auth; one sends
 * a MESSAGE to the other; one calls the other (INVITE/180/200/ACK with the dummy SDP), hung up once by
 * the caller and once by the callee. The in-dialog requests (ACK, BYE either way) reach each client over
 * its own WebSocket connection: towards the caller by the `;alias=` olelo added to its Contact; towards
 * the callee by the callee's GRUU, resolved by the registrar (scripts/default.ts), or by the alias a
 * reply route added to the callee's Contact (the scene's own script). Run with both scripts. See
 * README.md in this folder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JsSipUser } from '../helpers/jssip.js';
import { DOMAIN, type Scene, type SceneScript, startScene, USERS } from './scene.js';
import { headerOf, jssipRequests, jssipResponses, jssipResponsesTo } from './traces.js';

const T = { timeout: 20_000 };
const ALICE = `sip:alice@${DOMAIN}`;
const BOB = `sip:bob@${DOMAIN}`;

/** `;alias=127.0.0.1~<port>~5`: the address of a WebSocket connection (5 = ws). */
function wsAlias(port: number | undefined): RegExp {
  assert.ok(port !== undefined, 'the WebSocket has a local port');
  return new RegExp(`;alias=127\\.0\\.0\\.1~${port}~5[;>]`);
}

for (const script of ['default', 'clients'] as const satisfies readonly SceneScript[])
  describe(`JsSIP to JsSIP over WebSocket through olelo (${script} script)`, { concurrency: false }, () => {
    let scene: Scene;
    let alice: JsSipUser;
    let bob: JsSipUser;

    before(async () => {
      scene = await startScene({ name: `jssip-users-${script}`, script });
      alice = await JsSipUser.start({ wsUrl: scene.wsUrl, uri: ALICE, password: USERS.alice! });
      bob = await JsSipUser.start({ wsUrl: scene.wsUrl, uri: BOB, password: USERS.bob! });
    });
    after(async () => {
      await alice?.stop();
      await bob?.stop();
      await scene?.stop();
    });

    it('both register with digest auth (401, then 200)', T, async () => {
      const [a, b] = await Promise.all([alice.register(), bob.register()]);
      assert.ok(a.ok && b.ok, JSON.stringify([a, b]));
      assert.deepEqual(jssipResponsesTo(alice, 'REGISTER'), [401, 200]);
      assert.deepEqual(jssipResponsesTo(bob, 'REGISTER'), [401, 200]);
      const stats = scene.authStats();
      assert.equal(stats['auth.authorized'], 2, JSON.stringify(stats));
    });

    it('a MESSAGE from alice reaches bob with its body intact', T, async () => {
      const text = `hello bob, ünïcödé and all ${Date.now()}`;
      const received = bob.nextMessage();
      assert.equal(await alice.sendMessage(BOB, text), 200);
      const message = await received;
      assert.equal(message.body, text);
      assert.equal(message.from, ALICE);
      assert.equal(message.contentType, 'text/plain');
      assert.deepEqual(jssipResponsesTo(alice, 'MESSAGE'), [407, 200]);
      // delivered to the Contact bob registered, without alice's credentials
      const got = jssipRequests(bob, 'MESSAGE', '<');
      assert.equal(got.length, 1);
      assert.doesNotMatch(got[0]!, /^Proxy-Authorization:/im);
      assert.match(got[0]!, /^MESSAGE sip:[^ ]*\.invalid;transport=ws SIP\/2\.0/);
    });

    it('unknown and unregistered users: 404 and 480', T, async () => {
      await assert.rejects(alice.sendMessage(`sip:nobody@${DOMAIN}`, 'hi'), { status: 404 });
      await assert.rejects(alice.sendMessage(`sip:carol@${DOMAIN}`, 'hi'), { status: 480 });
    });

    it('alice calls bob (INVITE/180/200/ACK), alice hangs up', T, async () => {
      const calling = alice.call(BOB);
      const incoming = await bob.nextCall();
      assert.equal(incoming.remoteUri, ALICE);
      await incoming.answer(); // resolves on the ACK, which came to bob over his WebSocket
      const call = await calling;
      assert.deepEqual(
        jssipResponsesTo(alice, 'INVITE').filter((s) => s !== 100),
        [407, 180, 200],
      );

      // each Contact got the address of its owner's WebSocket connection
      const invite = jssipRequests(bob, 'INVITE', '<').at(-1)!;
      assert.match(headerOf(invite, 'Contact') ?? '', wsAlias(alice.socket.localPort));
      assert.match(invite, /\r\n\r\nv=0\r\n[\s\S]*m=audio 9 RTP\/AVP 0/, 'the dummy SDP offer');
      const ok = jssipResponses(alice, 200, 'INVITE', '<').at(-1)!;
      const calleeContact = headerOf(ok, 'Contact') ?? '';
      if (scene.script === 'clients') assert.match(calleeContact, wsAlias(bob.socket.localPort));
      else
        assert.match(calleeContact, /^<sip:bob@example\.com;gr=urn:uuid:[0-9a-f-]+>$/, 'its GRUU, as sent');
      assert.match(headerOf(ok, 'Record-Route') ?? '', /^<sip:127\.0\.0\.1:\d+;transport=ws;lr>/);
      const ack = jssipRequests(bob, 'ACK', '<');
      assert.equal(ack.length, 1, 'bob got the ACK');
      assert.doesNotMatch(ack[0]!, /alias=/, 'olelo took the alias off the Request-URI');

      const byeSeen = bob.trace.length;
      assert.equal((await call.hangup()).originator, 'local');
      assert.deepEqual(await incoming.ended, { originator: 'remote', cause: 'Terminated' });
      await alice.waitForTrace((t) => t.startsWith('< SIP/2.0 ') && /^CSeq: *\d+ BYE/im.test(t));
      assert.deepEqual(jssipResponsesTo(alice, 'BYE'), [200]);
      assert.ok(bob.trace.slice(byeSeen).some((t) => t.startsWith('< BYE ')));
    });

    it('alice calls bob again, bob hangs up', T, async () => {
      const calling = alice.call(BOB);
      const incoming = await bob.nextCall();
      await incoming.answer();
      const call = await calling;
      assert.equal((await incoming.hangup()).originator, 'local');
      assert.equal((await call.ended).originator, 'remote');
      await bob.waitForTrace((t) => t.startsWith('< SIP/2.0 ') && /^CSeq: *\d+ BYE/im.test(t));
      assert.deepEqual(jssipResponsesTo(bob, 'BYE'), [200]);
      const bye = jssipRequests(alice, 'BYE', '<');
      assert.equal(bye.length, 1, 'alice got the BYE over her WebSocket');
      assert.doesNotMatch(bye[0]!, /alias=/);
    });
  });
