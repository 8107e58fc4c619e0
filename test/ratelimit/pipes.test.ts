/**
 * The pipe algorithms with a controlled clock and random source: slot alignment, TAILDROP's exact budget,
 * RED's early refusals, dynamic pipes and their removal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipeTable } from '../../src/modules/ratelimit/pipes.js';

function table(interval = 1000, random = () => 0.5) {
  const clock = { now: 10_000 };
  const pipes = new PipeTable(interval, () => clock.now, random);
  return { pipes, clock };
}

/** How many of `n` checks of `name` pass. */
function passes(pipes: PipeTable, name: string, n: number): number {
  let passed = 0;
  for (let i = 0; i < n; i++) if (pipes.check(name)) passed++;
  return passed;
}

describe('TAILDROP', () => {
  it('lets exactly `limit` requests of a slot pass and refuses the rest', () => {
    const { pipes, clock } = table();
    pipes.set('p', 'TAILDROP', 5, false);
    assert.equal(passes(pipes, 'p', 8), 5);
    const p = pipes.get('p')!;
    assert.deepEqual([p.counter, p.passed, p.dropped], [8, 5, 3]);
    // the same slot, later: still refused
    clock.now += 999;
    assert.equal(pipes.check('p'), false);
    // the next slot starts a new budget, and remembers the last one
    clock.now += 1;
    assert.equal(passes(pipes, 'p', 6), 5);
    assert.equal(p.lastCounter, 9);
    assert.equal(p.load, 180);
  });

  it('aligns slots on the clock, not on the first request', () => {
    const { pipes, clock } = table();
    pipes.set('p', 'TAILDROP', 2, false);
    clock.now = 10_900; // 100 ms before the slot ends
    assert.equal(passes(pipes, 'p', 3), 2);
    clock.now = 11_000;
    assert.equal(passes(pipes, 'p', 3), 2);
  });

  it('forgets a slot that was not the previous one', () => {
    const { pipes, clock } = table();
    pipes.set('p', 'TAILDROP', 2, false);
    passes(pipes, 'p', 4);
    clock.now += 5000;
    pipes.check('p');
    assert.equal(pipes.get('p')!.lastCounter, 0);
  });

  it('takes a new limit at once', () => {
    const { pipes } = table();
    pipes.set('p', 'TAILDROP', 2, false);
    assert.equal(passes(pipes, 'p', 2), 2);
    pipes.set('p', 'TAILDROP', 4, false);
    assert.equal(passes(pipes, 'p', 5), 2);
  });

  it('with limit 0 refuses everything', () => {
    const { pipes } = table();
    pipes.set('p', 'TAILDROP', 0, false);
    assert.equal(passes(pipes, 'p', 3), 0);
  });
});

describe('RED', () => {
  it('passes the first half of the budget, refuses early with a growing probability, nothing past the limit', () => {
    // random() returns a fixed 0.5: a request is refused once its probability reaches 0.5
    const { pipes } = table(1000, () => 0.5);
    pipes.set('r', 'RED', 10, false);
    const outcome = Array.from({ length: 12 }, () => pipes.check('r'));
    // threshold 5; n = 6..10 → p = (n-5)/6 = 0.17, 0.33, 0.5 (passes: not below), 0.67, 0.83
    assert.deepEqual(outcome, [true, true, true, true, true, true, true, true, false, false, false, false]);
  });

  it('never refuses below the threshold, whatever the random draw', () => {
    const { pipes } = table(1000, () => 0);
    pipes.set('r', 'RED', 10, false);
    assert.equal(passes(pipes, 'r', 5), 5);
    assert.equal(pipes.check('r'), false);
  });

  it('refuses about the expected share under overload (seeded draws)', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const { pipes, clock } = table(1000, random);
    pipes.set('r', 'RED', 100, false);
    let passed = 0;
    for (let slot = 0; slot < 20; slot++, clock.now += 1000) passed += passes(pipes, 'r', 300);
    // per slot: 50 sure, then 50 with p from 1/51 to 50/51 (expected 25 pass) → about 75
    assert.ok(passed / 20 > 65 && passed / 20 < 85, `passed ${passed / 20} a slot`);
  });
});

describe('NOP and dynamic pipes', () => {
  it('NOP passes everything and counts', () => {
    const { pipes } = table();
    pipes.set('n', 'NOP', 1, false);
    assert.equal(passes(pipes, 'n', 4), 4);
    assert.equal(pipes.get('n')!.counter, 4);
  });

  it('an unknown pipe answers undefined; with a spec it is created, and a later spec changes its limit', () => {
    const { pipes } = table();
    assert.equal(pipes.check('ghost'), undefined);
    assert.equal(pipes.get('ghost'), undefined);
    assert.equal(pipes.check('u:alice', { limit: 2 }), true);
    assert.equal(pipes.get('u:alice')!.algorithm, 'TAILDROP');
    assert.equal(pipes.get('u:alice')!.dynamic, true);
    assert.equal(pipes.check('u:alice', { limit: 2 }), true);
    assert.equal(pipes.check('u:alice', { limit: 2 }), false);
    assert.equal(pipes.check('u:alice', { limit: 4 }), true);
  });

  it('removes dynamic pipes unused for the given slots, never configured ones', () => {
    const { pipes, clock } = table();
    pipes.set('config', 'TAILDROP', 1, false);
    pipes.check('dyn-old', { limit: 1 });
    clock.now += 5000;
    pipes.check('dyn-new', { limit: 1 });
    clock.now += 1000;
    assert.equal(pipes.removeUnused(3), 1);
    assert.deepEqual(
      [...pipes.list()].map((p) => p.name),
      ['config', 'dyn-new'],
    );
  });

  it('holds at most maxDynamic script-created pipes, evicting the least recently used, never a configured one', () => {
    const { pipes, clock } = table();
    pipes.maxDynamic = 3;
    pipes.set('config', 'TAILDROP', 1, false);
    pipes.check('src:a', { limit: 1 });
    pipes.check('src:b', { limit: 1 });
    pipes.check('src:c', { limit: 1 });
    // a later slot: a is used again, so b is now the least recently used
    clock.now += 1000;
    assert.equal(pipes.check('src:a', { limit: 1 }), true);
    // a flood of new names (spoofed sources): the table does not grow past the cap
    for (let i = 0; i < 1000; i++) pipes.check(`src:spoofed-${i}`, { limit: 1 });
    assert.equal(pipes.dynamicSize, 3);
    assert.equal(pipes.size, 4);
    assert.equal(pipes.evicted, 1000);
    assert.ok(pipes.get('config') !== undefined);
    assert.deepEqual(
      [...pipes.list()].map((p) => p.name),
      ['config', 'src:spoofed-997', 'src:spoofed-998', 'src:spoofed-999'],
    );
  });

  it('evicts the pipe whose last slot is the oldest, keeping one in use', () => {
    const { pipes, clock } = table();
    pipes.maxDynamic = 2;
    pipes.check('src:a', { limit: 5 });
    pipes.check('src:b', { limit: 5 });
    clock.now += 1000;
    pipes.check('src:a', { limit: 5 });
    pipes.check('src:c', { limit: 5 });
    assert.equal(pipes.get('src:b'), undefined);
    assert.equal(pipes.get('src:a')!.counter, 1);
    // a removed pipe frees its place
    assert.equal(pipes.remove('src:a'), true);
    pipes.check('src:d', { limit: 5 });
    assert.ok(pipes.get('src:c') !== undefined && pipes.get('src:d') !== undefined);
    assert.equal(pipes.evicted, 1);
  });
});
