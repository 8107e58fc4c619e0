/**
 * The registrar README's route script against SIPp on UDP loopback: a UA taken through the life of a
 * registration (test/sipp/reg-lifecycle.xml: 200 with expires and Date, 423 with Min-Expires, a second
 * contact with q, expires=0, `*`, an empty query), and a SIPp UAC calling the AOR of a SIPp UAS registered
 * at the registrar: the INVITE reaches the UAS at its registered contact, Record-Routed, and the call ends
 * with its BYE. Every SIPp run is bounded and traces into a temporary folder removed at the end.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, UdpPeer } from '../helpers/server.js';
import {
  hasSipp,
  headerValues,
  killAllSipp,
  receivedMessages,
  runSippUac,
  type SippProcess,
  type SippResult,
  startSippUas,
  tempDir,
} from '../helpers/sipp.js';
import { registerRequest, registrarServer, transact } from './helpers.js';

const T = { timeout: 40_000 };
const SIPP = hasSipp();

/** The route script of the registrar README (its only `ts` block). */
function readmeScript(): string {
  const readme = readFileSync(join(ROOT, 'src/modules/registrar/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 1, 'one ts example in the README');
  return blocks[0]![1]!;
}

function assertSucceeded(r: SippResult, calls: number): void {
  assert.equal(r.killed, false, r.summary);
  assert.equal(r.code, 0, r.summary);
  assert.equal(r.successful, calls, r.summary);
}

async function finished(p: SippProcess, ms = 10_000): Promise<SippResult> {
  const timer = setTimeout(() => p.kill(), ms);
  try {
    return await p.done;
  } finally {
    clearTimeout(timer);
  }
}

describe('registrar with SIPp (README script)', { skip: SIPP ? false : 'sipp is not installed' }, () => {
  const dir = tempDir('olelo-registrar-sipp-');
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  before(async () => {
    srv = await registrarServer('', { script: readmeScript(), listen: ['udp:127.0.0.1:0'] });
  });
  after(async () => {
    killAllSipp();
    await srv?.stop();
    if (process.env.OLELO_KEEP_SIPP === undefined) dir.remove();
  });

  it('takes one AOR through register, 423, a second contact, expires=0, * and a query', T, async () => {
    const r = await runSippUac({
      scenario: 'reg-lifecycle.xml',
      local: '127.0.0.1',
      calls: 1,
      remote: `127.0.0.1:${srv.udpPort}`,
      args: ['-s', 'alice', '-key', 'domain', 'example.com'],
      dir: dir.path,
      name: 'lifecycle',
      timeoutS: 15,
    });
    assertSucceeded(r, 1);
    const finals = receivedMessages(r.messages).map((m) => Number(m.slice(8, 11)));
    assert.deepEqual(finals, [200, 423, 200, 200, 200, 200]);
  });

  it('relays a call to the contact a UAS registered, Record-Routed, through to its BYE', T, async () => {
    const uas = await startSippUas({
      scenario: 'uas.xml',
      local: '127.0.0.1',
      calls: 1,
      dir: dir.path,
      name: 'callee',
      timeoutS: 15,
    });
    const registrant = await UdpPeer.open();
    try {
      const ok = await transact(
        registrant,
        registerRequest('bob', registrant.port, { contact: `<sip:bob@127.0.0.1:${uas.port}>`, expires: 300 }),
        srv.udpPort,
      );
      assert.equal(ok.status, 200);
      const uac = await runSippUac({
        scenario: 'uac.xml',
        local: '127.0.0.1',
        calls: 1,
        remote: `127.0.0.1:${srv.udpPort}`,
        args: ['-s', 'bob', '-key', 'uas', 'example.com', '-rsa', `127.0.0.1:${srv.udpPort}`],
        dir: dir.path,
        name: 'caller',
        timeoutS: 15,
      });
      const callee = await finished(uas);
      assertSucceeded(uac, 1);
      assertSucceeded(callee, 1);
      const invite = receivedMessages(callee.messages).find((m) => m.startsWith('INVITE '))!;
      assert.ok(invite.startsWith(`INVITE sip:bob@127.0.0.1:${uas.port} SIP/2.0`), invite);
      assert.deepEqual(headerValues(invite, 'Record-Route'), [`<sip:127.0.0.1:${srv.udpPort};lr>`]);
      assert.ok(receivedMessages(callee.messages).some((m) => m.startsWith('BYE ')));
    } finally {
      registrant.close();
      uas.kill();
    }
  });
});
