/**
 * The Overview's rate math (web/src/rates.ts), run in Node: the dashboard's source is transpiled with
 * esbuild as it stands (it is built by Vite, not by this project's tsc), so the test checks the code the browser runs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import { ROOT } from '../helpers/process.js';

/** web/src/rates.ts's exports (not imported: the project's tsc would compile it into dist/web/). */
interface Rates {
  ratePerSecond(
    previous: Readonly<Record<string, number>>,
    current: Readonly<Record<string, number>>,
    names: readonly string[],
    seconds: number,
  ): number;
}

describe('dashboard rates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'olelo-rates-'));
  let rates: Rates;

  before(async () => {
    const source = readFileSync(join(ROOT, 'web/src/rates.ts'), 'utf8');
    const js = transformSync(source, { loader: 'ts', format: 'esm' }).code;
    const file = join(dir, 'rates.mjs');
    writeFileSync(file, js);
    rates = (await import(pathToFileURL(file).href)) as Rates;
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sums the growth of counters per second', () => {
    assert.equal(rates.ratePerSecond({ a: 10, b: 5 }, { a: 30, b: 25 }, ['a', 'b'], 2), 20);
  });

  it('counts a reset counter from zero, without cancelling the growth of the others', () => {
    // stats.reset sl between two samples: sl.2xx_replies 1000 -> 4, tm.2xx_replies 500 -> 520
    const p = { 'sl.2xx_replies': 1000, 'tm.2xx_replies': 500 };
    const c = { 'sl.2xx_replies': 4, 'tm.2xx_replies': 520 };
    assert.equal(rates.ratePerSecond(p, c, ['sl.2xx_replies', 'tm.2xx_replies'], 2), 12);
    // one counter alone, reset: what it counted since
    assert.equal(rates.ratePerSecond({ x: 900 }, { x: 30 }, ['x'], 3), 10);
  });

  it('answers 0 for no time elapsed or a counter that did not move', () => {
    assert.equal(rates.ratePerSecond({ a: 1 }, { a: 9 }, ['a'], 0), 0);
    assert.equal(rates.ratePerSecond({ a: 7 }, { a: 7 }, ['a'], 2), 0);
    assert.equal(rates.ratePerSecond({}, {}, ['missing'], 2), 0);
  });
});
