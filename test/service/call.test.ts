/**
 * The default service (scripts/default.ts) as a proxy: calls between SIPp phones registered with digest
 * authentication, proxy authentication of local callers, 404/480 for users without phones, no open
 * relay, aliases, and the failure route of calls nobody answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  hasSipp,
  headerValues,
  killAllSipp,
  type SippProcess,
  type SippResult,
  tempDir,
} from '../helpers/sipp.js';
import {
  callArgs,
  DOMAIN,
  finals,
  LOCAL,
  provision,
  registerArgs,
  requestsOf,
  type Service,
  startService,
  succeeded,
} from './helpers.js';

const T = { timeout: 20_000 };
const SIPP = hasSipp() ? false : 'sipp is not installed';

/** Waits for a SIPp UAS to finish; kills it when it has not after `ms`. */
async function finished(uas: SippProcess, ms = 8000): Promise<SippResult> {
  const timer = setTimeout(() => uas.kill(), ms);
  try {
    return await uas.done;
  } finally {
    clearTimeout(timer);
  }
}

describe('default service: calls', { skip: SIPP, concurrency: true }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;

  before(async () => {
    dir = tempDir('olelo-svc-call-');
    await provision(dir.path, { aliases: { '100': 'erin' } });
    svc = await startService(dir.path);
  });

  after(async () => {
    killAllSipp();
    await svc?.stop();
    dir?.remove();
  });

  it(
    'relays a call between two registered users after proxy authentication: INVITE/180/200/ACK/BYE',
    T,
    async () => {
      const bob = await svc.uas('svc-uas.xml', 'bob-uas');
      const regs = await Promise.all([
        svc.uac('svc-register.xml', 'bob-reg', registerArgs('bob', { contactPort: bob.port })),
        svc.uac('svc-register.xml', 'alice-reg', registerArgs('alice')),
      ]);
      const call = await svc.uac('svc-call.xml', 'alice-calls-bob', callArgs('alice', 'bob'));
      const uas = await finished(bob);
      assert.equal(succeeded([...regs, call, uas]), undefined);
      assert.deepEqual(finals(call), [407, 200, 200], call.summary);
      const [invite] = requestsOf(uas, 'INVITE');
      assert.ok(invite !== undefined, uas.summary);
      // the registrar's lookup: the Request-URI is bob's registered contact, To stays his AOR
      assert.match(invite, new RegExp(`^INVITE sip:bob@${LOCAL}:${bob.port} SIP/2\\.0`));
      assert.match(headerValues(invite, 'To')[0]!, /sip:bob@example\.com/);
      assert.deepEqual(headerValues(invite, 'Record-Route'), [`<sip:${LOCAL}:${svc.port};lr>`]);
      assert.equal(requestsOf(uas, 'BYE').length, 1);
    },
  );

  it('answers 404 for a user who is no subscriber', T, async () => {
    const call = await svc.uac('svc-call-fail.xml', 'call-nobody', callArgs('alice', 'nobody'));
    assert.equal(succeeded([call]), undefined);
    assert.deepEqual(finals(call), [407, 404]);
  });

  it('answers 480 for a subscriber with no phone registered', T, async () => {
    const call = await svc.uac('svc-call-fail.xml', 'call-carol', callArgs('alice', 'carol'));
    assert.equal(succeeded([call]), undefined);
    assert.deepEqual(finals(call), [407, 480]);
  });

  it(
    'lets a caller of another domain reach a local user without credentials (480 here: not registered)',
    T,
    async () => {
      const call = await svc.uac(
        'svc-invite-refused.xml',
        'stranger-to-carol',
        callArgs('mallory', 'carol', { callerDomain: 'evil.example.net' }),
      );
      assert.equal(succeeded([call]), undefined);
      assert.deepEqual(finals(call), [480]);
    },
  );

  it('is no open relay: 403 for a request between two foreign domains', T, async () => {
    const call = await svc.uac(
      'svc-invite-refused.xml',
      'relay-attempt',
      callArgs('mallory', 'victim', { callerDomain: 'evil.example.net', domain: 'elsewhere.example.org' }),
    );
    assert.equal(succeeded([call]), undefined);
    assert.deepEqual(finals(call), [403]);
  });

  it('refuses a local caller authenticated as another user: 407, then 403', T, async () => {
    const call = await svc.uac(
      'svc-call-fail.xml',
      'dave-as-alice',
      callArgs('dave', 'carol', { authUser: 'alice' }),
    );
    assert.equal(succeeded([call]), undefined);
    assert.deepEqual(finals(call), [407, 403]);
  });

  it('relays an authenticated local caller to another domain', T, async () => {
    const far = await svc.uas('svc-uas.xml', 'far-uas');
    const domain = `${LOCAL}:${far.port}`;
    const call = await svc.uac('svc-call.xml', 'call-out', callArgs('grace', 'someone', { domain }));
    const uas = await finished(far);
    assert.equal(succeeded([call, uas]), undefined);
    assert.deepEqual(finals(call), [407, 200, 200]);
    assert.match(requestsOf(uas, 'INVITE')[0]!, new RegExp(`^INVITE sip:someone@${LOCAL}:${far.port} SIP`));
  });

  it('delivers a call to an alias (dbaliases) to the user it points to', T, async () => {
    const erin = await svc.uas('svc-uas.xml', 'erin-uas');
    const reg = await svc.uac(
      'svc-register.xml',
      'erin-reg',
      registerArgs('erin', { contactPort: erin.port }),
    );
    const call = await svc.uac('svc-call.xml', 'call-alias', callArgs('frank', '100'));
    const uas = await finished(erin);
    assert.equal(succeeded([reg, call, uas]), undefined);
    const [invite] = requestsOf(uas, 'INVITE');
    assert.match(invite!, new RegExp(`^INVITE sip:erin@${LOCAL}:${erin.port} SIP`));
    assert.match(headerValues(invite!, 'To')[0]!, new RegExp(`sip:100@${DOMAIN.replace('.', '\\.')}`));
  });
});

describe('default service: calls nobody answers', { skip: SIPP, concurrency: true }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;

  before(async () => {
    dir = tempDir('olelo-svc-noanswer-');
    await provision(dir.path);
    // short ringing and response timers, so the failure route runs within the test
    svc = await startService(dir.path, { modules: '  tm:\n    frTimer: 1s\n    frInvTimer: 1500ms\n' });
  });

  after(async () => {
    killAllSipp();
    await svc?.stop();
    dir?.remove();
  });

  it('answers 480 when the phone rang until the ringing timer ran out, and cancels it', T, async () => {
    const frank = await svc.uas('svc-uas-ring.xml', 'frank-uas');
    const reg = await svc.uac(
      'svc-register.xml',
      'frank-reg',
      registerArgs('frank', { contactPort: frank.port }),
    );
    const call = await svc.uac('svc-call-fail.xml', 'call-frank', callArgs('alice', 'frank'));
    const uas = await finished(frank);
    assert.equal(succeeded([reg, call, uas]), undefined);
    assert.deepEqual(finals(call), [407, 480]);
    assert.equal(requestsOf(uas, 'CANCEL').length, 1);
  });

  it('answers 408 when the registered phone never answers at all', T, async () => {
    const deadPort = await freePort(LOCAL);
    const reg = await svc.uac(
      'svc-register.xml',
      'grace-reg',
      registerArgs('grace', { contactPort: deadPort }),
    );
    const call = await svc.uac('svc-call-fail.xml', 'call-grace', callArgs('bob', 'grace'));
    assert.equal(succeeded([reg, call]), undefined);
    assert.deepEqual(finals(call), [407, 408]);
  });
});
