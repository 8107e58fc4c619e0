/**
 * The usrloc module: parameters, modes, statistics, and the README example running in a server
 * (REGISTER saved, a MESSAGE routed to the registered contact, 480 for an AOR without one).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Logger } from '../../src/core/logger.js';
import type { CoreServices } from '../../src/core/module.js';
import { validate } from '../../src/core/schema.js';
import { StatsRegistry } from '../../src/core/stats.js';
import { usrlocModule } from '../../src/modules/usrloc/index.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-usrloc-module-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function params(value: Record<string, unknown>): Record<string, unknown> {
  const r = validate(usrlocModule.params!, value);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value as Record<string, unknown>;
}

function core(): CoreServices & { stats: StatsRegistry; lines: string[] } {
  const lines: string[] = [];
  return {
    stats: new StatsRegistry(),
    log: Logger.create({ sink: (l) => lines.push(l) }),
    lines,
  } as unknown as CoreServices & { stats: StatsRegistry; lines: string[] };
}

describe('usrloc module', () => {
  it('has memory mode, 60 s timer, no contact limit and no domains by default', () => {
    assert.deepEqual(params({}), {
      mode: 'memory',
      timerInterval: 60_000,
      maxContacts: 0,
      useDomain: false,
      serverId: 0,
    });
    const bad = validate(usrlocModule.params!, { mode: 'db_only' });
    assert.equal(bad.ok, false);
  });

  it('keeps its statistics in the server registry', async () => {
    const c = core();
    const instance = usrlocModule.create(c, params({ maxContacts: 1, useDomain: true }));
    const { store } = instance.api;
    await instance.start?.();
    const now = store.now();
    store.save('alice@example.com', { contact: 'sip:a@h', expires: now + 60, callId: 'c', cseq: 1 });
    assert.equal(
      (await store.save('alice@example.com', { contact: 'sip:b@h', expires: now + 60, callId: 'c', cseq: 2 }))
        .status,
      'too-many',
    );
    assert.equal(instance.api.isRegistered('alice@EXAMPLE.com'), true);
    assert.equal(instance.api.isRegistered('bob@example.com'), false);
    assert.deepEqual(c.stats.snapshot('usrloc'), {
      'usrloc.registered_users': 1,
      'usrloc.location_contacts': 1,
      'usrloc.location_expires': 0,
      'usrloc.persist_errors': 0,
    });
    assert.equal((await instance.api.rpc['ul.lookup']('alice@example.com')).Contacts.length, 1);
    await instance.stop?.();
  });

  it('writes back to its file across a restart of the module', async () => {
    const file = join(dir, 'location.jsonl');
    const first = usrlocModule.create(core(), params({ mode: 'write-back', file }));
    await first.start?.();
    const now = first.api.store.now();
    first.api.store.save('alice', { contact: 'sip:a@h', expires: now + 60, callId: 'c', cseq: 1 });
    await first.stop?.();
    const second = usrlocModule.create(core(), params({ mode: 'write-back', file }));
    await second.start?.();
    assert.deepEqual(
      (await second.api.lookup('alice')).map((b) => b.contact),
      ['sip:a@h'],
    );
    await second.stop?.();
  });

  it('refuses modes it cannot run: db-only without a database, write-back without a file', () => {
    assert.throws(() => usrlocModule.create(core(), params({ mode: 'db-only' })), /needs the database layer/);
    assert.throws(
      () => usrlocModule.create(core(), params({ mode: 'write-back' })),
      /needs modules.usrloc.file/,
    );
  });

  it('runs the README example: REGISTER saves, MESSAGE reaches the contact, 480 without one', async () => {
    const readme = readFileSync(join(ROOT, 'src/modules/usrloc/README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(code, 'the README has a ts example');
    const script = join(dir, 'readme-example.ts');
    writeFileSync(script, code);
    const { server, listener } = await startServer('modules:\n  usrloc:\n    useDomain: true\n', {
      listen: ['udp:127.0.0.1:0'],
      script,
    });
    const port = listener('udp').port;
    const alice = await UdpPeer.open();
    const caller = await UdpPeer.open();
    try {
      alice.send(
        `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${alice.port};branch=z9hG4bK-r1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:${alice.port}>\r\nExpires: 60\r\nUser-Agent: test-ua\r\nContent-Length: 0\r\n\r\n`,
        port,
      );
      assert.match(await alice.next((t) => t.startsWith('SIP/2.0')), /^SIP\/2.0 200 /);

      caller.send(
        `MESSAGE sip:alice@EXAMPLE.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-m1\r\nMax-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=c1\r\nTo: <sip:alice@example.com>\r\nCall-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n`,
        port,
      );
      const relayed = await alice.next((t) => t.startsWith('MESSAGE'));
      assert.match(relayed, new RegExp(`^MESSAGE sip:alice@127\\.0\\.0\\.1:${alice.port} SIP/2\\.0`));
      const vias = relayed.split('\r\n').filter((l) => /^Via:/i.test(l));
      const headers = relayed
        .split('\r\n')
        .filter((l) => /^(From|To|Call-ID|CSeq):/i.test(l))
        .map((l) => (l.startsWith('To:') ? `${l};tag=b1` : l));
      alice.send(
        `SIP/2.0 200 OK\r\n${[...vias, ...headers].join('\r\n')}\r\nContent-Length: 0\r\n\r\n`,
        port,
      );
      assert.match(await caller.next((t) => t.startsWith('SIP/2.0 2')), /^SIP\/2.0 200 /);

      caller.send(
        `MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-m2\r\nMax-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=c2\r\nTo: <sip:bob@example.com>\r\nCall-ID: msg-2\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n`,
        port,
      );
      assert.match(await caller.next((t) => t.includes('msg-2')), /^SIP\/2.0 480 Temporarily Unavailable/);
      assert.equal(server.stats.get('usrloc.registered_users'), 1);
    } finally {
      alice.close();
      caller.close();
      await server.stop(100);
    }
  });
});
