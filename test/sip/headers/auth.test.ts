import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  digestChallenge,
  digestCredentials,
  formatAuth,
  formatDigestChallenge,
  formatDigestCredentials,
  isDigest,
  parseAuth,
} from '../../../src/sip/headers/auth.js';
import { assertThrowsOnlyParseErrors, headerValue, throwsParse } from './fixture-headers.js';

// RFC 3261 §22.4 / §25.1 style values
const CREDENTIALS =
  'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:bob@biloxi.com", ' +
  'qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", ' +
  'opaque="5ccc069c403ebaf9f0171e9517f40e41"';
const CHALLENGE =
  'Digest realm="atlanta.com", domain="sip:ss1.carrier.com sip:ss2.carrier.com", qop="auth,auth-int", ' +
  'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5';

describe('parseAuth', () => {
  it('parses Digest credentials into lower-case names and unquoted values', () => {
    const a = parseAuth(CREDENTIALS);
    assert.equal(a.scheme, 'Digest');
    assert.ok(isDigest(a));
    assert.equal(a.token68, undefined);
    assert.equal(a.params.get('username'), 'bob');
    assert.equal(a.params.get('uri'), 'sip:bob@biloxi.com');
    assert.equal(a.params.get('qop'), 'auth');
    assert.equal(a.params.get('nc'), '00000001');
  });

  it('keeps commas inside quoted values', () => {
    assert.equal(parseAuth(CHALLENGE).params.get('qop'), 'auth,auth-int');
  });

  it('resolves quoted-pairs and lower-cases parameter names', () => {
    const a = parseAuth('digest REALM="a \\"b\\"", Nonce=abc');
    assert.equal(a.params.get('realm'), 'a "b"');
    assert.equal(a.params.get('nonce'), 'abc');
    assert.ok(isDigest(a));
  });

  it('accepts a token68 for other schemes', () => {
    const a = parseAuth('Basic dXNlcjpwYXNzd29yZA==');
    assert.equal(a.scheme, 'Basic');
    assert.equal(a.token68, 'dXNlcjpwYXNzd29yZA==');
    assert.equal(a.params.size, 0);
  });

  it('accepts a bare scheme for other schemes', () => {
    assert.deepEqual(parseAuth('Negotiate'), { scheme: 'Negotiate', params: new Map(), token68: undefined });
  });

  it('rejects Digest without params or with a token68 instead of params', () => {
    throwsParse(() => parseAuth('Digest'), /Digest needs auth-params/);
    throwsParse(() => parseAuth('Digest abcdef'), /expected '=' after auth-param 'abcdef'/);
  });

  it('rejects semicolon-separated params', () => {
    throwsParse(() => parseAuth('Digest realm="a"; nonce="b"'), /unexpected character ';'/);
  });

  it('rejects empty and duplicate params', () => {
    throwsParse(() => parseAuth('Digest realm="a",, nonce="b"'), /empty auth-param/);
    throwsParse(() => parseAuth('Digest realm="a",'), /empty auth-param/);
    const e = throwsParse(() => parseAuth('Digest realm="a", Realm="b"'), /duplicate auth-param 'realm'/);
    assert.equal(e.offset, 'Digest realm="a", '.length);
  });

  it('rejects a param without value and an unterminated quoted string', () => {
    throwsParse(() => parseAuth('Digest realm='), /empty value/);
    throwsParse(() => parseAuth('Digest realm'), /expected '='/);
    throwsParse(() => parseAuth('Digest realm="abc'), /unterminated quoted string/);
  });

  it('rejects a malformed Digest nc, stale or userhash', () => {
    throwsParse(() => parseAuth('Digest username="a", nc=1'), /nc must be 8 hex digits/);
    throwsParse(() => parseAuth('Digest realm="a", stale=maybe'), /stale must be 'true' or 'false'/);
    throwsParse(() => parseAuth('Digest realm="a", userhash=yes'), /userhash must be/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseAuth);
  });

  it('regaut01: parses an Authorization with an unknown scheme', () => {
    const a = parseAuth(headerValue('rfc4475/regaut01.dat', 'authorization'));
    assert.equal(a.scheme, 'NoOneKnowsThisScheme');
    assert.ok(!isDigest(a));
    assert.deepEqual([...a.params], [['opaque-data', 'here']]);
  });
});

describe('digestCredentials and digestChallenge', () => {
  it('give the typed view of credentials', () => {
    const c = digestCredentials(parseAuth(CREDENTIALS));
    assert.deepEqual(c, {
      username: 'bob',
      realm: 'biloxi.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      uri: 'sip:bob@biloxi.com',
      response: '6629fae49393a05397450978507c4ef1',
      algorithm: 'MD5',
      cnonce: '0a4f113b',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
      qop: 'auth',
      nc: '00000001',
      userhash: false,
    });
  });

  it('give the typed view of a challenge', () => {
    const c = digestChallenge(parseAuth(CHALLENGE));
    assert.deepEqual(c, {
      realm: 'atlanta.com',
      nonce: 'f84f1cec41e6cbe5aea9c8e88d359',
      domain: ['sip:ss1.carrier.com', 'sip:ss2.carrier.com'],
      opaque: '',
      stale: false,
      algorithm: 'MD5',
      qop: ['auth', 'auth-int'],
      charset: undefined,
      userhash: false,
    });
  });

  it('read RFC 7616 / RFC 8760 params: SHA-256, userhash, stale=TRUE', () => {
    const c = digestChallenge(
      parseAuth(
        'Digest realm="r", nonce="n", algorithm=SHA-512-256-sess, stale=TRUE, charset=UTF-8, userhash=true',
      ),
    );
    assert.equal(c.algorithm, 'SHA-512-256-sess');
    assert.equal(c.stale, true);
    assert.equal(c.charset, 'UTF-8');
    assert.equal(c.userhash, true);
  });

  it('decode username* (RFC 7616 §3.4.4) to UTF-8 bytes', () => {
    const c = digestCredentials(
      parseAuth(
        `Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n", uri="sip:x", response="0"`,
      ),
    );
    assert.equal(Buffer.from(c.username, 'latin1').toString('utf8'), 'Jäsøn Doe');
  });

  it('reject credentials that lack a required field', () => {
    throwsParse(
      () => digestCredentials(parseAuth('Digest username="a", realm="r", nonce="n", uri="u"')),
      /without response/,
    );
    throwsParse(
      () =>
        digestCredentials(
          parseAuth('Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth'),
        ),
      /qop but without cnonce and nc/,
    );
    throwsParse(() => digestChallenge(parseAuth('Digest realm="r"')), /without nonce/);
    throwsParse(() => digestChallenge(parseAuth('Basic realm="r"')), /not Digest/);
  });
});

describe('formatAuth', () => {
  it('quotes what RFC 3261 quotes in credentials and leaves algorithm, nc and qop bare', () => {
    assert.equal(
      formatAuth(parseAuth(CREDENTIALS)),
      'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
        'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
  });

  it('quotes qop in a challenge even when it is a single token, and leaves stale bare', () => {
    const a = parseAuth('Digest realm="r", nonce="n", qop=auth, stale=true');
    assert.equal(formatAuth(a), 'Digest realm="r", nonce="n", qop="auth", stale=true');
    assert.equal(formatAuth(a, 'credentials'), 'Digest realm="r", nonce="n", qop=auth, stale=true');
  });

  it('writes token68 and unknown schemes', () => {
    assert.equal(formatAuth(parseAuth('Basic dXNlcg==')), 'Basic dXNlcg==');
    assert.equal(
      formatAuth(parseAuth('NoOneKnowsThisScheme opaque-data=here')),
      'NoOneKnowsThisScheme opaque-data=here',
    );
  });

  it('writes values that parse back identically', () => {
    for (const v of [CREDENTIALS, CHALLENGE, 'Foo a="x, \\"y\\"", b=c']) {
      const a = parseAuth(v);
      assert.deepEqual(parseAuth(formatAuth(a)), a);
    }
  });

  it('formatDigestChallenge and formatDigestCredentials write complete values', () => {
    const ch = formatDigestChallenge({
      realm: 'example.com',
      nonce: 'abc',
      qop: ['auth'],
      algorithm: 'SHA-256',
      stale: true,
    });
    assert.equal(ch, 'Digest realm="example.com", nonce="abc", stale=true, algorithm=SHA-256, qop="auth"');
    const cr = formatDigestCredentials({
      username: 'alice',
      realm: 'example.com',
      nonce: 'abc',
      uri: 'sip:example.com',
      response: 'ffff',
      algorithm: 'SHA-256',
      cnonce: 'c',
      qop: 'auth',
      nc: '00000001',
    });
    assert.equal(
      cr,
      'Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="ffff", ' +
        'algorithm=SHA-256, cnonce="c", qop=auth, nc=00000001',
    );
    assert.equal(digestCredentials(parseAuth(cr)).cnonce, 'c');
  });
});
