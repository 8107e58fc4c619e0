import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatDate, parseDate } from '../../../src/sip/headers/date.js';
import { assertThrowsOnlyParseErrors, FUZZ_RUNS, headerValue, throwsParse } from './fixture-headers.js';

describe('parseDate', () => {
  it('parses an rfc1123-date in GMT', () => {
    assert.equal(parseDate('Sat, 13 Nov 2010 23:29:00 GMT').toISOString(), '2010-11-13T23:29:00.000Z');
  });

  it('accepts 29 February in a leap year and a leap second', () => {
    assert.equal(parseDate('Tue, 29 Feb 2000 00:00:00 GMT').toISOString(), '2000-02-29T00:00:00.000Z');
    assert.equal(parseDate('Sat, 31 Dec 2016 23:59:60 GMT').toISOString(), '2017-01-01T00:00:00.000Z');
  });

  it('rejects a zone other than GMT', () => {
    const e = throwsParse(() => parseDate('Sat, 13 Nov 2010 23:29:00 UTC'), /^Date must be in GMT$/);
    assert.equal(e.offset, 26);
    throwsParse(() => parseDate('Sat, 13 Nov 2010 23:29:00 +0000'), /^Date must be in GMT$/);
  });

  it('rejects other date shapes', () => {
    throwsParse(() => parseDate('Saturday, 13-Nov-10 23:29:00 GMT'), /Date needs ','/);
    throwsParse(() => parseDate('Sat Nov 13 23:29:00 2010'), /Date needs ','/);
    throwsParse(() => parseDate('2010-11-13T23:29:00Z'), /weekday/);
    throwsParse(() => parseDate('Sat, 13 nov 2010 23:29:00 GMT'), /month/);
    throwsParse(() => parseDate('Sat, 13 Nov 2010  23:29:00 GMT'), /Date hour must be 2 digits/);
    throwsParse(() => parseDate(''), /weekday/);
  });

  it('rejects impossible dates and times', () => {
    throwsParse(() => parseDate('Fri, 29 Feb 2019 00:00:00 GMT'), /day is out of range/);
    throwsParse(() => parseDate('Sat, 13 Nov 2010 24:00:00 GMT'), /hour is out of range/);
    throwsParse(() => parseDate('Sat, 13 Nov 2010 23:60:00 GMT'), /minute is out of range/);
  });

  it('rejects a weekday that does not match the date', () => {
    throwsParse(() => parseDate('Mon, 13 Nov 2010 23:29:00 GMT'), /weekday does not match/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseDate);
  });

  it('baddate: rejects a Date in EST', () => {
    throwsParse(() => parseDate(headerValue('rfc4475/baddate.dat', 'date')), /Date must be in GMT/);
  });
});

describe('formatDate', () => {
  it('writes an rfc1123-date', () => {
    assert.equal(
      formatDate(new Date(Date.UTC(2010, 10, 13, 23, 29, 0, 999))),
      'Sat, 13 Nov 2010 23:29:00 GMT',
    );
  });

  it('writes dates that parse back to the same second', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62167219200, max: 253402300799 }), (seconds) => {
        const d = new Date(seconds * 1000);
        assert.equal(parseDate(formatDate(d)).getTime(), d.getTime());
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('refuses an invalid date', () => {
    assert.throws(() => formatDate(new Date(Number.NaN)), RangeError);
  });
});
