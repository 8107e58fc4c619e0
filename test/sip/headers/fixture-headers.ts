/**
 * Test helper: reads an RFC 4475 / RFC 5118 torture message and pulls out header values the way the message
 * layer hands them to the header parsers (latin1, folding replaced by a space, trimmed).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { SipParseError } from '../../../src/sip/errors.js';

/** Compact header names (RFC 3261 §7.3.3, RFC 6665 §8.2.1). */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
};

function fixtureRoot(): string {
  // Works from test/ (sources) and dist/test/ (compiled): walk up to the folder holding test/fixtures.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'test', 'fixtures', 'torture');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('test/fixtures/torture not found');
    dir = up;
  }
}

/** The raw bytes of a fixture (`rfc4475/wsinv.dat`) as a latin1 string. */
export function readFixture(name: string): string {
  return readFileSync(join(fixtureRoot(), name)).toString('latin1');
}

/** Every value of header `name` (full name, any case; compact forms match too), in message order. */
export function headerValues(fixture: string, name: string): string[] {
  const msg = readFixture(fixture);
  const crlf = msg.indexOf('\r\n\r\n');
  const lf = msg.indexOf('\n\n');
  const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf : lf !== -1 ? lf : msg.length;
  const lines = msg.slice(0, end).split(/\r?\n/);
  const fields: string[] = [];
  for (const line of lines.slice(1)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) {
      fields[fields.length - 1] += ` ${line}`; // unfold: the line break becomes a space
    } else {
      fields.push(line);
    }
  }
  const want = name.toLowerCase();
  const out: string[] = [];
  for (const f of fields) {
    const colon = f.indexOf(':');
    if (colon === -1) continue;
    const raw = f.slice(0, colon).trim().toLowerCase();
    const full = COMPACT[raw] ?? raw;
    if (full === want) out.push(f.slice(colon + 1).trim());
  }
  return out;
}

/** The single value of header `name` in `fixture`. */
export function headerValue(fixture: string, name: string): string {
  const values = headerValues(fixture, name);
  assert.equal(values.length, 1, `${fixture}: expected one ${name} header, found ${values.length}`);
  return values[0]!;
}

/** Runs `fn`, asserts that it throws a SipParseError whose reason matches `reason`, and returns the error. */
export function throwsParse(fn: () => unknown, reason: RegExp): SipParseError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SipParseError, `expected a SipParseError, got ${String(caught)}`);
  assert.match(caught.reason, reason);
  return caught;
}

/** Number of fast-check runs per property (OLELO_FUZZ_RUNS overrides). */
export const FUZZ_RUNS = Number(process.env.OLELO_FUZZ_RUNS ?? 1000);

const FRAGMENTS = [
  'SIP',
  '/',
  '2.0',
  'UDP',
  'tcp',
  ' ',
  '  ',
  '\t',
  ';',
  ',',
  '=',
  '"',
  '\\',
  '(',
  ')',
  '[',
  ']',
  ':',
  '@',
  '.',
  '-',
  '*',
  'branch',
  'received',
  'rport',
  'maddr',
  'ttl',
  'z9hG4bK',
  '::1',
  '2001:db8::9:255',
  '192.0.2.1',
  'example.com',
  '0',
  '9',
  '255',
  '256',
  '65535',
  '65536',
  '4294967295',
  '4294967296',
  '00000000000',
  'Digest',
  'Basic',
  'realm',
  'nonce',
  'qop',
  'nc',
  '00000001',
  'stale',
  'true',
  'username*',
  "UTF-8''",
  '%',
  '%C3',
  'GMT',
  'EST',
  'Sat, 13 Nov 2010 23:29:00 GMT',
  'Mon',
  'Jan',
  'duration',
  'cause',
  'text',
  'id',
  'expires',
  'reason',
  'retry-after',
  'active',
  'INVITE',
  'application',
  'sdp',
  '<',
  '>',
  '\r\n',
  '\x00',
  '\x7f',
  '\xff',
  '\xe9',
];

/** Random latin1 strings built from SIP-looking fragments and arbitrary bytes, to reach deep parser paths. */
export const sipishString: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom(...FRAGMENTS),
      fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

/**
 * Property: for any input, `parse` returns or throws a SipParseError whose offset lies within the input;
 * nothing else is ever thrown.
 */
export function assertThrowsOnlyParseErrors(parse: (value: string) => unknown): void {
  const check = (value: string) => {
    try {
      parse(value);
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      if (!(Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= value.length)) {
        throw new Error(`offset ${e.offset} outside the value (length ${value.length}): ${e.reason}`);
      }
    }
  };
  fc.assert(fc.property(sipishString, check), { numRuns: FUZZ_RUNS });
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), check), { numRuns: FUZZ_RUNS });
}
