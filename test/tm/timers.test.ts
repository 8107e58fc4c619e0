import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Timer, TimerService } from '../../src/tm/timers.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TimerService', () => {
  it('fires timers of one duration in the order they were started, once each', async () => {
    const timers = new TimerService();
    const fired: number[] = [];
    const owner = { onTimer: (k: number) => fired.push(k) };
    for (let k = 1; k <= 5; k++) timers.start(owner, k, 20);
    timers.start(owner, 9, 5);
    await wait(60);
    assert.deepEqual(fired, [9, 1, 2, 3, 4, 5]);
    assert.equal(timers.size, 0);
  });

  it('reads the clock once for the timers started in one turn, and again in the next turn', async () => {
    let clock = 1000;
    const timers = new TimerService(() => clock);
    const owner = { onTimer: () => {} };
    const a = timers.start(owner, 1, 100);
    clock += 7; // time passing inside one turn (one message's processing) is not read again
    const b = timers.start(owner, 2, 100);
    assert.equal(a.due, 100);
    assert.equal(b.due, 100);
    await Promise.resolve(); // the turn's microtasks ran: the next start reads the clock
    await new Promise<void>((r) => setImmediate(r));
    const c = timers.start(owner, 3, 100);
    assert.equal(c.due, 107);
    timers.stop();
  });

  it('never fires a cancelled timer and unlinks it at once', async () => {
    const timers = new TimerService();
    const fired: number[] = [];
    const owner = { onTimer: (k: number) => fired.push(k) };
    const a = timers.start(owner, 1, 20);
    const b = timers.start(owner, 2, 20);
    const c = timers.start(owner, 3, 20);
    b.cancel();
    assert.equal(timers.size, 2);
    a.cancel();
    c.cancel();
    assert.equal(timers.size, 0);
    assert.equal(b.cancelled, true);
    await wait(40);
    assert.deepEqual(fired, []);
  });

  it("replace() puts a node in a running timer's place: same list position, due time and kind", async () => {
    const timers = new TimerService();
    const fired: string[] = [];
    const owner = { onTimer: (k: number) => fired.push(`old${k}`) };
    const node = (name: string) => {
      const t = new Timer(undefined, 0, 0, undefined);
      t.owner = { onTimer: (k: number) => fired.push(`${name}${k}`) };
      return t;
    };
    const a = timers.start(owner, 1, 20);
    const b = timers.start(owner, 2, 20);
    const c = timers.start(owner, 3, 20);
    const d = timers.start(owner, 4, 20);
    const due = b.due;
    const middle = node('middle');
    assert.equal(timers.replace(b, middle), true);
    assert.equal(b.cancelled, true);
    assert.equal(middle.due, due);
    assert.equal(middle.kind, 2);
    // the head and the tail of the list too
    assert.equal(timers.replace(a, node('head')), true);
    assert.equal(timers.replace(d, node('tail')), true);
    assert.equal(timers.size, 4);
    // a cancelled timer cannot be replaced, and the node is then not scheduled
    c.cancel();
    assert.equal(timers.replace(c, node('spare')), false);
    assert.equal(timers.size, 3);
    await wait(60);
    assert.deepEqual(fired, ['head1', 'middle2', 'tail4']);
    assert.equal(timers.size, 0);
  });

  it('lets an owner start a new timer from its callback', async () => {
    const timers = new TimerService();
    let count = 0;
    const owner = {
      onTimer: () => {
        if (++count < 3) timers.start(owner, 1, 5);
      },
    };
    timers.start(owner, 1, 5);
    await wait(80);
    assert.equal(count, 3);
  });

  it('stops everything on stop()', async () => {
    const timers = new TimerService();
    let fired = 0;
    const owner = { onTimer: () => fired++ };
    timers.start(owner, 1, 10);
    timers.stop();
    timers.start(owner, 1, 10);
    await wait(30);
    assert.equal(fired, 0);
  });
});
