/**
 * Digest computations against the RFC examples, and the nonce and nonce-count machinery.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  computeHa1,
  computeResponse,
  DIGEST_ALGORITHMS,
  hashHex,
  hexLength,
  isSessionAlgorithm,
  parseAlgorithm,
} from '../../src/modules/auth/digest.js';
import { NonceCountTable, NonceFactory } from '../../src/modules/auth/nonce.js';

describe('digest responses', () => {
  it('computes the RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    const ha1 = computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    const response = computeResponse({
      algorithm: 'MD5',
      ha1,
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
      method: 'GET',
      uri: '/dir/index.html',
    });
    assert.equal(response, '6629fae49393a05397450978507c4ef1');
  });

  // RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5
  const rfc7616 = {
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    qop: 'auth' as const,
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    method: 'GET',
    uri: '/dir/index.html',
  };

  it('computes the RFC 7616 §3.9.1 example with SHA-256', () => {
    const ha1 = computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    assert.equal(
      computeResponse({ algorithm: 'SHA-256', ha1, ...rfc7616 }),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('computes the RFC 7616 §3.9.1 example with MD5', () => {
    const ha1 = computeHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    assert.equal(computeResponse({ algorithm: 'MD5', ha1, ...rfc7616 }), '8ca523f5e9506fed4657c9700eebdbec');
  });

  it('accepts an upper-case stored HA1', () => {
    const ha1 = computeHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    assert.equal(
      computeResponse({ algorithm: 'MD5', ha1: ha1.toUpperCase(), ...rfc7616 }),
      '8ca523f5e9506fed4657c9700eebdbec',
    );
  });

  it('uses SHA-512/256 for SHA-512-256', () => {
    const expected = createHash('sha512-256').update('u:r:p').digest('hex');
    assert.equal(computeHa1('SHA-512-256', 'u', 'r', 'p'), expected);
    assert.equal(expected.length, 64);
  });

  it('computes the RFC 2069 form without qop: H(HA1:nonce:HA2)', () => {
    const ha1 = computeHa1('MD5', 'bob', 'biloxi.com', 'zanzibar');
    const ha2 = hashHex('md5', 'INVITE:sip:bob@biloxi.com');
    const response = computeResponse({
      algorithm: 'MD5',
      ha1,
      nonce: 'n1',
      qop: undefined,
      nc: undefined,
      cnonce: undefined,
      method: 'INVITE',
      uri: 'sip:bob@biloxi.com',
    });
    assert.equal(response, hashHex('md5', `${ha1}:n1:${ha2}`));
  });

  it('hashes the body into HA2 for auth-int', () => {
    const ha1 = computeHa1('SHA-256', 'bob', 'biloxi.com', 'zanzibar');
    const body = Buffer.from('v=0\r\n');
    const ha2 = hashHex('sha256', `MESSAGE:sip:bob@biloxi.com:${hashHex('sha256', 'v=0\r\n')}`);
    const input = {
      algorithm: 'SHA-256' as const,
      ha1,
      nonce: 'n1',
      qop: 'auth-int' as const,
      nc: '00000002',
      cnonce: 'c1',
      method: 'MESSAGE',
      uri: 'sip:bob@biloxi.com',
    };
    assert.equal(
      computeResponse({ ...input, body }),
      hashHex('sha256', `${ha1}:n1:00000002:c1:auth-int:${ha2}`),
    );
    assert.notEqual(
      computeResponse({ ...input, body }),
      computeResponse({ ...input, body: Buffer.from('x') }),
    );
    // no body is the hash of the empty string
    const empty = hashHex('sha256', `MESSAGE:sip:bob@biloxi.com:${hashHex('sha256', '')}`);
    assert.equal(computeResponse(input), hashHex('sha256', `${ha1}:n1:00000002:c1:auth-int:${empty}`));
  });

  it('derives a -sess HA1 from the nonce and cnonce (RFC 7616 §3.4.2)', () => {
    const ha1 = computeHa1('MD5-sess', 'bob', 'biloxi.com', 'zanzibar');
    const sess = hashHex('md5', `${ha1}:n1:c1`);
    const ha2 = hashHex('md5', 'REGISTER:sip:biloxi.com');
    assert.equal(
      computeResponse({
        algorithm: 'MD5-sess',
        ha1,
        nonce: 'n1',
        qop: 'auth',
        nc: '00000001',
        cnonce: 'c1',
        method: 'REGISTER',
        uri: 'sip:biloxi.com',
      }),
      hashHex('md5', `${sess}:n1:00000001:c1:auth:${ha2}`),
    );
  });

  it('hashes latin1 strings byte for byte (UTF-8 text arrives as its bytes)', () => {
    const utf8Bytes = Buffer.from('Jäsøn', 'utf8').toString('latin1');
    assert.equal(
      computeHa1('MD5', utf8Bytes, 'r', 'p'),
      createHash('md5').update(Buffer.from('Jäsøn:r:p', 'utf8')).digest('hex'),
    );
  });

  it('names algorithms case-insensitively and knows their shape', () => {
    assert.equal(parseAlgorithm('md5'), 'MD5');
    assert.equal(parseAlgorithm('sha-256-SESS'), 'SHA-256-sess');
    assert.equal(parseAlgorithm('SHA-1'), undefined);
    assert.equal(parseAlgorithm('AKAv1-MD5'), undefined);
    assert.equal(isSessionAlgorithm('SHA-512-256-sess'), true);
    assert.equal(isSessionAlgorithm('SHA-512-256'), false);
    for (const a of DIGEST_ALGORITHMS) assert.equal(computeHa1(a, 'u', 'r', 'p').length, hexLength(a));
  });
});

describe('nonces', () => {
  const secret = Buffer.from('0123456789abcdef0123456789abcdef');
  const clock = (start = 1_700_000_000_000) => {
    const c = { t: start, now: () => c.t };
    return c;
  };

  it('verifies its own nonces without state, and another factory with the same secret does too', () => {
    const c = clock();
    const a = new NonceFactory(secret, 300_000, c.now);
    const b = new NonceFactory(Buffer.from(secret), 300_000, c.now);
    const nonce = a.create('example.com');
    assert.match(nonce, /^[A-Za-z0-9_-]{40}$/);
    assert.deepEqual(a.check(nonce, 'example.com'), { kind: 'valid', issuedAt: c.t });
    assert.deepEqual(b.check(nonce, 'example.com'), { kind: 'valid', issuedAt: c.t });
  });

  it('makes a different nonce every time', () => {
    const f = new NonceFactory(secret, 300_000);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(f.create('r'));
    assert.equal(seen.size, 2000);
  });

  it('says stale once the lifetime has passed, valid up to it', () => {
    const c = clock();
    const f = new NonceFactory(secret, 1000, c.now);
    const nonce = f.create('r');
    c.t += 1000;
    assert.equal(f.check(nonce, 'r').kind, 'valid');
    c.t += 1;
    assert.deepEqual(f.check(nonce, 'r'), { kind: 'stale', issuedAt: c.t - 1001 });
  });

  it('rejects a nonce of another secret, another realm, tampered, truncated, or from the future', () => {
    const c = clock();
    const f = new NonceFactory(secret, 300_000, c.now);
    const other = new NonceFactory(Buffer.from('another secret, 32 bytes long...'), 300_000, c.now);
    const nonce = f.create('r');
    assert.equal(other.check(nonce, 'r').kind, 'invalid');
    assert.equal(f.check(nonce, 'R').kind, 'invalid');
    // every other character at every position: a nonce has one spelling only
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < nonce.length; i++) {
      for (const ch of alphabet) {
        if (ch === nonce[i]) continue;
        const changed = nonce.slice(0, i) + ch + nonce.slice(i + 1);
        assert.equal(f.check(changed, 'r').kind, 'invalid', `char ${i} changed to ${ch}`);
      }
    }
    for (const bad of ['', 'x', nonce.slice(1), `${nonce}A`, `${nonce.slice(0, -1)}=`, 'é'.repeat(40)]) {
      assert.equal(f.check(bad, 'r').kind, 'invalid', JSON.stringify(bad));
    }
    const future = new NonceFactory(secret, 300_000, () => c.t + 60_000).create('r');
    assert.equal(f.check(future, 'r').kind, 'invalid');
    // a little clock skew between servers is tolerated
    const skewed = new NonceFactory(secret, 300_000, () => c.t + 2000).create('r');
    assert.equal(f.check(skewed, 'r').kind, 'valid');
  });

  it('refuses an empty secret', () => {
    assert.throws(() => new NonceFactory(Buffer.alloc(0), 1000), RangeError);
  });
});

describe('nonce-count table', () => {
  it('accepts increasing counts and rejects a count used before', () => {
    const t = new NonceCountTable(10, 60_000);
    assert.equal(t.use('n', 0, 1), 'fresh');
    assert.equal(t.use('n', 0, 1), 'replayed');
    assert.equal(t.use('n', 0, 2), 'fresh');
    assert.equal(t.use('n', 0, 2), 'replayed');
    assert.equal(t.use('n', 0, 1), 'replayed');
    assert.equal(t.use('other', 0, 1), 'fresh');
  });

  it('accepts counts that overtook each other within a window of 32, once each', () => {
    const t = new NonceCountTable(10, 60_000);
    assert.equal(t.use('n', 0, 5), 'fresh');
    assert.equal(t.use('n', 0, 3), 'fresh');
    assert.equal(t.use('n', 0, 3), 'replayed');
    assert.equal(t.use('n', 0, 4), 'fresh');
    assert.equal(t.use('n', 0, 1), 'fresh');
    assert.equal(t.use('n', 0, 5), 'replayed');
    assert.equal(t.use('n', 0, 37), 'fresh');
    assert.equal(t.use('n', 0, 5), 'replayed', 'the old highest, now exactly 32 below');
    assert.equal(t.use('n', 0, 6), 'fresh', '31 below');
    assert.equal(t.use('n', 0, 4), 'replayed', 'more than 32 below');
    assert.equal(t.use('n', 0, 69), 'fresh', 'a jump of exactly 32');
    assert.equal(t.use('n', 0, 37), 'replayed', 'the old highest is remembered across the jump');
    assert.equal(t.use('n', 0, 38), 'fresh');
    assert.equal(t.use('n', 0, 200), 'fresh', 'a jump beyond the window');
    assert.equal(t.use('n', 0, 199), 'fresh');
    assert.equal(t.use('n', 0, 0xffffffff), 'fresh');
    assert.equal(t.use('n', 0, 0xffffffff), 'replayed');
  });

  it('stays bounded: an evicted nonce and older unseen ones are "forgotten", newer ones still fresh', () => {
    const t = new NonceCountTable(3, 60_000);
    assert.equal(t.use('a', 100, 1), 'fresh');
    assert.equal(t.use('b', 200, 1), 'fresh');
    assert.equal(t.use('c', 300, 1), 'fresh');
    assert.equal(t.use('d', 400, 1), 'fresh'); // evicts a
    assert.equal(t.size, 3);
    assert.equal(t.use('a', 100, 2), 'forgotten');
    assert.equal(t.use('old', 50, 1), 'forgotten');
    assert.equal(t.use('b', 200, 1), 'replayed');
    assert.equal(t.use('e', 500, 1), 'fresh');
    assert.equal(t.size, 3);
  });

  it('forgets nonces once they expired, never earlier', () => {
    const c = { t: 0 };
    const t = new NonceCountTable(100, 1000, () => c.t);
    assert.equal(t.use('a', 0, 1), 'fresh');
    c.t = 999;
    assert.equal(t.use('a', 0, 1), 'replayed');
    c.t = 1000; // rotation: a moves to the previous generation
    assert.equal(t.use('a', 0, 1), 'replayed');
    assert.equal(t.use('b', 1000, 1), 'fresh');
    c.t = 2000; // a (first used before 1000, so expired by 2000) is dropped, b kept
    assert.equal(t.use('b', 1000, 1), 'replayed');
    assert.equal(t.size, 1);
    c.t = 10_000; // long idle: everything expired
    assert.equal(t.use('c', 10_000, 1), 'fresh');
    assert.equal(t.size, 1);
  });
});
