/**
 * htable's tables with a controlled clock: values, expiry (per item, table-wide, updateExpire), size
 * limits (evict or refuse), counters, deletion by pattern; and persistence through a server restart on
 * SQLite.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStorage } from '../../src/db/index.js';
import { HashTable, type TableSettings } from '../../src/modules/htable/table.js';
import { tempDir } from '../helpers/process.js';
import { ROOT, startServer } from '../helpers/server.js';

function table(over: Partial<TableSettings> = {}) {
  const clock = { now: 1_000_000 };
  const t = new HashTable(
    'test',
    { size: 100, autoExpire: 0, updateExpire: true, whenFull: 'evict-oldest', persist: false, ...over },
    () => clock.now,
  );
  return { t, clock };
}

describe('htable table', () => {
  it('holds strings and numbers; get, has, delete, count', () => {
    const { t } = table();
    assert.equal(t.set('a', 'one'), true);
    assert.equal(t.set('b', 2), true);
    assert.equal(t.get('a'), 'one');
    assert.strictEqual(t.get('b'), 2);
    assert.equal(t.has('c'), false);
    assert.equal(t.get('c'), undefined);
    assert.equal(t.count(), 2);
    assert.equal(t.delete('a'), true);
    assert.equal(t.delete('a'), false);
    assert.equal(t.count(), 1);
    assert.equal(t.hits, 2, 'reads that found an item');
  });

  it('expires items after the table’s autoExpire, or their own expiry; 0 is never', () => {
    const { t, clock } = table({ autoExpire: 5000 });
    t.set('auto', 1);
    t.set('own', 1, 1000);
    t.set('never', 1, 0);
    clock.now += 999;
    assert.equal(t.has('own'), true);
    clock.now += 1;
    assert.equal(t.has('own'), false, 'expired at its own time');
    assert.equal(t.has('auto'), true);
    clock.now += 4000;
    assert.equal(t.get('auto'), undefined, 'expired after autoExpire');
    assert.equal(t.has('never'), true);
    assert.equal(t.expiresAt('never'), 0);
    assert.equal(t.expired, 2);
  });

  it('restarts the expiry when an item is set again (updateExpire), or keeps it when off', () => {
    const on = table({ autoExpire: 1000 });
    on.t.set('k', 1);
    on.clock.now += 800;
    on.t.set('k', 2);
    on.clock.now += 800;
    assert.equal(on.t.get('k'), 2, 'restarted at the second set');
    const off = table({ autoExpire: 1000, updateExpire: false });
    off.t.set('k', 1);
    off.clock.now += 800;
    off.t.set('k', 2);
    off.clock.now += 800;
    assert.equal(off.t.get('k'), undefined, 'the first expiry held');
  });

  it('removes expired items at the sweep without reading them', () => {
    const { t, clock } = table({ autoExpire: 100 });
    for (let i = 0; i < 50; i++) t.set(`k${i}`, i);
    t.set('kept', 1, 0);
    clock.now += 100;
    assert.equal(t.size, 51);
    assert.equal(t.sweep(), 50);
    assert.equal(t.size, 1);
  });

  it('evicts the oldest item when full (evict-oldest), or refuses the new key (refuse)', () => {
    const evict = table({ size: 3 }).t;
    for (const k of ['a', 'b', 'c', 'd']) assert.equal(evict.set(k, k), true);
    assert.deepEqual(
      evict.entries().map((e) => e.key),
      ['b', 'c', 'd'],
    );
    assert.equal(evict.evicted, 1);
    // setting an existing key in a full table evicts nothing
    evict.set('b', 'again');
    assert.equal(evict.count(), 3);
    const refuse = table({ size: 3, whenFull: 'refuse' }).t;
    for (const k of ['a', 'b', 'c']) assert.equal(refuse.set(k, k), true);
    assert.equal(refuse.set('d', 'd'), false);
    assert.equal(refuse.inc('e'), undefined);
    assert.equal(refuse.set('a', 'updated'), true, 'an existing key is still updated');
    assert.deepEqual(
      refuse.entries().map((e) => e.key),
      ['a', 'b', 'c'],
    );
    assert.equal(refuse.refused, 2);
  });

  it('counts with inc and dec from 0, keeps a counter’s expiry, refuses to count a string', () => {
    const { t, clock } = table({ autoExpire: 1000 });
    assert.equal(t.inc('n'), 1);
    assert.equal(t.inc('n', 5), 6);
    assert.equal(t.dec('n'), 5);
    assert.equal(t.dec('m', 2), -2);
    clock.now += 600;
    t.inc('n');
    clock.now += 600;
    assert.equal(t.get('n'), undefined, 'counting does not restart the expiry');
    t.set('s', 'text');
    assert.throws(() => t.inc('s'), TypeError);
  });

  it('iterates and deletes by key prefix or RegExp', () => {
    const { t } = table();
    for (const k of ['user:alice', 'user:bob', 'ip:192.0.2.1', 'ip:192.0.2.2', 'ip:198.51.100.1'])
      t.set(k, 1);
    assert.deepEqual(
      t.entries('user:').map((e) => e.key),
      ['user:alice', 'user:bob'],
    );
    assert.equal(t.deleteMatching(/^ip:192\.0\.2\./g), 2);
    assert.equal(t.deleteMatching(/^ip:192\.0\.2\./g), 0);
    assert.deepEqual(
      t.entries().map((e) => e.key),
      ['user:alice', 'user:bob', 'ip:198.51.100.1'],
    );
    t.flush();
    assert.equal(t.count(), 0);
  });
});

describe('htable persistence', () => {
  it('writes a persistent table to olelo_htable at stop and loads it at start (SQLite)', async () => {
    const dir = tempDir('htable-db');
    const url = `sqlite:${join(dir.path, 'olelo.db')}`;
    const yaml = [
      `database:\n  url: ${JSON.stringify(url)}`,
      'modules:',
      '  htable:',
      '    dbWriteInterval: 100ms',
      '    tables:',
      '      ipban: { autoExpire: 5m }',
      '      calls: { persist: true, size: 10 }',
      '      scratch: {}',
      '',
    ].join('\n');
    const script = `${ROOT}scripts/default.ts`;
    try {
      let started = await startServer(yaml, { listen: ['udp:127.0.0.1:0'], script });
      let rpc = (method: string, ...params: unknown[]) => started.server.rpc.call(method, params);
      await rpc('htable.sets', 'calls', 'alice', 'in a call');
      await rpc('htable.seti', 'calls', 'count', 3);
      await rpc('htable.sets', 'calls', 'removed', 'x');
      await rpc('htable.delete', 'calls', 'removed');
      await rpc('htable.sets', 'scratch', 'not kept', 'x');
      // the periodic write, before the stop
      await new Promise((r) => setTimeout(r, 400));
      const db = await openStorage(url);
      try {
        assert.deepEqual(
          (await db.htables.load('calls')).map((r) => [r.key, r.value]),
          [
            ['alice', 'in a call'],
            ['count', 3],
          ],
        );
        assert.deepEqual(await db.htables.load('scratch'), []);
      } finally {
        await db.close();
      }
      // written at the stop
      await rpc('htable.seti', 'calls', 'count', 4);
      await started.server.stop(100);

      started = await startServer(yaml, { listen: ['udp:127.0.0.1:0'], script });
      rpc = (method: string, ...params: unknown[]) => started.server.rpc.call(method, params);
      const dump = (await rpc('htable.dump', 'calls')) as { slot: { name: string; value: unknown }[] }[];
      assert.deepEqual(
        dump.flatMap((e) => e.slot).map((i) => [i.name, i.value]),
        [
          ['alice', 'in a call'],
          ['count', 4],
        ],
      );
      assert.deepEqual(await rpc('htable.dump', 'scratch'), [], 'a table without persist starts empty');
      // the database is authoritative for htable.reload
      await rpc('htable.seti', 'calls', 'count', 5);
      await rpc('htable.reload', 'calls');
      assert.equal(
        ((await rpc('htable.get', 'calls', 'count')) as { item: { value: number } }).item.value,
        5,
      );
      await started.server.stop(100);
    } finally {
      dir.remove();
    }
  });
});

describe('timer settings stay within what Node timers take', () => {
  it('refuses intervals past a day (htable) and sweeps past 2^31 ms (ratelimit), naming the setting', async () => {
    const { ConfigError, loadConfig } = await import('../../src/core/config.js');
    const { moduleSchemas } = await import('../../src/core/module.js');
    const { builtinModules } = await import('../../src/script/api.js');
    const load = (yaml: string) => () =>
      loadConfig({ text: yaml, env: {}, cwd: ROOT, moduleSchemas: moduleSchemas(builtinModules) });
    assert.throws(load('modules:\n  htable:\n    timerInterval: 30d\n'), (e: unknown) => {
      return e instanceof ConfigError && /modules\.htable\.timerInterval/.test(e.message);
    });
    assert.throws(load('modules:\n  htable:\n    dbWriteInterval: 25d\n'), ConfigError);
    assert.throws(load('modules:\n  ratelimit:\n    cleanUnused: 100000\n'), (e: unknown) => {
      return e instanceof ConfigError && /modules\.ratelimit\.cleanUnused/.test(e.message);
    });
    load(
      'modules:\n  htable:\n    timerInterval: 1d\n  ratelimit:\n    interval: 60s\n    cleanUnused: 10000\n',
    )();
  });
});
