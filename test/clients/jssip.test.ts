/**
 * JsSIP (npm, in Node over `ws`) through olelo's WebSocket listener: registration with digest auth, a
 * MESSAGE relayed to a SIPp UAS, a call to a SIPp UAS (dummy SDP) hung up by JsSIP, a wrong password
 * refused; and the receiving side: a MESSAGE and a call from another domain's raw UDP peer, delivered
 * by lookup over JsSIP's own WebSocket connection, with the in-dialog ACK and BYE following the alias
 * of its Contact. See README.md in this folder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsSipUser as JsSip, type JsSipUser } from '../helpers/jssip.js';
import { UdpPeer } from '../helpers/server.js';
import { hasSipp, receivedMessages } from '../helpers/sipp.js';
import { DOMAIN, type Scene, startScene, USERS } from './scene.js';
import { jssipResponsesTo as responsesTo } from './traces.js';

const SIPP = hasSipp();
const T = { timeout: 30_000 };
/** A caller from another domain: not challenged, taken for local users only. */
const FOREIGN = 'elsewhere.test';

/** Runs `fn` with a scene and a JsSIP user for `name` (password `password`), stopping both after. */
async function withUser(
  scene: Scene,
  name: string,
  password: string,
  fn: (user: JsSipUser) => Promise<void>,
): Promise<void> {
  const user = await JsSip.start({ wsUrl: scene.wsUrl, uri: `sip:${name}@${DOMAIN}`, password });
  try {
    await fn(user);
  } finally {
    await user.stop();
  }
}

async function withScene(
  name: string,
  uas: { scenario: string; calls: number } | undefined,
  fn: (scene: Scene) => Promise<void>,
): Promise<void> {
  const scene = await startScene({ name, ...(uas === undefined ? {} : { uas }) });
  try {
    await fn(scene);
  } finally {
    await scene.stop();
  }
}

describe('JsSIP over WebSocket through olelo', { concurrency: true }, () => {
  it('registers with digest auth (401, then 200 with its Contact)', T, async () => {
    await withScene('jssip-register', undefined, async (scene) => {
      await withUser(scene, 'alice', USERS.alice!, async (alice) => {
        const outcome = await alice.register();
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.equal(outcome.status, 200);
        assert.match(outcome.contact ?? '', /;transport=ws>.*;expires=\d+/);
        assert.deepEqual(responsesTo(alice, 'REGISTER'), [401, 200]);
        assert.ok(alice.ua.isRegistered());
        const stats = scene.authStats();
        assert.equal(stats['auth.authorized'], 1, JSON.stringify(stats));
        assert.equal(stats['auth.challenges'], 1, JSON.stringify(stats));
      });
    });
  });

  it('is refused with a wrong password (registrationFailed)', T, async () => {
    await withScene('jssip-wrong', undefined, async (scene) => {
      await withUser(scene, 'alice', 'not-the-password', async (alice) => {
        const outcome = await alice.register();
        assert.equal(outcome.ok, false, JSON.stringify(outcome));
        assert.ok(!outcome.ok && outcome.status === 401, JSON.stringify(outcome));
        assert.ok(!alice.ua.isRegistered());
        assert.ok(scene.authStats()['auth.invalid']! >= 1, JSON.stringify(scene.authStats()));
        assert.equal(scene.authStats()['auth.authorized'], 0);
      });
    });
  });

  it('sends a MESSAGE (407, then relayed) that a SIPp UAS answers 200', {
    ...T,
    skip: SIPP ? false : 'sipp (Debian sip-tester) is not installed',
  }, async () => {
    await withScene('jssip-message', { scenario: 'client-uas-message.xml', calls: 1 }, async (scene) => {
      await withUser(scene, 'alice', USERS.alice!, async (alice) => {
        assert.ok((await alice.register()).ok);
        const text = `hello from JsSIP ${Date.now()}`;
        assert.equal(await alice.sendMessage(scene.uasUri, text), 200);
        assert.deepEqual(responsesTo(alice, 'MESSAGE'), [407, 200]);
        const uas = await scene.uasResult();
        assert.equal(uas.code, 0, uas.summary);
        const message = receivedMessages(uas.messages).find((m) => m.startsWith('MESSAGE '));
        assert.ok(message?.endsWith(text), uas.summary);
      });
    });
  });

  it('calls a SIPp UAS (dummy SDP; INVITE/200/ACK) and hangs up (BYE)', {
    ...T,
    skip: SIPP ? false : 'sipp (Debian sip-tester) is not installed',
  }, async () => {
    await withScene('jssip-call', { scenario: 'client-uas-call.xml', calls: 1 }, async (scene) => {
      await withUser(scene, 'alice', USERS.alice!, async (alice) => {
        assert.ok((await alice.register()).ok);
        const call = await alice.call(scene.uasUri);
        assert.deepEqual(
          responsesTo(alice, 'INVITE').filter((s) => s !== 100),
          [407, 180, 200],
        );
        const invite = alice.trace.find(
          (t) => t.startsWith('> INVITE ') && t.includes('Proxy-Authorization'),
        );
        assert.match(invite ?? '', /\r\n\r\nv=0\r\n[\s\S]*m=audio 9 RTP\/AVP 0/, 'the dummy SDP offer');
        const ended = await call.hangup();
        assert.equal(ended.originator, 'local');
        // JsSIP reports the end when it sends the BYE: its answer comes after
        await alice.waitForTrace((t) => t.startsWith('< SIP/2.0 ') && /^CSeq: *\d+ BYE/im.test(t));
        assert.deepEqual(responsesTo(alice, 'BYE'), [200]);
        const uas = await scene.uasResult();
        assert.equal(uas.code, 0, uas.summary);
        assert.equal(uas.successful, 1, uas.summary);
        const methods = receivedMessages(uas.messages)
          .filter((m) => !m.startsWith('SIP/2.0'))
          .map((m) => m.slice(0, m.indexOf(' ')));
        assert.deepEqual([...new Set(methods)], ['INVITE', 'ACK', 'BYE']);
        assert.match(receivedMessages(uas.messages)[0]!, /\r?\n\r?\nv=0\r?\n/);
      });
    });
  });

  it('receives a MESSAGE and answers a call from another domain over its WebSocket', T, async () => {
    await withScene('jssip-incoming', undefined, async (scene) => {
      await withUser(scene, 'carol', USERS.carol!, async (carol) => {
        assert.ok((await carol.register()).ok);
        const peer = await UdpPeer.open();
        try {
          const callId = `in-${Date.now()}@127.0.0.1`;
          const request = (method: string, cseq: number, extra: string[], body = '') =>
            [
              `${method} sip:carol@${DOMAIN} SIP/2.0`,
              `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK${method}${cseq}${Date.now()};rport`,
              'Max-Forwards: 70',
              `From: <sip:dave@${FOREIGN}>;tag=dave1`,
              `To: <sip:carol@${DOMAIN}>`,
              `Call-ID: ${callId}-${method}`,
              `CSeq: ${cseq} ${method}`,
              ...extra,
              `Content-Length: ${Buffer.byteLength(body)}`,
              '',
              body,
            ].join('\r\n');

          peer.send(request('MESSAGE', 1, ['Content-Type: text/plain'], 'hi carol'), scene.udpPort);
          const message = await carol.nextMessage();
          assert.equal(message.body, 'hi carol');
          assert.equal(message.from, `sip:dave@${FOREIGN}`);
          assert.match(await peer.next((m) => m.includes('CSeq: 1 MESSAGE')), /^SIP\/2\.0 200 /);

          const sdp =
            'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
          peer.send(
            request(
              'INVITE',
              2,
              [`Contact: <sip:dave@127.0.0.1:${peer.port}>`, 'Content-Type: application/sdp'],
              sdp,
            ),
            scene.udpPort,
          );
          const call = await carol.nextCall();
          assert.equal(call.direction, 'incoming');
          assert.equal(call.remoteUri, `sip:dave@${FOREIGN}`);
          const answering = call.answer();
          const ok = await peer.next((m) => /^SIP\/2\.0 200 /.test(m) && m.includes('CSeq: 2 INVITE'));
          const to = /^To: (.*)$/m.exec(ok)![1]!;
          // RFC 3261 §12.1.2: the UAC's route set is the Record-Route list reversed
          const routes = [...ok.matchAll(/^Record-Route: (.*)$/gm)]
            .flatMap((m) => m[1]!.split(/,(?=\s*<)/).map((v) => v.trim()))
            .reverse()
            .join(', ');
          const contact = /^Contact: <([^>]+)>/m.exec(ok)![1]!;
          const inDialog = (method: string, cseq: number) =>
            [
              `${method} ${contact} SIP/2.0`,
              `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK${method}${cseq}x${Date.now()};rport`,
              'Max-Forwards: 70',
              `Route: ${routes}`,
              `From: <sip:dave@${FOREIGN}>;tag=dave1`,
              `To: ${to}`,
              `Call-ID: ${callId}-INVITE`,
              `CSeq: ${cseq} ${method}`,
              'Content-Length: 0',
              '',
              '',
            ].join('\r\n');
          peer.send(inDialog('ACK', 2), scene.udpPort);
          await answering;
          peer.send(inDialog('BYE', 3), scene.udpPort);
          assert.match(await peer.next((m) => m.includes('CSeq: 3 BYE')), /^SIP\/2\.0 200 /);
          assert.equal((await call.ended).originator, 'remote');
        } finally {
          peer.close();
        }
      });
    });
  });
});
