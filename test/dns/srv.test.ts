import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiringSet, TtlCache } from '../../src/dns/cache.js';
import { orderSrv } from '../../src/dns/srv.js';

interface Rec {
  name: string;
  priority: number;
  weight: number;
}

const rec = (name: string, priority: number, weight: number): Rec => ({ name, priority, weight });
const names = (list: Rec[]): string => list.map((r) => r.name).join(' ');

/** A random source returning the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('orderSrv (RFC 2782)', () => {
  it('orders by ascending priority whatever the weights and the input order', () => {
    const records = [rec('c', 30, 100), rec('a', 10, 1), rec('b', 20, 65535)];
    for (let i = 0; i < 100; i++) assert.equal(names(orderSrv(records)), 'a b c');
  });

  it('does not modify its input', () => {
    const records = [rec('b', 20, 1), rec('a', 10, 1)];
    orderSrv(records);
    assert.equal(names(records), 'b a');
  });

  it('picks the first record whose running sum reaches the draw', () => {
    const records = [rec('a', 1, 10), rec('b', 1, 30)];
    // Draw over 1..40: 0 -> 1 (a), 0.25 -> 11 (b).
    assert.equal(names(orderSrv(records, sequence(0))), 'a b');
    assert.equal(names(orderSrv(records, sequence(0.25))), 'b a');
    assert.equal(names(orderSrv(records, sequence(0.2499))), 'a b');
  });

  it('puts weight-0 records first, giving them a draw of 0 only', () => {
    const records = [rec('w', 1, 50), rec('z', 1, 0)];
    // Draw over 0..50 while z remains: 0 picks z; anything else picks w.
    assert.equal(names(orderSrv(records, sequence(0))), 'z w');
    assert.equal(names(orderSrv(records, sequence(0.02))), 'w z');
  });

  it('picks uniformly when every weight is 0', () => {
    const records = [rec('a', 1, 0), rec('b', 1, 0), rec('c', 1, 0)];
    assert.equal(names(orderSrv(records, sequence(0.99, 0.99))), 'c b a');
    assert.equal(names(orderSrv(records, sequence(0, 0))), 'a b c');
  });

  it('chooses in proportion to weight (20,000 orderings, within ±1.5 points)', () => {
    const records = [
      rec('a', 5, 10),
      rec('b', 5, 20),
      rec('c', 5, 70),
      rec('z', 5, 0),
      rec('backup', 9, 100),
    ];
    const first: Record<string, number> = { a: 0, b: 0, c: 0, z: 0 };
    const runs = 20_000;
    for (let i = 0; i < runs; i++) {
      const order = orderSrv(records);
      assert.equal(order.length, 5);
      assert.equal(order[4]!.name, 'backup');
      first[order[0]!.name]!++;
    }
    // Draw over 0..100 while z (weight 0) remains: z 1/101, a 10/101, b 20/101, c 70/101.
    const expected: Record<string, number> = { a: 10 / 101, b: 20 / 101, c: 70 / 101, z: 1 / 101 };
    for (const [name, p] of Object.entries(expected)) {
      const share = first[name]! / runs;
      assert.ok(Math.abs(share - p) < 0.015, `${name}: ${share.toFixed(3)} vs ${p.toFixed(3)}`);
    }
  });
});

describe('TtlCache', () => {
  it('expires entries and evicts the least recently used', () => {
    const cache = new TtlCache<number>(2);
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    assert.equal(cache.get('a', 50), 1); // a is now the most recent
    cache.set('c', 3, 100); // evicts b
    assert.equal(cache.get('b', 50), undefined);
    assert.equal(cache.get('a', 50), 1);
    assert.equal(cache.get('c', 50), 3);
    assert.equal(cache.get('c', 100), undefined, 'expired at its time');
    assert.equal(cache.size, 1);
  });

  it('keeps nothing with capacity 0', () => {
    const cache = new TtlCache<number>(0);
    cache.set('a', 1, 100);
    assert.equal(cache.get('a', 0), undefined);
  });
});

describe('ExpiringSet', () => {
  it('holds keys until their time, bounded by capacity', () => {
    const set = new ExpiringSet(2);
    set.add('a', 100);
    set.add('b', 200);
    set.add('c', 300); // drops a, the oldest mark
    assert.equal(set.has('a', 0), false);
    assert.equal(set.has('b', 150), true);
    assert.equal(set.has('b', 200), false);
    assert.equal(set.count(250), 1);
  });
});
