import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createRequest,
  createResponse,
  generateBranch,
  parseMessage,
  SipParseError,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from '../../src/sip/index.js';

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Content-Type: application/sdp',
  'Content-Length: 5',
  '',
  'v=0\r\n',
].join('\r\n');

function request(text: string): SipRequest {
  const msg = parseMessage(Buffer.from(text, 'latin1'));
  assert.equal(msg.kind, 'request');
  return msg as SipRequest;
}

function rejects(text: string, reason: RegExp): SipParseError {
  let caught: unknown;
  try {
    parseMessage(Buffer.from(text, 'latin1'));
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SipParseError, `expected SipParseError, got ${String(caught)}`);
  assert.match(caught.reason, reason);
  return caught;
}

describe('parseMessage', () => {
  it('reads the request line and indexes every header in order', () => {
    const req = request(INVITE);
    assert.equal(req.method, 'INVITE');
    assert.equal(req.requestUri, 'sip:bob@biloxi.example.com');
    assert.deepEqual(
      req.headers.map((h) => h.key),
      ['via', 'max-forwards', 'to', 'from', 'call-id', 'cseq', 'contact', 'content-type', 'content-length'],
    );
    assert.equal(req.body.toString(), 'v=0\r\n');
  });

  it('reads compact header names as their full names', () => {
    const req = request(
      'OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\ni: abc\r\nf: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n',
    );
    assert.equal(req.callId, 'abc');
    assert.equal(req.getHeader('Call-ID'), 'abc');
    assert.equal(req.field('call-id')?.name, 'i');
    assert.equal(req.topVia?.branch, 'z9hG4bK1');
    assert.equal(req.contentLength, 0);
  });

  it('unfolds folded header lines when reading them', () => {
    const req = request(
      'OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n  two\r\n\tthree\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n',
    );
    assert.equal(req.getHeader('subject'), 'one two three');
    assert.equal(req.field('subject')?.folded, true);
  });

  it('keeps repeated headers in order', () => {
    const req = request(
      'OPTIONS sip:a@b SIP/2.0\r\nRoute: <sip:p1;lr>\r\nX-A: 1\r\nRoute: <sip:p2;lr>, <sip:p3;lr>\r\nl: 0\r\n\r\n',
    );
    assert.deepEqual(req.getHeaders('route'), ['<sip:p1;lr>', '<sip:p2;lr>, <sip:p3;lr>']);
    assert.equal(req.route.length, 3);
  });

  it('reads a response status line with an empty reason phrase', () => {
    const res = parseMessage(Buffer.from('SIP/2.0 200 \r\nContent-Length: 0\r\n\r\n')) as SipResponse;
    assert.equal(res.kind, 'response');
    assert.equal(res.status, 200);
    assert.equal(res.reasonPhrase, '');
  });

  it('decodes a UTF-8 reason phrase', () => {
    const res = parseMessage(
      Buffer.from('SIP/2.0 486 Besetzt – später\r\nl: 0\r\n\r\n', 'utf8'),
    ) as SipResponse;
    assert.equal(res.reasonPhrase, 'Besetzt – später');
  });

  it('ignores bytes after the Content-Length body', () => {
    const req = request('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nokTRAILING');
    assert.equal(req.body.toString(), 'ok');
    assert.equal(serializeMessage(req).toString(), 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nok');
  });

  it('takes the rest of the datagram as body when Content-Length is absent', () => {
    const req = request('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello');
    assert.equal(req.body.toString(), 'hello');
  });

  it('rejects a Content-Length larger than the datagram', () => {
    rejects('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc', /Content-Length exceeds/);
  });

  it('rejects conflicting Content-Length headers', () => {
    rejects('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab', /conflicting Content-Length/);
  });

  it('rejects a negative Content-Length', () => {
    rejects('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n', /malformed Content-Length/);
  });

  it('refuses other SIP versions with status 505', () => {
    const e = rejects('OPTIONS sip:a@b SIP/3.0\r\nl: 0\r\n\r\n', /version not supported/);
    assert.equal(e.status, 505);
  });

  it('rejects status codes outside 100-699', () => {
    rejects('SIP/2.0 099 Low\r\nl: 0\r\n\r\n', /status code out of range/);
    rejects('SIP/2.0 4294967301 Big\r\nl: 0\r\n\r\n', /status code out of range/);
  });

  it('rejects a header line without a colon, with its offset', () => {
    const e = rejects('OPTIONS sip:a@b SIP/2.0\r\nCall-ID x\r\nl: 0\r\n\r\n', /has no colon/);
    assert.equal(e.offset, 'OPTIONS sip:a@b SIP/2.0\r\nCall-ID '.length);
  });

  it('enforces the message size, header count and line length limits', () => {
    const many = `OPTIONS sip:a@b SIP/2.0\r\n${'X-A: 1\r\n'.repeat(10)}l: 0\r\n\r\n`;
    assert.throws(
      () => parseMessage(Buffer.from(many), { limits: { maxHeaderCount: 5 } }),
      (e: unknown) => e instanceof SipParseError && /too many header fields/.test(e.reason),
    );
    assert.throws(
      () => parseMessage(Buffer.from(many), { limits: { maxMessageSize: 20 } }),
      (e: unknown) => e instanceof SipParseError && /message too large/.test(e.reason),
    );
    assert.throws(
      () =>
        parseMessage(Buffer.from(`OPTIONS sip:a@b SIP/2.0\r\nX-A: ${'a'.repeat(100)}\r\n\r\n`), {
          limits: { maxLineLength: 50 },
        }),
      (e: unknown) => e instanceof SipParseError && /line too long/.test(e.reason),
    );
    const vias = `OPTIONS sip:a@b SIP/2.0\r\n${'Via: SIP/2.0/UDP h\r\n'.repeat(5)}l: 0\r\n\r\n`;
    assert.throws(
      () => parseMessage(Buffer.from(vias), { limits: { maxViaCount: 4 } }),
      (e: unknown) => e instanceof SipParseError && /too many Via/.test(e.reason),
    );
  });

  it('tolerates bare LF line endings and notes the defect', () => {
    const req = request('OPTIONS sip:a@b SIP/2.0\nCall-ID: x\nl: 0\n\n');
    assert.equal(req.callId, 'x');
    assert.ok(req.defects.includes('bare LF line ending'));
  });

  it('reports header errors with the header name and the offset in the message', () => {
    const req = request('OPTIONS sip:a@b SIP/2.0\r\nCSeq: x OPTIONS\r\nl: 0\r\n\r\n');
    assert.throws(
      () => req.cseq,
      (e: unknown) =>
        e instanceof SipParseError &&
        e.header === 'CSeq' &&
        e.offset >= 'OPTIONS sip:a@b SIP/2.0\r\nCSeq: '.length,
    );
  });
});

describe('validate', () => {
  it('rejects a CSeq method that differs from the request method', () => {
    const req = request('OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n');
    assert.throws(
      () => req.validate(),
      (e: unknown) => e instanceof SipParseError && /CSeq method does not match/.test(e.reason),
    );
  });

  it('rejects headers inside the Request-URI', () => {
    const req = request('OPTIONS sip:a@b?Route=%3Csip:c%3E SIP/2.0\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n');
    assert.throws(
      () => req.validate(),
      (e: unknown) => e instanceof SipParseError && /must not contain headers/.test(e.reason),
    );
  });

  it('lists the mandatory headers a message lacks', () => {
    const req = request('OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n');
    assert.deepEqual(req.missingHeaders(), ['Via', 'From', 'To', 'Call-ID']);
  });
});

describe('editing and serializing', () => {
  it('serializes an unedited message to the identical bytes', () => {
    const buf = Buffer.from(INVITE, 'latin1');
    const out = serializeMessage(parseMessage(buf));
    assert.ok(out.equals(buf));
  });

  it('does the proxy edits and keeps every untouched line byte for byte', () => {
    const text = INVITE.replace('Max-Forwards: 70', 'max-forwards:   70').replace('To: Bob', 'To:Bob');
    const req = request(text);
    req.setHeader('Max-Forwards', String(req.maxForwards! - 1));
    req.prependVia('SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy1');
    req.prependHeader('Record-Route', '<sip:proxy.example.com;lr>');
    const out = serializeMessage(req).toString('latin1');
    const lines = out.split('\r\n');
    assert.equal(lines[0], 'INVITE sip:bob@biloxi.example.com SIP/2.0');
    assert.equal(lines[1], 'Record-Route: <sip:proxy.example.com;lr>');
    assert.equal(lines[2], 'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy1');
    assert.equal(lines[3], 'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds');
    assert.equal(lines[4], 'Max-Forwards: 69');
    assert.equal(lines[5], 'To:Bob <sip:bob@biloxi.example.com>');
    const again = request(out);
    assert.equal(again.maxForwards, 69);
    assert.equal(again.via.length, 2);
    assert.equal(again.via[0]!.branch, 'z9hG4bKproxy1');
    assert.equal(again.body.toString(), 'v=0\r\n');
  });

  it('pops the top Via from a field holding several values', () => {
    const res = parseMessage(
      Buffer.from(
        'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP p1;branch=z9hG4bKa, SIP/2.0/UDP p2;branch=z9hG4bKb\r\nVia: SIP/2.0/UDP p3;branch=z9hG4bKc\r\nl: 0\r\n\r\n',
      ),
    );
    assert.equal(res.popVia()?.host, 'p1');
    assert.deepEqual(
      res.via.map((v) => v.host),
      ['p2', 'p3'],
    );
    const again = parseMessage(serializeMessage(res));
    assert.deepEqual(
      again.via.map((v) => v.branch),
      ['z9hG4bKb', 'z9hG4bKc'],
    );
    assert.equal(again.popVia()?.host, 'p2');
    assert.equal(again.popVia()?.host, 'p3');
    assert.equal(again.popVia(), undefined);
  });

  it('rewrites the Request-URI', () => {
    const req = request(INVITE);
    req.setUri('sip:bob@192.0.2.4:5062;transport=tcp');
    const again = request(serializeMessage(req).toString('latin1'));
    assert.equal(again.requestUri, 'sip:bob@192.0.2.4:5062;transport=tcp');
    assert.equal(again.uri.scheme, 'sip');
  });

  it('replaces the body and keeps Content-Length right', () => {
    const req = request(INVITE);
    req.setBody('hello world', 'text/plain');
    const again = request(serializeMessage(req).toString('latin1'));
    assert.equal(again.contentLength, 11);
    assert.equal(again.body.toString(), 'hello world');
    assert.equal(again.contentType?.type, 'text');
    req.setBody(Buffer.alloc(0));
    const empty = request(serializeMessage(req).toString('latin1'));
    assert.equal(empty.contentLength, 0);
    assert.equal(empty.hasHeader('content-type'), false);
  });

  it('removes headers by any spelling', () => {
    const req = request(INVITE);
    assert.equal(req.removeHeader('m'), 1);
    assert.equal(request(serializeMessage(req).toString('latin1')).hasHeader('contact'), false);
  });

  it('rewrites a start line that parsing tolerated with extra whitespace', () => {
    const req = request('OPTIONS  sip:a@b  SIP/2.0 \r\nl: 0\r\n\r\n');
    assert.ok(req.defects.includes('extra whitespace in request line'));
    assert.equal(serializeMessage(req).toString(), 'OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n');
  });

  it('refuses header values that would inject a line break', () => {
    const req = request(INVITE);
    assert.throws(() => req.setHeader('X-Evil', 'a\r\nVia: forged'), RangeError);
    // replacing a field, and the address written into the top Via: checked too, and nothing changes
    const to = req.field('to')!;
    assert.throws(() => req.replaceField(to, '<sip:b@x>\r\nVia: forged'), RangeError);
    assert.throws(() => req.setTopViaReceived('192.0.2.1\r\nVia: forged', undefined), RangeError);
    assert.equal(req.isEdited, false);
    assert.equal(serializeMessage(req).toString('latin1'), INVITE);
    // an edit the message makes of its own Via text is written as it should be
    req.setTopViaReceived('192.0.2.1', 5070);
    assert.match(
      serializeMessage(req).toString('latin1'),
      /\r\nVia: SIP\/2\.0\/UDP pc33\.atlanta\.example\.com;branch=z9hG4bK776asdhds;received=192\.0\.2\.1;rport=5070\r\n/,
    );
  });
});

describe('building messages', () => {
  it('builds a response that copies Via, From, To, Call-ID and CSeq and adds a To-tag', () => {
    const req = request(
      INVITE.replace('Via: SIP/2.0/UDP pc33', 'Via: SIP/2.0/UDP p0;branch=z9hG4bK0\r\nVia: SIP/2.0/UDP pc33'),
    );
    const res = createResponse(req, 486);
    assert.equal(res.status, 486);
    assert.equal(res.reasonPhrase, 'Busy Here');
    assert.deepEqual(
      res.via.map((v) => v.host),
      ['p0', 'pc33.atlanta.example.com'],
    );
    assert.equal(res.from?.params.get('tag'), '1928301774');
    assert.equal(res.callId, req.callId);
    assert.deepEqual(res.cseq, { seq: 314159, method: 'INVITE' });
    assert.ok(res.to?.params.get('tag'));
    assert.equal(res.contentLength, 0);
    assert.equal(res.hasHeader('contact'), false);
  });

  it('adds no To-tag to 100 Trying and keeps an existing one', () => {
    const req = request(INVITE);
    assert.equal(createResponse(req, 100).to?.params.has('tag'), false);
    const tagged = request(INVITE.replace('To: Bob <sip:bob@biloxi.example.com>', 'To: <sip:bob@b>;tag=abc'));
    assert.equal(createResponse(tagged, 200).to?.params.get('tag'), 'abc');
  });

  it('builds a request with the mandatory headers', () => {
    const branch = generateBranch();
    assert.match(branch, /^z9hG4bK/);
    const req = createRequest({
      method: 'OPTIONS',
      uri: 'sip:gw.example.com',
      from: '<sip:olelo@proxy.example.com>',
      to: '<sip:gw.example.com>',
      via: [`SIP/2.0/UDP proxy.example.com;branch=${branch}`],
      body: 'x',
      contentType: 'text/plain',
    });
    assert.equal(req.method, 'OPTIONS');
    assert.equal(req.maxForwards, 70);
    assert.deepEqual(req.cseq, { seq: 1, method: 'OPTIONS' });
    assert.ok(req.from?.params.get('tag'));
    assert.ok(req.callId);
    assert.equal(req.topVia?.branch, branch);
    assert.equal(req.body.toString(), 'x');
    assert.deepEqual(req.missingHeaders(), []);
    req.validate();
  });
});
