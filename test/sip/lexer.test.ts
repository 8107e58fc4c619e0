import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseVia } from '../../src/sip/headers/via.js';
import { equalsLower, type Params, paramName, parseParams } from '../../src/sip/lexer.js';
import { parseUri, type SipUri } from '../../src/sip/uri.js';

describe('paramName', () => {
  it('answers common names lower-cased whatever their case', () => {
    const s = ';BRANCH;Rport;received;TAG;lR;Transport;q';
    const names: string[] = [];
    let i = 0;
    while (i < s.length) {
      const start = i + 1;
      i = s.indexOf(';', start);
      if (i === -1) i = s.length;
      names.push(paramName(s, start, i));
    }
    assert.deepEqual(names, ['branch', 'rport', 'received', 'tag', 'lr', 'transport', 'q']);
  });

  it('slices and lower-cases names that only resemble common ones', () => {
    assert.equal(paramName('xBranchy', 1, 7), 'branch');
    assert.equal(paramName('Branchy', 0, 7), 'branchy');
    assert.equal(paramName('BRANCX', 0, 6), 'brancx');
    assert.equal(paramName('X-Foo', 0, 5), 'x-foo');
    assert.equal(paramName('_r', 0, 2), '_r');
  });

  it('does not fold non-letters onto letters', () => {
    // '@' | 0x20 is '`', '[' | 0x20 is '{': neither matches a letter of a common name
    assert.equal(equalsLower('@g', 0, 'gr'), false);
    assert.equal(equalsLower('LR', 0, 'lr'), true);
    assert.equal(equalsLower('l_', 0, 'lr'), false);
  });

  it('keeps parameter maps as before', () => {
    const params: Params = new Map();
    parseParams(';Branch=z9hG4bK1;RPORT;Expires=60;Foo="a b"', 0, params);
    assert.deepEqual(
      [...params],
      [
        ['branch', 'z9hG4bK1'],
        ['rport', null],
        ['expires', '60'],
        ['foo', 'a b'],
      ],
    );
  });
});

describe('Via tokens and URI parameter names', () => {
  it('upper-cases protocol and transport written in any case', () => {
    const [v] = parseVia('sip/2.0/tls host;branch=z9hG4bKx');
    assert.equal(v!.protocol, 'SIP');
    assert.equal(v!.version, '2.0');
    assert.equal(v!.transport, 'TLS');
    const [w] = parseVia('SIP/2.1/Sctp host;branch=z9hG4bKx');
    assert.equal(w!.version, '2.1');
    assert.equal(w!.transport, 'SCTP');
  });

  it('decodes escaped URI parameter names before lower-casing them', () => {
    const u = parseUri('sip:alice@example.com;%6Cr;TRANSPORT=tcp;User=phone') as SipUri;
    assert.deepEqual(
      [...u.params],
      [
        ['lr', null],
        ['transport', 'tcp'],
        ['user', 'phone'],
      ],
    );
  });
});
