/**
 * The default service (scripts/default.ts) as a registrar: SIPp UACs registering with digest
 * authentication against the subscriber table — the registration's life (401/200, 423, expires=0, `*`),
 * wrong passwords, unknown users and other users' AORs, a replayed nonce, an expired one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UdpPeer } from '../helpers/server.js';
import { hasSipp, headerValues, killAllSipp, tempDir } from '../helpers/sipp.js';
import {
  finals,
  LOCAL,
  provision,
  registerArgs,
  responses,
  type Service,
  startService,
  succeeded,
  traced,
} from './helpers.js';

const T = { timeout: 20_000 };
const SIPP = hasSipp() ? false : 'sipp is not installed';

describe('default service: registration', { skip: SIPP, concurrency: true }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;

  before(async () => {
    dir = tempDir('olelo-svc-reg-');
    await provision(dir.path);
    svc = await startService(dir.path);
  });

  after(async () => {
    killAllSipp();
    await svc?.stop();
    dir?.remove();
  });

  it('takes a registration through its life: 401, 200, 423, expires=0, again, and *', T, async () => {
    const r = await svc.uac(
      'svc-register-lifecycle.xml',
      'lifecycle',
      registerArgs('alice', { contactPort: 5071 }),
    );
    assert.equal(succeeded([r]), undefined);
    assert.deepEqual(finals(r), [401, 200, 423, 200, 200, 200]);
    const challenge = responses(r).find((m) => m.startsWith('SIP/2.0 401'))!;
    const [www] = headerValues(challenge, 'WWW-Authenticate');
    assert.match(www!, /realm="example\.com"/);
    assert.match(www!, /algorithm=MD5/);
    const ok = responses(r).find((m) => m.startsWith('SIP/2.0 200'))!;
    assert.match(headerValues(ok, 'Contact')[0]!, new RegExp(`<sip:alice@${LOCAL}:5071>;expires=`));
  });

  it(
    'refuses a wrong password (401 again), an unknown user (alike) and another user’s AOR (403)',
    T,
    async () => {
      const [wrong, unknown, foreign] = await Promise.all([
        svc.uac('svc-register-reject.xml', 'wrong', registerArgs('bob', { password: 'guess' })),
        svc.uac('svc-register-reject.xml', 'unknown', registerArgs('mallory', { password: 'x' })),
        svc.uac('svc-register-reject.xml', 'foreign', registerArgs('carol', { authUser: 'bob' })),
      ]);
      assert.equal(succeeded([wrong, unknown, foreign]), undefined);
      assert.deepEqual(finals(wrong), [401, 401]);
      assert.deepEqual(finals(unknown), [401, 401]);
      assert.deepEqual(finals(foreign), [401, 403]);
      // the second challenges of a wrong password and of an unknown user look alike
      const second = (m: string[]) =>
        headerValues(m.at(-1)!, 'WWW-Authenticate')[0]!.replace(/nonce="[^"]*"/, '');
      assert.equal(second(responses(wrong)), second(responses(unknown)));
    },
  );

  it(
    'refuses a replayed REGISTER (same nonce and nonce-count in a new transaction) with a new challenge',
    T,
    async () => {
      const r = await svc.uac('svc-register.xml', 'replay-source', registerArgs('dave'));
      assert.equal(succeeded([r]), undefined);
      const authorized = traced(r).find((m) => m.sent && m.text.includes('Authorization: Digest'))!.text;
      const peer = await UdpPeer.open();
      try {
        const replay = `${authorized
          .replace(/branch=[^;\r\n]+/, 'branch=z9hG4bKreplayed1')
          .replace(/^Via: SIP\/2\.0\/UDP [^;]+/m, `Via: SIP/2.0/UDP ${LOCAL}:${peer.port}`)}\r\n\r\n`;
        const before = svc.stats('auth')['auth.replayed'] ?? 0;
        peer.send(replay.replace(/\r?\n/g, '\r\n').replace(/(\r\n){3,}$/, '\r\n\r\n'), svc.port);
        const answer = await peer.next((m) => m.startsWith('SIP/2.0 '));
        assert.match(answer, /^SIP\/2\.0 401 /);
        assert.equal(svc.stats('auth')['auth.replayed'], before + 1);
      } finally {
        peer.close();
      }
    },
  );
});

describe('default service: an expired nonce', { skip: SIPP }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;

  before(async () => {
    dir = tempDir('olelo-svc-stale-');
    await provision(dir.path);
    svc = await startService(dir.path, { modules: '    nonceLifetime: 500ms\n' });
  });

  after(async () => {
    killAllSipp();
    await svc?.stop();
    dir?.remove();
  });

  it('challenges with stale=true, then accepts the answer to the new nonce', T, async () => {
    const r = await svc.uac('svc-register-stale.xml', 'stale', [...registerArgs('alice'), '-d', '800']);
    assert.equal(succeeded([r]), undefined);
    assert.deepEqual(finals(r), [401, 200, 401, 200]);
    assert.equal(svc.stats('auth')['auth.stale'], 1);
  });
});
