import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatTokenList, parseTokenList } from '../../../src/sip/headers/token-list.js';
import { assertThrowsOnlyParseErrors, FUZZ_RUNS, headerValue, throwsParse } from './fixture-headers.js';

describe('parseTokenList', () => {
  it('splits tokens at commas, ignoring LWS', () => {
    assert.deepEqual(parseTokenList('INVITE,ACK , OPTIONS ,\tBYE'), ['INVITE', 'ACK', 'OPTIONS', 'BYE']);
  });

  it('returns an empty list for an empty value', () => {
    assert.deepEqual(parseTokenList(''), []);
    assert.deepEqual(parseTokenList('  '), []);
  });

  it('keeps tokens as written', () => {
    assert.deepEqual(parseTokenList('100rel, Timer'), ['100rel', 'Timer']);
  });

  it('rejects empty elements', () => {
    throwsParse(() => parseTokenList('a,,b'), /empty element/);
    throwsParse(() => parseTokenList('a,'), /empty element/);
    throwsParse(() => parseTokenList(',a'), /empty element/);
  });

  it('rejects elements that are not tokens', () => {
    const e = throwsParse(() => parseTokenList('timer, path;x'), /unexpected character ';'/);
    assert.equal(e.offset, 'timer, path'.length);
    throwsParse(() => parseTokenList('a b'), /unexpected character 'b'/);
    throwsParse(() => parseTokenList('"quoted"'), /unexpected character '"'/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseTokenList);
  });

  it('round-trips any list of tokens through formatTokenList', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,10}$/);
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), (tokens) => {
        assert.deepEqual(parseTokenList(formatTokenList(tokens)), tokens);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('bext01: reads the unsupported option tags of Require', () => {
    assert.deepEqual(parseTokenList(headerValue('rfc4475/bext01.dat', 'require')), [
      'nothingSupportsThis',
      'nothingSupportsThisEither',
    ]);
  });

  it('bext01: reads the option tags of Proxy-Require', () => {
    assert.deepEqual(parseTokenList(headerValue('rfc4475/bext01.dat', 'proxy-require')), [
      'noProxiesSupportThis',
      'norDoAnyProxiesSupportThis',
    ]);
  });
});
