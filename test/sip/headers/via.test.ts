import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatVia, formatVias, parseVia, type Via, withReceived } from '../../../src/sip/headers/via.js';
import { assertThrowsOnlyParseErrors, headerValue, headerValues, throwsParse } from './fixture-headers.js';

function one(value: string): Via {
  const vias = parseVia(value);
  assert.equal(vias.length, 1);
  return vias[0]!;
}

describe('parseVia', () => {
  it('parses a plain UDP Via with a branch', () => {
    const v = one('SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds');
    assert.equal(v.protocol, 'SIP');
    assert.equal(v.version, '2.0');
    assert.equal(v.transport, 'UDP');
    assert.equal(v.host, 'pc33.atlanta.example.com');
    assert.equal(v.hostKind, 'name');
    assert.equal(v.port, undefined);
    assert.equal(v.branch, 'z9hG4bK776asdhds');
    assert.equal(v.received, undefined);
    assert.equal(v.rport, undefined);
    assert.deepEqual([...v.params], [['branch', 'z9hG4bK776asdhds']]);
  });

  it('upper-cases the transport and protocol name', () => {
    const v = one('sip/2.0/tls example.com:5061');
    assert.equal(v.protocol, 'SIP');
    assert.equal(v.transport, 'TLS');
    assert.equal(v.port, 5061);
  });

  it('accepts LWS around the slashes of sent-protocol and before parameters', () => {
    const v = one('SIP  /   2.0 \t/ UDP   192.0.2.2 ;  branch =  abc ; rport');
    assert.equal(v.host, '192.0.2.2');
    assert.equal(v.hostKind, 'ipv4');
    assert.equal(v.branch, 'abc');
    assert.equal(v.rport, null);
  });

  it('splits several comma-separated Vias in one value', () => {
    const vias = parseVia(
      'SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK2',
    );
    assert.deepEqual(
      vias.map((v) => [v.transport, v.host, v.port, v.branch]),
      [
        ['UDP', 'a.example.com', undefined, 'z9hG4bK1'],
        ['TCP', 'b.example.com', 5070, 'z9hG4bK2'],
      ],
    );
  });

  it('reads received, rport, maddr and ttl', () => {
    const v = one('SIP/2.0/UDP host.example.com;received=192.0.2.9;rport=5062;maddr=224.2.0.1;ttl=16;x=y');
    assert.equal(v.received, '192.0.2.9');
    assert.equal(v.rport, 5062);
    assert.equal(v.maddr, '224.2.0.1');
    assert.equal(v.ttl, 16);
    assert.equal(v.params.get('x'), 'y');
  });

  it('takes an IPv6 reference as sent-by, with and without a port', () => {
    const [a, b] = parseVia(
      'SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bK1, SIP/2.0/UDP [::1];branch=z9hG4bK2',
    );
    assert.equal(a!.host, '[2001:db8::9:1]');
    assert.equal(a!.hostKind, 'ipv6');
    assert.equal(a!.port, 6050);
    assert.equal(b!.host, '[::1]');
    assert.equal(b!.port, undefined);
  });

  it('rejects an empty value', () => {
    throwsParse(() => parseVia(''), /empty Via/);
  });

  it('rejects empty list elements', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com,,SIP/2.0/UDP b.example.com'), /empty element/);
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com,'), /empty element/);
  });

  it('rejects empty parameters', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;;branch=z9hG4bK1'), /empty parameter/);
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;'), /empty parameter/);
  });

  it('rejects a missing sent-by or slash', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP'), /missing sent-by/);
    throwsParse(() => parseVia('SIP/2.0 UDP host'), /expected '\/'/);
    throwsParse(() => parseVia('SIP/2.0/UDP ;branch=x'), /missing sent-by/);
  });

  it('rejects a branch without a value', () => {
    const e = throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;branch'), /branch must be a token/);
    assert.equal(e.offset, 'SIP/2.0/UDP a.example.com;'.length);
  });

  it('rejects a received that is not an IP address', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;received=host.example.com'), /received/);
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;received=[2001:db8::1'), /received/);
  });

  it('rejects a ttl above 255', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;ttl=256'), /Via ttl exceeds 255/);
  });

  it('rejects an rport of 0 or above 65535', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;rport=0'), /rport must be 1-65535/);
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;rport=65536'), /rport exceeds 65535/);
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;rport=abc'), /rport must be a decimal/);
  });

  it('rejects a port above 65535 and a malformed maddr', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com:70000'), /port out of range/);
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com;maddr=-bad-'), /maddr must be a host/);
  });

  it('rejects trailing garbage after sent-by', () => {
    throwsParse(() => parseVia('SIP/2.0/UDP a.example.com extra'), /unexpected character 'e'/);
  });

  it('throws nothing but SipParseError for random input', () => {
    assertThrowsOnlyParseErrors(parseVia);
  });
});

describe('parseVia on the torture messages', () => {
  it('wsinv: reads two Vias from one folded compact v: line with odd spacing', () => {
    const values = headerValues('rfc4475/wsinv.dat', 'via');
    assert.equal(values.length, 2);
    const first = one(values[0]!);
    assert.deepEqual([first.protocol, first.version, first.transport], ['SIP', '2.0', 'UDP']);
    assert.equal(first.host, '192.0.2.2');
    assert.equal(first.branch, '390skdjuw');
    const second = parseVia(values[1]!);
    assert.deepEqual(
      second.map((v) => [v.transport, v.host, v.branch]),
      [
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
  });

  it('transports: parses UDP, SCTP, TLS, an unknown transport and TCP', () => {
    const vias = headerValues('rfc4475/transports.dat', 'via').flatMap(parseVia);
    assert.deepEqual(
      vias.map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
    assert.equal(vias[3]!.host, 't4.example.com');
  });

  it('badbranch: accepts a branch that is only the magic cookie', () => {
    const v = one(headerValue('rfc4475/badbranch.dat', 'via'));
    assert.equal(v.branch, 'z9hG4bK');
  });

  it('badinv01: rejects the Via with empty ; and , separators', () => {
    throwsParse(() => parseVia(headerValue('rfc4475/badinv01.dat', 'via')), /empty/);
  });

  it('bcast: parses a sent-by of 255.255.255.255', () => {
    const vias = headerValues('rfc4475/bcast.dat', 'via').flatMap(parseVia);
    assert.equal(vias[1]!.host, '255.255.255.255');
    assert.equal(vias[1]!.hostKind, 'ipv4');
  });

  it('mult-ip-in-header: parses IPv6 with port, IPv4, and IPv6 with an IPv4 received', () => {
    const vias = headerValues('rfc5118-wire/mult-ip-in-header.dat', 'via').flatMap(parseVia);
    assert.deepEqual(
      vias.map((v) => [v.transport, v.host, v.hostKind, v.port, v.received]),
      [
        ['UDP', '[2001:db8::9:1]', 'ipv6', 6050, undefined],
        ['UDP', '192.0.2.1', 'ipv4', undefined, undefined],
        ['TCP', '[2001:db8::9:255]', 'ipv6', undefined, '192.0.2.200'],
      ],
    );
  });

  it('via-received-param-with-delim: accepts a bracketed IPv6 received', () => {
    const v = one(headerValue('rfc5118-wire/via-received-param-with-delim.dat', 'via'));
    assert.equal(v.received, '[2001:db8::9:255]');
    assert.equal(v.branch, 'z9hG4bKas3-111');
  });

  it('via-received-param-no-delim: accepts a bare IPv6 received and still reads the branch after it', () => {
    const v = one(headerValue('rfc5118-wire/via-received-param-no-delim.dat', 'via'));
    assert.equal(v.received, '2001:db8::9:255');
    assert.equal(v.branch, 'z9hG4bKas3');
  });

  it('ipv4-mapped-ipv6: parses IPv4-mapped IPv6 sent-by values', () => {
    const vias = headerValues('rfc5118-wire/ipv4-mapped-ipv6.dat', 'via').flatMap(parseVia);
    assert.deepEqual(
      vias.map((v) => [v.host, v.port]),
      [
        ['[::ffff:192.0.2.10]', 19823],
        ['[::ffff:192.0.2.2]', undefined],
      ],
    );
  });
});

describe('formatVia', () => {
  it('writes a Via that parses back to the same values', () => {
    const text = 'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx;received=2001:db8::9:255;rport;foo="a b"';
    const v = one(text);
    const again = one(formatVia(v));
    assert.deepEqual(again, v);
  });

  it('lets the typed fields override the params map', () => {
    const v = one('SIP/2.0/UDP host.example.com;rport;branch=z9hG4bK1;ttl=3');
    v.rport = 5070;
    v.received = '192.0.2.7';
    v.ttl = undefined;
    assert.equal(formatVia(v), 'SIP/2.0/UDP host.example.com;rport=5070;branch=z9hG4bK1;received=192.0.2.7');
  });

  it('joins several Vias with commas', () => {
    const vias = parseVia('SIP/2.0/UDP a;branch=z9hG4bK1,SIP/2.0/TCP b:1;branch=z9hG4bK2');
    assert.equal(formatVias(vias), 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:1;branch=z9hG4bK2');
  });
});

describe('withReceived (the text edit of a request top Via)', () => {
  /** What formatting the Via anew gives: the reference the text edit must agree with. */
  function formatted(value: string, received: string, rport: number | undefined): Via[] {
    const vias = parseVia(value);
    const top = vias[0]!;
    return [{ ...top, received, rport: rport ?? top.rport }, ...vias.slice(1)];
  }

  const cases: Array<[string, string, number | undefined]> = [
    ['SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-0;rport', '127.0.0.1', 5061],
    ['SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bKx', '192.0.2.7', 40000],
    ['SIP/2.0/UDP 10.0.0.1 ; RPORT ;branch=z9hG4bKx', '192.0.2.7', 40000],
    ['SIP/2.0/UDP host.example;branch=z9hG4bKx', '192.0.2.7', undefined],
    ['SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKx;rport', '2001:db8::9', 50000],
    [
      'SIP/2.0/UDP a.example;branch=z9hG4bK1;rport , SIP/2.0/UDP b.example;branch=z9hG4bK2;rport',
      '192.0.2.1',
      7,
    ],
    ['SIP/2.0/UDP a.example;rportx;branch=z9hG4bK1', '192.0.2.1', undefined],
  ];
  for (const [value, received, rport] of cases) {
    it(`edits ${value}`, () => {
      const text = withReceived(value, received, rport);
      assert.notEqual(text, undefined);
      assert.deepEqual(parseVia(text!), formattedParsed(value, received, rport));
      // the second value keeps its bytes
      const comma = value.indexOf(',');
      if (comma !== -1) assert.ok(text!.endsWith(value.slice(comma)));
    });
  }

  /** The parse of the formatted reference, so both are compared as parsed Vias (params in their order). */
  function formattedParsed(value: string, received: string, rport: number | undefined): Via[] {
    return parseVia(formatVias(formatted(value, received, rport)));
  }

  it('leaves to formatting what the text edit does not handle', () => {
    // received already there, rport with a value while one is to be set, a quoted string
    assert.equal(withReceived('SIP/2.0/UDP a;received=10.0.0.1;rport', '192.0.2.1', 9), undefined);
    assert.equal(withReceived('SIP/2.0/UDP a;rport=5;branch=z9hG4bK1', '192.0.2.1', 9), undefined);
    assert.equal(withReceived('SIP/2.0/UDP a;x="q;rport";rport', '192.0.2.1', 9), undefined);
    // rport to set but no rport flag in the top value
    assert.equal(
      withReceived('SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;rport', '192.0.2.1', 9),
      undefined,
    );
  });
});
