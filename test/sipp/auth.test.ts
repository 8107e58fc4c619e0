/**
 * Digest authentication (the auth module) against real SIPp UACs and UASes on UDP loopback, with the route
 * script of src/modules/auth/README.md: REGISTER challenged with 401 and answered 200 by sl once
 * authorized, INVITE challenged with 407 and relayed by tm to a SIPp UAS without its credentials.
 *
 * SIPp 3.6 (Debian sip-tester) answers MD5 challenges only and reads only the first challenge, so the SIPp
 * scenes offer MD5 alone; SHA-256 and SHA-512-256 are exercised by a UDP client of the test's own, against
 * the default configuration (SHA-256 offered first). Every test starts its own olelo; every SIPp run is
 * bounded and traces into a temporary folder removed at the end (kept when OLELO_KEEP_SIPP is set). The
 * scenarios are test/sipp/auth-*.xml.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { digestChallenge, parseAuth } from '../../src/sip/headers/auth.js';
import { answer } from '../auth/client.js';
import { waitUntil } from '../helpers/process.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';
import {
  hasSipp,
  headerValues,
  killAllSipp,
  runSippUac,
  type SippProcess,
  type SippResult,
  startSippUas,
  tempDir,
} from '../helpers/sipp.js';

const T = { timeout: 40_000 };
const SIPP = hasSipp();
const LOCAL = '127.0.0.1';
const USERS = { 'alice@example.com': 'secret', 'bob@example.com': 'bobs secret' };

/** The route script of the module's README (its only `ts` code block). */
function readmeScript(): string {
  const readme = readFileSync(join(ROOT, 'src/modules/auth/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 1, 'one ts example in the README');
  return blocks[0]![1]!;
}

/** One message of a SIPp `-trace_msg` log. */
interface Traced {
  sent: boolean;
  text: string;
}

function traced(log: string): Traced[] {
  const out: Traced[] = [];
  const re =
    /^-{20,}[^\n]*\n\S+ message (sent|received) (?:\[\d+\] bytes :|\(\d+ bytes\):)\s*\n\n?([\s\S]*?)(?=^-{20,}|(?![\s\S]))/gm;
  for (const m of log.matchAll(re)) out.push({ sent: m[1] === 'sent', text: m[2]!.trim() });
  return out;
}

const received = (r: SippResult) => traced(r.messages).filter((m) => !m.sent);
const sentBy = (r: SippResult) => traced(r.messages).filter((m) => m.sent);
const statusOf = (m: Traced) => Number(m.text.slice(8, 11));
/** Statuses of the final responses a UAC received, in order, retransmissions (same CSeq and status) once. */
function finals(r: SippResult): number[] {
  const seen = new Map<string, number>();
  for (const m of received(r)) {
    if (!m.text.startsWith('SIP/2.0 ') || statusOf(m) < 200) continue;
    seen.set(
      `${headerValues(m.text, 'Call-ID')[0]} ${headerValues(m.text, 'CSeq')[0]} ${statusOf(m)}`,
      statusOf(m),
    );
  }
  return [...seen.values()];
}

function assertSucceeded(runs: SippResult[], calls: number): void {
  const all = runs.map((r) => r.summary).join('\n');
  for (const r of runs) {
    assert.equal(r.killed, false, all);
    assert.equal(r.code, 0, all);
    assert.equal(r.successful, calls, all);
    assert.equal(r.failed, 0, all);
  }
}

/** A SIP request as text, lines joined with CRLF, Content-Length computed. */
function sipRequest(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe('SIPp through olelo: digest authentication (auth)', {
  skip: SIPP ? false : 'sipp (Debian sip-tester) is not installed',
  concurrency: true,
}, () => {
  let dir: ReturnType<typeof tempDir>;
  let script: string;

  before(() => {
    dir = tempDir('olelo-sipp-auth-');
    script = join(dir.path, 'auth-script.ts');
    writeFileSync(script, readmeScript());
  });

  after(() => {
    killAllSipp();
    if (process.env.OLELO_KEEP_SIPP === undefined) dir?.remove();
  });

  interface Scene {
    server: Server;
    port: number;
    stats(): Record<string, number>;
    uas(scenario: string, name: string, calls: number): Promise<SippProcess>;
    uac(scenario: string, name: string, calls: number, args: string[]): Promise<SippResult>;
  }

  /** Runs `fn` with an olelo whose auth parameters are `auth` (YAML lines under `modules.auth`). */
  async function scene(auth: string[], fn: (s: Scene) => Promise<void>): Promise<void> {
    const users = Object.entries(USERS).map(([u, p]) => `      ${u}: ${JSON.stringify(p)}`);
    const yaml = `modules:\n  auth:\n${auth.map((l) => `    ${l}\n`).join('')}    users:\n${users.join('\n')}\n`;
    const { server, listener } = await startServer(yaml, { listen: [`udp:${LOCAL}:0`], script });
    const port = listener('udp').port;
    const started: SippProcess[] = [];
    try {
      await fn({
        server,
        port,
        stats: () => server.stats.snapshot('auth'),
        async uas(scenario, name, calls) {
          const p = await startSippUas({
            scenario,
            local: LOCAL,
            calls,
            dir: dir.path,
            name,
            randomMediaPort: true,
          });
          started.push(p);
          return p;
        },
        uac: (scenario, name, calls, args) =>
          runSippUac({
            scenario,
            local: LOCAL,
            calls,
            remote: `${LOCAL}:${port}`,
            args,
            dir: dir.path,
            name,
            randomMediaPort: true,
          }),
      });
    } finally {
      for (const p of started) p.kill();
      await server.stop(100);
    }
  }

  /** SIPp arguments for REGISTER of `aor` (`user@domain`) with the credentials of `user`/`password`. */
  const register = (aor: string, user: string, password: string) => {
    const [service, domain] = aor.split('@');
    return ['-s', service!, '-key', 'domain', domain!, '-au', user, '-ap', password];
  };

  /** SIPp arguments for an INVITE from `caller`@example.com to bob at `uas`, authenticating as `user`. */
  const invite = (uas: SippProcess, caller: string, user: string, password: string) => {
    const target = `${LOCAL}:${uas.port}`;
    return [
      ...['-s', 'bob', '-key', 'uas', target, '-key', 'caller', caller, '-key', 'domain', 'example.com'],
      ...['-au', user, '-ap', password, '-auth_uri', `bob@${target}`],
    ];
  };

  it('REGISTER: 401 with an MD5 challenge in the To domain, then 200 for the right credentials', T, () =>
    scene(['algorithms: [MD5]'], async ({ uac, stats }) => {
      const N = 3;
      const c = await uac(
        'auth-register.xml',
        'register',
        N,
        register('alice@example.com', 'alice', 'secret'),
      );
      assertSucceeded([c], N);
      assert.deepEqual(finals(c), [401, 200, 401, 200, 401, 200], c.summary);
      const challenge = received(c).find((m) => statusOf(m) === 401)!;
      const values = headerValues(challenge.text, 'WWW-Authenticate');
      assert.equal(values.length, 1);
      const parsed = digestChallenge(parseAuth(values[0]!));
      assert.equal(parsed.realm, 'example.com');
      assert.equal(parsed.algorithm, 'MD5');
      assert.deepEqual(parsed.qop, ['auth']);
      assert.equal(parsed.stale, false);
      const st = stats();
      assert.equal(st['auth.authorized'], N, JSON.stringify(st));
      assert.equal(st['auth.no_credentials'], N, JSON.stringify(st));
      assert.equal(st['auth.challenges'], N, JSON.stringify(st));
      assert.equal(st['auth.invalid'], 0, JSON.stringify(st));
    }),
  );

  it(
    'REGISTER with a wrong password: 401 again; for an unknown user: the same; for an AOR not the user’s: 403',
    T,
    () =>
      scene(['algorithms: [MD5]'], async ({ uac, stats }) => {
        const [wrong, unknown, foreign] = await Promise.all([
          uac(
            'auth-register-reject.xml',
            'register-wrong',
            1,
            register('alice@example.com', 'alice', 'guess'),
          ),
          uac(
            'auth-register-reject.xml',
            'register-unknown',
            1,
            register('mallory@example.com', 'mallory', 'x'),
          ),
          uac(
            'auth-register-reject.xml',
            'register-foreign',
            1,
            register('bob@example.com', 'alice', 'secret'),
          ),
        ]);
        assertSucceeded([wrong, unknown, foreign], 1);
        assert.deepEqual(finals(wrong), [401, 401], wrong.summary);
        assert.deepEqual(finals(unknown), [401, 401], unknown.summary);
        assert.deepEqual(finals(foreign), [401, 403], foreign.summary);
        // the second challenge to a wrong password and to an unknown user look alike: no stale, same realm
        const second = (r: SippResult) =>
          digestChallenge(parseAuth(headerValues(received(r).at(-1)!.text, 'WWW-Authenticate')[0]!));
        const [a, b] = [second(wrong), second(unknown)];
        assert.deepEqual({ ...a, nonce: '' }, { ...b, nonce: '' });
        const st = stats();
        assert.equal(st['auth.invalid'], 2, JSON.stringify(st));
        assert.equal(st['auth.authorized'], 1, JSON.stringify(st));
      }),
  );

  it(
    'a replayed REGISTER (same nonce and nonce-count, new branch) gets 401; a retransmission of the original is answered again',
    T,
    () =>
      scene(['algorithms: [MD5]'], async ({ port, uac, stats }) => {
        const c = await uac(
          'auth-register.xml',
          'register-replay',
          1,
          register('alice@example.com', 'alice', 'secret'),
        );
        assertSucceeded([c], 1);
        const authorized = sentBy(c).find((m) => m.text.includes('Authorization:'))!;
        assert.ok(authorized, c.summary);
        // SIPp writes LF line ends in its trace: back to CRLF
        const original = authorized.text.split(/\r?\n/).join('\r\n');
        const peer = await UdpPeer.open();
        try {
          // the same request with a new Via branch and CSeq: a new transaction carrying used credentials
          const replay = `${original
            .replace(/;branch=[^;\r\n]+/, ';branch=z9hG4bKreplay1')
            .replace(/CSeq: 2 REGISTER/, 'CSeq: 5 REGISTER')}\r\n\r\n`;
          peer.send(replay, port);
          const res = await peer.next((t) => t.includes('z9hG4bKreplay1'));
          assert.match(res, /^SIP\/2\.0 401 /);
          assert.equal(stats()['auth.replayed'], 1);
          // the very same request again (same branch and CSeq) is a retransmission whose 200 was lost: it is
          // authorized again and answered like the first (the stateless REGISTER stays idempotent), not
          // taken for a replay
          peer.send(`${original}\r\n\r\n`, port);
          assert.ok(
            await waitUntil(() => stats()['auth.authorized'] === 2, 2000),
            `the retransmission was authorized again: ${JSON.stringify(stats())}`,
          );
          assert.equal(stats()['auth.replayed'], 1);
        } finally {
          peer.close();
        }
      }),
  );

  it(
    'stale nonce: after the nonce lifetime the old credentials get 401 stale=true and the retry 200',
    T,
    () =>
      scene(['algorithms: [MD5]', 'nonceLifetime: 1s'], async ({ uac, stats }) => {
        const c = await uac('auth-register-stale.xml', 'register-stale', 1, [
          ...register('alice@example.com', 'alice', 'secret'),
          ...['-d', '1600'],
        ]);
        assertSucceeded([c], 1);
        assert.deepEqual(finals(c), [401, 200, 401, 200], c.summary);
        const st = stats();
        assert.equal(st['auth.stale'], 1, JSON.stringify(st));
        assert.equal(st['auth.authorized'], 2, JSON.stringify(st));
      }),
  );

  it(
    'INVITE: 407, then relayed by tm with the Proxy-Authorization removed; ACK and BYE follow the dialog',
    T,
    () =>
      scene(['algorithms: [MD5]'], async ({ uas, uac, stats }) => {
        const N = 2;
        const u = await uas('auth-uas.xml', 'invite-uas', N);
        const c = await uac('auth-invite.xml', 'invite-uac', N, invite(u, 'alice', 'alice', 'secret'));
        const s = await u.done;
        assertSucceeded([c, s], N);
        const invites = received(s).filter((m) => m.text.startsWith('INVITE '));
        assert.equal(invites.length, N, s.summary);
        for (const inv of invites) {
          assert.deepEqual(headerValues(inv.text, 'Proxy-Authorization'), [], 'credentials consumed');
          assert.match(headerValues(inv.text, 'From')[0]!, /sip:alice@example\.com/);
        }
        // the caller did send credentials
        assert.equal(sentBy(c).filter((m) => m.text.includes('Proxy-Authorization: Digest')).length, N);
        const challenge = received(c).find((m) => m.text.startsWith('SIP/2.0 407'))!;
        assert.equal(
          digestChallenge(parseAuth(headerValues(challenge.text, 'Proxy-Authenticate')[0]!)).realm,
          'example.com',
        );
        const st = stats();
        assert.equal(st['auth.authorized'], N, JSON.stringify(st));
        assert.equal(st['auth.forbidden'], 0, JSON.stringify(st));
      }),
  );

  it(
    'INVITE with a wrong password: 407 again; with a From that is not the user’s: 403; nothing relayed',
    T,
    () =>
      scene(['algorithms: [MD5]'], async ({ uas, uac, stats }) => {
        const u = await uas('auth-uas.xml', 'reject-uas', 1);
        const [wrong, foreign] = await Promise.all([
          uac('auth-invite-reject.xml', 'invite-wrong', 1, invite(u, 'alice', 'alice', 'guess')),
          uac('auth-invite-reject.xml', 'invite-foreign', 1, invite(u, 'bob', 'alice', 'secret')),
        ]);
        assertSucceeded([wrong, foreign], 1);
        assert.deepEqual(finals(wrong), [407, 407], wrong.summary);
        assert.deepEqual(finals(foreign), [407, 403], foreign.summary);
        u.kill();
        const s = await u.done;
        assert.equal(received(s).length, 0, 'the UAS got nothing');
        const st = stats();
        assert.equal(st['auth.forbidden'], 1, JSON.stringify(st));
        assert.equal(st['auth.invalid'], 1, JSON.stringify(st));
      }),
  );

  describe('SHA-2 with a UDP client of the test (SIPp 3.6 does MD5 only)', () => {
    /** REGISTER for alice through `peer`; `authorization` is added when given. */
    const registerText = (
      port: number,
      peer: UdpPeer,
      branch: string,
      cseq: number,
      authorization?: string,
    ) =>
      sipRequest([
        `REGISTER sip:${LOCAL}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${LOCAL}:${peer.port};branch=z9hG4bK${branch};rport`,
        'From: <sip:alice@example.com>;tag=sha1',
        'To: <sip:alice@example.com>',
        `Call-ID: sha-${branch}@test`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: <sip:alice@${LOCAL}:${peer.port}>`,
        'Max-Forwards: 70',
        'Expires: 60',
        ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]),
      ]);

    for (const [name, config, pick] of [
      ['the default offers SHA-256 then MD5; answering SHA-256 registers', [], 'SHA-256'],
      ['the default offers SHA-256 then MD5; answering MD5 registers', [], 'MD5'],
      ['SHA-512-256 when configured', ['algorithms: [SHA-512-256, SHA-256]'], 'SHA-512-256'],
      ['SHA-256 with qop=auth-int', ['qop: [auth-int]'], 'SHA-256'],
    ] as const) {
      it(name, T, () =>
        scene([...config], async ({ port, stats }) => {
          const peer = await UdpPeer.open();
          try {
            const tag = `${pick}-${config.length}`.replace(/\W/g, '');
            peer.send(registerText(port, peer, `${tag}a`, 1), port);
            const challenge = await peer.next((t) => t.includes(`z9hG4bK${tag}a`));
            assert.match(challenge, /^SIP\/2\.0 401 /);
            const values = headerValues(challenge, 'WWW-Authenticate');
            const algorithms = values.map((v) => digestChallenge(parseAuth(v)).algorithm);
            if (config.length === 0) assert.deepEqual(algorithms, ['SHA-256', 'MD5']);
            const chosen = values[algorithms.indexOf(pick)]!;
            const qop = digestChallenge(parseAuth(chosen)).qop[0] as 'auth' | 'auth-int';
            const creds = answer(chosen, {
              username: 'alice',
              password: 'secret',
              method: 'REGISTER',
              uri: `sip:${LOCAL}:${port}`,
              qop,
            });
            peer.send(registerText(port, peer, `${tag}b`, 2, creds), port);
            const ok = await peer.next((t) => t.includes(`z9hG4bK${tag}b`));
            assert.match(ok, /^SIP\/2\.0 200 /, ok);
            assert.equal(stats()['auth.authorized'], 1);
          } finally {
            peer.close();
          }
        }),
      );
    }
  });
});
