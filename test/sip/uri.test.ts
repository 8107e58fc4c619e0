import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SipParseError } from '../../src/sip/errors.js';
import {
  escapeUser,
  formatUri,
  isSipUri,
  isTelUri,
  parseSipUri,
  parseUri,
  type SipUri,
  type TelUri,
  type Uri,
  unescapeUri,
  uriEquals,
} from '../../src/sip/uri.js';

const TORTURE = new URL('../../../test/fixtures/torture/', import.meta.url);

/** The Request-URI of a torture message (second token of the request line). */
function requestUri(file: string): string {
  const msg = readFileSync(new URL(file, TORTURE)).toString('latin1');
  const line = msg.slice(0, msg.search(/\r?\n/));
  return line.split(' ')[1]!;
}

function sip(text: string): SipUri {
  const u = parseUri(text);
  assert.ok(isSipUri(u), `${text} should be a SIP URI`);
  return u;
}

function tel(text: string): TelUri {
  const u = parseUri(text);
  assert.ok(isTelUri(u), `${text} should be a tel URI`);
  return u;
}

/** Asserts `parseUri(text)` throws a SipParseError, optionally at `offset`. */
function rejects(text: string, offset?: number): SipParseError {
  let caught: unknown;
  try {
    parseUri(text);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SipParseError, `${JSON.stringify(text)} should fail with SipParseError`);
  if (offset !== undefined) assert.equal(caught.offset, offset, `offset for ${JSON.stringify(text)}`);
  return caught;
}

function assertEquivalent(a: string, b: string): void {
  assert.equal(uriEquals(a, b), true, `${a} == ${b}`);
  assert.equal(uriEquals(b, a), true, `${b} == ${a}`);
}

function assertNotEquivalent(a: string, b: string): void {
  assert.equal(uriEquals(a, b), false, `${a} != ${b}`);
  assert.equal(uriEquals(b, a), false, `${b} != ${a}`);
}

describe('uriEquals: the equivalent sets of RFC 3261 §19.1.4', () => {
  const pairs: Array<[string, string, string]> = [
    [
      'matches an escaped user, host case and transport value case',
      'sip:%61lice@atlanta.com;transport=TCP',
      'sip:alice@AtLanTa.CoM;Transport=tcp',
    ],
    [
      'ignores an unknown parameter present on one side',
      'sip:carol@chicago.com',
      'sip:carol@chicago.com;newparam=5',
    ],
    ['ignores security=on present on one side', 'sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    [
      'ignores two different one-sided unknown parameters',
      'sip:carol@chicago.com;newparam=5',
      'sip:carol@chicago.com;security=on',
    ],
    [
      'ignores the order of parameters, keeping an escaped header',
      'sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
      'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com',
    ],
    [
      'ignores the order of headers',
      'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
      'sip:alice@atlanta.com?priority=urgent&subject=project%20x',
    ],
  ];
  for (const [name, a, b] of pairs) test(`${name}: ${a} == ${b}`, () => assertEquivalent(a, b));
});

describe('uriEquals: the non-equivalent sets of RFC 3261 §19.1.4', () => {
  const pairs: Array<[string, string, string]> = [
    [
      'compares user names case-sensitively',
      'SIP:ALICE@AtLanTa.CoM;Transport=udp',
      'sip:alice@AtLanTa.CoM;Transport=UDP',
    ],
    ['treats a port on one side only as unequal, even 5060', 'sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'],
    [
      'treats a transport on one side only as unequal, even udp',
      'sip:bob@biloxi.com',
      'sip:bob@biloxi.com;transport=udp',
    ],
    [
      'treats a port and transport on one side only as unequal',
      'sip:bob@biloxi.com',
      'sip:bob@biloxi.com:6000;transport=tcp',
    ],
    [
      'never ignores a header component',
      'sip:carol@chicago.com',
      'sip:carol@chicago.com?Subject=next%20meeting',
    ],
    [
      'does not match a host name with the address it resolves to',
      'sip:bob@phone21.boxesbybob.com',
      'sip:bob@192.0.2.4',
    ],
  ];
  for (const [name, a, b] of pairs) test(`${name}: ${a} != ${b}`, () => assertNotEquivalent(a, b));
});

describe('uriEquals: equality is not transitive (RFC 3261 §19.1.4)', () => {
  test('sip:carol@chicago.com equals sip:carol@chicago.com;security=on', () =>
    assertEquivalent('sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'));
  test('sip:carol@chicago.com equals sip:carol@chicago.com;security=off', () =>
    assertEquivalent('sip:carol@chicago.com', 'sip:carol@chicago.com;security=off'));
  test('security=on and security=off are not equal to each other', () =>
    assertNotEquivalent('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'));
});

describe('uriEquals: further SIP rules', () => {
  test('never equates sip and sips', () =>
    assertNotEquivalent('sip:alice@atlanta.com', 'sips:alice@atlanta.com'));
  test('compares the scheme case-insensitively', () =>
    assertEquivalent('SIPS:alice@atlanta.com', 'sips:alice@atlanta.com'));
  test('treats a user on one side only as unequal', () =>
    assertNotEquivalent('sip:atlanta.com', 'sip:alice@atlanta.com'));
  test('compares passwords case-sensitively and requires them on both sides', () => {
    assertEquivalent('sip:alice:se%63ret@atlanta.com', 'sip:alice:secret@atlanta.com');
    assertNotEquivalent('sip:alice:secret@atlanta.com', 'sip:alice:SECRET@atlanta.com');
    assertNotEquivalent('sip:alice:secret@atlanta.com', 'sip:alice@atlanta.com');
  });
  test('compares ports numerically', () =>
    assertEquivalent('sip:bob@biloxi.com:05060', 'sip:bob@biloxi.com:5060'));
  for (const param of ['user=phone', 'ttl=15', 'method=INVITE', 'maddr=239.255.255.1']) {
    test(`treats ;${param} on one side only as unequal`, () =>
      assertNotEquivalent('sip:bob@biloxi.com', `sip:bob@biloxi.com;${param}`));
  }
  test('requires a parameter present on both sides to match, ignoring value case', () => {
    assertNotEquivalent('sip:carol@chicago.com;newparam=6', 'sip:carol@chicago.com;newparam=5');
    assertEquivalent('sip:carol@chicago.com;maddr=Example.COM', 'sip:carol@chicago.com;MADDR=example.com');
  });
  test('distinguishes a flag parameter from one with a value', () =>
    assertNotEquivalent('sip:carol@chicago.com;lr', 'sip:carol@chicago.com;lr=on'));
  test('compares unescaped parameter names and values', () =>
    assertEquivalent(
      'sip:carol@chicago.com;%6C%72;transport=%74cp',
      'sip:carol@chicago.com;lr;transport=tcp',
    ));
  test('compares header names case-insensitively and values case-sensitively', () => {
    assertEquivalent(
      'sip:carol@chicago.com?subject=next%20meeting',
      'sip:carol@chicago.com?Subject=n%65xt%20meeting',
    );
    assertNotEquivalent('sip:carol@chicago.com?Subject=Next', 'sip:carol@chicago.com?Subject=next');
    assertNotEquivalent(
      'sip:carol@chicago.com?Subject=next%20meeting',
      'sip:carol@chicago.com?Subject=another%20meeting',
    );
  });
  test('compares IPv6 references by address, not spelling', () => {
    assertEquivalent('sip:bob@[2001:DB8::1]', 'sip:bob@[2001:db8:0:0:0:0:0:1]');
    assertEquivalent('sip:bob@[::ffff:192.0.2.2]', 'sip:bob@[::ffff:c000:202]');
    assertEquivalent('sip:user@[2001:db8:::192.0.2.1]', 'sip:user@[2001:db8::192.0.2.1]');
    assertNotEquivalent('sip:bob@[2001:db8::1]', 'sip:bob@[2001:db8::2]');
  });
  test('accepts parsed URIs as well as strings', () =>
    assert.equal(uriEquals(parseUri('sip:a@b.c;transport=tcp'), 'sip:a@B.C;transport=TCP'), true));
  test('never equates an unparsable string, not even with itself', () => {
    assert.equal(uriEquals('sip:a@b c', 'sip:a@b c'), false);
    assert.equal(uriEquals('sip:%zz@x', 'sip:x'), false);
  });
  test('never equates URIs of different schemes', () => {
    assertNotEquivalent('sip:+15551234@example.com;user=phone', 'tel:+15551234');
    assertNotEquivalent('tel:+15551234', 'urn:tel:+15551234');
    assertNotEquivalent('sip:alice@atlanta.com', 'im:alice@atlanta.com');
  });
});

describe('uriEquals: tel URIs (RFC 3966 §4)', () => {
  test('ignores visual separators in the number', () =>
    assertEquivalent('tel:+1-201-555-0123', 'tel:+1(201)555.0123'));
  test('compares hex digits case-insensitively', () =>
    assertEquivalent('tel:7a42;phone-context=example.com', 'tel:7A42;phone-context=EXAMPLE.com'));
  test('distinguishes global from local numbers', () =>
    assertNotEquivalent('tel:+5550123', 'tel:5550123;phone-context=+1'));
  test('requires the same parameter set', () => {
    assertNotEquivalent('tel:+1-201-555-0123', 'tel:+1-201-555-0123;ext=1234');
    assertEquivalent('tel:+12015550123;ext=1-234;foo=bar', 'tel:+1-201-555-0123;FOO=BAR;ext=1234');
  });
  test('compares a numeric phone-context without separators', () =>
    assertEquivalent('tel:1234;phone-context=+1-201-555', 'tel:12-34;phone-context=+1201555'));
});

describe('uriEquals: other schemes', () => {
  test('compares the scheme case-insensitively and the rest exactly', () => {
    assertEquivalent('HTTP://www.example.com/a', 'http://www.example.com/a');
    assertNotEquivalent('http://www.example.com/a', 'http://WWW.example.com/a');
  });
});

describe('parseUri: SIP URI structure', () => {
  test('reads user, password, host, port, params and headers', () => {
    const u = sip('sips:alice:pw@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent');
    assert.deepEqual(u, {
      scheme: 'sips',
      user: 'alice',
      password: 'pw',
      host: 'atlanta.com',
      hostKind: 'name',
      port: 5061,
      params: new Map([
        ['transport', 'tcp'],
        ['lr', null],
      ]),
      headers: [
        ['subject', 'project x'],
        ['priority', 'urgent'],
      ],
    });
  });
  test('accepts the scheme in any case and stores it lower-case', () => {
    assert.equal(sip('SIP:alice@atlanta.com').scheme, 'sip');
    assert.equal(sip('SiPs:alice@atlanta.com').scheme, 'sips');
  });
  test('leaves user and password undefined when there is no userinfo', () => {
    const u = sip('sip:atlanta.com');
    assert.equal(u.user, undefined);
    assert.equal(u.password, undefined);
    assert.equal(u.port, undefined);
  });
  test('reads an empty password as an empty string', () =>
    assert.equal(sip('sip:alice:@atlanta.com').password, ''));
  test('lower-cases parameter names but keeps value case', () =>
    assert.deepEqual(
      sip('sip:a@b;Transport=TCP;MyFlag').params,
      new Map<string, string | null>([
        ['transport', 'TCP'],
        ['myflag', null],
      ]),
    ));
  test('classifies IPv4 hosts', () => assert.equal(sip('sip:alice@192.0.2.4:5060').hostKind, 'ipv4'));
  test('ends the userinfo at the first @, letting the user hold ; ? / and escapes', () => {
    const u = sip('sip:user;par=u%40example.net@example.com');
    assert.equal(u.user, 'user;par=u@example.net');
    assert.equal(u.host, 'example.com');
    assert.equal(u.params.size, 0);
  });
  test('rejects a second unescaped @', () => void rejects('sip:alice@atlanta.com@gateway.com', 21));
  test('accepts every user-unreserved and mark character in user and password', () => {
    const u = sip("sip:&=+$,;?/-_.!~*'():&=+$,-_.!~*'()@host.example.com");
    assert.equal(u.user, "&=+$,;?/-_.!~*'()");
    assert.equal(u.password, "&=+$,-_.!~*'()");
  });
  test('accepts an empty header value', () => assert.deepEqual(sip('sip:a@b?h=').headers, [['h', '']]));
  test('allows IPv6 references in parameter values', () =>
    assert.equal(sip('sip:a@b;maddr=[2001:db8::1]').params.get('maddr'), '[2001:db8::1]'));
});

describe('parseUri: escapes', () => {
  test('decodes %HH exactly once (n%61me=v%61lue%25%34%31 is name=value%41)', () => {
    const u = sip('sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31');
    assert.equal(u.user, 'caller');
    assert.deepEqual(
      u.params,
      new Map<string, string | null>([
        ['lr', null],
        ['name', 'value%41'],
      ]),
    );
  });
  test('decodes %00 to NUL without truncating', () => {
    const u = sip('sip:null-%00-null@example.com');
    assert.equal(u.user, 'null-\0-null');
    assert.equal(u.user!.length, 11);
    assert.equal(sip('sip:%00%00@host5.example.com').user, '\0\0');
  });
  test('decodes escapes in user, password, headers and header names', () => {
    const u = sip('sip:I%20have%20spaces:p%3Aw@example.net?Sub%6Aect=a%26b');
    assert.equal(u.user, 'I have spaces');
    assert.equal(u.password, 'p:w');
    assert.deepEqual(u.headers, [['Subject', 'a&b']]);
  });
  test('rejects a truncated escape', () => void rejects('sip:us%4@host', 6));
  test('rejects a non-hex escape', () => void rejects('sip:%zz@x', 4));
  test('rejects a bad escape in a parameter value or header', () => {
    rejects('sip:a@b;p=%4', 10);
    rejects('sip:a@b?h=%g1', 10);
  });
  test('rejects a bad escape at the very end', () => void rejects('sip:a@b;p=x%', 11));
  test('unescapeUri decodes once and rejects bad escapes', () => {
    assert.equal(unescapeUri('a%25%34%31%00b'), 'a%41\0b');
    assert.equal(unescapeUri('plain'), 'plain');
    assert.throws(() => unescapeUri('50%'), SipParseError);
  });
  test('escapeUser escapes what a user part cannot hold', () => {
    assert.equal(escapeUser('user;par=u@example.net'), 'user;par=u%40example.net');
    assert.equal(escapeUser('a b:c%\0\xe9'), 'a%20b%3Ac%25%00%E9');
    assert.equal(escapeUser('\u00e9\u20ac'), '%C3%A9%E2%82%AC');
  });
});

describe('parseUri: IPv6 references (RFC 5118)', () => {
  test('rejects an IPv6 address without brackets', () => {
    const e = rejects('sip:user@2001:db8::10', 9);
    assert.match(e.reason, /\[/);
    rejects('sip:2001:db8::10');
  });
  test('reads [2001:db8::10:5070] as one address with no port', () => {
    const u = sip('sip:[2001:db8::10:5070]');
    assert.equal(u.host, '[2001:db8::10:5070]');
    assert.equal(u.hostKind, 'ipv6');
    assert.equal(u.port, undefined);
  });
  test('reads [2001:db8::10]:5070 as an address and port 5070', () => {
    const u = sip('sip:[2001:db8::10]:5070');
    assert.equal(u.host, '[2001:db8::10]');
    assert.equal(u.port, 5070);
  });
  test('reads an IPv4-mapped address', () =>
    assert.equal(sip('sip:ted@[::ffff:192.0.2.2]').hostKind, 'ipv6'));
  test('rejects a malformed or unclosed reference', () => {
    rejects('sip:[2001:db8::10');
    rejects('sip:[2001:db8::10::1]');
    rejects('sip:[gggg::1]');
  });
});

describe('parseUri: rejects malformed SIP URIs', () => {
  const bad: Array<[string, string]> = [
    ['empty input', ''],
    ['missing scheme', 'alice@atlanta.com'],
    ['scheme starting with a digit', '1sip:alice@atlanta.com'],
    ['missing host', 'sip:'],
    ['empty user', 'sip:@atlanta.com'],
    ['port out of range', 'sip:a@b:65536'],
    ['empty port', 'sip:a@b:'],
    ['empty parameter', 'sip:a@b;;lr'],
    ['trailing semicolon', 'sip:a@b;'],
    ['empty parameter value', 'sip:a@b;transport='],
    ['header without =', 'sip:a@b?subject'],
    ['empty header part', 'sip:a@b?'],
    ['space in the user', 'sip:a b@c'],
    ['leading whitespace', ' sip:a@b'],
    ['trailing whitespace', 'sip:a@b '],
    ['tab inside', 'sip:a@b;\tlr'],
    ['CRLF inside', 'sip:a@b\r\n'],
    ['angle brackets', '<sip:a@b>'],
    ['> inside', 'sip:a@b>'],
    ['quote inside', 'sip:"a"@b'],
    ['non-ASCII byte', 'sip:\xe9@b'],
    ['hyphen-ended label', 'sip:a@b-.com'],
    ['character after the host', 'sip:a@b/c'],
  ];
  for (const [what, text] of bad) test(`rejects ${what}: ${JSON.stringify(text)}`, () => void rejects(text));
  test('reports whitespace as such, at its offset', () => {
    const e = rejects('sip:user@example.com ;lr', 20);
    assert.equal(e.reason, 'whitespace in URI');
  });
  test('adds the offset argument to error offsets', () => {
    let caught: unknown;
    try {
      parseUri('sip:a@b c', 100);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof SipParseError);
    assert.equal(caught.offset, 107);
  });
  test('parseSipUri rejects other schemes', () => {
    assert.throws(() => parseSipUri('tel:+1234'), SipParseError);
    assert.equal(parseSipUri('sip:a@b').host, 'b');
  });
});

describe('parseUri: tel URIs (RFC 3966)', () => {
  test('reads a global number with separators and parameters', () => {
    const u = tel('tel:+1-201-555-0123;ext=1234;ISUB=a1%2fb');
    assert.equal(u.number, '+1-201-555-0123');
    assert.deepEqual(
      u.params,
      new Map([
        ['ext', '1234'],
        ['isub', 'a1/b'],
      ]),
    );
  });
  test('reads a local number with phone-context', () => {
    const u = tel('TEL:7042;phone-context=example.com');
    assert.equal(u.scheme, 'tel');
    assert.equal(u.number, '7042');
    assert.equal(u.params.get('phone-context'), 'example.com');
  });
  test('reads *, # and hex digits in local numbers', () => assert.equal(tel('tel:*67#a;x').number, '*67#a'));
  for (const text of [
    'tel:',
    'tel:+',
    'tel:+-()',
    'tel:+12a',
    'tel:12+3',
    'tel:+1 234',
    'tel:+1;',
    'tel:+1;=x',
    'tel:+1;a=',
  ]) {
    test(`rejects ${JSON.stringify(text)}`, () => void rejects(text));
  }
});

describe('parseUri: other schemes', () => {
  test('keeps an unknown scheme as an opaque absolute URI', () => {
    assert.deepEqual(parseUri('soap.beep://192.0.2.103:3002'), {
      scheme: 'soap.beep',
      opaque: '//192.0.2.103:3002',
    });
    assert.deepEqual(parseUri('nobodyKnowsThisScheme:totallyopaquecontent'), {
      scheme: 'nobodyknowsthisscheme',
      opaque: 'totallyopaquecontent',
    });
    assert.deepEqual(parseUri('urn:service:sos'), { scheme: 'urn', opaque: 'service:sos' });
    assert.deepEqual(parseUri('mailto:alice@atlanta.com?subject=hi%20there'), {
      scheme: 'mailto',
      opaque: 'alice@atlanta.com?subject=hi%20there',
    });
  });
  for (const text of ['http:', 'http://a b', 'http://a<b', 'x+y:"q"', 'urn:%zz', 'ht_tp://x']) {
    test(`rejects ${JSON.stringify(text)}`, () => void rejects(text));
  }
});

describe('parseUri: torture Request-URIs (RFC 4475, RFC 5118)', () => {
  test('esc01: escaped userinfo decodes to sips:user@example.com', () => {
    const u = sip(requestUri('rfc4475/esc01.dat'));
    assert.equal(u.user, 'sips:user@example.com');
    assert.equal(u.host, 'example.net');
  });
  test('semiuri: the user is user;par=u@example.net', () => {
    const u = sip(requestUri('rfc4475/semiuri.dat'));
    assert.equal(u.user, 'user;par=u@example.net');
    assert.equal(u.params.size, 0);
  });
  test('intmeth: reads the unusual user and password', () => {
    const u = sip(requestUri('rfc4475/intmeth.dat'));
    assert.equal(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(u.host, 'example.com');
  });
  test('wsinv: keeps the unknown flag parameter', () =>
    assert.deepEqual(sip(requestUri('rfc4475/wsinv.dat')).params, new Map([['unknownparam', null]])));
  test('escruri: keeps the escaped Route header', () =>
    assert.deepEqual(sip(requestUri('rfc4475/escruri.dat')).headers, [['Route', '<sip:example.com>']]));
  test('novelsc: soap.beep is an opaque URI', () =>
    assert.deepEqual(parseUri(requestUri('rfc4475/novelsc.dat')), {
      scheme: 'soap.beep',
      opaque: '//192.0.2.103:3002',
    }));
  test('unkscm: an unknown scheme is an opaque URI', () =>
    assert.equal(parseUri(requestUri('rfc4475/unkscm.dat')).scheme, 'nobodyknowsthisscheme'));
  test('ltgtruri: a Request-URI in < > is rejected', () => void rejects(requestUri('rfc4475/ltgtruri.dat')));
  test('ipv6-good: a bracketed IPv6 host', () =>
    assert.equal(sip(requestUri('rfc5118-wire/ipv6-good.dat')).host, '[2001:db8::10]'));
  test('ipv6-bad: an IPv6 host without brackets is rejected', () =>
    void rejects(requestUri('rfc5118-wire/ipv6-bad.dat')));
  test('port-ambiguous: no port', () => {
    const u = sip(requestUri('rfc5118-wire/port-ambiguous.dat'));
    assert.equal(u.host, '[2001:db8::10:5070]');
    assert.equal(u.port, undefined);
  });
  test('port-unambiguous: port 5070', () => {
    const u = sip(requestUri('rfc5118-wire/port-unambiguous.dat'));
    assert.equal(u.host, '[2001:db8::10]');
    assert.equal(u.port, 5070);
  });
  test('ipv6-bug-abnf-3-colons: the three-colon spelling is tolerated', () =>
    assert.equal(sip(requestUri('rfc5118-wire/ipv6-bug-abnf-3-colons.dat')).hostKind, 'ipv6'));
});

const ROUND_TRIP = [
  'sip:alice@atlanta.com',
  'sips:alice:secret@atlanta.com:5061;transport=tls;lr?subject=project%20x&priority=urgent',
  'sip:user;par=u%40example.net@example.com',
  'sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31',
  'sip:null-%00-null@example.com',
  'sip:I%20have%20spaces@example.net',
  'sip:user@example.com?Route=%3Csip:sip.example.com%3E',
  'sip:[2001:db8::10]:5070;maddr=[2001:db8::1]',
  'sip:[2001:db8::10:5070]',
  "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
  'SIP:ALICE@AtLanTa.CoM;Transport=udp',
  'tel:+1-201-555-0123;ext=1234;isub=a%2Fb',
  'soap.beep://192.0.2.103:3002',
  'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
];

describe('formatUri', () => {
  for (const text of ROUND_TRIP) {
    test(`round-trips ${text}`, () => {
      const u = parseUri(text);
      const formatted = formatUri(u);
      assert.deepEqual(parseUri(formatted), u);
      assert.equal(formatUri(parseUri(formatted)), formatted, 'formatting is stable');
      assert.equal(uriEquals(formatted, text), true);
    });
  }
  test('writes the canonical form: lower-case scheme and parameter names, minimal escapes', () => {
    assert.equal(
      formatUri(parseUri('SIP:%61lice@AtLanTa.CoM;Transport=TCP;n%61me=v%61lue%25%34%31')),
      'sip:alice@AtLanTa.CoM;transport=TCP;name=value%2541',
    );
  });
  test('escapes a constructed URI so it parses back', () => {
    const u: SipUri = {
      scheme: 'sip',
      user: 'a@b:c d',
      password: 'p@ss;',
      host: '2001:db8::1',
      hostKind: 'ipv6',
      port: 5060,
      params: new Map([['x y', 'a;b=c']]),
      headers: [['Sub&ject', 'a=b&c<d>']],
    };
    const text = formatUri(u);
    assert.equal(
      text,
      'sip:a%40b%3Ac%20d:p%40ss%3B@[2001:db8::1]:5060;x%20y=a%3Bb%3Dc?Sub%26ject=a%3Db%26c%3Cd%3E',
    );
    assert.deepEqual(parseUri(text), { ...u, host: '[2001:db8::1]' });
  });
  test('round-trips arbitrary latin1 components (property)', () => {
    const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) });
    const nonEmpty = fc.string({
      unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
      minLength: 1,
    });
    fc.assert(
      fc.property(
        fc.option(nonEmpty, { nil: undefined }),
        fc.option(latin1, { nil: undefined }),
        fc.array(fc.tuple(nonEmpty, fc.option(nonEmpty, { nil: null }))),
        fc.array(fc.tuple(nonEmpty, latin1)),
        (user, password, params, headers) => {
          const u: SipUri = {
            scheme: 'sips',
            user,
            password: user === undefined ? undefined : password,
            host: 'example.com',
            hostKind: 'name',
            port: undefined,
            params: new Map(params.map(([k, v]) => [k.toLowerCase(), v])),
            headers,
          };
          assert.deepEqual(parseUri(formatUri(u)), u);
        },
      ),
    );
  });
});

describe('parseUri: robustness', () => {
  const expectOnlySipParseError = (text: string) => {
    try {
      const u: Uri = parseUri(text);
      // whatever parses must format and re-parse to the same thing
      assert.deepEqual(parseUri(formatUri(u)), u);
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
  };
  test('throws nothing but SipParseError for random latin1 strings (property)', () => {
    const anyByte = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
    fc.assert(fc.property(fc.string({ unit: anyByte, maxLength: 80 }), expectOnlySipParseError), {
      numRuns: 2000,
    });
  });
  test('throws nothing but SipParseError for URI-like strings (property)', () => {
    const alphabet = fc.constantFrom(
      ...'sSiIpPtTeElL:;@?&=%[]0123456789aAfF.-+_!~*\'()$,/<>" \t\0\xe9#:'.split(''),
      'sip:',
      'sips:',
      'tel:+',
      '%4',
      '%00',
      '%zz',
      '[2001:db8::1]',
      '::',
      ';lr',
      '?h=v',
    );
    fc.assert(fc.property(fc.string({ unit: alphabet, maxLength: 40 }), expectOnlySipParseError), {
      numRuns: 5000,
    });
  });
  test('throws nothing but SipParseError for any UTF-16 string, not just latin1 (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => expectOnlySipParseError(`sip:${s}`)),
      {
        numRuns: 1000,
      },
    );
  });
  test('uriEquals never throws (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (a, b) => {
        assert.equal(typeof uriEquals(`sip:${a}`, `sip:${b}`), 'boolean');
      }),
    );
  });
});
