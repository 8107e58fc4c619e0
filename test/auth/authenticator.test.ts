/**
 * Digest verification of requests and the auth module's script API, without a network: requests are parsed
 * from text, replies are captured from a stand-in core.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestContext } from '../../src/core/context.js';
import { Logger } from '../../src/core/logger.js';
import type { CoreServices } from '../../src/core/module.js';
import { Myself } from '../../src/core/myself.js';
import { validate } from '../../src/core/schema.js';
import { StatsRegistry } from '../../src/core/stats.js';
import { type AuthResult, DigestAuthenticator } from '../../src/modules/auth/authenticator.js';
import {
  type CredentialSource,
  chainCredentialSources,
  StaticCredentialSource,
  selectHa1,
} from '../../src/modules/auth/credentials.js';
import { computeHa1, type DigestAlgorithm } from '../../src/modules/auth/digest.js';
import { type AuthApi, authModule } from '../../src/modules/auth/index.js';
import { NonceCountTable, NonceFactory } from '../../src/modules/auth/nonce.js';
import type { HeaderList } from '../../src/sip/build.js';
import { digestChallenge, parseAuth } from '../../src/sip/headers/auth.js';
import type { SipRequest } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import type { Listener, Source } from '../../src/transport/types.js';
import { answer } from './client.js';

const REALM = 'example.com';
const SECRET = Buffer.from('a test secret of 32 bytes.......');

interface RequestOptions {
  method?: string;
  uri?: string;
  from?: string;
  to?: string;
  headers?: string[];
  body?: string;
  /** Top Via branch (the transaction): default z9hG4bKtest. */
  branch?: string;
}

function request(o: RequestOptions = {}): SipRequest {
  const method = o.method ?? 'REGISTER';
  const body = o.body ?? '';
  const text =
    `${method} ${o.uri ?? 'sip:example.com'} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=${o.branch ?? 'z9hG4bKtest'}\r\n` +
    `From: <${o.from ?? 'sip:alice@example.com'}>;tag=1\r\n` +
    `To: <${o.to ?? 'sip:alice@example.com'}>\r\n` +
    'Call-ID: c1@test\r\n' +
    `CSeq: 1 ${method}\r\n` +
    (o.headers ?? []).map((h) => `${h}\r\n`).join('') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
}

function setup(
  options: {
    algorithms?: DigestAlgorithm[];
    requireQop?: boolean;
    source?: CredentialSource;
    lifetime?: number;
  } = {},
) {
  const clock = { t: 1_700_000_000_000 };
  const now = () => clock.t;
  const lifetime = options.lifetime ?? 300_000;
  const auth = new DigestAuthenticator({
    nonces: new NonceFactory(SECRET, lifetime, now),
    counts: new NonceCountTable(1000, lifetime + 5000, now),
    algorithms: options.algorithms ?? ['SHA-256', 'MD5', 'SHA-512-256', 'MD5-sess', 'SHA-256-sess'],
    qop: ['auth', 'auth-int'],
    requireQop: options.requireQop ?? true,
    source: () =>
      options.source ?? new StaticCredentialSource({ 'alice@example.com': 'secret', carol: 'pässwörd' }),
  });
  /** A challenge for `algorithm`. */
  const challenge = (algorithm: DigestAlgorithm = 'MD5', realm = REALM) =>
    auth.challenges(realm, { algorithms: [algorithm] })[0]!;
  return { auth, clock, challenge };
}

const ALICE = { username: 'alice', password: 'secret', method: 'REGISTER', uri: 'sip:example.com' };

describe('DigestAuthenticator', () => {
  for (const algorithm of ['MD5', 'SHA-256', 'SHA-512-256', 'MD5-sess', 'SHA-256-sess'] as const) {
    it(`authorizes a right answer with ${algorithm}`, async () => {
      const { auth, challenge } = setup();
      const req = request({ headers: [`Authorization: ${answer(challenge(algorithm), ALICE)}`] });
      const v = await auth.verify(req, 'authorization', REALM);
      assert.equal(v.result, 'authorized', v.reason);
      assert.deepEqual(v.user, { username: 'alice', user: 'alice', domain: REALM, realm: REALM, algorithm });
      assert.equal(v.field, req.field('authorization'));
    });
  }

  it('authorizes qop=auth-int over the body, and rejects the same answer over another body', async () => {
    const { auth, challenge } = setup();
    const body = 'hello';
    const creds = answer(challenge('SHA-256'), {
      ...ALICE,
      method: 'MESSAGE',
      qop: 'auth-int',
      body: Buffer.from(body),
    });
    const ok = request({ method: 'MESSAGE', body, headers: [`Authorization: ${creds}`] });
    assert.equal((await auth.verify(ok, 'authorization', REALM)).result, 'authorized');
    const other = request({ method: 'MESSAGE', body: 'hellO', headers: [`Authorization: ${creds}`] });
    assert.equal((await auth.verify(other, 'authorization', REALM)).result, 'invalid');
  });

  it('accepts a `user@domain` username (Kamailio ha1b) and UTF-8 passwords', async () => {
    const { auth, challenge } = setup();
    const withDomain = request({
      headers: [`Authorization: ${answer(challenge('MD5'), { ...ALICE, username: 'alice@example.com' })}`],
    });
    const v = await auth.verify(withDomain, 'authorization', REALM);
    assert.equal(v.result, 'authorized', v.reason);
    assert.equal(v.user?.user, 'alice');
    assert.equal(v.user?.username, 'alice@example.com');
    // carol is in every domain; the client hashes her password as UTF-8 bytes
    const carol = request({
      from: 'sip:carol@other.org',
      to: 'sip:carol@other.org',
      headers: [
        `Authorization: ${answer(challenge('SHA-256', 'other.org'), {
          ...ALICE,
          username: 'carol',
          password: Buffer.from('pässwörd', 'utf8').toString('latin1'),
        })}`,
      ],
    });
    assert.equal((await auth.verify(carol, 'authorization', 'other.org')).result, 'authorized');
  });

  it('verifies against stored MD5 hashes (ha1, ha1b) and refuses SHA-256 when only those are stored', async () => {
    const source: CredentialSource = {
      lookup: (user, domain) =>
        Promise.resolve(
          user === 'alice' && domain === REALM
            ? {
                ha1: computeHa1('MD5', 'alice', REALM, 'secret'),
                ha1b: computeHa1('MD5', 'alice@example.com', REALM, 'secret').toUpperCase(),
              }
            : undefined,
        ),
    };
    const { auth, challenge } = setup({ source });
    const md5 = request({ headers: [`Authorization: ${answer(challenge('MD5'), ALICE)}`] });
    assert.equal((await auth.verify(md5, 'authorization', REALM)).result, 'authorized');
    const b = request({
      headers: [`Authorization: ${answer(challenge('MD5'), { ...ALICE, username: 'alice@example.com' })}`],
    });
    assert.equal((await auth.verify(b, 'authorization', REALM)).result, 'authorized');
    const sha = request({ headers: [`Authorization: ${answer(challenge('SHA-256'), ALICE)}`] });
    assert.equal((await auth.verify(sha, 'authorization', REALM)).result, 'invalid');
  });

  it('answers a wrong password and an unknown user alike: invalid, with the same reason', async () => {
    const lookups: string[] = [];
    const base = new StaticCredentialSource({ 'alice@example.com': 'secret' });
    const source: CredentialSource = {
      lookup(user, domain) {
        lookups.push(`${user}@${domain}`);
        return base.lookup(user, domain);
      },
    };
    const { auth, challenge } = setup({ source });
    const wrong = await auth.verify(
      request({ headers: [`Authorization: ${answer(challenge(), { ...ALICE, password: 'guess' })}`] }),
      'authorization',
      REALM,
    );
    const unknown = await auth.verify(
      request({ headers: [`Authorization: ${answer(challenge(), { ...ALICE, username: 'mallory' })}`] }),
      'authorization',
      REALM,
    );
    assert.equal(wrong.result, 'invalid');
    assert.equal(unknown.result, 'invalid');
    assert.equal(wrong.reason, unknown.reason);
    assert.deepEqual(lookups, ['alice@example.com', 'mallory@example.com']);
  });

  it('says no-credentials without an Authorization header, and looks at the header asked for', async () => {
    const { auth, challenge } = setup();
    assert.equal((await auth.verify(request(), 'authorization', REALM)).result, 'no-credentials');
    const req = request({ headers: [`Proxy-Authorization: ${answer(challenge(), ALICE)}`] });
    assert.equal((await auth.verify(req, 'authorization', REALM)).result, 'no-credentials');
    assert.equal((await auth.verify(req, 'proxy-authorization', REALM)).result, 'authorized');
  });

  it('picks the credentials of its realm among several (RFC 3261 §22.4)', async () => {
    const { auth, challenge } = setup();
    const foreign = answer(challenge('MD5', 'other.net'), ALICE);
    const ours = answer(challenge(), ALICE);
    const req = request({
      headers: [
        'Proxy-Authorization: Basic YWxpY2U6c2VjcmV0',
        'Proxy-Authorization: Digest ,,broken',
        `Proxy-Authorization: ${foreign}`,
        `Proxy-Authorization: ${ours}`,
      ],
    });
    const v = await auth.verify(req, 'proxy-authorization', REALM);
    assert.equal(v.result, 'authorized', v.reason);
    assert.equal(v.field, req.fields('proxy-authorization')[3]);
  });

  it('rejects replays: the same nonce-count twice is replayed, the next count passes', async () => {
    const { auth, challenge } = setup();
    const c = challenge();
    const first = request({ headers: [`Authorization: ${answer(c, { ...ALICE, cnonce: 'x' })}`] });
    assert.equal((await auth.verify(first, 'authorization', REALM)).result, 'authorized');
    const again = request({
      branch: 'z9hG4bKother',
      headers: [`Authorization: ${answer(c, { ...ALICE, cnonce: 'y' })}`],
    });
    assert.equal((await auth.verify(again, 'authorization', REALM)).result, 'replayed');
    const next = request({
      branch: 'z9hG4bKnext',
      headers: [`Authorization: ${answer(c, { ...ALICE, nc: 2 })}`],
    });
    assert.equal((await auth.verify(next, 'authorization', REALM)).result, 'authorized');
  });

  it('takes the same request again (same transaction, same nonce-count) for a retransmission, not a replay', async () => {
    const { auth, challenge } = setup();
    const c = challenge();
    const header = `Authorization: ${answer(c, { ...ALICE, cnonce: 'x' })}`;
    assert.equal(
      (await auth.verify(request({ headers: [header] }), 'authorization', REALM)).result,
      'authorized',
    );
    // a UDP retransmission: the reply to the first was lost; answered again like the first
    assert.equal(
      (await auth.verify(request({ headers: [header] }), 'authorization', REALM)).result,
      'authorized',
    );
    // the same credentials in another transaction: a replay
    const replay = request({ branch: 'z9hG4bKreplay', headers: [header] });
    assert.equal((await auth.verify(replay, 'authorization', REALM)).result, 'replayed');
  });

  it('says stale for a right answer with an expired nonce, invalid for a wrong one', async () => {
    const { auth, challenge, clock } = setup({ lifetime: 1000 });
    const c = challenge();
    clock.t += 1001;
    const right = request({ headers: [`Authorization: ${answer(c, ALICE)}`] });
    assert.equal((await auth.verify(right, 'authorization', REALM)).result, 'stale');
    const wrong = request({ headers: [`Authorization: ${answer(c, { ...ALICE, password: 'x' })}`] });
    assert.equal((await auth.verify(wrong, 'authorization', REALM)).result, 'invalid');
  });

  it('says error when the credential source fails', async () => {
    const source: CredentialSource = { lookup: () => Promise.reject(new Error('database down')) };
    const { auth, challenge } = setup({ source });
    const v = await auth.verify(
      request({ headers: [`Authorization: ${answer(challenge(), ALICE)}`] }),
      'authorization',
      REALM,
    );
    assert.equal(v.result, 'error');
    assert.match(v.reason, /database down/);
  });

  it('compares the digest-uri with the Request-URI by RFC 3261 §19.1.4 equivalence', async () => {
    const { auth, challenge } = setup();
    const creds = answer(challenge(), { ...ALICE, uri: 'sip:EXAMPLE.com' });
    const req = request({ uri: 'sip:example.com', headers: [`Authorization: ${creds}`] });
    assert.equal((await auth.verify(req, 'authorization', REALM)).result, 'authorized');
  });

  it('accepts credentials without qop only when requireQop is off (RFC 2069)', async () => {
    const strict = setup();
    const loose = setup({ requireQop: false });
    for (const [s, expected] of [
      [strict, 'invalid'],
      [loose, 'authorized'],
    ] as const) {
      const req = request({
        headers: [`Authorization: ${answer(s.challenge(), { ...ALICE, qop: 'none' })}`],
      });
      assert.equal((await s.auth.verify(req, 'authorization', REALM)).result, expected);
    }
  });

  describe('malformed or foreign credentials are invalid, never a crash', () => {
    const { auth, challenge } = setup({ algorithms: ['SHA-256', 'MD5'] });
    const c = challenge();
    const cases: Array<[string, string]> = [
      ['scheme without params', 'Digest'],
      ['empty param list', 'Digest ,'],
      ['unterminated quote', 'Digest username="alice, realm="example.com"'],
      ['not Digest', 'Basic YWxpY2U6c2VjcmV0'],
      ['another realm', answer(c, { ...ALICE, override: { realm: 'evil.example' } })],
      ['realm differing in case', answer(c, { ...ALICE, override: { realm: 'Example.com' } })],
      ['no username', answer(c, { ...ALICE, override: { username: undefined } })],
      ['no nonce', answer(c, { ...ALICE, override: { nonce: undefined } })],
      ['no uri', answer(c, { ...ALICE, override: { uri: undefined } })],
      ['no response', answer(c, { ...ALICE, override: { response: undefined } })],
      ['no realm', answer(c, { ...ALICE, override: { realm: undefined } })],
      ['qop without nc', answer(c, { ...ALICE, override: { nc: undefined } })],
      ['qop without cnonce', answer(c, { ...ALICE, override: { cnonce: undefined } })],
      ['nc not 8 hex digits', answer(c, { ...ALICE, override: { nc: '1' } })],
      ['unknown qop', answer(c, { ...ALICE, override: { qop: 'auth-conf' } })],
      ['unknown algorithm', answer(c, { ...ALICE, override: { algorithm: 'SHA-1' } })],
      [
        'algorithm not accepted here',
        answer(challenge('SHA-256'), { ...ALICE, override: { algorithm: 'SHA-512-256' } }),
      ],
      ['algorithm switched after the fact', answer(c, { ...ALICE, override: { algorithm: 'SHA-256' } })],
      ['wrong uri', answer(c, { ...ALICE, uri: 'sip:other.example.com' })],
      ['uri not a URI', answer(c, { ...ALICE, uri: '%%%' })],
      ['forged nonce', answer(c, { ...ALICE, override: { nonce: 'A'.repeat(40) } })],
      ['garbage nonce', answer(c, { ...ALICE, override: { nonce: '"' } })],
      ['response of another length', answer(c, { ...ALICE, override: { response: 'abc' } })],
      ['response not hex', answer(c, { ...ALICE, override: { response: 'z'.repeat(32) } })],
      ['userhash', `${answer(c, ALICE)}, userhash=true`],
      ['duplicate param', `${answer(c, ALICE)}, nonce="x"`],
      ['both username and username*', `${answer(c, ALICE)}, username*=UTF-8''alice`],
    ];
    for (const [name, value] of cases) {
      it(name, async () => {
        const req = request({ headers: [`Authorization: ${value}`] });
        const v = await auth.verify(req, 'authorization', REALM);
        assert.equal(v.result, 'invalid', `${value}: ${v.reason}`);
        assert.equal(v.user, undefined);
      });
    }
  });

  it('writes one challenge per algorithm with one nonce, qop and stale as asked', () => {
    const { auth } = setup();
    const values = auth.challenges('example.com', {
      algorithms: ['SHA-256', 'MD5'],
      qop: ['auth'],
      stale: true,
    });
    assert.equal(values.length, 2);
    const [sha, md5] = values.map((v) => digestChallenge(parseAuth(v)));
    assert.equal(sha!.algorithm, 'SHA-256');
    assert.equal(md5!.algorithm, 'MD5');
    assert.equal(sha!.nonce, md5!.nonce);
    assert.equal(sha!.realm, 'example.com');
    assert.deepEqual(sha!.qop, ['auth']);
    assert.equal(sha!.stale, true);
    assert.equal(digestChallenge(parseAuth(auth.challenges('r')[0]!)).stale, false);
  });
});

describe('credential sources', () => {
  it('static users: `user@domain` in its domain (any case), `user` in every domain, the former first', async () => {
    const users = new StaticCredentialSource({ 'alice@Example.com': 'a', alice: 'any', bob: 'b' });
    assert.deepEqual(await users.lookup('alice', 'example.COM'), { password: 'a' });
    assert.deepEqual(await users.lookup('alice', 'other.org'), { password: 'any' });
    assert.deepEqual(await users.lookup('bob', 'example.com'), { password: 'b' });
    assert.equal(await users.lookup('carol', 'example.com'), undefined);
    assert.equal(await users.lookup('Alice', 'example.com'), undefined);
  });

  it('a chain answers with the first source that knows the user', async () => {
    const chain = chainCredentialSources(new StaticCredentialSource({ 'alice@example.com': 'static' }), {
      lookup: (u) => Promise.resolve(u === 'bob' || u === 'alice' ? { ha1: '0'.repeat(32) } : undefined),
    });
    assert.deepEqual(await chain.lookup('alice', 'example.com'), { password: 'static' });
    assert.deepEqual(await chain.lookup('bob', 'example.com'), { ha1: '0'.repeat(32) });
    assert.equal(await chain.lookup('carol', 'example.com'), undefined);
  });

  it('picks the stored hash that fits the algorithm, and none when it does not', () => {
    const md5 = computeHa1('MD5', 'alice', 'r', 'pw');
    const sha = computeHa1('SHA-256', 'alice', 'r', 'pw');
    assert.equal(selectHa1({ password: 'pw' }, 'SHA-256', 'alice', 'r', false), sha);
    assert.equal(selectHa1({ ha1: md5.toUpperCase() }, 'MD5', 'alice', 'r', false), md5);
    assert.equal(selectHa1({ ha1: md5 }, 'MD5-sess', 'alice', 'r', false), md5);
    assert.equal(selectHa1({ ha1: md5 }, 'MD5', 'alice@d', 'r', true), undefined, 'ha1b wanted');
    assert.equal(selectHa1({ ha1: md5 }, 'SHA-256', 'alice', 'r', false), undefined);
    assert.equal(selectHa1({ ha1Sha256: sha }, 'SHA-256', 'alice', 'r', false), sha);
    assert.equal(selectHa1({ ha1Sha256: md5 }, 'SHA-256', 'alice', 'r', false), undefined, 'wrong length');
    assert.equal(selectHa1({ ha1: 'not hex'.padEnd(32, '!') }, 'MD5', 'alice', 'r', false), undefined);
    assert.equal(selectHa1({}, 'MD5', 'alice', 'r', false), undefined);
  });
});

// ---------------------------------------------------------------------------------------------------
// The module API

function listener(): Listener {
  return {
    id: 0,
    protocol: 'udp',
    address: '127.0.0.1',
    port: 5060,
    family: 4,
    advertisedHost: '127.0.0.1',
    advertisedPort: 5060,
  };
}

interface Sent {
  status: number;
  reason: string | undefined;
  headers: HeaderList;
}

function moduleFor(params: Record<string, unknown>) {
  const checked = validate(authModule.params!, params);
  if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
  const sent: Sent[] = [];
  const stats = new StatsRegistry();
  const log = Logger.create({ level: 'error', sink: () => {} });
  const myself = new Myself([]);
  const core: CoreServices = {
    myself,
    listeners: [listener()],
    stats,
    log,
    reply: (_ctx, status, reason, headers) => sent.push({ status, reason, headers: headers ?? [] }),
    forward: () => Promise.resolve(),
    module: (name) => {
      throw new Error(`no module ${name} in this test`);
    },
    get db(): never {
      throw new Error('no database in this test');
    },
  };
  const api = authModule.create(core, checked.value as Record<string, unknown>).api as AuthApi;
  const context = (msg: SipRequest) => {
    const source: Source = {
      protocol: 'udp',
      address: '192.0.2.1',
      port: 5060,
      family: 4,
      listener: listener(),
      connectionId: undefined,
      receivedAt: Date.now(),
    };
    return new RequestContext(msg, source, log, myself);
  };
  return { api, sent, stats, context };
}

/** The challenge values of a captured reply. */
const challengesOf = (s: Sent) => s.headers.map(([, v]) => v);

describe('auth module', () => {
  const users = { 'alice@example.com': 'secret', 'bob@example.com': 'hunter22' };

  it('challenges REGISTER with 401 (SHA-256 then MD5 by default), then authorizes the answer', async () => {
    const { api, sent, stats, context } = moduleFor({ users });
    const first = context(request());
    assert.equal(await api.wwwAuthorize(first), 'no-credentials');
    api.wwwChallenge(first);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.status, 401);
    assert.deepEqual(
      sent[0]!.headers.map(([name]) => name),
      ['WWW-Authenticate', 'WWW-Authenticate'],
    );
    const [sha, md5] = challengesOf(sent[0]!).map((v) => digestChallenge(parseAuth(v)));
    assert.equal(sha!.algorithm, 'SHA-256');
    assert.equal(md5!.algorithm, 'MD5');
    assert.equal(sha!.realm, 'example.com', 'the To domain');
    const second = context(
      request({ headers: [`Authorization: ${answer(challengesOf(sent[0]!)[0]!, ALICE)}`] }),
    );
    assert.equal(await api.wwwAuthorize(second), 'authorized');
    assert.equal(api.user(second)?.user, 'alice');
    assert.equal(api.checkTo(second), true);
    assert.equal(api.checkFrom(second), true);
    assert.equal(stats.get('auth.authorized'), 1);
    assert.equal(stats.get('auth.no_credentials'), 1);
    assert.equal(stats.get('auth.challenges'), 1);
  });

  it('challenges other requests with 407 in the From domain, with the algorithms and realm configured', async () => {
    const { api, sent, context } = moduleFor({ users, algorithms: ['MD5'], realm: 'olelo.test' });
    const req = context(request({ method: 'INVITE', uri: 'sip:bob@example.com' }));
    assert.equal(await api.proxyAuthorize(req), 'no-credentials');
    api.proxyChallenge(req);
    assert.equal(sent[0]!.status, 407);
    assert.deepEqual(
      sent[0]!.headers.map(([n]) => n),
      ['Proxy-Authenticate'],
    );
    const c = digestChallenge(parseAuth(challengesOf(sent[0]!)[0]!));
    assert.equal(c.realm, 'olelo.test');
    assert.equal(c.algorithm, 'MD5');
    const { api: byDomain, sent: sent2, context: context2 } = moduleFor({ users });
    byDomain.proxyChallenge(context2(request({ method: 'INVITE', from: 'sip:alice@From.Example' })));
    assert.equal(digestChallenge(parseAuth(challengesOf(sent2[0]!)[0]!)).realm, 'from.example');
  });

  it('sets stale=true on the challenge after a stale nonce', async () => {
    const { api, sent, context, stats } = moduleFor({ users, nonceLifetime: 100 });
    api.wwwChallenge(context(request()));
    const old = challengesOf(sent[0]!)[1]!;
    await new Promise((resolve) => setTimeout(resolve, 150));
    const req = context(request({ headers: [`Authorization: ${answer(old, ALICE)}`] }));
    assert.equal(await api.wwwAuthorize(req), 'stale');
    api.wwwChallenge(req);
    assert.equal(digestChallenge(parseAuth(challengesOf(sent[1]!)[0]!)).stale, true);
    assert.equal(stats.get('auth.stale'), 1);
  });

  it('authenticate(): 407, then 403 for a From that is not the user, then success with credentials consumed', async () => {
    const { api, sent, stats, context } = moduleFor({ users, algorithms: ['MD5'] });
    const invite = (headers: string[] = [], from = 'sip:alice@example.com') =>
      context(
        request({ method: 'INVITE', uri: 'sip:bob@example.com', from, to: 'sip:bob@example.com', headers }),
      );
    assert.equal(await api.authenticate(invite()), false);
    assert.equal(sent[0]!.status, 407);
    const c = challengesOf(sent[0]!)[0]!;
    const creds = (nc: number) =>
      `Proxy-Authorization: ${answer(c, { ...ALICE, method: 'INVITE', uri: 'sip:bob@example.com', nc })}`;
    // alice's credentials with bob's From
    assert.equal(await api.authenticate(invite([creds(1)], 'sip:bob@example.com')), false);
    assert.equal(sent[1]!.status, 403);
    assert.equal(stats.get('auth.forbidden'), 1);
    const ok = invite([creds(2), 'Proxy-Authorization: Digest realm="downstream.net", nonce="n"']);
    assert.equal(await api.authenticate(ok), true);
    assert.equal(sent.length, 2);
    // only our credentials are gone; the downstream proxy's stay
    assert.deepEqual(ok.msg.getHeaders('proxy-authorization'), ['Digest realm="downstream.net", nonce="n"']);
    assert.ok(!ok.msg.toString().includes('example.com", nonce'));
  });

  it('authenticate() on REGISTER checks the To identity and keeps Authorization', async () => {
    const { api, sent, context } = moduleFor({ users, algorithms: ['MD5'] });
    api.wwwChallenge(context(request()));
    const c = challengesOf(sent[0]!)[0]!;
    const reg = context(request({ headers: [`Authorization: ${answer(c, ALICE)}`] }));
    assert.equal(await api.authenticate(reg), true);
    assert.ok(reg.msg.hasHeader('authorization'));
    // alice registering bob's AOR
    const third = context(
      request({ to: 'sip:bob@example.com', headers: [`Authorization: ${answer(c, { ...ALICE, nc: 2 })}`] }),
    );
    assert.equal(await api.authenticate(third), false);
    assert.equal(sent.at(-1)!.status, 403);
  });

  it('authenticate() answers 500 when the credential source fails; setCredentialSource swaps it', async () => {
    const { api, sent, context, stats } = moduleFor({ algorithms: ['MD5'] });
    api.wwwChallenge(context(request()));
    const c = challengesOf(sent[0]!)[0]!;
    api.setCredentialSource({ lookup: () => Promise.reject(new Error('down')) });
    assert.equal(
      await api.authenticate(context(request({ headers: [`Authorization: ${answer(c, ALICE)}`] }))),
      false,
    );
    assert.equal(sent.at(-1)!.status, 500);
    assert.equal(stats.get('auth.errors'), 1);
    api.setCredentialSource(new StaticCredentialSource({ alice: 'secret' }));
    const ok = context(request({ headers: [`Authorization: ${answer(c, { ...ALICE, nc: 2 })}`] }));
    assert.equal(await api.authenticate(ok), true);
  });

  it('checkFrom/checkTo are false before authorization and for other users or domains', async () => {
    const { api, sent, context } = moduleFor({ users, algorithms: ['MD5'] });
    const plain = context(request());
    assert.equal(api.checkFrom(plain), false);
    assert.equal(api.checkTo(plain), false);
    assert.equal(api.consumeCredentials(plain), false);
    api.wwwChallenge(plain);
    const c = challengesOf(sent[0]!)[0]!;
    const results: Array<[string, boolean]> = [];
    for (const [i, from] of [
      'sip:alice@example.com',
      'sip:alice@EXAMPLE.COM',
      'sip:Alice@example.com',
      'sip:alice@other.com',
      'tel:+123',
      'sip:example.com',
    ].entries()) {
      const req = context(
        request({ from, headers: [`Authorization: ${answer(c, { ...ALICE, nc: i + 1 })}`] }),
      );
      const r: AuthResult = await api.wwwAuthorize(req);
      assert.equal(r, 'authorized');
      results.push([from, api.checkFrom(req)]);
    }
    assert.deepEqual(results, [
      ['sip:alice@example.com', true],
      ['sip:alice@EXAMPLE.COM', true],
      ['sip:Alice@example.com', false],
      ['sip:alice@other.com', false],
      ['tel:+123', false],
      ['sip:example.com', false],
    ]);
  });

  it('validates its parameters', () => {
    const bad = (p: Record<string, unknown>) => !validate(authModule.params!, p).ok;
    assert.ok(bad({ secret: 'short' }));
    assert.ok(bad({ algorithms: ['SHA-1'] }));
    assert.ok(bad({ algorithms: [] }));
    assert.ok(bad({ qop: ['auth-conf'] }));
    assert.ok(bad({ users: { alice: 1 } }));
    assert.ok(!bad({ secret: 'a long enough shared secret', nonceLifetime: '30s', users: { alice: 'x' } }));
  });
});
