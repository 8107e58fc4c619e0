/**
 * A user registered over TCP is reached over its own connection (issue 5): baresip (carol) registers
 * over TCP; baresip (alice) over UDP calls her. The registrar recorded the connection the REGISTER came
 * on, and lookup sends the INVITE into it: in carol's trace the INVITE arrives on the local port her
 * REGISTER left from (not her listening port), and olelo never opens a TCP connection of its own. The
 * call is established; alice's BYE follows carol's Contact in her 200 (where baresip 1.0 names the
 * connection's local port) and goes over the same connection. See README.md in this folder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Baresip, baresipMissing } from '../helpers/baresip.js';
import { DOMAIN, type Scene, startScene, USERS } from './scene.js';
import { baresipHeader, baresipMessage, baresipMessages, baresipResponsesTo, waitFor } from './traces.js';

const MISSING = baresipMissing();
const T = { timeout: 20_000 };
const ALICE = `sip:alice@${DOMAIN}`;
const CAROL = `sip:carol@${DOMAIN}`;

/** Connections opened in `direction` (outbound: by olelo), from olelo's debug log (`connection-opened` events). */
function connectionsOpened(scene: Scene, direction: 'inbound' | 'outbound'): string[] {
  return scene.logs.filter(
    (l) => l.includes('"type":"connection-opened"') && l.includes(`"direction":"${direction}"`),
  );
}

describe('a TCP-registered user is reached over its own connection', {
  skip: MISSING ?? false,
  concurrency: false,
}, () => {
  let scene: Scene;
  let alice: Baresip;
  let carol: Baresip;

  before(async () => {
    scene = await startScene({ name: 'tcp-flow' });
    [alice, carol] = await Promise.all([
      Baresip.start({
        accounts: [{ aor: ALICE, password: USERS.alice!, outbound: `sip:127.0.0.1:${scene.udpPort}` }],
        lifetimeS: 30,
        sipTrace: true,
      }),
      Baresip.start({
        accounts: [
          {
            aor: CAROL,
            password: USERS.carol!,
            outbound: `sip:127.0.0.1:${scene.tcpPort}`,
            transport: 'tcp',
            answerMode: 'auto',
          },
        ],
        lifetimeS: 30,
        sipTrace: true,
      }),
    ]);
  });
  after(async () => {
    await alice?.stop();
    await carol?.stop();
    await scene?.stop();
  });

  it('carol registers over TCP, alice over UDP', T, async () => {
    const [a, c] = await Promise.all([alice.registered(5000), carol.registered(5000)]);
    assert.match(a.line, /\{\d+\/UDP\/v4\} 200 OK/);
    assert.match(c.line, /\{\d+\/TCP\/v4\} 200 OK/);
    assert.deepEqual(baresipResponsesTo(carol, 'REGISTER').slice(0, 2), [401, 200]);
  });

  it('alice calls carol: the INVITE comes over the connection carol registered on', T, async () => {
    const olelo = `127.0.0.1:${scene.tcpPort}`;
    const register = await baresipMessage(carol, (m) => m.what === 'REGISTER', 'the REGISTER');
    assert.equal(register.protocol, 'TCP');
    assert.equal(register.to, olelo);
    const carolEnd = register.from; // 127.0.0.1:<the connection's local port>
    assert.notEqual(carolEnd, `127.0.0.1:${carol.sipPort}`, 'a connection, not the listening socket');

    const fromAlice = alice.mark();
    const fromCarol = carol.mark();
    await alice.dial(CAROL);
    assert.match(await carol.callEstablished(5000, fromCarol), /^sip:alice@example\.com/);
    assert.match(await alice.callEstablished(5000, fromAlice), /^sip:carol@example\.com/);

    const invite = await baresipMessage(carol, (m) => m.what === 'INVITE', 'the INVITE');
    assert.deepEqual([invite.protocol, invite.from, invite.to], ['TCP', olelo, carolEnd]);
    // lookup made the Request-URI carol's registered Contact, which names her listening port
    assert.match(
      invite.lines[0]!,
      new RegExp(`^INVITE sip:carol-0x[0-9a-f]+@127\\.0\\.0\\.1:${carol.sipPort};transport=tcp `),
    );
    // in her 200, baresip 1.0 names the connection's local port instead: reachable as it is over that
    // connection (else olelo would have aliased it to the connection)
    const port = carolEnd.slice(carolEnd.lastIndexOf(':') + 1);
    const ok = await baresipMessage(alice, (m) => m.what === '200' && m.cseqMethod === 'INVITE', 'the 200');
    const contact = baresipHeader(ok, 'Contact');
    assert.ok(contact.includes(`@${carolEnd};`) || contact.includes(`;alias=127.0.0.1~${port}~2`), contact);
    assert.equal(connectionsOpened(scene, 'inbound').length, 1, "carol's connection");
    assert.deepEqual(connectionsOpened(scene, 'outbound'), [], 'olelo opened no connection');

    await new Promise((resolve) => setTimeout(resolve, 500));
    const hangup = carol.mark();
    await alice.hangup();
    assert.match(await carol.callClosed(5000, hangup), /terminated|Connection reset by peer/);
    await baresipMessage(carol, (m) => m.what === 'BYE', 'the BYE');
    const bye = baresipMessages(carol).filter((m) => m.what === 'BYE');
    assert.deepEqual(
      bye.map((m) => [m.protocol, m.from, m.to]),
      [['TCP', olelo, carolEnd]],
      'the BYE on the same connection',
    );
    const byeAnswers = () =>
      baresipMessages(alice)
        .filter((m) => m.complete && m.cseqMethod === 'BYE' && /^\d/.test(m.what))
        .map((m) => m.what);
    await waitFor(() => byeAnswers().length > 0, 5000, "the answer to alice's BYE");
    assert.deepEqual(byeAnswers(), ['200']);
    assert.deepEqual(connectionsOpened(scene, 'outbound'), []);
  });
});
