/**
 * Masks: deterministic, reversible with the key, refused when mangled, forged or sealed with another key.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetwork } from '../../src/modules/topoh/index.js';
import { Masker } from '../../src/modules/topoh/mask.js';

describe('topoh masks', () => {
  const masker = new Masker('secret');
  const value = 'SIP/2.0/UDP 10.1.2.3:5062;branch=z9hG4bK-1;rport=5062;received=10.1.2.3';

  it('opens what it sealed, with its kind, and gives the same mask for the same value', () => {
    const token = masker.seal('v', value);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.ok(!token.includes('10.1.2.3'));
    assert.deepEqual(masker.open(token), { kind: 'v', text: value });
    assert.equal(masker.seal('v', value), token);
    assert.notEqual(masker.seal('u', value), token);
  });

  it('refuses a mask with any character changed', () => {
    const token = masker.seal('c', 'call-1@10.0.0.1');
    for (let i = 0; i < token.length; i++) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const mangled = token.slice(0, i) + c + token.slice(i + 1);
      assert.equal(masker.open(mangled), undefined, `position ${i}`);
    }
  });

  it('refuses masks of another key, truncated masks and non-base64url text', () => {
    const token = masker.seal('u', 'sip:alice@10.0.0.1:5060');
    assert.equal(new Masker('other').open(token), undefined);
    assert.equal(masker.open(token.slice(0, -4)), undefined);
    assert.equal(masker.open(`${token}AAAA`), undefined);
    assert.equal(masker.open('short'), undefined);
    assert.equal(masker.open(`${token.slice(0, 10)}.${token.slice(11)}`), undefined);
    assert.equal(masker.open('A'.repeat(20_000)), undefined);
  });

  it('parses inside networks', () => {
    assert.deepEqual(parseNetwork('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 4 });
    assert.deepEqual(parseNetwork('192.0.2.7'), { address: '192.0.2.7', prefix: 32, family: 4 });
    assert.deepEqual(parseNetwork('fd00::/8'), { address: 'fd00::', prefix: 8, family: 6 });
    assert.throws(() => parseNetwork('10.0.0.0/33'), /prefix/);
    assert.throws(() => parseNetwork('example.com'), /not an IP/);
    assert.throws(() => parseNetwork(7), TypeError);
  });
});
