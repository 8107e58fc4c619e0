/**
 * Write-back mode: changes reach the persistence in batches, a new store loads them ("restart"), failed
 * writes are retried, expired rows are dropped; and the real-timer expiry of a started store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MemoryLocationStore } from '../../src/modules/usrloc/memory-store.js';
import { FileLocationPersistence, MapLocationPersistence } from '../../src/modules/usrloc/persistence.js';
import type { ContactInput, LocationRecord } from '../../src/modules/usrloc/types.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-usrloc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function input(contact: string, now: number, extra: Partial<ContactInput> = {}): ContactInput {
  return { contact, expires: now + 3600, callId: 'c@ua', cseq: 1, ...extra };
}

/** A persistence whose writes fail while `failing` is set. */
class FlakyPersistence extends MapLocationPersistence {
  failing = false;
  override async upsert(records: readonly LocationRecord[]): Promise<void> {
    if (this.failing) throw new Error('database down');
    return super.upsert(records);
  }
  override async delete(ruids: readonly string[]): Promise<void> {
    if (this.failing) throw new Error('database down');
    return super.delete(ruids);
  }
}

describe('usrloc write-back', () => {
  it('survives a restart: a new store loads the bindings the old one wrote at stop', async () => {
    const persistence = new MapLocationPersistence();
    const first = new MemoryLocationStore({ persistence, useDomain: true, timerInterval: 60_000 });
    await first.start();
    const now = first.now();
    first.save(
      'alice@example.com',
      input('sip:alice@192.0.2.1;transport=tcp', now, { q: 800, socket: 'tcp:192.0.2.10:5060' }),
    );
    first.save('alice@example.com', input('sip:alice@192.0.2.2', now, { instance: '<urn:x>', regId: 1 }));
    first.save('bob@example.com', input('sip:bob@192.0.2.3', now, { expires: 0 }));
    first.save('carol@example.com', input('sip:carol@192.0.2.4', now));
    first.removeAor('carol@example.com');
    assert.equal(persistence.rows.size, 0, 'nothing written before the timer or stop');
    const before = [...first.records()];
    await first.stop();
    assert.equal(persistence.rows.size, 3);

    const second = new MemoryLocationStore({ persistence, useDomain: true });
    await second.start();
    assert.deepEqual([...second.records()], before);
    assert.deepEqual(second.counts(), { users: 2, contacts: 3 });
    // the loaded bindings behave like the originals: refreshed in place, same ruid
    const r = second.save('alice@example.com', input('sip:alice@192.0.2.1;transport=tcp', now, { cseq: 2 }));
    assert.equal(r.status, 'updated');
    if (r.status === 'updated') assert.equal(r.binding.ruid, before.find((b) => b.q === 800)?.ruid);
    await second.stop();
  });

  it('writes changed AORs and removed ruids on the timer, and drops expired rows', async () => {
    let ms = Date.now();
    const persistence = new MapLocationPersistence();
    const store = new MemoryLocationStore({ persistence, timerInterval: 100, clock: () => ms });
    await store.start();
    const now = store.now();
    store.save('alice', input('sip:a1@h', now, { expires: now + 5 }));
    store.save('alice', input('sip:a2@h', now));
    await waitFor(() => persistence.rows.size === 2);
    store.remove('alice', { contact: 'sip:a2@h' });
    await waitFor(() => persistence.rows.size === 1);
    ms += 10_000; // a1 expires: swept from memory, its row dropped by deleteExpired
    await waitFor(() => persistence.rows.size === 0 && store.counts().contacts === 0);
    await store.stop();
  });

  it('keeps changes queued while the persistence fails and writes them once it is back', async () => {
    const persistence = new FlakyPersistence();
    const errors: string[] = [];
    const persistErrors = { value: 0 };
    const store = new MemoryLocationStore({
      persistence,
      stats: { persistErrors },
      onError: (what) => errors.push(what),
    });
    await store.start();
    const now = store.now();
    store.save('alice', input('sip:a@h', now));
    await store.flush();
    store.removeAor('alice');
    store.save('bob', input('sip:b@h', now));
    persistence.failing = true;
    assert.equal(await store.flush(), false);
    assert.equal(persistErrors.value, 1);
    assert.deepEqual(errors, ['writing bindings to the persistence failed']);
    persistence.failing = false;
    assert.equal(await store.flush(), true);
    assert.deepEqual(
      [...persistence.rows.values()].map((r) => r.contact),
      ['sip:b@h'],
    );
    await store.stop();
  });

  it('loads only live rows and keeps the newer of two rows for one contact', async () => {
    const persistence = new MapLocationPersistence();
    const seed = new MemoryLocationStore({ persistence });
    const now = seed.now();
    seed.save('alice', input('sip:a@h', now));
    seed.save('dave', input('sip:d@h', now));
    await seed.flush();
    const [alice, dave] = [...persistence.rows.values()];
    // an older duplicate of alice's contact under another ruid, and an expired row
    persistence.rows.set('old', { ...alice!, ruid: 'old', lastModified: alice!.lastModified - 100, cseq: 0 });
    persistence.rows.set(dave!.ruid, { ...dave!, expires: now - 10 });

    const store = new MemoryLocationStore({ persistence });
    assert.equal(await store.load(), 1);
    assert.deepEqual(
      store.lookup('alice').map((b) => b.ruid),
      [alice!.ruid],
    );
    assert.equal(store.lookup('dave').length, 0);
    await store.flush(); // the superseded duplicate is deleted from the persistence
    assert.equal(persistence.rows.has('old'), false);
  });

  it('keeps bindings across a restart in a JSON-lines file', async () => {
    const file = join(dir, 'sub', 'location.jsonl');
    const first = new MemoryLocationStore({
      persistence: new FileLocationPersistence(file),
      useDomain: true,
    });
    await first.start();
    const now = first.now();
    first.save('alice@example.com', input('sip:alice@192.0.2.1', now, { userAgent: 'Tél/1 \u20ac' }));
    first.save('bob@example.com', input('sip:bob@192.0.2.2', now, { path: '<sip:edge;lr>', q: 100 }));
    const before = [...first.records()];
    await first.stop();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    assert.deepEqual(Object.keys(JSON.parse(lines[0]!)).slice(0, 4), [
      'ruid',
      'username',
      'domain',
      'contact',
    ]);

    const second = new MemoryLocationStore({
      persistence: new FileLocationPersistence(file),
      useDomain: true,
    });
    await second.start();
    assert.deepEqual([...second.records()], before);
    await second.stop();
  });

  it('starts empty without a file, and refuses a file that is not a location table', async () => {
    const missing = new MemoryLocationStore({
      persistence: new FileLocationPersistence(join(dir, 'none.jsonl')),
    });
    await missing.start();
    assert.deepEqual(missing.counts(), { users: 0, contacts: 0 });
    await missing.stop();

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"ruid":"x"}\nnot json\n');
    const errors: string[] = [];
    const store = new MemoryLocationStore({
      persistence: new FileLocationPersistence(bad),
      onError: (what) => errors.push(what),
    });
    await assert.rejects(store.start(), /2 lines are not location records/);
    assert.deepEqual(errors, ['loading bindings from the persistence failed']);
  });
});

describe('usrloc expiry timer (real time)', () => {
  it('removes bindings once they expire, counts them and tells the listeners', async () => {
    const expired = { value: 0 };
    const store = new MemoryLocationStore({ timerInterval: 100, stats: { expired } });
    const seen: string[] = [];
    store.onExpired((aor, b) => seen.push(`${aor} ${b.contact}`));
    await store.start();
    const now = store.now();
    store.save('alice', input('sip:a@h', now, { expires: now + 1 }));
    store.save('bob', input('sip:b@h', now, { expires: now + 60 }));
    const started = Date.now();
    await waitFor(() => seen.length === 1, 3000);
    assert.ok(Date.now() - started < 2200, 'removed within a second and a timer interval');
    assert.deepEqual(seen, ['alice sip:a@h']);
    assert.equal(expired.value, 1);
    assert.deepEqual(store.counts(), { users: 1, contacts: 1 });
    await store.stop();
  });
});

async function waitFor(test: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
