/**
 * Property-based fuzzing of the whole message core: random mutations, truncations and splices of the
 * torture corpus must never throw anything but SipParseError, and never take more than a few ms.
 * `npm test` runs a bounded number of cases; `npm run fuzz` (OLELO_FUZZ_RUNS=200000) a long run.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createResponse, parseMessage, SipParseError, serializeMessage } from '../../src/sip/index.js';
import type { SipMessageAny as SipMessage } from '../../src/sip/message.js';

const RUNS = Number(process.env.OLELO_FUZZ_RUNS ?? 2500);
const MAX_MS_PER_MESSAGE = 5;
const fixtures = new URL('../../../test/fixtures/torture/', import.meta.url);

const corpus: Buffer[] = [];
for (const dir of ['rfc4475', 'rfc5118', 'rfc5118-wire']) {
  const folder = new URL(`${dir}/`, fixtures);
  for (const name of readdirSync(folder).sort()) corpus.push(readFileSync(new URL(name, folder)));
}

/** Bytes that sit on SIP's syntax boundaries, so mutations hit the interesting paths. */
const SPECIAL = [
  ...':;,"<>[]%@=?&\\/ \t\r\n\0',
  '\r\n ',
  '\r\n\r\n',
  ';;',
  ',,',
  '%0',
  '""',
  'SIP/2.0',
  'z9hG4bK',
];

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; at: number; other: number; from: number; length: number }
  | { kind: 'repeat'; at: number; length: number; times: number };

const position = fc.double({ min: 0, max: 1, noNaN: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: position,
    text: fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ maxLength: 8 })),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: position,
    other: fc.nat(),
    from: position,
    length: fc.integer({ min: 1, max: 200 }),
  }),
  fc.record({
    kind: fc.constant('repeat' as const),
    at: position,
    length: fc.integer({ min: 1, max: 30 }),
    times: fc.integer({ min: 2, max: 50 }),
  }),
);

function mutate(input: Buffer, m: Mutation): Buffer {
  const at = Math.floor(m.at * input.length);
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(input);
      if (out.length > 0) out[Math.min(at, out.length - 1)] = m.byte;
      return out;
    }
    case 'insert':
      return Buffer.concat([input.subarray(0, at), Buffer.from(m.text, 'latin1'), input.subarray(at)]);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + m.length)]);
    case 'truncate':
      return input.subarray(0, at);
    case 'splice': {
      const other = corpus[m.other % corpus.length]!;
      const from = Math.floor(m.from * other.length);
      return Buffer.concat([
        input.subarray(0, at),
        other.subarray(from, from + m.length),
        input.subarray(at),
      ]);
    }
    case 'repeat': {
      const piece = input.subarray(at, at + m.length);
      return Buffer.concat([
        input.subarray(0, at),
        ...Array<Buffer>(m.times).fill(piece),
        input.subarray(at),
      ]);
    }
  }
}

/** Reads every typed view; each getter parses lazily, so this is where header errors surface. */
function readEverything(msg: SipMessage): void {
  if (msg.kind === 'request') void msg.uri;
  void msg.via;
  void msg.from;
  void msg.to;
  void msg.callId;
  void msg.cseq;
  void msg.maxForwards;
  void msg.contentLength;
  void msg.contentType;
  void msg.contact;
  void msg.route;
  void msg.recordRoute;
  void msg.path;
  void msg.serviceRoute;
  void msg.referTo;
  void msg.expires;
  void msg.minExpires;
  void msg.authorization;
  void msg.proxyAuthorization;
  void msg.wwwAuthenticate;
  void msg.proxyAuthenticate;
  void msg.event;
  void msg.subscriptionState;
  void msg.allow;
  void msg.supported;
  void msg.require;
  void msg.proxyRequire;
  void msg.unsupported;
  void msg.date;
  void msg.retryAfter;
  void msg.reason;
  for (const f of msg.headers) void f.text;
}

/**
 * Runs the whole core over one input. Any SipParseError is an accepted outcome; anything else escapes.
 * A message that parses and validates must survive the proxy's edits and parse again after them.
 */
function exercise(buf: Buffer): void {
  let msg: SipMessage;
  try {
    msg = parseMessage(buf);
  } catch (e) {
    if (e instanceof SipParseError) return;
    throw e;
  }
  let valid = true;
  try {
    msg.validate();
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
    valid = false;
  }
  try {
    readEverything(msg);
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
    if (valid) throw new Error(`validate() passed but a getter failed: ${(e as Error).message}`);
  }
  assert.ok(serializeMessage(msg).length > 0);
  if (!valid) return;
  if (msg.kind === 'request') {
    msg.setHeader('Max-Forwards', String(Math.max(0, (msg.maxForwards ?? 70) - 1)));
    msg.prependVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz');
    msg.prependHeader('Record-Route', '<sip:192.0.2.1;lr>');
    const again = parseMessage(serializeMessage(msg));
    again.validate();
    assert.equal(again.topVia?.branch, 'z9hG4bKfuzz');
    if (msg.missingHeaders().length === 0) createResponse(msg, 400, { reason: 'Fuzz' }).validate();
  } else {
    msg.popVia();
    parseMessage(serializeMessage(msg)).validate();
  }
}

function timed(buf: Buffer): number {
  const t0 = performance.now();
  exercise(buf);
  return performance.now() - t0;
}

describe('fuzzing the message core', () => {
  it('processes every corpus message without an unexpected exception', () => {
    for (const buf of corpus) exercise(buf);
  });

  it(`throws only SipParseError for ${RUNS} mutated messages, each within ${MAX_MS_PER_MESSAGE} ms`, () => {
    let slowest = 0;
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (pick, mutations) => {
        let buf = corpus[pick % corpus.length]!;
        for (const m of mutations) buf = mutate(buf, m);
        let ms = timed(buf);
        // one slow run can be a GC pause; a slow input is slow every time
        if (ms > MAX_MS_PER_MESSAGE) ms = Math.min(ms, timed(buf), timed(buf));
        slowest = Math.max(slowest, ms);
        assert.ok(ms <= MAX_MS_PER_MESSAGE, `took ${ms.toFixed(2)} ms`);
      }),
      { numRuns: RUNS },
    );
    assert.ok(slowest > 0);
  });

  it('throws only SipParseError for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => exercise(Buffer.from(bytes))),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('throws only SipParseError for header-shaped noise after a valid start line', () => {
    const headerLine = fc
      .tuple(
        fc.constantFrom(
          'Via',
          'v',
          'From',
          'f',
          'To',
          't',
          'Contact',
          'm',
          'CSeq',
          'Call-ID',
          'Route',
          'Date',
        ),
        fc.string({ maxLength: 60, unit: fc.constantFrom(...SPECIAL, 'a', 'sip:', '1', 'tag', 'x.y') }),
      )
      .map(([n, v]) => `${n}: ${v}\r\n`);
    fc.assert(
      fc.property(fc.array(headerLine, { maxLength: 8 }), (lines) =>
        exercise(Buffer.from(`INVITE sip:a@b SIP/2.0\r\n${lines.join('')}\r\n`, 'latin1')),
      ),
      { numRuns: RUNS },
    );
  });
});
