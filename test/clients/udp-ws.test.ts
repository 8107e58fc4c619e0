/**
 * A UDP user and a WebSocket user call each other through olelo (issue 5): baresip registered over UDP
 * calls a JsSIP user (JsSIP answers, the call is up, baresip hangs up), then the JsSIP user calls baresip
 * (it answers by itself, `answermode=auto`; JsSIP hangs up), with scripts/default.ts. olelo
 * record-routes on both listeners (UDP and WS, `r2=on`), and the requests towards JsSIP go over its
 * WebSocket connection (its GRUU resolved by the registrar, or the alias of its Contact). See README.md in
 * this folder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Baresip, baresipMissing } from '../helpers/baresip.js';
import { JsSipUser } from '../helpers/jssip.js';
import { DOMAIN, type Scene, startScene, USERS } from './scene.js';
import {
  baresipHeader,
  baresipMessage,
  baresipMessages,
  baresipResponsesTo,
  headerOf,
  jssipRequests,
  jssipResponses,
  waitFor,
} from './traces.js';

const MISSING = baresipMissing();
const T = { timeout: 20_000 };
const ALICE = `sip:alice@${DOMAIN}`;
const BOB = `sip:bob@${DOMAIN}`;

describe('a UDP user (baresip) and a WebSocket user (JsSIP) call each other', {
  skip: MISSING ?? false,
  concurrency: false,
}, () => {
  let scene: Scene;
  let alice: Baresip;
  let bob: JsSipUser;

  before(async () => {
    scene = await startScene({ name: 'udp-ws' });
    alice = await Baresip.start({
      accounts: [
        {
          aor: ALICE,
          password: USERS.alice!,
          outbound: `sip:127.0.0.1:${scene.udpPort}`,
          answerMode: 'auto',
        },
      ],
      lifetimeS: 30,
      sipTrace: true,
    });
    bob = await JsSipUser.start({ wsUrl: scene.wsUrl, uri: BOB, password: USERS.bob! });
  });
  after(async () => {
    await bob?.stop();
    await alice?.stop();
    await scene?.stop();
  });

  it('both register with digest auth', T, async () => {
    const [a, b] = await Promise.all([alice.registered(5000), bob.register()]);
    assert.match(a.line, /\{\d+\/UDP\/v4\} 200 OK/);
    assert.ok(b.ok, JSON.stringify(b));
    assert.deepEqual(baresipResponsesTo(alice, 'REGISTER').slice(0, 2), [401, 200]);
  });

  it('baresip calls the JsSIP user; JsSIP answers; baresip hangs up', T, async () => {
    const from = alice.mark();
    await alice.dial(BOB);
    const incoming = await bob.nextCall();
    assert.equal(incoming.remoteUri, ALICE);
    await incoming.answer(); // the ACK came over bob's WebSocket
    assert.match(await alice.callEstablished(5000, from), /^sip:bob@example\.com/);
    await baresipMessage(alice, (m) => m.what === '407' && m.cseqMethod === 'INVITE', 'INVITE challenged');

    // INVITE: UDP in, WS out: two Record-Route values, one per listener
    const invite = jssipRequests(bob, 'INVITE', '<').at(-1)!;
    assert.match(invite, /^INVITE sip:[^ ]*;transport=ws SIP\/2\.0/, 'to the Contact bob registered');
    const rr = [...invite.matchAll(/^Record-Route: *(.*?)\r?$/gim)].map((m) => m[1]).join(', ');
    assert.match(rr, new RegExp(`sip:127\\.0\\.0\\.1:${scene.wsPort};transport=ws;lr;r2=on>`));
    assert.match(rr, new RegExp(`sip:127\\.0\\.0\\.1:${scene.udpPort};lr;r2=on>`));
    // baresip is reachable at its Contact: no alias on it; bob's Contact in the 200 is his GRUU
    // (scripts/default.ts resolves it with the registrar) or carries an alias (the scene's own script)
    assert.doesNotMatch(headerOf(invite, 'Contact') ?? '', /alias=/);
    const ok = await baresipMessage(alice, (m) => m.what === '200' && m.cseqMethod === 'INVITE', 'the 200');
    assert.match(
      baresipHeader(ok, 'Contact'),
      scene.script === 'clients'
        ? /;alias=127\.0\.0\.1~\d+~5/
        : /^Contact: <sip:bob@example\.com;gr=urn:uuid:/,
    );

    // the call stays up (baresip sends RTP to the dummy SDP's port 9, which nobody reads)
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(!incoming.session.isEnded(), 'the call is still up');
    const hangup = alice.mark();
    await alice.hangup();
    assert.equal(
      (await alice.waitForEvent('CALL_CLOSED', 5000, hangup.event)).param,
      'Connection reset by user',
    );
    assert.equal((await incoming.ended).originator, 'remote');
    const bye = jssipRequests(bob, 'BYE', '<');
    assert.equal(bye.length, 1, 'bob got the BYE over his WebSocket');
    // baresip reports the hangup when it sends the BYE: the answer comes after
    const byeAnswers = () =>
      baresipMessages(alice)
        .filter((m) => m.complete && m.cseqMethod === 'BYE' && /^\d/.test(m.what))
        .map((m) => m.what);
    await waitFor(() => byeAnswers().length > 0, 5000, "the answer to baresip's BYE");
    assert.deepEqual(byeAnswers(), ['200']);
  });

  it('the JsSIP user calls baresip; baresip answers by itself; JsSIP hangs up', T, async () => {
    const from = alice.mark();
    const call = await bob.call(ALICE);
    assert.match(await alice.callEstablished(5000, from), /^sip:bob@example\.com/);
    // lookup: the Request-URI is baresip's registered Contact (alice-0x...@127.0.0.1:<its port>)
    const invite = await baresipMessage(
      alice,
      (m) => m.what === 'INVITE' && m.from.endsWith(`:${scene.udpPort}`),
      'the INVITE',
    );
    assert.match(
      invite.lines[0]!,
      new RegExp(`^INVITE sip:alice-0x[0-9a-f]+@127\\.0\\.0\\.1:${alice.sipPort} `),
    );
    assert.match(baresipHeader(invite, 'Contact'), /;alias=127\.0\.0\.1~\d+~5/);
    assert.equal(jssipResponses(bob, 200, 'INVITE', '<').length, 1, 'baresip answered');

    await new Promise((resolve) => setTimeout(resolve, 500));
    const hangup = alice.mark();
    assert.equal((await call.hangup()).originator, 'local');
    // a BYE from the peer: the output line, or the event (ECONNRESET is baresip's code for it)
    assert.match(await alice.callClosed(5000, hangup), /terminated|Connection reset by peer/);
    await bob.waitForTrace((t) => t.startsWith('< SIP/2.0 200 ') && /^CSeq: *\d+ BYE/im.test(t));
    const olelo = `127.0.0.1:${scene.udpPort}`;
    await baresipMessage(alice, (m) => m.what === 'BYE' && m.from === olelo, 'the BYE');
    assert.equal(baresipMessages(alice).filter((m) => m.what === 'BYE' && m.from === olelo).length, 1);
  });
});
