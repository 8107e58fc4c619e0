/**
 * baresip (Debian, headless) through olelo: registration with a digest password (401, then 200) and a
 * call to a SIPp UAS relayed by olelo (INVITE challenged with 407, then relayed; ACK and BYE along the
 * Record-Route), over UDP and over TCP; a wrong password refused. See README.md in this folder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Baresip as BaresipClient, baresipMissing } from '../helpers/baresip.js';
import { hasSipp, receivedMessages } from '../helpers/sipp.js';
import { DOMAIN, type Scene, startScene, USERS } from './scene.js';
import { baresipHeader, baresipMessage, baresipResponsesTo as responsesTo } from './traces.js';

const MISSING = baresipMissing() ?? (hasSipp() ? undefined : 'sipp (Debian sip-tester) is not installed');
const T = { timeout: 30_000 };

/** Methods of the requests a SIPp run received, in order, retransmissions included. */
function requestMethods(messages: string): string[] {
  return receivedMessages(messages)
    .filter((m) => !m.startsWith('SIP/2.0'))
    .map((m) => m.slice(0, m.indexOf(' ')));
}

async function withScene(
  name: string,
  calls: number,
  fn: (scene: Scene) => Promise<void>,
  transport: 'udp' | 'tcp' = 'udp',
): Promise<void> {
  const scene = await startScene({
    name,
    ...(calls > 0 ? { uas: { scenario: 'client-uas-call.xml', calls, timeoutS: 20, transport } } : {}),
  });
  try {
    await fn(scene);
  } finally {
    await scene.stop();
  }
}

describe('baresip through olelo', { skip: MISSING ?? false, concurrency: true }, () => {
  for (const transport of ['udp', 'tcp'] as const) {
    it(
      `registers with a password and calls a SIPp UAS through olelo over ${transport.toUpperCase()}`,
      T,
      async () => {
        await withScene(
          `baresip-${transport}`,
          1,
          async (scene) => {
            const b = await BaresipClient.start({
              accounts: [
                {
                  aor: `sip:alice@${DOMAIN}`,
                  password: USERS.alice!,
                  outbound: `sip:127.0.0.1:${transport === 'udp' ? scene.udpPort : scene.tcpPort}`,
                  transport,
                },
              ],
              lifetimeS: 20,
              sipTrace: true,
            });
            try {
              const registration = await b.registered(5000);
              assert.match(registration.line, new RegExp(`\\{\\d+/${transport.toUpperCase()}/v4\\} 200 OK`));
              assert.deepEqual(responsesTo(b, 'REGISTER').slice(0, 2), [401, 200], b.output);
              const stats = scene.authStats();
              assert.ok(
                stats['auth.challenges']! >= 1 && stats['auth.authorized']! >= 1,
                JSON.stringify(stats),
              );

              const from = b.mark();
              await b.dial(scene.uasUri);
              const peer = await b.callEstablished(5000, from);
              assert.ok(peer.startsWith(scene.uasUri), peer);
              await baresipMessage(
                b,
                (m) => m.what === '407' && m.cseqMethod === 'INVITE',
                'INVITE challenged',
              );
              // the UAS is reachable at its Contact: no alias (and never one naming baresip itself)
              const ok = await baresipMessage(b, (m) => m.what === '200' && m.cseqMethod === 'INVITE', '200');
              assert.match(
                baresipHeader(ok, 'Contact'),
                /^Contact: <sip:callee@127\.0\.0\.2:\d+;transport=(UDP|TCP)>$/i,
              );
              const hangup = b.mark();
              await b.hangup();
              await b.callClosed(5000, hangup);
              assert.equal(
                (await b.waitForEvent('CALL_CLOSED', 5000, hangup.event)).param,
                'Connection reset by user',
              );

              const uas = await scene.uasResult();
              assert.equal(uas.code, 0, uas.summary);
              assert.equal(uas.successful, 1, uas.summary);
              const methods = requestMethods(uas.messages);
              assert.deepEqual(
                methods.filter((m, i) => methods.indexOf(m) === i),
                ['INVITE', 'ACK', 'BYE'],
                uas.summary,
              );
              // olelo relays over the account's transport (a TCP account dials `;transport=tcp`)
              const via =
                transport === 'udp'
                  ? `SIP/2.0/UDP 127.0.0.1:${scene.udpPort}`
                  : `SIP/2.0/TCP 127.0.0.1:${scene.tcpPort}`;
              assert.ok(receivedMessages(uas.messages)[0]!.includes(via), uas.summary);
            } finally {
              await b.stop();
            }
          },
          transport,
        );
      },
    );
  }

  it('reports a refused password as a failed registration', T, async () => {
    await withScene('baresip-wrong', 0, async (scene) => {
      const b = await BaresipClient.start({
        accounts: [
          {
            aor: `sip:alice@${DOMAIN}`,
            password: 'not-the-password',
            outbound: `sip:127.0.0.1:${scene.udpPort}`,
          },
        ],
        lifetimeS: 15,
      });
      try {
        const registration = await b.registration(5000);
        assert.equal(registration.ok, false, registration.line);
        assert.equal(registration.status, 401, registration.line);
        assert.ok(scene.authStats()['auth.invalid']! >= 1, JSON.stringify(scene.authStats()));
        assert.equal(scene.authStats()['auth.authorized'], 0);
      } finally {
        await b.stop();
      }
    });
  });
});
