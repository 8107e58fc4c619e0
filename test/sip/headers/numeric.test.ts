import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseCallId,
  parseContentLength,
  parseExpires,
  parseMaxForwards,
  parseMinExpires,
} from '../../../src/sip/headers/numeric.js';
import { assertThrowsOnlyParseErrors, headerValue, throwsParse } from './fixture-headers.js';

describe('parseMaxForwards', () => {
  it('parses 0 to 255', () => {
    assert.equal(parseMaxForwards('0'), 0);
    assert.equal(parseMaxForwards('70'), 70);
    assert.equal(parseMaxForwards('255'), 255);
  });

  it('rejects Max-Forwards above 255', () => {
    throwsParse(() => parseMaxForwards('256'), /^Max-Forwards exceeds 255$/);
    throwsParse(() => parseMaxForwards('99999999999999999999'), /^Max-Forwards exceeds 255$/);
  });

  it('rejects empty, signed and non-numeric values', () => {
    throwsParse(() => parseMaxForwards(''), /empty/);
    throwsParse(() => parseMaxForwards('-1'), /negative/);
    throwsParse(() => parseMaxForwards('+1'), /decimal number/);
    throwsParse(() => parseMaxForwards('7 0'), /decimal number/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseMaxForwards);
  });

  it('wsinv: accepts leading zeros (0068)', () => {
    assert.equal(parseMaxForwards(headerValue('rfc4475/wsinv.dat', 'max-forwards')), 68);
  });

  it('zeromf: accepts Max-Forwards 0', () => {
    assert.equal(parseMaxForwards(headerValue('rfc4475/zeromf.dat', 'max-forwards')), 0);
  });

  it('scalar02: rejects Max-Forwards 300', () => {
    throwsParse(() => parseMaxForwards(headerValue('rfc4475/scalar02.dat', 'max-forwards')), /exceeds 255/);
  });
});

describe('parseContentLength', () => {
  it('parses lengths up to 2^31-1', () => {
    assert.equal(parseContentLength('0'), 0);
    assert.equal(parseContentLength('150'), 150);
    assert.equal(parseContentLength('2147483647'), 2147483647);
  });

  it('rejects a length above 2^31-1', () => {
    throwsParse(() => parseContentLength('2147483648'), /^Content-Length exceeds 2\^31-1$/);
  });

  it('rejects more than 10 digits even with leading zeros', () => {
    throwsParse(() => parseContentLength('00000000001'), /more than 10 digits/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseContentLength);
  });

  it('ncl: rejects Content-Length -999', () => {
    throwsParse(
      () => parseContentLength(headerValue('rfc4475/ncl.dat', 'content-length')),
      /must not be negative/,
    );
  });

  it('wsinv: parses Content-Length 150 written with space before the colon', () => {
    assert.equal(parseContentLength(headerValue('rfc4475/wsinv.dat', 'content-length')), 150);
  });
});

describe('parseExpires and parseMinExpires', () => {
  it('parse delta-seconds up to 2^32-1', () => {
    assert.equal(parseExpires('3600'), 3600);
    assert.equal(parseExpires('4294967295'), 4294967295);
    assert.equal(parseMinExpires('60'), 60);
  });

  it('reject values above 2^32-1', () => {
    throwsParse(() => parseExpires('4294967296'), /^Expires exceeds 2\^32-1$/);
    throwsParse(() => parseMinExpires('4294967296'), /^Min-Expires exceeds 2\^32-1$/);
  });

  it('reject dates and other non-numbers', () => {
    throwsParse(() => parseExpires('Sat, 13 Nov 2010 23:29:00 GMT'), /decimal number/);
  });

  it('throw nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseExpires);
    assertThrowsOnlyParseErrors(parseMinExpires);
  });

  it('scalar02: rejects an Expires of 10^100', () => {
    throwsParse(
      () => parseExpires(headerValue('rfc4475/scalar02.dat', 'expires')),
      /Expires exceeds 2\^32-1/,
    );
  });
});

describe('parseCallId', () => {
  it('accepts word@word and a lone word', () => {
    assert.equal(
      parseCallId('a84b4c76e66710@pc33.atlanta.example.com'),
      'a84b4c76e66710@pc33.atlanta.example.com',
    );
    assert.equal(parseCallId('f81d4fae-7dec-11d0-a765-00a0c91e6bf6'), 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  });

  it('rejects whitespace, a second @, an empty part and an empty value', () => {
    throwsParse(() => parseCallId('abc def'), /whitespace/);
    throwsParse(() => parseCallId('a@b@c'), /more than one '@'/);
    throwsParse(() => parseCallId('abc@'), /nothing after '@'/);
    throwsParse(() => parseCallId('@abc'), /unexpected character '@'/);
    throwsParse(() => parseCallId(''), /empty/);
    throwsParse(() => parseCallId('abc;def'), /unexpected character ';'/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseCallId);
  });

  it('intmeth: accepts every word punctuation', () => {
    const v = headerValue('rfc4475/intmeth.dat', 'call-id');
    assert.equal(parseCallId(v), 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
  });

  it('wsinv: accepts a Call-ID with an IPv4 host part', () => {
    assert.equal(parseCallId(headerValue('rfc4475/wsinv.dat', 'call-id')), 'wsinv.ndaksdj@192.0.2.1');
  });

  it('mult-ip-in-header: accepts an underscore in the host part', () => {
    assert.equal(
      parseCallId(headerValue('rfc5118-wire/mult-ip-in-header.dat', 'call-id')),
      '997077@lau_4100',
    );
  });
});
