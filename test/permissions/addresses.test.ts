/**
 * The address table: canonical forms, IPv4 and IPv6 subnets, ports, protocols, groups, tags, file
 * parsing with errors naming file and line; and the allow/deny routing rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AddressTable,
  canonicalAddress,
  formatIpv6,
  ipv4ToNumber,
  ipv6ToGroups,
  makeEntry,
  parseAddressFile,
} from '../../src/modules/permissions/addresses.js';
import { DEFAULT_SCANNERS, scannerPattern } from '../../src/modules/permissions/index.js';
import { parseRuleFile, routingAllowed } from '../../src/modules/permissions/rules.js';

describe('addresses', () => {
  it('parses IPv4 and IPv6 and writes IPv6 as RFC 5952 (the form sockets report)', () => {
    assert.equal(ipv4ToNumber('192.0.2.1'), 0xc0000201);
    assert.ok(Number.isNaN(ipv4ToNumber('192.0.2')));
    assert.ok(Number.isNaN(ipv4ToNumber('192.0.2.256')));
    assert.deepEqual(ipv6ToGroups('2001:db8::1'), [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(ipv6ToGroups('::ffff:192.0.2.1'), [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x201]);
    assert.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1');
    assert.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
    assert.equal(canonicalAddress('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(canonicalAddress('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(canonicalAddress('example.com'), undefined);
  });

  it('stores a subnet by its network address and refuses bad entries', () => {
    assert.equal(makeEntry({ group: 1, address: '10.1.2.3', prefix: 8, origin: 't' }).address, '10.0.0.0');
    assert.equal(
      makeEntry({ group: 1, address: '2001:db8:1:2::5', prefix: 32, origin: 't' }).address,
      '2001:db8::',
    );
    assert.throws(
      () => makeEntry({ group: 1, address: '10.0.0.1', prefix: 33, origin: 't' }),
      /bad prefix length 33/,
    );
    assert.throws(() => makeEntry({ group: 1, address: 'gw.example.com', origin: 't' }), /not an IP address/);
    assert.throws(
      () => makeEntry({ group: 1, address: '10.0.0.1', protocol: 'sctp', origin: 't' }),
      /bad protocol/,
    );
    assert.throws(() => makeEntry({ group: 1, address: '10.0.0.1', port: 70000, origin: 't' }), /bad port/);
  });

  const table = new AddressTable(
    parseAddressFile(
      [
        '# trusted peers',
        '1 192.0.2.10            # any port, any protocol',
        '1 192.0.2.11 5060 udp   gw-udp',
        '1 192.0.2.11 5061 tls   gw-tls',
        '1 10.0.0.0/8 0 any      private',
        '1 10.20.0.0/16 0 tcp    private-tcp',
        '2 2001:db8::/32 0 any   v6-net',
        '2 2001:DB8:FFFF::1 0 udp  v6-host',
        '3 0.0.0.0/0 0 any       everything',
        '',
      ].join('\n'),
      'address.list',
    ),
  );

  it('matches single addresses with port and protocol', () => {
    assert.equal(table.match(1, '192.0.2.10', 40000, 'udp')?.origin, 'address.list:2');
    assert.equal(table.match(1, '192.0.2.11', 5060, 'udp')?.tag, 'gw-udp');
    assert.equal(table.match(1, '192.0.2.11', 5061, 'tls')?.tag, 'gw-tls');
    assert.equal(table.match(1, '192.0.2.11', 5060, 'tcp'), undefined, 'wrong protocol');
    assert.equal(table.match(1, '192.0.2.11', 5062, 'udp'), undefined, 'wrong port');
    assert.equal(table.match(1, '192.0.2.12', 5060, 'udp'), undefined);
    // a dual-stack socket reports IPv4 peers mapped
    assert.equal(table.match(1, '::ffff:192.0.2.10', 1, 'udp')?.origin, 'address.list:2');
  });

  it('matches subnets, the longest prefix first, and keeps groups apart', () => {
    assert.equal(table.match(1, '10.20.3.4', 1, 'tcp')?.tag, 'private-tcp');
    assert.equal(table.match(1, '10.20.3.4', 1, 'udp')?.tag, 'private', 'the /16 is TCP only');
    assert.equal(table.match(1, '10.255.255.255', 1, 'udp')?.tag, 'private');
    assert.equal(table.match(1, '11.0.0.1', 1, 'udp'), undefined);
    assert.equal(table.match(2, '10.0.0.1', 1, 'udp'), undefined, 'group 2 has no IPv4');
    assert.equal(table.match(2, '2001:db8:ffff::1', 1, 'udp')?.tag, 'v6-host');
    assert.equal(table.match(2, '2001:db8:ffff::1', 1, 'tcp')?.tag, 'v6-net', 'the host entry is UDP only');
    assert.equal(table.match(2, '2001:db8:1234::99', 1, 'tcp')?.tag, 'v6-net');
    assert.equal(table.match(2, '2001:db9::1', 1, 'udp'), undefined);
    assert.equal(table.match(1, '2001:db8::1', 1, 'udp'), undefined, 'group 1 has no IPv6');
    assert.equal(table.match(3, '203.0.113.9', 1, 'wss')?.tag, 'everything');
    assert.equal(table.match(9, '192.0.2.10', 1, 'udp'), undefined, 'unknown group');
  });

  it('a check with port 0 matches an entry of any port (allow_address, permissions.testAddress)', () => {
    assert.equal(table.match(1, '192.0.2.11', 0, 'tls')?.tag, 'gw-tls');
    assert.equal(table.match(1, '192.0.2.11', 0)?.tag, 'gw-udp');
    assert.equal(table.match(1, '192.0.2.11', 0, 'tcp'), undefined, 'the protocol still counts');
    assert.equal(table.match(1, '192.0.2.12', 0), undefined);
  });

  it('matches an address written in any valid form against its entry (matchText)', () => {
    assert.equal(table.matchText(2, '2001:DB8:FFFF::1', 1, 'udp')?.tag, 'v6-host');
    assert.equal(table.matchText(2, '2001:db8:ffff:0:0:0:0:1', 1, 'udp')?.tag, 'v6-host');
    assert.equal(table.matchText(1, '::FFFF:192.0.2.10', 1, 'udp')?.origin, 'address.list:2');
    assert.equal(table.matchText(1, '::ffff:c000:20a', 1, 'udp')?.origin, 'address.list:2');
    assert.equal(table.matchText(1, ' 192.0.2.10 ', 1, 'udp')?.origin, 'address.list:2');
    assert.equal(table.matchText(2, '2001:db9::1', 1, 'udp'), undefined);
    assert.equal(table.matchText(1, 'not-an-address', 1, 'udp'), undefined);
    assert.equal(canonicalAddress('::ffff:c000:201'), '192.0.2.1');
    assert.equal(canonicalAddress('::1:ffff:c000:201'), '::1:ffff:c000:201', 'not mapped');
  });

  it('handles the edge prefixes /0, /1, /31, /32, /127 and /128', () => {
    const edges = new AddressTable(
      parseAddressFile(
        [
          '1 0.0.0.0/0 0 any v4-all',
          '2 128.0.0.0/1 0 any v4-upper-half',
          '3 192.0.2.4/31 0 any v4-pair',
          '4 192.0.2.9/32 0 any v4-host',
          '5 ::/0 0 any v6-all',
          '6 2001:db8::/127 0 any v6-pair',
          '7 2001:db8::5/128 0 any v6-host',
        ].join('\n'),
        'edges',
      ),
    );
    assert.equal(edges.match(1, '255.255.255.255', 1)?.tag, 'v4-all');
    assert.equal(edges.match(1, '::ffff:0.0.0.0', 1)?.tag, 'v4-all', 'mapped IPv4');
    assert.equal(edges.match(1, '2001:db8::1', 1), undefined, 'an IPv4 /0 is not IPv6');
    assert.equal(edges.match(2, '128.0.0.0', 1)?.tag, 'v4-upper-half');
    assert.equal(edges.match(2, '127.255.255.255', 1), undefined);
    assert.equal(edges.match(3, '192.0.2.5', 1)?.tag, 'v4-pair');
    assert.equal(edges.match(3, '192.0.2.6', 1), undefined);
    assert.equal(edges.match(4, '192.0.2.9', 1)?.tag, 'v4-host');
    assert.equal(edges.match(4, '192.0.2.8', 1), undefined);
    assert.equal(edges.match(5, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 1)?.tag, 'v6-all');
    assert.equal(edges.match(5, '10.0.0.1', 1), undefined, 'an IPv6 /0 is not IPv4');
    assert.equal(edges.match(6, '2001:db8::1', 1)?.tag, 'v6-pair');
    assert.equal(edges.match(6, '2001:db8::2', 1), undefined);
    assert.equal(edges.match(7, '2001:db8::5', 1)?.tag, 'v6-host');
    assert.equal(edges.match(7, '2001:db8::4', 1), undefined);
  });

  it('finds the lowest matching group', () => {
    assert.equal(table.matchGroup('192.0.2.10', 1, 'udp'), 1);
    assert.equal(table.matchGroup('2001:db8::7', 1, 'udp'), 2);
    assert.equal(table.matchGroup('198.51.100.1', 1, 'udp'), 3);
    assert.equal(new AddressTable().matchGroup('198.51.100.1', 1, 'udp'), -1);
  });

  it('names the file and line of a bad entry', () => {
    assert.throws(
      () => parseAddressFile('1 10.0.0.1\n\n# ok\n1 10.0.0.300 5060\n', '/etc/olelo/address.list'),
      {
        name: 'AddressFileError',
        message: /^\/etc\/olelo\/address\.list:4: not an IP address: "10\.0\.0\.300"$/,
      },
    );
    assert.throws(() => parseAddressFile('x 10.0.0.1', 'f'), { message: /^f:1: bad group "x"$/ });
    assert.throws(() => parseAddressFile('1', 'f'), { message: /^f:1: expected GROUP ADDRESS/ });
    assert.throws(() => parseAddressFile('1 10.0.0.1 0 udp tag extra', 'f'), {
      message: /^f:1: expected .*6 fields/,
    });
    assert.throws(() => parseAddressFile('1 ::1/129', 'f'), { message: /^f:1: bad prefix length 129/ });
  });
});

describe('scanner User-Agents', () => {
  const pattern = scannerPattern(DEFAULT_SCANNERS)!;
  it('matches the listed scanners as case-insensitive substrings and nothing else', () => {
    for (const ua of [
      'friendly-scanner',
      'Friendly-Scanner/1.0',
      'sipvicious',
      'sipcli/v1.8',
      'VaxSIPUserAgent/3.1',
    ])
      assert.ok(pattern.test(ua), ua);
    for (const ua of ['sipsak 0.9.8', 'baresip v3.0.0', 'Linphone/5.2', 'SIPp/3.6', 'Zoiper'])
      assert.ok(!pattern.test(ua), ua);
  });

  it('escapes names, and an empty list matches nothing', () => {
    assert.ok(scannerPattern(['a.b'])!.test('xa.by'));
    assert.ok(!scannerPattern(['a.b'])!.test('axb'));
    assert.equal(scannerPattern([]), undefined);
  });
});

describe('routing rules', () => {
  const allow = parseRuleFile(
    [
      '# local numbers may call the PSTN gateway',
      '"^sip:1[0-9]{3}@example\\.com$" EXCEPT "^sip:1999@" : "^sip:\\+?[0-9]+@pstn\\.example\\.com"',
      'ALL : "^sip:support@example\\.com"',
    ].join('\n'),
    'permissions.allow',
  );
  const deny = parseRuleFile('ALL : "@pstn\\.example\\.com" # nobody else\n', 'permissions.deny');

  it('allows what the allow file lists, denies what the deny file lists, allows the rest', () => {
    const pstn = 'sip:+4930123@pstn.example.com';
    assert.equal(routingAllowed(allow, deny, 'sip:1001@example.com', pstn), true);
    assert.equal(routingAllowed(allow, deny, 'sip:1999@example.com', pstn), false, 'EXCEPT');
    assert.equal(routingAllowed(allow, deny, 'sip:mallory@evil.test', pstn), false);
    assert.equal(routingAllowed(allow, deny, 'SIP:1002@EXAMPLE.COM', pstn), true, 'case-insensitive');
    assert.equal(routingAllowed(allow, deny, 'sip:mallory@evil.test', 'sip:support@example.com'), true);
    assert.equal(
      routingAllowed(allow, deny, 'sip:mallory@evil.test', 'sip:bob@example.com'),
      true,
      'neither',
    );
    assert.equal(routingAllowed([], [], 'sip:a@b', 'sip:c@d'), true);
  });

  it('reads a colon, a hash and an escaped quote inside an expression as part of it', () => {
    const rules = parseRuleFile(
      '"^sip:a#1@x" : "^sip:[^\\"]*@gw:5060$" # a comment: not a rule\n',
      'p.allow',
    );
    assert.equal(rules.length, 1);
    assert.equal(routingAllowed(rules, deny, 'sip:a#1@x', 'sip:b@gw:5060'), true);
    assert.equal(routingAllowed([], rules, 'sip:a#1@x', 'sip:b@gw:5060'), false);
    assert.equal(routingAllowed([], rules, 'sip:a#1@x', 'sip:b"@gw:5060'), true, 'the escaped quote');
  });

  it('names the file and line of a bad rule', () => {
    assert.throws(() => parseRuleFile('ALL : ALL\n"^sip:" "x"', 'p.allow'), {
      name: 'RuleFileError',
      message: /^p\.allow:2: expected FROM_LIST : REQUEST_URI_LIST$/,
    });
    assert.throws(() => parseRuleFile('\n\n"(" : ALL', 'p.deny'), {
      message: /^p\.deny:3: bad regular expression "\("/,
    });
    assert.throws(() => parseRuleFile('"abc : ALL', 'p.deny'), { message: /^p\.deny:1: / });
    assert.throws(() => parseRuleFile('ALL EXCEPT : ALL', 'p.deny'), {
      message: /^p\.deny:1: expected a quoted expression/,
    });
  });
});
