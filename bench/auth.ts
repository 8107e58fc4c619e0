/**
 * Digest authentication benchmark (src/modules/auth): operations per second on one core of
 *
 *   nonce            make a nonce and verify it (HMAC-SHA-256 both ways)
 *   response <alg>   what checking one answer costs in hashing: HA1 from the password, the expected
 *                    response, the constant-time comparison
 *   verify <alg>     the whole check of a parsed REGISTER: Authorization parsed, realm matched, nonce
 *                    verified, user looked up (static users), response compared, nonce-count recorded
 *
 * Every path is checked before it is timed (a verification that is not `authorized` fails the run).
 * Usage: node dist/bench/auth.js [--quick] [--json]   (pin it: taskset -c 1 node dist/bench/auth.js)
 */
import { timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DigestAuthenticator } from '../src/modules/auth/authenticator.js';
import { StaticCredentialSource, selectHa1 } from '../src/modules/auth/credentials.js';
import { computeResponse, type DigestAlgorithm } from '../src/modules/auth/digest.js';
import { NonceCountTable, NonceFactory } from '../src/modules/auth/nonce.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { answer } from '../test/auth/client.js';

const argv = process.argv.slice(2);
for (const a of argv) {
  if (a !== '--quick' && a !== '--json') {
    console.error(`unknown option ${a}; usage: node dist/bench/auth.js [--quick] [--json]`);
    process.exit(2);
  }
}
const QUICK = argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const OPS = QUICK ? 5_000 : 30_000;

const REALM = 'example.com';
const USERS = { 'alice@example.com': 'correct horse battery staple' };

/** Runs `fn(i)` for i in [0, ops) `ROUNDS` times after a warm-up; the median rate in ops/s. */
async function measure(
  name: string,
  setup: () => (i: number) => unknown | Promise<unknown>,
): Promise<number> {
  const rates: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    const fn = setup();
    const start = performance.now();
    for (let i = 0; i < OPS; i++) {
      const r = fn(i);
      if (r instanceof Promise) await r;
    }
    const ms = performance.now() - start;
    if (round >= 0) rates.push((OPS * 1000) / ms); // round -1 is the warm-up
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  if (!JSON_OUT)
    console.log(`${name.padEnd(22)} ${Math.round(median).toLocaleString('en').padStart(10)} ops/s`);
  return median;
}

const JSON_OUT = argv.includes('--json');

function register(creds: string): SipRequest {
  const text =
    `REGISTER sip:${REALM} SIP/2.0\r\n` +
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbench;rport\r\n' +
    `From: <sip:alice@${REALM}>;tag=1\r\nTo: <sip:alice@${REALM}>\r\n` +
    'Call-ID: bench@192.0.2.1\r\nCSeq: 2 REGISTER\r\nContact: <sip:alice@192.0.2.1:5060>\r\n' +
    `Authorization: ${creds}\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n`;
  return parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
}

async function main(): Promise<void> {
  const results: Record<string, number> = {};
  const nonces = new NonceFactory(Buffer.from('benchmark secret of 32 bytes....'), 300_000);

  results.nonce = await measure('nonce make+verify', () => (i) => {
    const n = nonces.create(REALM);
    if (nonces.check(n, REALM).kind !== 'valid') throw new Error(`nonce ${i} did not verify`);
  });

  for (const algorithm of ['MD5', 'SHA-256'] as const satisfies readonly DigestAlgorithm[]) {
    const nonce = nonces.create(REALM);
    const input = {
      algorithm,
      nonce,
      qop: 'auth' as const,
      nc: '00000001',
      cnonce: '0a4f113b',
      method: 'REGISTER',
      uri: `sip:${REALM}`,
    };
    const stored = { password: USERS['alice@example.com'] };
    const client = Buffer.from(
      computeResponse({ ...input, ha1: selectHa1(stored, algorithm, 'alice', REALM, false)! }),
      'latin1',
    );
    results[`response ${algorithm}`] = await measure(`response ${algorithm}`, () => () => {
      const ha1 = selectHa1(stored, algorithm, 'alice', REALM, false)!;
      const expected = Buffer.from(computeResponse({ ...input, ha1 }), 'latin1');
      if (!timingSafeEqual(expected, client)) throw new Error('response mismatch');
    });

    results[`verify ${algorithm}`] = await measure(`verify ${algorithm}`, () => {
      // a fresh authenticator and challenge per round: requests answer it with nc 1, 2, 3, ...
      const auth = new DigestAuthenticator({
        nonces,
        counts: new NonceCountTable(100_000, 305_000),
        algorithms: [algorithm],
        qop: ['auth'],
        requireQop: true,
        source: () => source,
      });
      const challenge = auth.challenges(REALM)[0]!;
      const requests = Array.from({ length: OPS }, (_, i) =>
        register(
          answer(challenge, {
            username: 'alice',
            password: USERS['alice@example.com'],
            method: 'REGISTER',
            uri: `sip:${REALM}`,
            nc: i + 1,
          }),
        ),
      );
      return async (i) => {
        const v = await auth.verify(requests[i]!, 'authorization', REALM);
        if (v.result !== 'authorized') throw new Error(`request ${i}: ${v.result} (${v.reason})`);
      };
    });
  }
  if (JSON_OUT) console.log(JSON.stringify({ opsPerSecond: results, rounds: ROUNDS, opsPerRound: OPS }));
}

const source = new StaticCredentialSource(USERS);
await main();
