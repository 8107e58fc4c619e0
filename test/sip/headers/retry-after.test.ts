import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRetryAfter, parseRetryAfter } from '../../../src/sip/headers/retry-after.js';
import { assertThrowsOnlyParseErrors, headerValue, throwsParse } from './fixture-headers.js';

describe('parseRetryAfter', () => {
  it('parses delta-seconds alone', () => {
    assert.deepEqual(parseRetryAfter('18000'), {
      seconds: 18000,
      comment: undefined,
      duration: undefined,
      params: new Map(),
    });
  });

  it('parses a comment and a duration (RFC 3261 §20.33 example)', () => {
    const r = parseRetryAfter('18000;duration=3600');
    assert.equal(r.duration, 3600);
    const c = parseRetryAfter("120 (I'm in a meeting)");
    assert.equal(c.seconds, 120);
    assert.equal(c.comment, "I'm in a meeting");
  });

  it('keeps nested comments and quoted-pairs, and decodes UTF-8', () => {
    const r = parseRetryAfter('60 (back (soon) \\) caf\xc3\xa9) ;duration=10;foo=bar');
    assert.equal(r.comment, 'back (soon) \\) café');
    assert.equal(r.duration, 10);
    assert.equal(r.params.get('foo'), 'bar');
  });

  it('rejects an enormous delta-seconds', () => {
    throwsParse(() => parseRetryAfter('4294967296'), /^Retry-After exceeds 2\^32-1$/);
  });

  it('rejects an unterminated comment, a bad duration and an empty value', () => {
    throwsParse(() => parseRetryAfter('5 (open (nested)'), /unterminated comment/);
    throwsParse(() => parseRetryAfter('5;duration=99999999999'), /duration exceeds 2\^32-1/);
    throwsParse(() => parseRetryAfter('5;duration'), /duration needs a value/);
    throwsParse(() => parseRetryAfter(''), /empty/);
    throwsParse(() => parseRetryAfter('soon'), /delta-seconds/);
    throwsParse(() => parseRetryAfter('5 (a\x01b)'), /control character/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseRetryAfter);
  });

  it('scalarlg: rejects Retry-After 949302838503028349304023988', () => {
    throwsParse(() => parseRetryAfter(headerValue('rfc4475/scalarlg.dat', 'retry-after')), /exceeds 2\^32-1/);
  });
});

describe('formatRetryAfter', () => {
  it('writes seconds, comment and duration that parse back the same', () => {
    const r = parseRetryAfter('120 (in (a) meeting, caf\xc3\xa9);duration=3600;x');
    const text = formatRetryAfter(r);
    assert.equal(text, '120 (in (a) meeting, caf\xc3\xa9);duration=3600;x');
    assert.deepEqual(parseRetryAfter(text), r);
  });

  it('escapes unbalanced parentheses in a comment', () => {
    const text = formatRetryAfter({ seconds: 5, comment: 'a) b (c', duration: 7, params: new Map() });
    assert.equal(text, '5 (a\\) b \\(c);duration=7');
    assert.equal(parseRetryAfter(text).comment, 'a\\) b \\(c');
  });
});
