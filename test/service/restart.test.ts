/**
 * The default service keeps registrations across a restart when usrloc writes back to the database:
 * accounts provisioned with the real `olelo` CLI, a phone registered with one server, the server
 * stopped, a new one started on the same SQLite database — and a call reaches the phone without it
 * registering again.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStorage } from '../../src/db/index.js';
import { runOlelo } from '../helpers/process.js';
import { hasSipp, killAllSipp, type SippProcess, type SippResult, tempDir } from '../helpers/sipp.js';
import {
  callArgs,
  DOMAIN,
  databaseUrl,
  finals,
  registerArgs,
  requestsOf,
  type Service,
  serviceConfig,
  startService,
  succeeded,
  USERS,
} from './helpers.js';

const WRITE_BACK = '  usrloc:\n    mode: write-back\n';

async function finished(uas: SippProcess, ms = 8000): Promise<SippResult> {
  const timer = setTimeout(() => uas.kill(), ms);
  try {
    return await uas.done;
  } finally {
    clearTimeout(timer);
  }
}

describe('default service: a restart in write-back mode', {
  skip: hasSipp() ? false : 'sipp is not installed',
}, () => {
  const dir = tempDir('olelo-svc-restart-');
  const services: Service[] = [];

  after(async () => {
    killAllSipp();
    for (const s of services) await s.stop();
    dir.remove();
  });

  it('keeps the registration in the location table: a call reaches the phone after the restart', {
    timeout: 30_000,
  }, async () => {
    // the accounts, as an operator adds them: the olelo CLI on the server's own config
    const config = join(dir.path, 'olelo.yaml');
    writeFileSync(config, serviceConfig(dir.path, WRITE_BACK));
    for (const args of [
      ['domain', 'add', DOMAIN],
      ['user', 'add', `alice@${DOMAIN}`, USERS.alice!],
      ['user', 'add', `bob@${DOMAIN}`, USERS.bob!],
    ]) {
      const r = await runOlelo(['--config', config, ...args], { cwd: dir.path });
      assert.equal(r.code, 0, `olelo ${args.join(' ')}: ${r.stderr}`);
    }

    const first = await startService(dir.path, { modules: WRITE_BACK });
    services.push(first);
    const bob = await first.uas('svc-uas.xml', 'bob-uas');
    const reg = await first.uac(
      'svc-register.xml',
      'bob-reg',
      registerArgs('bob', { contactPort: bob.port, expires: 600 }),
    );
    assert.equal(succeeded([reg]), undefined);
    await first.server.stop(200);

    // written back at shutdown, in Kamailio's columns (usrloc keys AORs by user: useDomain is off)
    const db = await openStorage(databaseUrl(dir.path));
    const rows = (await db.location.loadAll()).filter((row) => row.username === 'bob');
    await db.close();
    assert.equal(rows.length, 1, 'one binding in the location table');
    assert.equal(rows[0]!.contact, `sip:bob@127.0.0.1:${bob.port}`);

    const second = await startService(dir.path, { modules: WRITE_BACK });
    services.push(second);
    assert.notEqual(second.port, first.port);
    assert.equal(second.stats('usrloc')['usrloc.location_contacts'], 1, 'loaded at start');
    const call = await second.uac('svc-call.xml', 'alice-calls-bob', callArgs('alice', 'bob'));
    const uas = await finished(bob);
    assert.equal(succeeded([call, uas]), undefined);
    assert.deepEqual(finals(call), [407, 200, 200]);
    assert.equal(requestsOf(uas, 'INVITE').length, 1);
  });
});
