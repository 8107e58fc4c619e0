/**
 * pike's counter: requests per source over a sliding sampling window, with a controlled clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PikeTracker } from '../../src/modules/pike/tracker.js';

const settings = (over: Partial<ConstructorParameters<typeof PikeTracker>[0]> = {}) => ({
  samplingTime: 2000,
  reqsDensityPerUnit: 10,
  removeLatency: 10_000,
  maxTrackedIps: 100,
  ...over,
});

/** Sends `n` requests from `ip` at `t`, returns how many were allowed. */
function send(p: PikeTracker, ip: string, n: number, t: number): number {
  let allowed = 0;
  for (let i = 0; i < n; i++) if (p.check(ip, t)) allowed++;
  return allowed;
}

describe('pike tracker', () => {
  it('allows reqsDensityPerUnit requests per window and refuses the next ones', () => {
    const p = new PikeTracker(settings());
    assert.equal(send(p, '192.0.2.1', 10, 100_000), 10);
    assert.equal(p.check('192.0.2.1', 100_001), false);
    assert.equal(p.isHot('192.0.2.1'), true);
    assert.equal(p.hot, 1);
    // another source is counted apart
    assert.equal(send(p, '192.0.2.2', 10, 100_001), 10);
    assert.equal(p.isHot('192.0.2.2'), false);
  });

  it('counts the previous window, weighted by how much of it is still within one window', () => {
    const p = new PikeTracker(settings());
    // 10 at the very end of one window: within the limit
    assert.equal(send(p, '192.0.2.1', 10, 101_999), 10);
    // half-way through the next window, half of them still count: 5 more are allowed, not 10
    assert.equal(send(p, '192.0.2.1', 10, 103_000), 5);
    // two windows later the old ones are gone
    const q = new PikeTracker(settings());
    send(q, '192.0.2.1', 10, 101_999);
    assert.equal(send(q, '192.0.2.1', 10, 104_000), 10);
  });

  it('keeps a source hot while it keeps going over, and cools it once it slows down', () => {
    const p = new PikeTracker(settings());
    let t = 200_000;
    send(p, '192.0.2.9', 30, t);
    assert.equal(p.isHot('192.0.2.9'), true);
    // still 30 per window: every window it goes over again
    for (let w = 1; w <= 3; w++) {
      t += 2000;
      send(p, '192.0.2.9', 30, t);
      assert.equal(p.isHot('192.0.2.9'), true, `window ${w}`);
    }
    // a quiet window, then a trickle: allowed again
    t += 4000;
    assert.equal(send(p, '192.0.2.9', 3, t), 3);
    assert.equal(p.isHot('192.0.2.9'), false);
    assert.equal(p.hot, 0);
  });

  it('cools a silent hot source at the sweep, and forgets sources quiet for removeLatency', () => {
    const p = new PikeTracker(settings());
    send(p, '192.0.2.1', 20, 300_000);
    send(p, '192.0.2.2', 1, 305_000);
    assert.equal(p.hot, 1);
    p.sweep(302_500);
    assert.equal(p.hot, 0, 'quiet for a whole window: no longer hot');
    assert.equal(p.size, 2);
    p.sweep(310_000);
    assert.equal(p.size, 1, '192.0.2.1 forgotten after 10 s of silence');
    assert.deepEqual(
      p.top(310_000, 'ALL').map((e) => e.ip_addr),
      ['192.0.2.2'],
    );
  });

  it('lists sources like Kamailio’s pike.top: hot ones by default, most requests first', () => {
    const p = new PikeTracker(settings());
    send(p, '192.0.2.1', 5, 400_000);
    send(p, '192.0.2.2', 25, 400_100);
    send(p, '192.0.2.3', 40, 400_200);
    assert.deepEqual(p.top(400_500), [
      { ip_addr: '192.0.2.3', leaf_hits_prev: 0, leaf_hits_curr: 40, expires: 10, status: 'HOT' },
      { ip_addr: '192.0.2.2', leaf_hits_prev: 0, leaf_hits_curr: 25, expires: 10, status: 'HOT' },
    ]);
    const all = p.top(402_500, 'ALL');
    assert.deepEqual(
      all.map((e) => [e.ip_addr, e.leaf_hits_prev, e.leaf_hits_curr, e.status]),
      [
        ['192.0.2.3', 40, 0, 'HOT'],
        ['192.0.2.2', 25, 0, 'HOT'],
        ['192.0.2.1', 5, 0, 'WARM'],
      ],
    );
    assert.equal(all[2]!.expires, 8);
  });

  it('tracks at most maxTrackedIps sources: a spoofed flood evicts the oldest, hot sources last', () => {
    const p = new PikeTracker(settings({ maxTrackedIps: 1000 }));
    send(p, '198.51.100.7', 50, 500_000);
    assert.equal(p.isHot('198.51.100.7'), true);
    for (let i = 0; i < 20_000; i++) p.check(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 500_001);
    assert.equal(p.size, 1000);
    assert.equal(p.evicted, 20_000 - 999);
    // the hot source moved to the young end when it went hot, so it went only after 999 newer ones
    assert.equal(p.isHot('198.51.100.7'), false);
    const q = new PikeTracker(settings({ maxTrackedIps: 1000 }));
    for (let i = 0; i < 500; i++) q.check(`10.0.${i >> 8}.${i & 255}`, 500_000);
    send(q, '198.51.100.7', 50, 500_000);
    for (let i = 0; i < 900; i++) q.check(`10.1.${i >> 8}.${i & 255}`, 500_001);
    assert.equal(q.isHot('198.51.100.7'), true, 'kept while older sources were evicted');
    assert.equal(q.hot, 1);
  });
});
