import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SipParseError } from '../../src/sip/errors.js';
import {
  formatNameAddr,
  type NameAddr,
  parseContacts,
  parseNameAddr,
  parseNameAddrList,
  tagOf,
} from '../../src/sip/name-addr.js';
import { isSipUri, type SipUri, type Uri, uriEquals } from '../../src/sip/uri.js';

const TORTURE = new URL('../../../test/fixtures/torture/', import.meta.url);

/** The unfolded, trimmed values of the headers called `names` (full or compact, any case) in a torture file. */
function headerValues(file: string, ...names: string[]): string[] {
  const msg = readFileSync(new URL(file, TORTURE)).toString('latin1');
  const lines = msg.split(/\r?\n/);
  const all: Array<[string, string]> = [];
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k]!;
    if (line === '') break; // end of the header section
    if (line[0] === ' ' || line[0] === '\t') {
      all[all.length - 1]![1] += ` ${line}`; // folded continuation
      continue;
    }
    const colon = line.indexOf(':');
    all.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1)]);
  }
  return all.filter(([name]) => names.includes(name)).map(([, value]) => value.trim());
}

function one(file: string, ...names: string[]): string {
  const values = headerValues(file, ...names);
  assert.equal(values.length, 1, `exactly one ${names[0]} header in ${file}`);
  return values[0]!;
}

function sipOf(na: NameAddr): SipUri {
  assert.ok(isSipUri(na.uri), 'a SIP URI');
  return na.uri;
}

function failsWith(fn: () => unknown, offset?: number): SipParseError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SipParseError, `expected a SipParseError, got ${String(caught)}`);
  if (offset !== undefined) assert.equal(caught.offset, offset);
  return caught;
}

/** format → parse gives the same address back (angle is always true once formatted). */
function assertRoundTrip(na: NameAddr): void {
  assert.deepEqual(parseNameAddr(formatNameAddr(na)), { ...na, angle: true });
}

describe('parseNameAddr: forms', () => {
  test('reads a quoted display name, a bracketed URI and header parameters', () => {
    const na = parseNameAddr('"Alice Liddell" <sip:alice@atlanta.com;transport=tcp>;tag=1928301774;x');
    assert.equal(na.displayName, 'Alice Liddell');
    assert.equal(na.angle, true);
    assert.equal(sipOf(na).params.get('transport'), 'tcp');
    assert.deepEqual(
      na.params,
      new Map<string, string | null>([
        ['tag', '1928301774'],
        ['x', null],
      ]),
    );
    assert.equal(tagOf(na), '1928301774');
  });
  test('reads a token display name, normalising nothing but the outer spaces', () => {
    const na = parseNameAddr('Joe Bob  Briggs <urn:ipaddr:122.1.2.3>');
    assert.equal(na.displayName, 'Joe Bob  Briggs');
    assert.deepEqual(na.uri, { scheme: 'urn', opaque: 'ipaddr:122.1.2.3' });
  });
  test('reads a bare < > with no display name', () => {
    const na = parseNameAddr('<sip:bob@biloxi.com>');
    assert.equal(na.displayName, undefined);
    assert.equal(na.angle, true);
    assert.equal(na.params.size, 0);
  });
  test('keeps an empty quoted display name as an empty string', () =>
    assert.equal(parseNameAddr('"" <sip:bob@biloxi.com>').displayName, ''));
  test('treats every ; after an addr-spec as a header parameter', () => {
    const na = parseNameAddr('sip:bob@biloxi.com;tag=a6c85cf;lr');
    assert.equal(na.angle, false);
    assert.equal(sipOf(na).params.size, 0);
    assert.deepEqual(
      na.params,
      new Map<string, string | null>([
        ['tag', 'a6c85cf'],
        ['lr', null],
      ]),
    );
  });
  test('allows whitespace between an addr-spec and its parameters', () =>
    assert.equal(tagOf(parseNameAddr('sip:bob@biloxi.com ; tag = 77')), '77'));
  test('accepts quoted parameter values after the URI', () => {
    const na = parseNameAddr('<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"');
    assert.equal(na.params.get('+sip.instance'), '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>');
  });
  test('decodes a UTF-8 display name to text', () => {
    const value = Buffer.from('"Zoë Ürban" <sip:z@example.com>', 'utf8').toString('latin1');
    assert.equal(parseNameAddr(value).displayName, 'Zoë Ürban');
  });
  test('resolves quoted-pairs, including an escaped NUL', () =>
    assert.equal(parseNameAddr('"a\\"b\\\\c\\\0d" <sip:x@y>').displayName, 'a"b\\c\0d'));
  test('accepts non-SIP schemes in both forms', () => {
    assert.deepEqual(parseNameAddr('<mailto:alice@atlanta.com>').uri, {
      scheme: 'mailto',
      opaque: 'alice@atlanta.com',
    });
    assert.deepEqual(parseNameAddr('tel:+1-201-555-0123;tag=x').uri, {
      scheme: 'tel',
      number: '+1-201-555-0123',
      params: new Map(),
    });
  });
  test('tagOf is undefined without a tag or for a valueless tag', () => {
    assert.equal(tagOf(parseNameAddr('<sip:a@b>')), undefined);
    assert.equal(tagOf(parseNameAddr('<sip:a@b>;tag')), undefined);
  });
});

describe('parseNameAddr: errors', () => {
  test('rejects a second top-level value', () =>
    void failsWith(() => parseNameAddr('<sip:a@b>, <sip:c@d>'), 9));
  test('rejects an unquoted display name containing a comma', () => {
    const e = failsWith(() => parseNameAddr('Bob, Jr <sip:bob@biloxi.com>'), 0);
    assert.match(e.reason, /quoted/);
  });
  test('rejects an unterminated quoted display name', () =>
    void failsWith(() => parseNameAddr('"Bob <sip:bob@biloxi.com>'), 0));
  test('rejects whitespace inside the angle brackets', () => {
    failsWith(() => parseNameAddr('< sip:bob@biloxi.com>'), 1);
    failsWith(() => parseNameAddr('<sip:bob@biloxi.com >'), 19);
    failsWith(() => parseNameAddr('<sip:bob@bi loxi.com>'));
  });
  test("rejects an addr-spec with '?' headers", () =>
    void failsWith(() => parseNameAddr('sip:bob@biloxi.com?Subject=x'), 18));
  test('rejects an addr-spec whose user holds ;', () =>
    void failsWith(() => parseNameAddr('sip:user;par=x@example.com')));
  test('rejects a missing > or an empty URI', () => {
    failsWith(() => parseNameAddr('<sip:bob@biloxi.com'), 0);
    failsWith(() => parseNameAddr('Bob <>'), 5);
  });
  test('rejects a display name without a URI', () => {
    failsWith(() => parseNameAddr('"Bob"'));
    failsWith(() => parseNameAddr('Bob'));
    failsWith(() => parseNameAddr('Bob sip:bob@biloxi.com'));
  });
  test('rejects garbage after the URI', () => void failsWith(() => parseNameAddr('<sip:a@b> <sip:c@d>'), 10));
  test('rejects an empty value', () => {
    failsWith(() => parseNameAddr(''), 0);
    failsWith(() => parseNameAddrList('  '));
  });
  test('reports URI errors at their offset within the value', () =>
    void failsWith(() => parseNameAddr('"A" <sip:a@%zz>'), 11));
  test('rejects an IPv6 host without brackets', () =>
    void failsWith(() => parseNameAddr('<sip:user@2001:db8::10>'), 10));
});

describe('parseNameAddrList and parseContacts', () => {
  test('splits at top-level commas only', () => {
    const list = parseNameAddrList(
      '"Doe, John" <sip:a@b;lr>, <sip:c@d;lr>;x="1,2" ,sip:e@f;expires=60,<sip:user,x@g>',
    );
    assert.equal(list.length, 4);
    assert.equal(list[0]!.displayName, 'Doe, John');
    assert.equal(list[1]!.params.get('x'), '1,2');
    assert.equal(list[2]!.params.get('expires'), '60');
    assert.equal(sipOf(list[3]!).user, 'user,x');
  });
  test('rejects empty elements', () => {
    failsWith(() => parseNameAddrList('<sip:a@b>,,<sip:c@d>'), 10);
    failsWith(() => parseNameAddrList('<sip:a@b>,'), 10);
    failsWith(() => parseNameAddrList(',<sip:a@b>'));
  });
  test('reads a lone * as the wildcard', () => {
    assert.deepEqual(parseContacts('*'), { wildcard: true, list: [] });
    assert.deepEqual(parseContacts(' * '), { wildcard: true, list: [] });
  });
  test('rejects * combined with other contacts', () => {
    failsWith(() => parseContacts('*, <sip:a@b>'), 0);
    failsWith(() => parseContacts('<sip:a@b>, *'), 11);
    failsWith(() => parseContacts('*;expires=0'));
  });
  test('reads a Contact list with q and expires', () => {
    const c = parseContacts(
      '<sip:a@b>;q=0.7;expires=3600, "Mr. Watson" <mailto:watson@bell-telephone.com>;q=0.1',
    );
    assert.equal(c.wildcard, false);
    assert.equal(c.list.length, 2);
    assert.equal(c.list[0]!.params.get('q'), '0.7');
    assert.equal(c.list[1]!.displayName, 'Mr. Watson');
  });
  test('accepts a display name beginning with * in a Contact', () =>
    assert.equal(parseContacts('*star <sip:a@b>').list[0]!.displayName, '*star'));
});

describe('formatNameAddr', () => {
  test('always writes < > and leaves a token display name unquoted', () =>
    assert.equal(
      formatNameAddr(parseNameAddr('caller   <sip:caller@example.com>;tag=323')),
      'caller <sip:caller@example.com>;tag=323',
    ));
  test('writes an addr-spec value in < >, keeping header parameters outside', () =>
    assert.equal(
      formatNameAddr(parseNameAddr('sip:+19725552222@gw1.example.net;unknownparam')),
      '<sip:+19725552222@gw1.example.net>;unknownparam',
    ));
  test('quotes a display name that is not a token phrase, escaping " and \\', () => {
    const na: NameAddr = {
      displayName: 'Doe, "J" \\ Jr.',
      uri: {
        scheme: 'sip',
        user: 'j',
        password: undefined,
        host: 'x',
        hostKind: 'name',
        port: undefined,
        params: new Map(),
        headers: [],
      },
      params: new Map(),
      angle: false,
    };
    assert.equal(formatNameAddr(na), '"Doe, \\"J\\" \\\\ Jr." <sip:j@x>');
    assertRoundTrip(na);
  });
  test('escapes control characters and drops CR/LF from display names', () => {
    const na = parseNameAddr('"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f" <sip:a@b>');
    assert.equal(formatNameAddr(na), '"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f" <sip:a@b>');
    assertRoundTrip(na);
    assert.equal(formatNameAddr({ ...na, displayName: 'a\r\nVia: evil' }), '"a  Via: evil" <sip:a@b>');
  });
  test('writes non-ASCII display names as UTF-8 bytes', () => {
    const na = parseNameAddr('<sip:a@b>');
    const out = formatNameAddr({ ...na, displayName: 'Zoë' });
    assert.equal(out, `"${Buffer.from('Zoë', 'utf8').toString('latin1')}" <sip:a@b>`);
    assert.equal(parseNameAddr(out).displayName, 'Zoë');
  });
  test('quotes parameter values that are not tokens', () =>
    assert.equal(
      formatNameAddr(parseNameAddr('<sip:a@b>;+sip.instance="<urn:uuid:1>";q=0.5')),
      '<sip:a@b>;+sip.instance="<urn:uuid:1>";q=0.5',
    ));
  test('writes an empty display name as ""', () =>
    assert.equal(formatNameAddr(parseNameAddr('"" <sip:a@b>')), '"" <sip:a@b>'));
});

describe('torture messages (RFC 4475, RFC 5118)', () => {
  test('wsinv: folded To, escaped quotes in From, Route params and odd spacing in m:', () => {
    const to = parseNameAddr(one('rfc4475/wsinv.dat', 'to', 't'));
    assert.equal(sipOf(to).host, 'chair-dnrc.example.com');
    assert.equal(tagOf(to), '1918181833n');

    const from = parseNameAddr(one('rfc4475/wsinv.dat', 'from', 'f'));
    assert.equal(from.displayName, 'J Rosenberg \\"');
    assert.equal(tagOf(from), '98asjd8');

    const [route] = parseNameAddrList(one('rfc4475/wsinv.dat', 'route'));
    assert.deepEqual(
      sipOf(route!).params,
      new Map<string, string | null>([
        ['lr', null],
        ['unknownwith', 'value'],
        ['unknown-no-value', null],
      ]),
    );

    const { list } = parseContacts(one('rfc4475/wsinv.dat', 'contact', 'm'));
    assert.equal(list.length, 1);
    assert.equal(list[0]!.displayName, 'Quoted string ""');
    assert.deepEqual(
      list[0]!.params,
      new Map<string, string | null>([
        ['newparam', 'newvalue'],
        ['secondparam', null],
        ['q', '0.33'],
      ]),
    );
    for (const na of [to, from, route!, list[0]!]) assertRoundTrip(na);
  });

  test('intmeth: To display name holds quoted NUL, BEL and DEL; From has token display name and UTF-8 param', () => {
    const to = parseNameAddr(one('rfc4475/intmeth.dat', 'to', 't'));
    assert.equal(to.displayName, 'BEL:\x07 NUL:\0 DEL:\x7f');
    assert.equal(sipOf(to).user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    const from = parseNameAddr(one('rfc4475/intmeth.dat', 'from', 'f'));
    assert.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(
      from.params.get("fromparam''~+*_!.-%"),
      Buffer.from('работающий', 'utf8').toString('latin1'),
    );
    assert.equal(tagOf(from), "_token~1'+`*%!-.");
    assertRoundTrip(to);
    assertRoundTrip(from);
  });

  test('esc01: escapes in To, From and Contact decode once', () => {
    assert.equal(sipOf(parseNameAddr(one('rfc4475/esc01.dat', 'to', 't'))).user, 'user');
    const from = parseNameAddr(one('rfc4475/esc01.dat', 'from', 'f'));
    assert.equal(sipOf(from).user, 'I have spaces');
    assert.equal(tagOf(from), '938');
    const { list } = parseContacts(one('rfc4475/esc01.dat', 'contact', 'm'));
    const uri = sipOf(list[0]!);
    assert.equal(uri.user, 'caller');
    assert.deepEqual(
      uri.params,
      new Map<string, string | null>([
        ['lr', null],
        ['name', 'value%41'],
      ]),
    );
    assertRoundTrip(list[0]!);
  });

  test('escnull: %00 in user parts does not truncate; two distinct Contact bindings', () => {
    assert.equal(sipOf(parseNameAddr(one('rfc4475/escnull.dat', 'to', 't'))).user, 'null-\0-null');
    const from = parseNameAddr(one('rfc4475/escnull.dat', 'from', 'f'));
    assert.equal(sipOf(from).user, 'null-\0-null');
    assert.equal(tagOf(from), '839923423');
    const contacts = headerValues('rfc4475/escnull.dat', 'contact', 'm').flatMap(
      (v) => parseContacts(v).list,
    );
    assert.deepEqual(
      contacts.map((c) => sipOf(c).user),
      ['\0', '\0\0'],
    );
    assert.equal(uriEquals(contacts[0]!.uri, contacts[1]!.uri), false);
  });

  test('lwsdisp: an unquoted display name directly followed by < is accepted', () => {
    const from = parseNameAddr(one('rfc4475/lwsdisp.dat', 'from', 'f'));
    assert.equal(from.displayName, 'caller');
    assert.equal(sipOf(from).user, 'caller');
    assert.equal(tagOf(from), '323');
  });

  test('longreq: long display name, URI parameters and header parameters', () => {
    const to = parseNameAddr(one('rfc4475/longreq.dat', 'to', 't'));
    assert.match(to.displayName!, /^I have a user name of (extreme){10} proportion$/);
    const uri = sipOf(to);
    assert.equal(uri.port, 6000);
    assert.equal(uri.params.size, 3);
    assert.equal(uri.params.get(`longparam${'name'.repeat(25)}`), 'shortvalue');
    const from = parseNameAddr(one('rfc4475/longreq.dat', 'from', 'f'));
    assert.equal(sipOf(from).user, 'amazinglylongcallername'.repeat(5));
    assert.match(tagOf(from)!, /^1(298){50}2424$/);
    assert.equal(from.params.get(`unknownvaluelessparamname${'paramname'.repeat(9)}`), null);
    assertRoundTrip(to);
    assertRoundTrip(from);
  });

  test('cparam01: ;unknownparam after an addr-spec Contact is a contact parameter', () => {
    const { list } = parseContacts(one('rfc4475/cparam01.dat', 'contact', 'm'));
    assert.equal(list[0]!.angle, false);
    assert.equal(sipOf(list[0]!).params.size, 0);
    assert.deepEqual(list[0]!.params, new Map([['unknownparam', null]]));
  });

  test('cparam02: ;unknownparam inside < > is a URI parameter', () => {
    const { list } = parseContacts(one('rfc4475/cparam02.dat', 'contact', 'm'));
    assert.equal(list[0]!.angle, true);
    assert.deepEqual(sipOf(list[0]!).params, new Map([['unknownparam', null]]));
    assert.equal(list[0]!.params.size, 0);
  });

  test('regescrt: the escaped ?Route= header of the Contact URI is kept', () => {
    const { list } = parseContacts(one('rfc4475/regescrt.dat', 'contact', 'm'));
    assert.deepEqual(sipOf(list[0]!).headers, [['Route', '<sip:sip.example.com>']]);
    assert.equal(formatNameAddr(list[0]!), '<sip:user@example.com?Route=%3Csip:sip.example.com%3E>');
  });

  test('unksm2: non-SIP schemes in To, From and Contact parse as absolute URIs', () => {
    const to = parseNameAddr(one('rfc4475/unksm2.dat', 'to', 't'));
    assert.deepEqual(to.uri, { scheme: 'isbn', opaque: '2983792873' });
    const from = parseNameAddr(one('rfc4475/unksm2.dat', 'from', 'f'));
    assert.deepEqual(from.uri, { scheme: 'http', opaque: '//www.example.com' });
    assert.equal(tagOf(from), '3234233');
    const { list } = parseContacts(one('rfc4475/unksm2.dat', 'contact', 'm'));
    assert.deepEqual(list[0]!.uri satisfies Uri, { scheme: 'name', opaque: 'John_Smith' });
  });

  test('quotbal: an unterminated quoted display name in To is rejected', () =>
    void failsWith(() => parseNameAddr(one('rfc4475/quotbal.dat', 'to', 't')), 0));

  test('badaspec: whitespace inside < > in To is rejected; the quoted From is fine', () => {
    const e = failsWith(() => parseNameAddr(one('rfc4475/badaspec.dat', 'to', 't')));
    assert.match(e.reason, /whitespace/);
    assert.equal(parseNameAddr(one('rfc4475/badaspec.dat', 'from', 'f')).displayName, 'Bell, Alexander');
  });

  test('baddn: unquoted display names with a comma in From and To are rejected', () => {
    failsWith(() => parseNameAddr(one('rfc4475/baddn.dat', 'from', 'f')), 0);
    failsWith(() => parseNameAddr(one('rfc4475/baddn.dat', 'to', 't')), 0);
  });

  test('regbadct: an addr-spec Contact with a ?header part is rejected', () =>
    void failsWith(() => parseContacts(one('rfc4475/regbadct.dat', 'contact', 'm'))));

  test('ipv6-good: Contact with a bracketed IPv6 host', () => {
    const { list } = parseContacts(one('rfc5118-wire/ipv6-good.dat', 'contact', 'm'));
    assert.equal(list[0]!.displayName, 'Caller');
    assert.equal(sipOf(list[0]!).host, '[2001:db8::1]');
    assert.equal(sipOf(list[0]!).hostKind, 'ipv6');
  });

  test('ipv4-mapped-ipv6: Contact with an IPv4-mapped IPv6 host', () => {
    const { list } = parseContacts(one('rfc5118-wire/ipv4-mapped-ipv6.dat', 'contact', 'm'));
    assert.equal(list[0]!.displayName, 'T. desk phone');
    assert.equal(sipOf(list[0]!).host, '[::ffff:192.0.2.2]');
  });

  test('ipv6-bug-abnf-3-colons: To with the tolerated three-colon address', () => {
    const to = parseNameAddr(one('rfc5118-wire/ipv6-bug-abnf-3-colons.dat', 'to', 't'));
    assert.equal(sipOf(to).host, '[2001:db8:::192.0.2.1]');
    const fixed = parseNameAddr(one('rfc5118-wire/ipv6-correct-abnf-2-colons.dat', 'to', 't'));
    assert.equal(uriEquals(to.uri, fixed.uri), true);
  });

  test('mult-ip-in-header: addr-spec To with a tag', () => {
    const to = parseNameAddr(one('rfc5118-wire/mult-ip-in-header.dat', 'to', 't'));
    assert.equal(tagOf(to), '9817--94');
  });
});

describe('robustness', () => {
  const onlySipParseError = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
  };
  const alphabet = fc.constantFrom(
    ...'"\\<>,;=:@?*% \t\0\x7f\xe9abcAB019._-+~!'.split(''),
    'sip:',
    'tel:+1',
    '<sip:a@b>',
    '"x"',
    ';tag=1',
    '%zz',
    '[::1]',
  );
  test('parsers throw nothing but SipParseError for random values (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 40 }), (s) => {
        onlySipParseError(() => parseNameAddr(s));
        onlySipParseError(() => parseNameAddrList(s));
        onlySipParseError(() => parseContacts(s));
      }),
      { numRuns: 5000 },
    );
  });
  test('whatever parses formats and parses back to the same addresses (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 40 }), (s) => {
        let list: NameAddr[];
        try {
          list = parseNameAddrList(s);
        } catch (e) {
          if (e instanceof SipParseError) return;
          throw e;
        }
        const again = parseNameAddrList(list.map(formatNameAddr).join(', '));
        assert.deepEqual(
          again,
          list.map((na) => ({ ...na, angle: true })),
        );
      }),
      { numRuns: 5000 },
    );
  });
});
