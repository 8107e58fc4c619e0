import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverloadGuard } from '../../src/core/overload.js';
import { StatsRegistry } from '../../src/core/stats.js';

function guard(maxEventLoopUtilization: number): { g: OverloadGuard; stats: StatsRegistry } {
  const stats = new StatsRegistry();
  const g = new OverloadGuard(
    { maxTransactions: 0, memoryHighWatermark: 0, maxEventLoopUtilization, retryAfter: 5 },
    stats,
  );
  return { g, stats };
}

/** Of `n` new requests, how many are admitted. */
function admitted(g: OverloadGuard, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (g.refuse(0) === undefined) ok++;
  return ok;
}

describe('overload guard: event-loop utilization', () => {
  it('admits everything below the limit', () => {
    const { g, stats } = guard(0.8);
    g.sampleLoad(0.79);
    assert.equal(g.loadHigh, false);
    assert.equal(admitted(g, 100), 100);
    assert.equal(stats.get('core.overload_rejected_load'), 0);
    assert.equal(stats.get('core.event_loop_utilization'), 0.79);
  });

  it('cuts the admitted share in proportion to the excess, spread evenly over the requests', () => {
    const { g, stats } = guard(0.8);
    g.sampleLoad(1); // 25% over: admit 80%
    assert.equal(g.loadHigh, true);
    assert.equal(stats.get('core.load_high'), 1);
    assert.ok(Math.abs(g.admitShare - 0.8) < 1e-9);
    assert.equal(admitted(g, 100), 80);
    assert.equal(stats.get('core.overload_rejected_load'), 20);
    assert.equal(stats.get('core.overload_rejected'), 20);
    g.sampleLoad(1); // still over: 64%
    assert.equal(admitted(g, 100), 64);
  });

  it('never admits less than 2%, so the load is still measured on some requests', () => {
    const { g } = guard(0.1);
    for (let i = 0; i < 20; i++) g.sampleLoad(1);
    assert.equal(g.admitShare, 0.02);
    assert.equal(admitted(g, 1000), 20);
  });

  it('holds the share between 90% of the limit and the limit, raises it below, and ends the overload at 1', () => {
    const { g, stats } = guard(0.8);
    g.sampleLoad(1.6); // 50%
    g.sampleLoad(0.75); // in the band: unchanged
    assert.ok(Math.abs(g.admitShare - 0.5) < 1e-9);
    g.sampleLoad(0.5); // below 0.72: x1.25 + 0.01
    assert.ok(Math.abs(g.admitShare - 0.635) < 1e-9);
    for (let i = 0; i < 10 && g.loadHigh; i++) g.sampleLoad(0.3);
    assert.equal(g.admitShare, 1);
    assert.equal(g.loadHigh, false);
    assert.equal(stats.get('core.load_high'), 0);
    assert.equal(admitted(g, 50), 50);
  });

  it('turned off (0) admits everything at once', () => {
    const { g } = guard(0.8);
    g.sampleLoad(1);
    assert.equal(g.loadHigh, true);
    g.maxEventLoopUtilization = 0;
    g.sampleLoad(1);
    assert.equal(g.loadHigh, false);
    assert.equal(admitted(g, 10), 10);
  });
});
