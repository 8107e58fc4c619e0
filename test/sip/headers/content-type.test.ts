import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatContentType, parseContentType } from '../../../src/sip/headers/content-type.js';
import { assertThrowsOnlyParseErrors, headerValue, throwsParse } from './fixture-headers.js';

describe('parseContentType', () => {
  it('parses type and subtype and lower-cases them', () => {
    const m = parseContentType('Application/SDP');
    assert.equal(m.type, 'application');
    assert.equal(m.subtype, 'sdp');
    assert.equal(m.params.size, 0);
  });

  it('reads parameters, quoted ones unquoted, with LWS around the slash', () => {
    const m = parseContentType('multipart / mixed ; Boundary="unique-boundary 1" ;charset=UTF-8');
    assert.equal(m.type, 'multipart');
    assert.equal(m.subtype, 'mixed');
    assert.deepEqual(
      [...m.params],
      [
        ['boundary', 'unique-boundary 1'],
        ['charset', 'UTF-8'],
      ],
    );
  });

  it('rejects a missing subtype, a missing slash and an empty value', () => {
    throwsParse(() => parseContentType('application'), /expected '\/'/);
    throwsParse(() => parseContentType('application/'), /missing media subtype/);
    throwsParse(() => parseContentType(''), /empty/);
  });

  it('rejects a parameter without a value', () => {
    const e = throwsParse(() => parseContentType('text/plain;flag'), /parameter 'flag' needs a value/);
    assert.equal(e.offset, 'text/plain;'.length);
  });

  it('rejects a list of media types', () => {
    throwsParse(() => parseContentType('text/plain, text/html'), /unexpected comma/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseContentType);
  });

  it('wsinv: parses application/sdp', () => {
    const m = parseContentType(headerValue('rfc4475/wsinv.dat', 'content-type'));
    assert.deepEqual([m.type, m.subtype], ['application', 'sdp']);
  });

  it('invut: parses an unknown media type', () => {
    const m = parseContentType(headerValue('rfc4475/invut.dat', 'content-type'));
    assert.deepEqual([m.type, m.subtype], ['application', 'unknownformat']);
  });

  it('mpart01: reads the multipart boundary', () => {
    const m = parseContentType(headerValue('rfc4475/mpart01.dat', 'content-type'));
    assert.equal(m.type, 'multipart');
    assert.equal(m.subtype, 'mixed');
    assert.equal(m.params.get('boundary'), '7a9cbec02ceef655');
  });
});

describe('formatContentType', () => {
  it('quotes values that are not tokens', () => {
    const m = parseContentType('multipart/mixed;boundary="a:b c";charset=utf-8');
    assert.equal(formatContentType(m), 'multipart/mixed;boundary="a:b c";charset=utf-8');
    assert.deepEqual(parseContentType(formatContentType(m)), m);
  });
});
