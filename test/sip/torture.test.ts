/**
 * The RFC 4475 and RFC 5118 torture messages (test/fixtures/torture), one test per MANIFEST.tsv row.
 *
 * - `valid`: parses, validates, has no defects, serializes back to exactly its own bytes, and the typed
 *   values are the ones the RFC text describes.
 * - `valid-but-semantically-wrong`: well formed, so it parses and validates; the test checks the fact the
 *   layer above acts on (400, 415, 416, 420, ...).
 * - `invalid`: parse + validate throws a SipParseError (and nothing else) naming the defect; RFC 4475 lwsstart
 *   and trws are tolerated instead (the defect is noted and the start line rewritten).
 * - `rfc5118/` archive bytes (bare LF): tolerated with a defect, or refused only for a wrong Content-Length.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  type AbsoluteUri,
  isSipUri,
  latin1ToText,
  type NameAddr,
  parseMessage,
  type SipMessageAny,
  SipParseError,
  type SipRequest,
  type SipResponse,
  type SipUri,
  serializeMessage,
  type Uri,
  uriEquals,
  type Via,
} from '../../src/sip/index.js';

// tests run as dist/test/sip/torture.test.js: the repository root is three levels up
const ROOT = new URL('../../../', import.meta.url);
const FIXTURES = new URL('test/fixtures/torture/', ROOT);

type Expectation = 'valid' | 'invalid' | 'valid-but-semantically-wrong';

interface Row {
  file: string;
  section: string;
  expectation: Expectation;
  note: string;
}

function readManifest(): Row[] {
  const lines = readFileSync(new URL('MANIFEST.tsv', FIXTURES), 'utf8').split('\n');
  assert.deepEqual(lines[0]!.split('\t'), ['file', 'rfc_section', 'expectation', 'note']);
  const rows: Row[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const [file, section, expectation, note] = line.split('\t');
    assert.ok(
      expectation === 'valid' || expectation === 'invalid' || expectation === 'valid-but-semantically-wrong',
      `unknown expectation in MANIFEST.tsv: ${line}`,
    );
    rows.push({ file: file!, section: section!, expectation, note: note ?? '' });
  }
  return rows;
}

const ROWS = readManifest();

/** The raw bytes of a fixture: never decoded as text. */
function fixture(file: string): Buffer {
  return readFileSync(new URL(file, FIXTURES));
}

function title(row: Row): string {
  return `${row.file} — ${row.section} (${row.expectation})`;
}

const isArchiveRow = (row: Row) => row.file.startsWith('rfc5118/');

// ------------------------------------------------------------------------------------------ helpers

function asRequest(msg: SipMessageAny): SipRequest {
  if (msg.kind !== 'request') assert.fail(`expected a request, got a ${msg.kind}`);
  return msg;
}

function asResponse(msg: SipMessageAny): SipResponse {
  if (msg.kind !== 'response') assert.fail(`expected a response, got a ${msg.kind}`);
  return msg;
}

function present<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing`);
  return value;
}

function sip(u: Uri): SipUri {
  assert.ok(isSipUri(u), `expected a sip/sips URI, got scheme '${u.scheme}'`);
  return u;
}

function opaque(u: Uri): AbsoluteUri {
  assert.ok(!['sip', 'sips', 'tel'].includes(u.scheme), `expected a non-SIP scheme, got '${u.scheme}'`);
  return u as AbsoluteUri;
}

/** [transport, host, hostKind, port, branch] of each Via value. */
function viaSummary(vias: Via[]): Array<[string, string, string, number | undefined, string | undefined]> {
  return vias.map((v) => [v.transport, v.host, v.hostKind, v.port, v.branch]);
}

function contactList(msg: SipMessageAny): NameAddr[] {
  const c = present(msg.contact, 'Contact');
  assert.equal(c.wildcard, false);
  return c.list;
}

/** Where the header section ends (after the empty line), in a CRLF fixture. */
function headEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n');
  assert.notEqual(i, -1, 'fixture has no empty line after its headers');
  return i + 4;
}

/** The bytes of the message itself: the input without whatever follows the Content-Length body. */
function messageBytes(buf: Buffer, msg: SipMessageAny): Buffer {
  const start = headEnd(buf);
  const length = msg.contentLength;
  return buf.subarray(0, length === undefined ? buf.length : start + length);
}

function startLine(msg: SipMessageAny): string {
  return msg.kind === 'request'
    ? `${msg.method} ${msg.requestUri} SIP/2.0`
    : `SIP/2.0 ${msg.status} ${msg.reasonPhrase}`;
}

/** What a re-parse must reproduce: start line, header names and values in order, body. */
function snapshot(msg: SipMessageAny) {
  return {
    startLine: startLine(msg),
    headers: msg.headers.map((h) => [h.name, h.value]),
    body: msg.body.toString('latin1'),
  };
}

/** Serializes `msg`, parses the output again and checks it reads the same. Returns the output. */
function roundTrip(msg: SipMessageAny): Buffer {
  const out = serializeMessage(msg);
  const again = parseMessage(out);
  again.validate();
  assert.deepEqual(again.defects, [], 'the serialized message must be clean');
  assert.deepEqual(snapshot(again), snapshot(msg));
  return out;
}

/** Runs parse + validate; the message must be refused with a SipParseError and nothing else. */
function refusal(buf: Buffer): SipParseError {
  let caught: unknown;
  try {
    parseMessage(buf).validate();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, 'the message was accepted');
  assert.ok(caught instanceof SipParseError, `expected a SipParseError, got ${String(caught)}`);
  return caught;
}

/** The physical line (without its line end) holding byte `offset`. */
function lineAt(buf: Buffer, offset: number): string {
  assert.ok(offset >= 0 && offset < buf.length, `offset ${offset} is outside the message`);
  const start = offset === 0 ? 0 : buf.lastIndexOf(0x0a, offset - 1) + 1;
  let end = buf.indexOf(0x0a, offset);
  if (end === -1) end = buf.length;
  if (end > start && buf[end - 1] === 0x0d) end--;
  return buf.toString('latin1', start, end);
}

// ------------------------------------------------------------------ valid: values the RFCs describe

type Check = (msg: SipMessageAny, buf: Buffer) => void;

const INTMETH = "!interesting-Method0123456789_*+`.%indeed'~";
const INTMETH_USER = "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*";
const AMAZING = 'amazinglylongcallername'.repeat(5);
const LONG20 = 'long'.repeat(20);

const VALID: Record<string, Check> = {
  // RFC 4475 3.1.1.1: folding, odd spacing, mixed-case and compact names, leading zeros, unknown headers
  'rfc4475/wsinv.dat': (msg) => {
    const req = asRequest(msg);
    assert.equal(req.method, 'INVITE');
    assert.equal(req.requestUri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
    const ruri = sip(req.uri);
    assert.equal(ruri.user, 'vivekg');
    assert.equal(ruri.host, 'chair-dnrc.example.com');
    assert.deepEqual([...ruri.params], [['unknownparam', null]]);
    assert.deepEqual(
      req.headers.map((h) => h.key),
      [
        'to',
        'from',
        'max-forwards',
        'call-id',
        'content-length',
        'cseq',
        'via',
        'subject',
        'newfangledheader',
        'unknownheaderwithunusualvalue',
        'content-type',
        'route',
        'via',
        'contact',
      ],
    );
    const to = present(req.to, 'To');
    assert.equal(to.displayName, undefined);
    assert.equal(sip(to.uri).user, 'vivekg');
    assert.equal(sip(to.uri).host, 'chair-dnrc.example.com');
    assert.deepEqual([...to.params], [['tag', '1918181833n']]);
    const from = present(req.from, 'From');
    assert.equal(from.displayName, 'J Rosenberg \\"'); // "J Rosenberg \\\"" unquoted
    assert.equal(sip(from.uri).user, 'jdrosen');
    assert.equal(sip(from.uri).host, 'example.com');
    assert.deepEqual([...from.params], [['tag', '98asjd8']]);
    assert.equal(req.maxForwards, 68); // "0068"
    assert.deepEqual(req.cseq, { seq: 9, method: 'INVITE' }); // "0009\r\n  INVITE"
    assert.equal(req.callId, 'wsinv.ndaksdj@192.0.2.1');
    assert.equal(req.contentLength, 150);
    assert.equal(req.body.length, 150);
    assert.deepEqual(
      { type: req.contentType?.type, subtype: req.contentType?.subtype },
      { type: 'application', subtype: 'sdp' },
    );
    assert.deepEqual(viaSummary(req.via), [
      ['UDP', '192.0.2.2', 'ipv4', undefined, '390skdjuw'],
      ['TCP', 'spindle.example.com', 'name', undefined, 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'ipv4', undefined, 'z9hG4bK30239'],
    ]);
    for (const v of req.via) assert.deepEqual([v.protocol, v.version], ['SIP', '2.0']);
    // unknown and empty headers are kept as they are
    assert.equal(req.getHeader('subject'), '');
    assert.equal(req.field('subject')?.name, 's');
    assert.equal(req.getHeader('NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(req.getHeader('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    const [route, ...more] = req.route;
    assert.equal(more.length, 0);
    assert.equal(sip(present(route, 'Route').uri).host, 'services.example.com');
    assert.deepEqual(
      [...sip(route!.uri).params],
      [
        ['lr', null],
        ['unknownwith', 'value'],
        ['unknown-no-value', null],
      ],
    );
    const [contact, ...others] = contactList(req);
    assert.equal(others.length, 0);
    assert.equal(contact!.displayName, 'Quoted string ""');
    assert.equal(sip(contact!.uri).user, 'jdrosen');
    assert.deepEqual(
      [...contact!.params],
      [
        ['newparam', 'newvalue'],
        ['secondparam', null],
        ['q', '0.33'],
      ],
    );
  },

  // RFC 4475 3.1.1.2: every legal punctuation character, quoted NUL/BEL/DEL, UTF-8 values
  'rfc4475/intmeth.dat': (msg) => {
    const req = asRequest(msg);
    assert.equal(req.method, INTMETH);
    const ruri = sip(req.uri);
    assert.equal(ruri.user, INTMETH_USER);
    assert.equal(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(ruri.host, 'example.com');
    assert.equal(req.topVia?.branch, "z9hG4bK-.!%66*_+`'~");
    const to = present(req.to, 'To');
    assert.equal(to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(sip(to.uri).user, INTMETH_USER);
    const from = present(req.from, 'From');
    assert.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(sip(from.uri).user, 'mundane');
    const fromParam = from.params.get("fromparam''~+*_!.-%");
    assert.equal(latin1ToText(present(fromParam ?? undefined, 'From fromParam')), 'работающий');
    assert.equal(from.params.get('tag'), "_token~1'+`*%!-.");
    assert.equal(req.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.deepEqual(req.cseq, { seq: 139122385, method: INTMETH });
    assert.equal(req.maxForwards, 255);
    assert.equal(req.field("extensionHeader-!.%*+_`'~")?.text, '\ufeff大停電');
    assert.equal(req.body.length, 0);
  },

  // RFC 4475 3.1.1.3: %HH escapes decoded once
  'rfc4475/esc01.dat': (msg) => {
    const req = asRequest(msg);
    assert.equal(req.requestUri, 'sip:sips%3Auser%40example.com@example.net');
    const ruri = sip(req.uri);
    assert.equal(ruri.user, 'sips:user@example.com');
    assert.equal(ruri.host, 'example.net');
    assert.equal(sip(present(req.to, 'To').uri).user, 'user');
    assert.equal(sip(present(req.from, 'From').uri).user, 'I have spaces');
    assert.equal(req.field('call-id')?.name, 'i');
    assert.equal(req.callId, 'esc01.239409asdfakjkn23onasd0-3234');
    assert.equal(req.field('content-type')?.name, 'C');
    assert.equal(req.contentType?.subtype, 'sdp');
    const [contact, ...others] = contactList(req);
    assert.equal(others.length, 0);
    const curi = sip(contact!.uri);
    assert.equal(curi.user, 'caller');
    // n%61me=v%61lue%25%34%31 is name=value%41, never valueA
    assert.deepEqual(
      [...curi.params],
      [
        ['lr', null],
        ['name', 'value%41'],
      ],
    );
  },

  // RFC 4475 3.1.1.4: %00 in user parts; two distinct bindings
  'rfc4475/escnull.dat': (msg) => {
    const req = asRequest(msg);
    assert.equal(req.method, 'REGISTER');
    assert.equal(sip(present(req.to, 'To').uri).user, 'null-\x00-null');
    assert.equal(sip(present(req.from, 'From').uri).user, 'null-\x00-null');
    const contacts = contactList(req);
    assert.deepEqual(
      contacts.map((c) => [sip(c.uri).user, sip(c.uri).host]),
      [
        ['\x00', 'host5.example.com'],
        ['\x00\x00', 'host5.example.com'],
      ],
    );
    assert.equal(uriEquals(contacts[0]!.uri, contacts[1]!.uri), false);
    assert.equal(req.contentLength, 0); // L:0
  },

  // RFC 4475 3.1.1.5: % that is not an escape
  'rfc4475/esc02.dat': (msg) => {
    const req = asRequest(msg);
    assert.equal(req.method, 'RE%47IST%45R');
    assert.notEqual(req.method, 'REGISTER');
    assert.deepEqual(req.cseq, { seq: 29344, method: 'RE%47IST%45R' });
    assert.equal(present(req.to, 'To').displayName, '%Z%45');
    assert.equal(present(req.from, 'From').displayName, '%Z%45');
    assert.equal(req.topVia?.branch, 'z9hG4bK209%fzsnel234');
    assert.deepEqual(
      contactList(req).map((c) => sip(c.uri).user),
      ['alias1', 'alias3'],
    );
    assert.equal(req.fields('contact').length, 2);
    const ext = req.fields('C%6Fntact');
    assert.equal(ext.length, 1);
    assert.equal(ext[0]!.key, 'c%6fntact');
    assert.equal(ext[0]!.value, '<sip:alias2@host2.example.com>');
  },

  // RFC 4475 3.1.1.6: no LWS between an unquoted display name and '<'
  'rfc4475/lwsdisp.dat': (msg) => {
    const from = present(msg.from, 'From');
    assert.equal(from.displayName, 'caller');
    assert.equal(from.angle, true);
    assert.equal(sip(from.uri).user, 'caller');
    assert.equal(sip(from.uri).host, 'example.com');
    assert.equal(from.params.get('tag'), '323');
  },

  // RFC 4475 3.1.1.7: very long values everywhere
  'rfc4475/longreq.dat': (msg, buf) => {
    const req = asRequest(msg);
    assert.equal(buf.length, 3515);
    const to = present(req.to, 'To');
    assert.equal(to.displayName, `I have a user name of ${'extreme'.repeat(10)} proportion`);
    const turi = sip(to.uri);
    assert.equal(turi.port, 6000);
    assert.deepEqual(
      [...turi.params],
      [
        ['unknownparam1', `very${LONG20}value`],
        [`longparam${'name'.repeat(25)}`, 'shortvalue'],
        [`very${'long'.repeat(25)}parameternamewithnovalue`, null],
      ],
    );
    const from = present(req.from, 'From');
    assert.equal(req.field('from')?.name, 'F');
    assert.equal(sip(from.uri).user, AMAZING);
    assert.deepEqual(
      [...from.params],
      [
        ['tag', `1${'298'.repeat(50)}2424`],
        [`unknownheaderparam${'name'.repeat(20)}`, `unknowheaderparam${'value'.repeat(15)}`],
        [`unknownvaluelessparamname${'paramname'.repeat(9)}`, null],
      ],
    );
    assert.equal(req.callId, `longreq.one${'really'.repeat(20)}longcallid`);
    assert.deepEqual(req.cseq, { seq: 3882340, method: 'INVITE' });
    assert.equal(
      req.getHeader(`Unknown-${'Long'.repeat(20)}-Name`),
      `unknown-${LONG20}-value; unknown-${LONG20}-parameter-name = unknown-${LONG20}-parameter-value`,
    );
    const vias = req.via;
    assert.equal(vias.length, 34);
    assert.deepEqual(
      vias.slice(0, 33).map((v) => v.host),
      Array.from({ length: 33 }, (_, i) => `sip${33 - i}.example.com`),
    );
    const last = vias[33]!;
    assert.equal(last.host, 'host.example.com');
    assert.equal(last.received, '192.0.2.5');
    assert.equal(last.branch, `very${'long'.repeat(50)}branchvalue`);
    assert.equal(sip(contactList(req)[0]!.uri).user, AMAZING);
    assert.equal(req.contentLength, 150);
    assert.equal(req.body.length, 150);
  },

  // RFC 4475 3.1.1.8: the octets after the empty body are not a second message
  'rfc4475/dblreq.dat': (msg, buf) => {
    const req = asRequest(msg);
    assert.equal(req.method, 'REGISTER');
    assert.equal(req.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412'); // compact "I:"
    assert.equal(req.contentLength, 0);
    assert.equal(req.body.length, 0);
    const out = serializeMessage(req);
    assert.equal(out.length, headEnd(buf));
    assert.ok(out.length < buf.length);
    assert.equal(out.indexOf('INVITE'), -1, 'the trailing INVITE must not reappear');
  },

  // RFC 4475 3.1.1.9: ';' escaped '@' inside the Request-URI user part
  'rfc4475/semiuri.dat': (msg) => {
    const req = asRequest(msg);
    assert.equal(req.requestUri, 'sip:user;par=u%40example.net@example.com');
    const ruri = sip(req.uri);
    assert.equal(ruri.user, 'user;par=u@example.net');
    assert.equal(ruri.host, 'example.com');
    assert.deepEqual([...ruri.params], []);
    assert.equal(
      req.getHeader('accept'),
      'application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, message/sipfrag',
    );
  },

  // RFC 4475 3.1.1.10: five transports, one of them unknown
  'rfc4475/transports.dat': (msg) => {
    assert.deepEqual(viaSummary(msg.via), [
      ['UDP', 't1.example.com', 'name', undefined, 'z9hG4bKkdjuw'],
      ['SCTP', 't2.example.com', 'name', undefined, 'z9hG4bKklasjdhf'],
      ['TLS', 't3.example.com', 'name', undefined, 'z9hG4bK2980unddj'],
      ['UNKNOWN', 't4.example.com', 'name', undefined, 'z9hG4bKasd0f3en'],
      ['TCP', 't5.example.com', 'name', undefined, 'z9hG4bK0a9idfnee'],
    ]);
    assert.equal(msg.callId, 'transports.kijh4akdnaqjkwendsasfdj');
  },

  // RFC 4475 3.1.1.11: binary multipart body framed by Content-Length only
  'rfc4475/mpart01.dat': (msg, buf) => {
    const req = asRequest(msg);
    assert.equal(req.method, 'MESSAGE');
    assert.equal(req.contentLength, 553);
    assert.equal(req.body.length, 553);
    assert.ok(req.body.equals(buf.subarray(buf.length - 553)));
    const ct = present(req.contentType, 'Content-Type');
    assert.deepEqual(
      [ct.type, ct.subtype, [...ct.params]],
      ['multipart', 'mixed', [['boundary', '7a9cbec02ceef655']]],
    );
    const body = req.body;
    assert.ok(body.subarray(0, 20).equals(Buffer.from('--7a9cbec02ceef655\r\n')));
    assert.ok(body.subarray(-24).equals(Buffer.from('\r\n--7a9cbec02ceef655--\r\n')));
    const marker = Buffer.from('application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n');
    const partStart = body.indexOf(marker) + marker.length;
    assert.ok(partStart > marker.length);
    const binary = body.subarray(partStart, body.length - 24);
    assert.ok(binary.includes(0x00), 'binary part holds NUL');
    assert.ok(binary.includes(0x0d), 'binary part holds CR');
    assert.ok(binary.includes(0x0a), 'binary part holds LF');
    const via = present(req.topVia, 'Via');
    assert.deepEqual([via.host, via.port, via.rport], ['127.0.0.1', 5070, null]);
  },

  // RFC 4475 3.1.1.12: reason phrase with non-ASCII UTF-8
  'rfc4475/unreason.dat': (msg) => {
    const res = asResponse(msg);
    assert.equal(res.status, 200);
    assert.equal(res.reasonPhrase, '= 2**3 * 5**2 но сто девяносто девять - простое');
  },

  // RFC 4475 3.1.1.13: empty reason phrase
  'rfc4475/noreason.dat': (msg, buf) => {
    const res = asResponse(msg);
    assert.equal(res.status, 100);
    assert.equal(res.reasonPhrase, '');
    assert.equal(lineAt(buf, 0), 'SIP/2.0 100 ');
  },

  // RFC 4475 3.3.11: Max-Forwards 0 is legal
  'rfc4475/zeromf.dat': (msg) => {
    assert.equal(asRequest(msg).method, 'OPTIONS');
    assert.equal(msg.maxForwards, 0);
  },

  // RFC 4475 3.3.12: without < >, ;unknownparam belongs to the Contact, not to its URI
  'rfc4475/cparam01.dat': (msg) => {
    const [contact, ...others] = contactList(msg);
    assert.equal(others.length, 0);
    assert.equal(contact!.angle, false);
    const uri = sip(contact!.uri);
    assert.deepEqual([uri.user, uri.host], ['+19725552222', 'gw1.example.net']);
    assert.deepEqual([...uri.params], []);
    assert.deepEqual([...contact!.params], [['unknownparam', null]]);
  },

  // RFC 4475 3.3.13: inside < >, ;unknownparam is a URI parameter
  'rfc4475/cparam02.dat': (msg) => {
    const [contact, ...others] = contactList(msg);
    assert.equal(others.length, 0);
    assert.equal(contact!.angle, true);
    const uri = sip(contact!.uri);
    assert.deepEqual([uri.user, uri.host], ['+19725552222', 'gw1.example.net']);
    assert.deepEqual([...uri.params], [['unknownparam', null]]);
    assert.deepEqual([...contact!.params], []);
  },

  // RFC 4475 3.3.14: the escaped Route header of the Contact URI is kept
  'rfc4475/regescrt.dat': (msg) => {
    assert.equal(msg.field('contact')?.name, 'M');
    const [contact, ...others] = contactList(msg);
    assert.equal(others.length, 0);
    const uri = sip(contact!.uri);
    assert.deepEqual([uri.user, uri.host], ['user', 'example.com']);
    assert.deepEqual(uri.headers, [['Route', '<sip:sip.example.com>']]);
    assert.equal(msg.field('content-length')?.name, 'L');
    assert.equal(msg.contentLength, 0);
  },

  // RFC 4475 3.4.1: RFC 2543 style, no Content-Length: the body runs to the end of the datagram
  'rfc4475/inv2543.dat': (msg, buf) => {
    const req = asRequest(msg);
    assert.equal(req.via.length, 1);
    assert.equal(req.topVia?.host, 'iftgw.example.com');
    assert.equal(req.topVia?.branch, undefined);
    assert.equal(present(req.from, 'From').params.has('tag'), false);
    assert.equal(req.maxForwards, undefined);
    assert.equal(req.hasHeader('max-forwards'), false);
    assert.equal(req.contentLength, undefined);
    assert.ok(req.body.equals(buf.subarray(headEnd(buf))));
    assert.ok(req.body.subarray(-25).equals(Buffer.from('m=audio 49217 RTP/AVP 0\r\n')));
    assert.equal(sip(req.recordRoute[0]!.uri).params.get('maddr'), 'ss1.example.com');
  },

  // RFC 5118 4.1: bracketed IPv6 references
  'rfc5118-wire/ipv6-good.dat': (msg) => {
    const ruri = sip(asRequest(msg).uri);
    assert.deepEqual(
      [ruri.user, ruri.host, ruri.hostKind, ruri.port],
      [undefined, '[2001:db8::10]', 'ipv6', undefined],
    );
    assert.deepEqual(viaSummary(msg.via), [['UDP', '[2001:db8::9:1]', 'ipv6', undefined, 'z9hG4bKas3-111']]);
    const [contact] = contactList(msg);
    assert.equal(contact!.displayName, 'Caller');
    assert.deepEqual([sip(contact!.uri).host, sip(contact!.uri).hostKind], ['[2001:db8::1]', 'ipv6']);
  },

  // RFC 5118 4.3: [2001:db8::10:5070] is one address, no port
  'rfc5118-wire/port-ambiguous.dat': (msg) => {
    const ruri = sip(asRequest(msg).uri);
    assert.deepEqual([ruri.host, ruri.hostKind, ruri.port], ['[2001:db8::10:5070]', 'ipv6', undefined]);
  },

  // RFC 5118 4.4: [2001:db8::10]:5070 is an address and port 5070
  'rfc5118-wire/port-unambiguous.dat': (msg) => {
    const ruri = sip(asRequest(msg).uri);
    assert.deepEqual([ruri.host, ruri.hostKind, ruri.port], ['[2001:db8::10]', 'ipv6', 5070]);
  },

  // RFC 5118 4.5: received written as a bracketed reference
  'rfc5118-wire/via-received-param-with-delim.dat': (msg) => {
    const via = present(msg.topVia, 'Via');
    assert.deepEqual(
      [via.host, via.hostKind, via.received, via.branch],
      ['[2001:db8::9:1]', 'ipv6', '[2001:db8::9:255]', 'z9hG4bKas3-111'],
    );
  },

  // RFC 5118 4.5: received written as a bare address; the parameter after it is still read
  'rfc5118-wire/via-received-param-no-delim.dat': (msg) => {
    const via = present(msg.topVia, 'Via');
    assert.deepEqual(
      [via.host, via.hostKind, via.received, via.branch],
      ['[2001:db8::9:1]', 'ipv6', '2001:db8::9:255', 'z9hG4bKas3'],
    );
    assert.deepEqual([...via.params.keys()], ['received', 'branch']);
  },

  // RFC 5118 4.6: IPv6 in headers and SDP
  'rfc5118-wire/ipv6-in-sdp.dat': (msg) => {
    const ruri = sip(asRequest(msg).uri);
    assert.deepEqual([ruri.user, ruri.host, ruri.hostKind], ['user', '[2001:db8::10]', 'ipv6']);
    assert.equal(sip(present(msg.to, 'To').uri).host, '[2001:db8::10]');
    assert.equal(msg.topVia?.host, '[2001:db8::20]');
    assert.equal(sip(contactList(msg)[0]!.uri).host, '[2001:db8::20]');
    assert.equal(msg.contentLength, 251);
    assert.equal(msg.body.length, 251);
    assert.ok(msg.body.includes('c=IN IP6 2001:db8::20\r\n'));
  },

  // RFC 5118 4.7: Vias mixing IPv6 (with port), IPv4, and IPv6 with an IPv4 received
  'rfc5118-wire/mult-ip-in-header.dat': (msg) => {
    assert.equal(asRequest(msg).method, 'BYE');
    assert.deepEqual(viaSummary(msg.via), [
      ['UDP', '[2001:db8::9:1]', 'ipv6', 6050, 'z9hG4bKas3-111'],
      ['UDP', '192.0.2.1', 'ipv4', undefined, 'z9hG4bKjhja8781hjuaij65144'],
      ['TCP', '[2001:db8::9:255]', 'ipv6', undefined, 'z9hG4bK451jj'],
    ]);
    assert.deepEqual(
      msg.via.map((v) => v.received),
      [undefined, undefined, '192.0.2.200'],
    );
  },

  // RFC 5118 4.8: one IPv4 and one IPv6 media stream, no session-level c= line
  'rfc5118-wire/mult-ip-in-sdp.dat': (msg) => {
    assert.equal(sip(asRequest(msg).uri).host, '[2001:db8::10]');
    assert.equal(msg.contentLength, 189);
    assert.equal(msg.body.length, 189);
    const sdp = msg.body.toString('latin1');
    assert.ok(sdp.indexOf('c=') > sdp.indexOf('m=audio'), 'no c= line before the first m= line');
    assert.ok(sdp.includes('c=IN IP4 192.0.2.1\r\n'));
    assert.ok(sdp.includes('c=IN IP6 2001:db8::1\r\n'));
  },

  // RFC 5118 4.9: IPv4-mapped IPv6 addresses
  'rfc5118-wire/ipv4-mapped-ipv6.dat': (msg) => {
    assert.deepEqual(viaSummary(msg.via), [
      ['UDP', '[::ffff:192.0.2.10]', 'ipv6', 19823, 'z9hG4bKbh19'],
      ['UDP', '[::ffff:192.0.2.2]', 'ipv6', undefined, 'z9hG4bKas3-111'],
    ]);
    const [contact] = contactList(msg);
    assert.equal(contact!.displayName, 'T. desk phone');
    assert.deepEqual([sip(contact!.uri).host, sip(contact!.uri).hostKind], ['[::ffff:192.0.2.2]', 'ipv6']);
    assert.ok(msg.body.includes('c=IN IP6 ::ffff:192.0.2.2\r\n'));
  },

  // RFC 5118 4.10: the three-colon spelling the RFC 3261 ABNF allows is tolerated
  'rfc5118-wire/ipv6-bug-abnf-3-colons.dat': (msg) => {
    const ruri = sip(asRequest(msg).uri);
    assert.deepEqual([ruri.user, ruri.host, ruri.hostKind], ['user', '[2001:db8:::192.0.2.1]', 'ipv6']);
    assert.equal(sip(present(msg.to, 'To').uri).host, '[2001:db8:::192.0.2.1]');
  },

  // RFC 5118 4.10: the correct two-colon spelling
  'rfc5118-wire/ipv6-correct-abnf-2-colons.dat': (msg) => {
    const ruri = sip(asRequest(msg).uri);
    assert.deepEqual([ruri.user, ruri.host, ruri.hostKind], ['user', '[2001:db8::192.0.2.1]', 'ipv6']);
    assert.equal(sip(present(msg.to, 'To').uri).host, '[2001:db8::192.0.2.1]');
  },
};

// --------------------------------------------- valid but semantically wrong: the fact the layer above uses

const SEMANTIC: Record<string, Check> = {
  // 3.2.1: the branch is the bare magic cookie
  'rfc4475/badbranch.dat': (msg) => {
    assert.equal(msg.topVia?.branch, 'z9hG4bK');
  },
  // 3.3.1: no Call-ID, From or To
  'rfc4475/insuf.dat': (msg) => {
    assert.deepEqual([...msg.missingHeaders()].sort(), ['Call-ID', 'From', 'To']);
    assert.equal(msg.callId, undefined);
    assert.equal(msg.from, undefined);
    assert.equal(msg.to, undefined);
    assert.deepEqual(msg.cseq, { seq: 193942, method: 'INVITE' });
  },
  // 3.3.2: unknown Request-URI scheme (416)
  'rfc4475/unkscm.dat': (msg) => {
    const uri = opaque(asRequest(msg).uri);
    assert.equal(uri.scheme.toLowerCase(), 'nobodyknowsthisscheme');
    assert.equal(uri.opaque, 'totallyopaquecontent');
  },
  // 3.3.3: registered but atypical Request-URI scheme (416 or 404)
  'rfc4475/novelsc.dat': (msg) => {
    const uri = opaque(asRequest(msg).uri);
    assert.equal(uri.scheme.toLowerCase(), 'soap.beep');
    assert.equal(uri.opaque, '//192.0.2.103:3002');
  },
  // 3.3.4: To, From and Contact are not SIP URIs (a registrar answers 400)
  'rfc4475/unksm2.dat': (msg) => {
    assert.equal(asRequest(msg).method, 'REGISTER');
    assert.equal(opaque(present(msg.to, 'To').uri).scheme, 'isbn');
    assert.equal(opaque(present(msg.from, 'From').uri).scheme, 'http');
    assert.deepEqual(
      contactList(msg).map((c) => opaque(c.uri).scheme),
      ['name'],
    );
  },
  // 3.3.5: unsupported option tags (420 with Unsupported)
  'rfc4475/bext01.dat': (msg) => {
    assert.deepEqual(msg.require, ['nothingSupportsThis', 'nothingSupportsThisEither']);
    assert.deepEqual(msg.proxyRequire, ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
  },
  // 3.3.6: unknown body type (415)
  'rfc4475/invut.dat': (msg) => {
    const ct = present(msg.contentType, 'Content-Type');
    assert.deepEqual([ct.type, ct.subtype], ['application', 'unknownformat']);
    assert.equal(msg.body.length, 40);
    assert.equal(msg.contentLength, 40);
  },
  // 3.3.7: Authorization with an unknown scheme
  'rfc4475/regaut01.dat': (msg) => {
    const [auth, ...more] = msg.authorization;
    assert.equal(more.length, 0);
    assert.equal(auth!.scheme, 'NoOneKnowsThisScheme');
    assert.deepEqual([...auth!.params], [['opaque-data', 'here']]);
    assert.equal(auth!.token68, undefined);
  },
  // 3.3.8: single-valued headers repeated with different values (400)
  'rfc4475/multi01.dat': (msg) => {
    for (const name of ['call-id', 'to', 'from', 'cseq', 'max-forwards']) {
      assert.equal(msg.fields(name).length, 2, `${name} appears twice`);
    }
    assert.deepEqual(msg.getHeaders('call-id'), ['multi01.98asdh@192.0.2.1', 'multi01.98asdh@192.0.2.2']);
    assert.deepEqual(msg.getHeaders('cseq'), ['5 INVITE', '59 INVITE']);
  },
  // 3.3.10: the second Via is the broadcast address
  'rfc4475/bcast.dat': (msg) => {
    assert.equal(asResponse(msg).status, 200);
    const vias = msg.via;
    assert.equal(vias.length, 2);
    assert.deepEqual([vias[1]!.host, vias[1]!.hostKind], ['255.255.255.255', 'ipv4']);
  },
  // 3.3.15: Accept does not list application/sdp (406)
  'rfc4475/sdp01.dat': (msg) => {
    assert.deepEqual(msg.getHeaders('accept'), ['text/nobodyKnowsThis']);
    assert.equal(msg.contentType?.subtype, 'sdp');
  },
};

// ----------------------------------------------------------------------- invalid: the defect named

interface Refusal {
  /** Must match the error's `reason`. */
  reason: RegExp;
  /** The header the error is attributed to. */
  header?: string;
  /** Must match the physical line holding the error's offset. */
  line?: RegExp;
  /** Status a server answers with (responses are dropped: not checked). */
  status?: number;
}

const INVALID: Record<string, Refusal> = {
  'rfc4475/badinv01.dat': { reason: /empty (parameter|element)/, line: /^(Via|Contact):/, status: 400 },
  'rfc4475/clerr.dat': {
    reason: /Content-Length exceeds the message body/,
    header: 'Content-Length',
    status: 400,
  },
  'rfc4475/ncl.dat': {
    reason: /malformed Content-Length|Content-Length must not be negative/,
    header: 'Content-Length',
    line: /^Content-Length: -999$/,
    status: 400,
  },
  'rfc4475/scalar02.dat': {
    reason: /(CSeq number|Max-Forwards|Expires) exceeds/,
    line: /^(CSeq|Max-Forwards|Expires):/,
    status: 400,
  },
  'rfc4475/scalarlg.dat': { reason: /(CSeq number|Retry-After) exceeds/, line: /^(CSeq|Retry-After):/ },
  'rfc4475/quotbal.dat': { reason: /unterminated quoted string/, header: 'To', line: /^To:/, status: 400 },
  'rfc4475/ltgtruri.dat': { reason: /Request-URI enclosed in '<'/, line: /^INVITE <sip:/, status: 400 },
  'rfc4475/lwsruri.dat': { reason: /whitespace inside Request-URI/, line: /^INVITE sip:/, status: 400 },
  'rfc4475/escruri.dat': {
    reason: /Request-URI must not contain headers/,
    line: /^INVITE sip:/,
    status: 400,
  },
  'rfc4475/baddate.dat': { reason: /Date must be in GMT/, header: 'Date', line: /EST$/, status: 400 },
  'rfc4475/regbadct.dat': {
    reason: /'\?' headers must be enclosed in '<' '>'/,
    header: 'Contact',
    line: /^Contact: sip:/,
    status: 400,
  },
  'rfc4475/badaspec.dat': { reason: /whitespace inside '<' '>'/, header: 'To', line: /^To:/, status: 400 },
  'rfc4475/baddn.dat': { reason: /display name .*quoted/, line: /^(From|To):/, status: 400 },
  'rfc4475/badvers.dat': { reason: /SIP version not supported/, line: /^OPTIONS .* SIP\/7\.0$/, status: 505 },
  'rfc4475/mismatch01.dat': {
    reason: /CSeq method does not match/,
    header: 'CSeq',
    line: /^CSeq:/,
    status: 400,
  },
  'rfc4475/mismatch02.dat': {
    reason: /CSeq method does not match/,
    header: 'CSeq',
    line: /^CSeq:/,
    status: 400,
  },
  'rfc4475/bigcode.dat': { reason: /status code out of range/, line: /^SIP\/2\.0 4294967301 / },
  'rfc4475/mcl01.dat': {
    reason: /conflicting Content-Length/,
    header: 'Content-Length',
    line: /^Content-Length: 5$/,
    status: 400,
  },
  'rfc5118-wire/ipv6-bad.dat': {
    reason: /IPv6 address must be enclosed in '\[' '\]'/,
    line: /^REGISTER sip:2001:db8::10 /,
    status: 400,
  },
};

/** RFC 4475 3.1.2.9 / 3.1.2.10: an element may process these; olelo notes the defect and rewrites the line. */
const TOLERATED: Record<string, string> = {
  'rfc4475/lwsstart.dat': 'INVITE sip:user@example.com SIP/2.0',
  'rfc4475/trws.dat': 'OPTIONS sip:remote-target@example.com SIP/2.0',
};

/** The two RFC 5118 archive files whose Content-Length does not match their body. */
const WRONG_LENGTH = new Set(['rfc5118/ipv6-in-sdp.dat', 'rfc5118/mult-ip-in-sdp.dat']);

// ------------------------------------------------------------------------------------------- tests

describe('RFC 4475 / RFC 5118 torture corpus', () => {
  it('lists 73 messages: 49 from RFC 4475, 12 from the RFC 5118 archive and their 12 wire copies', () => {
    assert.equal(ROWS.length, 73);
    const count = (dir: string) => ROWS.filter((r) => r.file.startsWith(`${dir}/`)).length;
    assert.deepEqual([count('rfc4475'), count('rfc5118'), count('rfc5118-wire')], [49, 12, 12]);
    assert.equal(new Set(ROWS.map((r) => r.file)).size, 73, 'no file is listed twice');
  });

  it('has every listed file, byte-exact as SHA256SUMS records it', () => {
    const sums = new Map<string, string>();
    for (const line of readFileSync(new URL('SHA256SUMS', FIXTURES), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      assert.ok(m, `malformed SHA256SUMS line: ${line}`);
      sums.set(m[2]!, m[1]!);
    }
    assert.deepEqual([...sums.keys()].sort(), ROWS.map((r) => r.file).sort());
    for (const row of ROWS) {
      assert.ok(existsSync(new URL(row.file, FIXTURES)), `${row.file} is missing`);
      const digest = createHash('sha256').update(fixture(row.file)).digest('hex');
      assert.equal(digest, sums.get(row.file), `${row.file} does not match SHA256SUMS`);
    }
  });

  describe('valid messages parse, validate, and serialize back to exactly their own bytes', () => {
    for (const row of ROWS.filter((r) => r.expectation === 'valid' && !isArchiveRow(r))) {
      it(title(row), () => {
        const check = VALID[row.file];
        assert.ok(check, `no value checks written for ${row.file}`);
        const buf = fixture(row.file);
        const msg = parseMessage(buf);
        msg.validate();
        assert.deepEqual(msg.defects, []);
        const out = roundTrip(msg);
        assert.ok(out.equals(messageBytes(buf, msg)), 'serialization is not byte-identical to the message');
        check(msg, buf);
      });
    }
  });

  describe('valid-but-semantically-wrong messages are well formed and expose what the layer above acts on', () => {
    for (const row of ROWS.filter((r) => r.expectation === 'valid-but-semantically-wrong')) {
      it(title(row), () => {
        const check = SEMANTIC[row.file];
        assert.ok(check, `no semantic check written for ${row.file}`);
        const buf = fixture(row.file);
        const msg = parseMessage(buf);
        msg.validate();
        assert.deepEqual(msg.defects, []);
        const out = roundTrip(msg);
        assert.ok(out.equals(messageBytes(buf, msg)), 'serialization is not byte-identical to the message');
        check(msg, buf);
      });
    }
  });

  describe('invalid messages are refused with a SipParseError naming the defect (lwsstart, trws tolerated)', () => {
    for (const row of ROWS.filter((r) => r.expectation === 'invalid' && !isArchiveRow(r))) {
      const canonical = TOLERATED[row.file];
      if (canonical !== undefined) {
        it(title(row), () => {
          const buf = fixture(row.file);
          const msg = parseMessage(buf);
          msg.validate();
          assert.deepEqual(msg.defects, ['extra whitespace in request line']);
          const out = roundTrip(msg);
          const eol = out.indexOf('\r\n');
          assert.equal(out.toString('latin1', 0, eol), canonical);
          // everything after the start line is copied unchanged
          const bytes = messageBytes(buf, msg);
          assert.ok(out.subarray(eol).equals(bytes.subarray(bytes.indexOf('\r\n'))));
          assert.deepEqual(parseMessage(out).defects, []);
        });
        continue;
      }
      it(title(row), () => {
        const spec = INVALID[row.file];
        assert.ok(spec, `no expected refusal written for ${row.file}`);
        const buf = fixture(row.file);
        const err = refusal(buf);
        assert.match(err.reason, spec.reason);
        if (spec.header !== undefined) assert.equal(err.header, spec.header);
        if (spec.line !== undefined) assert.match(lineAt(buf, err.offset), spec.line);
        if (spec.status !== undefined) assert.equal(err.status, spec.status);
      });
    }
  });

  describe('RFC 5118 archive bytes (bare LF) are tolerated with a defect, or refused only for a wrong Content-Length', () => {
    for (const row of ROWS.filter(isArchiveRow)) {
      it(title(row), () => {
        const buf = fixture(row.file);
        let msg: SipMessageAny;
        try {
          msg = parseMessage(buf);
        } catch (e) {
          assert.ok(e instanceof SipParseError, `expected a SipParseError, got ${String(e)}`);
          assert.ok(WRONG_LENGTH.has(row.file), `refused although its Content-Length is right: ${e.message}`);
          assert.match(e.reason, /Content-Length/);
          return;
        }
        assert.ok(msg.defects.includes('bare LF line ending'), `defects: ${JSON.stringify(msg.defects)}`);
        // the archive copy reads like its wire copy
        const wire = parseMessage(fixture(row.file.replace('rfc5118/', 'rfc5118-wire/')));
        const index = (m: SipMessageAny) =>
          m.headers.filter((h) => h.key !== 'content-length').map((h) => [h.name, h.value]);
        assert.equal(startLine(msg), startLine(wire));
        assert.deepEqual(index(msg), index(wire));
        let caught: unknown;
        try {
          msg.validate();
        } catch (e) {
          caught = e;
        }
        if (row.expectation === 'valid') assert.equal(caught, undefined);
        else {
          assert.ok(caught instanceof SipParseError, `expected a SipParseError, got ${String(caught)}`);
          assert.match(caught.reason, INVALID[row.file.replace('rfc5118/', 'rfc5118-wire/')]!.reason);
        }
      });
    }
  });

  describe('header values that start on a continuation line (RFC 3261 §7.3.1 SWS after the colon, as in wsinv)', () => {
    it('a value that starts on a continuation line is read without the line break and indentation before it', () => {
      const wsinv = parseMessage(fixture('rfc4475/wsinv.dat'));
      assert.equal(wsinv.getHeader('to'), 'sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n');
      assert.equal(
        wsinv.getHeader('route'),
        '<sip:services.example.com;lr;unknownwith=value;unknown-no-value>',
      );
      const esc01 = parseMessage(fixture('rfc4475/esc01.dat'));
      assert.equal(
        esc01.getHeader('contact'),
        '<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>',
      );
    });

    it('a wsinv whose Call-ID, Max-Forwards and Content-Length values start on a continuation line is accepted', () => {
      // RFC 3261 §7.3.1: HCOLON = *( SP / HTAB ) ":" SWS, and SWS may be a fold, as wsinv's own To and Route show
      const text = fixture('rfc4475/wsinv.dat')
        .toString('latin1')
        .replace('MaX-fOrWaRdS: 0068', 'MaX-fOrWaRdS:\r\n 0068')
        .replace('Call-ID: wsinv', 'Call-ID:\r\n wsinv')
        .replace('Content-Length   : 150', 'Content-Length   :\r\n 150');
      const msg = parseMessage(Buffer.from(text, 'latin1'));
      msg.validate();
      assert.equal(msg.callId, 'wsinv.ndaksdj@192.0.2.1');
      assert.equal(msg.maxForwards, 68);
      assert.equal(msg.contentLength, 150);
      assert.equal(msg.body.length, 150);
    });
  });
});
