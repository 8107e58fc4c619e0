/**
 * nathelper on messages built in memory: private addresses, Kamailio's nat_uac_test flags, the received
 * URI, Contact rewriting, and the alias parameter round trip; and the temporary GRUU codec.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyContext, RequestContext } from '../../src/core/context.js';
import { Logger } from '../../src/core/logger.js';
import { Myself } from '../../src/core/myself.js';
import { nathelperModule, RECEIVED_VAR } from '../../src/modules/nathelper/index.js';
import { isPrivateAddress } from '../../src/modules/nathelper/nat.js';
import { bindingTag, publicGruu, TempGruuCodec } from '../../src/modules/registrar/gruu.js';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import { isSipUri, parseSipUri } from '../../src/sip/uri.js';
import type { Listener, Protocol, Source } from '../../src/transport/types.js';

const log = Logger.create({ level: 'error', sink: () => {} });
const myself = new Myself([]);
const listener: Listener = {
  id: 0,
  protocol: 'udp',
  address: '192.0.2.10',
  port: 5060,
  family: 4,
  advertisedHost: '192.0.2.10',
  advertisedPort: 5060,
};

function source(address: string, port: number, protocol: Protocol = 'udp'): Source {
  return {
    protocol,
    address,
    port,
    family: address.includes(':') ? 6 : 4,
    listener,
    connectionId: protocol === 'udp' ? undefined : 7,
    receivedAt: Date.now(),
  };
}

function invite(via: string, contact: string, body = ''): SipRequest {
  const text = `INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP ${via};branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: ${contact}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  return parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
}

const api = nathelperModule.create({} as never, { natTests: 19 }).api;

describe('nathelper', () => {
  it('knows private addresses: RFC 1918, RFC 6598, IPv6 unique local; not loopback or public', () => {
    for (const a of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '100.64.0.1',
      '100.127.1.1',
      'fd00::1',
      '[fc12:3::1]',
    ]) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of [
      '127.0.0.1',
      '172.32.0.1',
      '100.128.0.1',
      '8.8.8.8',
      '192.0.2.1',
      '::1',
      'fe80::1',
      '2001:db8::1',
      'example.com',
      'fd.example.com',
    ]) {
      assert.equal(isPrivateAddress(a), false, a);
    }
  });

  it('runs the nat_uac_test checks it is asked for', () => {
    const natted = new RequestContext(
      invite('192.168.1.5:5060', '<sip:alice@192.168.1.5:5060>'),
      source('203.0.113.9', 40000),
      log,
      myself,
    );
    assert.equal(api.isBehindNat(natted), true);
    assert.equal(api.isBehindNat(natted, ['contact-private']), true);
    assert.equal(api.isBehindNat(natted, ['via-received']), true);
    assert.equal(api.isBehindNat(natted, ['via-port']), true);
    assert.equal(api.isBehindNat(natted, ['source-private', 'websocket']), false);
    const direct = new RequestContext(
      invite('203.0.113.9:5060', '<sip:alice@203.0.113.9>'),
      source('203.0.113.9', 5060),
      log,
      myself,
    );
    assert.equal(api.isBehindNat(direct), false);
    assert.equal(api.isBehindNat(direct, 255), false);
    const portOnly = new RequestContext(
      invite('203.0.113.9', '<sip:alice@203.0.113.9>'),
      source('203.0.113.9', 6000),
      log,
      myself,
    );
    assert.equal(api.isBehindNat(portOnly, 16), true, 'a Via without port means 5060');
    assert.equal(api.isBehindNat(portOnly, ['contact-port']), true);
    const sdp = new RequestContext(
      invite('203.0.113.9:5060', '<sip:alice@203.0.113.9>', 'v=0\r\nc=IN IP4 10.0.0.8\r\n'),
      source('203.0.113.9', 5060),
      log,
      myself,
    );
    assert.equal(api.isBehindNat(sdp, ['sdp-private']), true);
    const ws = new RequestContext(
      invite('203.0.113.9:5060', '<sip:alice@203.0.113.9>'),
      source('203.0.113.9', 5060, 'ws'),
      log,
      myself,
    );
    assert.equal(api.isBehindNat(ws, 64), true);
    assert.throws(() => api.isBehindNat(ws, ['no-such-test' as never]), /unknown NAT test/);
  });

  it('fixNatedRegister records the source as a URI with its transport', () => {
    const req = new RequestContext(
      invite('10.0.0.1:5060', '<sip:a@10.0.0.1>'),
      source('2001:db8::7', 5070, 'tcp'),
      log,
      myself,
    );
    api.fixNatedRegister(req);
    assert.equal(req.get(RECEIVED_VAR), 'sip:[2001:db8::7]:5070;transport=tcp');
  });

  it('fixNatedContact rewrites the host and port of the first Contact of requests and responses', () => {
    const req = new RequestContext(
      invite(
        '10.0.0.1:5060',
        '"Alice" <sip:alice@10.0.0.1:5062;transport=udp>;expires=60, <sip:other@10.0.0.1>',
      ),
      source('203.0.113.9', 40000),
      log,
      myself,
    );
    assert.equal(api.fixNatedContact(req), true);
    assert.equal(
      req.msg.getHeader('contact'),
      'Alice <sip:alice@203.0.113.9:40000;transport=udp>;expires=60, <sip:other@10.0.0.1>',
    );
    const res = parseMessage(
      Buffer.from(
        'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.168.9.9>\r\nContent-Length: 0\r\n\r\n',
        'latin1',
      ),
    ) as SipResponse;
    const reply = new ReplyContext(res, source('198.51.100.4', 5090), log, myself);
    assert.equal(api.fixNatedContact(reply), true);
    assert.equal(reply.msg.getHeader('contact'), '<sip:bob@198.51.100.4:5090>');
    const star = new RequestContext(invite('10.0.0.1', '*'), source('203.0.113.9', 1), log, myself);
    assert.equal(api.fixNatedContact(star), false);
  });

  it('setContactAlias and handleRuriAlias route a later request to the real source', () => {
    const req = new RequestContext(
      invite('10.0.0.1:5060', '<sip:alice@10.0.0.1:5060>'),
      source('203.0.113.9', 40000, 'tcp'),
      log,
      myself,
    );
    assert.equal(api.setContactAlias(req), true);
    const contact = req.msg.contact!.list[0]!.uri;
    assert.ok(isSipUri(contact));
    assert.equal(contact.params.get('alias'), '203.0.113.9~40000~2');

    const inDialog = new RequestContext(
      invite('192.0.2.1', '<sip:x@192.0.2.1>'),
      source('192.0.2.1', 5060),
      log,
      myself,
    );
    inDialog.setUri('sip:alice@10.0.0.1:5060;alias=203.0.113.9~40000~2');
    assert.equal(api.handleRuriAlias(inDialog), 'routed');
    assert.equal(inDialog.msg.requestUri, 'sip:alice@10.0.0.1:5060');
    assert.equal(inDialog.nextHop, 'sip:203.0.113.9:40000;transport=tcp');
    assert.equal(api.handleRuriAlias(inDialog), 'none');
    for (const bad of [
      '1.2.3.4~99999~1',
      'host~5060~1',
      '1.2.3.4~5060~4',
      '1.2.3.4~5060',
      '1.2.3.4~5060~constructor',
    ]) {
      inDialog.setUri(`sip:alice@10.0.0.1;alias=${bad}`);
      assert.equal(api.handleRuriAlias(inDialog), 'invalid', bad);
    }
  });
});

describe('GRUUs', () => {
  it('builds the public GRUU from the AOR and the instance (RFC 5627 §3.1)', () => {
    assert.equal(
      publicGruu(
        parseSipUri('sip:Alice@Example.COM:5060;transport=tcp'),
        '<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>',
      ),
      'sip:Alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    );
  });

  it('makes opaque temporary GRUUs that only the same secret opens', () => {
    const codec = new TempGruuCodec('a secret of sixteen+ characters');
    const binding = { instance: '<urn:uuid:1>', callId: 'call-1' };
    const a = codec.create('sip', 'alice@example.com', binding);
    const b = codec.create('sip', 'alice@example.com', binding);
    assert.notEqual(a, b, 'a new one every time');
    assert.ok(!a.includes('alice'), 'the AOR does not show');
    const user = a.slice(4, a.indexOf('@'));
    const opened = codec.open(user)!;
    assert.equal(opened.aor, 'alice@example.com');
    assert.ok(opened.tag.equals(bindingTag(binding)));
    assert.ok(!opened.tag.equals(bindingTag({ ...binding, callId: 'call-2' })));
    assert.equal(new TempGruuCodec('another secret, also long').open(user), undefined);
    assert.ok(
      new TempGruuCodec('a secret of sixteen+ characters').open(user),
      'another server with the secret',
    );
    assert.equal(codec.open('tgruu.AAAA'), undefined);
    assert.equal(codec.open('alice'), undefined);
  });
});
