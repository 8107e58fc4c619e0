/**
 * Times in the columns, as Kamailio's drivers write them: Julian days in SQLite, local text elsewhere.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  datetimeCodec,
  fromJulianDay,
  fromLocalDatetime,
  toJulianDay,
  toLocalDatetime,
} from '../../src/db/datetime.js';

describe('datetime columns', () => {
  it('SQLite: Julian days with Kamailio’s half-second offset, read back to the second', () => {
    for (const t of [0, 1, 59, 86_399, 1_700_000_000, 1_900_000_000, 2_000_000_001]) {
      assert.equal(fromJulianDay(toJulianDay(t)), t, `t=${t}`);
    }
    assert.equal(toJulianDay(0), 2440587.5 - 0.5 / 86400);
    // the last_modified Kamailio 5.6 wrote for a REGISTER at 16:00:57 UTC: the float holds 16:00:56.49998,
    // and rounding (not truncating) gives back the second it was written for
    assert.equal(
      new Date(fromJulianDay(2461368.1673206016) * 1000).toISOString(),
      '2026-11-23T16:00:57.000Z',
    );
    const sqlite = datetimeCodec('sqlite');
    assert.equal(sqlite.fromSql(sqlite.toSql(1_900_000_000)), 1_900_000_000);
    assert.equal(
      sqlite.fromSql('2000-01-01 00:00:01'),
      fromLocalDatetime('2000-01-01 00:00:01'),
      'text defaults',
    );
  });

  it('PostgreSQL and MySQL: local YYYY-MM-DD HH:MM:SS', () => {
    const text = datetimeCodec('postgres');
    const t = 1_900_000_000;
    assert.match(String(text.toSql(t)), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.equal(text.fromSql(text.toSql(t)), t);
    assert.equal(toLocalDatetime(0), toLocalDatetime(0).replace(/\.\d+$/, ''));
    assert.equal(fromLocalDatetime(toLocalDatetime(0)), 0);
    assert.equal(text.fromSql(new Date(t * 1000)), t);
    assert.equal(text.fromSql('garbage'), 0);
  });
});
