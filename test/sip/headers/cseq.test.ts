import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCSeq, parseCSeq } from '../../../src/sip/headers/cseq.js';
import {
  assertThrowsOnlyParseErrors,
  FUZZ_RUNS,
  headerValue,
  headerValues,
  throwsParse,
} from './fixture-headers.js';

describe('parseCSeq', () => {
  it('parses a number and a method', () => {
    assert.deepEqual(parseCSeq('314159 INVITE'), { seq: 314159, method: 'INVITE' });
  });

  it('keeps the method case as written', () => {
    assert.equal(parseCSeq('1 invite').method, 'invite');
  });

  it('accepts 0 and 2^32-1', () => {
    assert.equal(parseCSeq('0 ACK').seq, 0);
    assert.equal(parseCSeq('4294967295 BYE').seq, 4294967295);
  });

  it('rejects a CSeq number above 2^32-1', () => {
    const e = throwsParse(() => parseCSeq('4294967296 INVITE'), /^CSeq number exceeds 2\^32-1$/);
    assert.equal(e.offset, 0);
  });

  it('accepts leading zeros beyond ten digits when the value fits', () => {
    assert.equal(parseCSeq('000000000000042 OPTIONS').seq, 42);
  });

  it('rejects a missing method, a missing number and a negative number', () => {
    throwsParse(() => parseCSeq('42'), /method missing/);
    throwsParse(() => parseCSeq('INVITE'), /sequence number/);
    throwsParse(() => parseCSeq('-1 INVITE'), /negative/);
    throwsParse(() => parseCSeq(''), /empty/);
  });

  it('rejects a method glued to the number and trailing garbage', () => {
    throwsParse(() => parseCSeq('42INVITE'), /followed by a space/);
    throwsParse(() => parseCSeq('42 INVITE BYE'), /unexpected character/);
    throwsParse(() => parseCSeq('42 @'), /method must be a token/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseCSeq);
  });

  it('round-trips any number and token method through formatCSeq', () => {
    const method = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,12}$/);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4294967295 }), method, (seq, m) => {
        assert.deepEqual(parseCSeq(formatCSeq({ seq, method: m })), { seq, method: m });
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe('parseCSeq on the torture messages', () => {
  it('wsinv: reads a folded CSeq with leading zeros (0009 INVITE)', () => {
    assert.deepEqual(parseCSeq(headerValue('rfc4475/wsinv.dat', 'cseq')), { seq: 9, method: 'INVITE' });
  });

  it('intmeth: accepts a method made of every token punctuation', () => {
    const c = parseCSeq(headerValue('rfc4475/intmeth.dat', 'cseq'));
    assert.equal(c.seq, 139122385);
    assert.equal(c.method, "!interesting-Method0123456789_*+`.%indeed'~");
  });

  it('scalar02: rejects CSeq 36893488147419103232', () => {
    throwsParse(() => parseCSeq(headerValue('rfc4475/scalar02.dat', 'cseq')), /CSeq number exceeds 2\^32-1/);
  });

  it('scalarlg: rejects CSeq 9292394834772304023312', () => {
    throwsParse(() => parseCSeq(headerValue('rfc4475/scalarlg.dat', 'cseq')), /CSeq number exceeds 2\^32-1/);
  });

  it('multi01: parses both conflicting CSeq values', () => {
    assert.deepEqual(headerValues('rfc4475/multi01.dat', 'cseq').map(parseCSeq), [
      { seq: 5, method: 'INVITE' },
      { seq: 59, method: 'INVITE' },
    ]);
  });
});
