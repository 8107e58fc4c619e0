/**
 * The database's `location` table (src/db) is a {@link LocationPersistence} as it is: write-back over
 * SQLite survives a restart, and expired rows are dropped by the store's timer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStorage } from '../../src/db/index.js';
import { MemoryLocationStore } from '../../src/modules/usrloc/memory-store.js';
import type { LocationPersistence } from '../../src/modules/usrloc/types.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-usrloc-db-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('usrloc write-back over the database location table', () => {
  it('keeps bindings across a restart in SQLite, every column intact', async () => {
    const url = `sqlite:${join(dir, 'olelo.db')}`;
    const db = await openStorage(url);
    await db.migrate();
    const persistence: LocationPersistence = db.location;
    const first = new MemoryLocationStore({ persistence, useDomain: true, serverId: 2 });
    await first.start();
    const now = first.now();
    first.save('alice@example.com', {
      contact: 'sip:alice@192.0.2.1:5060;transport=tcp',
      expires: now + 3600,
      callId: 'c1',
      cseq: 3,
      q: 750,
      received: 'sip:198.51.100.7:40000;transport=tcp',
      path: '<sip:edge.example.com;lr>',
      userAgent: 'Phone/1.0',
      socket: 'tcp:192.0.2.10:5060',
      methods: 0x1fff,
      instance: '<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>',
      regId: 1,
      connectionId: 12,
      keepalive: 1,
      flags: 1,
      cflags: 64,
    });
    first.save('alice@example.com', { contact: 'sip:alice@192.0.2.2', expires: 0, callId: 'c2', cseq: 1 });
    first.save('bob', { contact: 'sip:bob@192.0.2.3', expires: now + 60, callId: 'c3', cseq: 1 });
    const before = [...first.records()];
    await first.stop();
    assert.equal((await db.location.loadAll()).length, 3);
    await db.close();

    const reopened = await openStorage(url);
    const second = new MemoryLocationStore({ persistence: reopened.location, useDomain: true, serverId: 2 });
    await second.start();
    assert.deepEqual([...second.records()], before);
    second.removeAor('bob');
    await second.stop();
    assert.deepEqual((await reopened.location.loadAll()).map((r) => r.contact).sort(), [
      'sip:alice@192.0.2.1:5060;transport=tcp',
      'sip:alice@192.0.2.2',
    ]);
    assert.equal(await reopened.location.deleteExpired(now + 7200), 1, 'only the permanent binding stays');
    await reopened.close();
  });
});
