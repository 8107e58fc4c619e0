import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReason, formatReasons, parseReason } from '../../../src/sip/headers/reason.js';
import { assertThrowsOnlyParseErrors, throwsParse } from './fixture-headers.js';

describe('parseReason', () => {
  it('parses a SIP reason with cause and text', () => {
    const [r] = parseReason('SIP ;cause=200 ;text="Call completed elsewhere"');
    assert.equal(r!.protocol, 'SIP');
    assert.equal(r!.cause, 200);
    assert.equal(r!.text, 'Call completed elsewhere');
  });

  it('parses several comma-separated reasons, commas inside text included', () => {
    const rs = parseReason('Q.850;cause=16;text="Terminated, normally", SIP;cause=600');
    assert.deepEqual(
      rs.map((r) => [r.protocol, r.cause, r.text]),
      [
        ['Q.850', 16, 'Terminated, normally'],
        ['SIP', 600, undefined],
      ],
    );
  });

  it('decodes UTF-8 text and accepts an unquoted token text', () => {
    assert.equal(parseReason('SIP;text="caf\xc3\xa9"')[0]!.text, 'café');
    assert.equal(parseReason('Q.850;cause=31;text=Normal')[0]!.text, 'Normal');
  });

  it('rejects a non-numeric or huge cause', () => {
    throwsParse(() => parseReason('SIP;cause=abc'), /Reason cause must be a decimal number/);
    throwsParse(() => parseReason('SIP;cause=99999999999'), /Reason cause exceeds 2\^32-1/);
    throwsParse(() => parseReason('SIP;cause'), /Reason cause needs a value/);
  });

  it('rejects empty elements and values', () => {
    throwsParse(() => parseReason(''), /Reason is empty/);
    throwsParse(() => parseReason('SIP;cause=200,'), /empty element/);
    throwsParse(() => parseReason('SIP,,Q.850'), /empty element/);
    throwsParse(() => parseReason('SIP;;cause=1'), /empty parameter/);
    throwsParse(() => parseReason('SIP;text'), /text needs a value/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseReason);
  });
});

describe('formatReason', () => {
  it('writes cause and a quoted text that parse back the same', () => {
    const rs = parseReason('Q.850;cause=16;text="Terminated \\"ok\\" caf\xc3\xa9";x=y, SIP;cause=487');
    const text = formatReasons(rs);
    assert.equal(text, 'Q.850;cause=16;text="Terminated \\"ok\\" caf\xc3\xa9";x=y, SIP;cause=487');
    assert.deepEqual(parseReason(text), rs);
  });

  it('uses the typed fields', () => {
    assert.equal(
      formatReason({ protocol: 'SIP', cause: 200, text: 'Call completed elsewhere', params: new Map() }),
      'SIP;cause=200;text="Call completed elsewhere"',
    );
  });
});
