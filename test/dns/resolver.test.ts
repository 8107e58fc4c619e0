import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnsError, type DnsOptions, type ResolvedTarget, SipResolver } from '../../src/dns/index.js';
import { parseSipUri } from '../../src/sip/uri.js';
import { type Zone, ZoneServer } from './zone.js';

const ZONE: Zone = {
  // NAPTR -> SRV -> A, with services we must skip (sctp) or only use when supported (ws, wss).
  'naptr.test': [
    {
      type: 'NAPTR',
      order: 10,
      preference: 20,
      flags: 'S',
      service: 'SIP+D2U',
      replacement: '_sip._udp.naptr.test',
    },
    {
      type: 'NAPTR',
      order: 10,
      preference: 10,
      flags: 'S',
      service: 'SIP+D2T',
      replacement: '_sip._tcp.naptr.test',
    },
    {
      type: 'NAPTR',
      order: 20,
      preference: 10,
      flags: 's',
      service: 'SIPS+D2T',
      replacement: '_sips._tcp.naptr.test',
    },
    {
      type: 'NAPTR',
      order: 1,
      preference: 10,
      flags: 'S',
      service: 'SIP+D2S',
      replacement: '_sip._sctp.naptr.test',
    },
    {
      type: 'NAPTR',
      order: 5,
      preference: 10,
      flags: 'S',
      service: 'SIP+D2W',
      replacement: '_sip._ws.naptr.test',
    },
    {
      type: 'NAPTR',
      order: 6,
      preference: 10,
      flags: 'S',
      service: 'SIPS+D2W',
      replacement: '_sips._ws.naptr.test',
    },
    { type: 'A', address: '192.0.2.99' },
  ],
  '_sip._udp.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5060, target: 'udp1.naptr.test' }],
  '_sip._tcp.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5060, target: 'tcp1.naptr.test' }],
  '_sips._tcp.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5061, target: 'tls1.naptr.test' }],
  '_sip._sctp.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5060, target: 'sctp1.naptr.test' }],
  '_sip._ws.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 8080, target: 'ws1.naptr.test' }],
  '_sips._ws.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 8443, target: 'wss1.naptr.test' }],
  'udp1.naptr.test': [{ type: 'A', address: '192.0.2.1' }],
  'tcp1.naptr.test': [{ type: 'A', address: '192.0.2.2' }],
  'tls1.naptr.test': [{ type: 'A', address: '192.0.2.3' }],
  'sctp1.naptr.test': [{ type: 'A', address: '192.0.2.4' }],
  'ws1.naptr.test': [{ type: 'A', address: '192.0.2.5' }],
  'wss1.naptr.test': [{ type: 'A', address: '192.0.2.6' }],

  // No NAPTR: SRV per transport, two priorities and weights at priority 10.
  'srv.test': [{ type: 'A', address: '192.0.2.50' }],
  '_sip._udp.srv.test': [
    { type: 'SRV', priority: 20, weight: 0, port: 5064, target: 'c.srv.test' },
    { type: 'SRV', priority: 10, weight: 60, port: 5060, target: 'a.srv.test' },
    { type: 'SRV', priority: 10, weight: 40, port: 5062, target: 'b.srv.test' },
  ],
  '_sip._tcp.srv.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5070, target: 'a.srv.test' }],
  '_sips._tcp.srv.test': [{ type: 'SRV', priority: 1, weight: 0, port: 5071, target: 'tls.srv.test' }],
  'a.srv.test': [{ type: 'A', address: '192.0.2.10' }],
  'b.srv.test': [
    { type: 'A', address: '192.0.2.11' },
    { type: 'A', address: '192.0.2.12' },
  ],
  'c.srv.test': [{ type: 'AAAA', address: '2001:db8::13' }],
  'tls.srv.test': [{ type: 'A', address: '192.0.2.14' }],

  // A name with only SRV (no A of its own), only A, only AAAA, both.
  'onlysrv.test': [],
  '_sip._tcp.onlysrv.test': [{ type: 'SRV', priority: 0, weight: 0, port: 5090, target: 'a.srv.test' }],
  'a.test': [{ type: 'A', address: '192.0.2.20' }],
  'short.test': [{ type: 'A', address: '192.0.2.21', ttl: 1 }],
  'v6.test': [{ type: 'AAAA', address: '2001:db8::30' }],
  'dual.test': [
    { type: 'A', address: '192.0.2.40' },
    { type: 'AAAA', address: '2001:db8::40' },
  ],
  // NAPTR never answered, A fine: the timeout falls through to the next step.
  'slownaptr.test': [{ type: 'A', address: '192.0.2.70' }],
  'slow.test': [{ type: 'A', address: '192.0.2.71' }],
  'fail.test': [{ type: 'A', address: '192.0.2.72' }],
};

const uri = parseSipUri;

function brief(targets: ResolvedTarget[]): string[] {
  return targets.map((t) => `${t.protocol} ${t.address}:${t.port}`);
}

describe('SipResolver (RFC 3263) against a DNS server on loopback', () => {
  const server = new ZoneServer(ZONE, {
    unanswered: ['NAPTR slownaptr.test', '* slow.test'],
    servfail: ['fail.test'],
  });
  const resolvers: SipResolver[] = [];
  function resolver(options: DnsOptions = {}): SipResolver {
    const r = new SipResolver({ servers: server.servers, timeout: 200, tries: 1, ...options });
    resolvers.push(r);
    return r;
  }

  before(() => server.start());
  after(async () => {
    for (const r of resolvers) r.close();
    await server.stop();
  });
  beforeEach(() => server.resetLog());

  describe('numeric IP (§4.1, §4.2)', () => {
    it('uses the IP with UDP and 5060 for sip, TLS and 5061 for sips, without any query', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sip:alice@192.0.2.1'))), ['udp 192.0.2.1:5060']);
      assert.deepEqual(brief(await r.resolve(uri('sips:alice@[2001:db8::1]'))), ['tls 2001:db8::1:5061']);
      assert.deepEqual(brief(await r.resolve(uri('sip:192.0.2.1:5070;transport=TCP'))), [
        'tcp 192.0.2.1:5070',
      ]);
      assert.deepEqual(brief(await r.resolve(uri('sips:192.0.2.1;transport=tcp'))), ['tls 192.0.2.1:5061']);
      assert.deepEqual(brief(await r.resolve(uri('sip:192.0.2.1;transport=ws'))), ['ws 192.0.2.1:80']);
      const [t] = await r.resolve(uri('sip:192.0.2.1'));
      assert.equal(t!.step, 'literal');
      assert.equal(t!.host, '192.0.2.1');
      assert.equal(server.log.length, 0);
      assert.equal(r.stats().queries, 0);
    });

    it('lets maddr override the host (§4)', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sip:bob@naptr.test;maddr=192.0.2.9'))), [
        'udp 192.0.2.9:5060',
      ]);
      assert.deepEqual(brief(await r.resolve(uri('sip:bob@192.0.2.1:5080;maddr=a.test'))), [
        'udp 192.0.2.20:5080',
      ]);
      assert.deepEqual(server.log, ['A a.test']);
    });

    it('rejects a transport it cannot use', async () => {
      const r = resolver();
      await assert.rejects(r.resolve(uri('sip:192.0.2.1;transport=sctp')), {
        name: 'DnsError',
        code: 'NO_TRANSPORT',
      });
      await assert.rejects(r.resolve(uri('sips:a.test;transport=udp')), {
        name: 'DnsError',
        code: 'NO_TRANSPORT',
      });
    });
  });

  describe('host name with a port (§4.2)', () => {
    it('looks up A only, never NAPTR or SRV', async () => {
      const r = resolver();
      const targets = await r.resolve(uri('sip:srv.test:5080'));
      assert.deepEqual(brief(targets), ['udp 192.0.2.50:5080']);
      assert.equal(targets[0]!.step, 'address');
      assert.deepEqual(server.log, ['A srv.test']);
      assert.deepEqual(brief(await r.resolve(uri('sips:srv.test:5081'))), ['tls 192.0.2.50:5081']);
      assert.deepEqual(brief(await r.resolve(uri('sip:srv.test:5082;transport=tcp'))), [
        'tcp 192.0.2.50:5082',
      ]);
    });

    it('falls back to AAAA when there is no A record', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sip:v6.test:5060'))), ['udp 2001:db8::30:5060']);
      assert.deepEqual(server.log, ['A v6.test', 'AAAA v6.test']);
    });

    it('queries only A when there is one, or both with AAAA first when preferIPv6', async () => {
      assert.deepEqual(brief(await resolver().resolve(uri('sip:dual.test:5060'))), ['udp 192.0.2.40:5060']);
      assert.deepEqual(server.log, ['A dual.test']);
      const v6 = await resolver({ preferIPv6: true }).resolve(uri('sip:dual.test:5060'));
      assert.deepEqual(brief(v6), ['udp 2001:db8::40:5060', 'udp 192.0.2.40:5060']);
    });
  });

  describe('NAPTR (§4.1)', () => {
    it('orders services by order then preference, skipping unsupported ones, then SRV, then A', async () => {
      const r = resolver();
      const targets = await r.resolve(uri('sip:alice@naptr.test'));
      assert.deepEqual(brief(targets), ['tcp 192.0.2.2:5060', 'udp 192.0.2.1:5060', 'tls 192.0.2.3:5061']);
      assert.deepEqual(targets[0], {
        protocol: 'tcp',
        address: '192.0.2.2',
        port: 5060,
        host: 'tcp1.naptr.test',
        domain: 'naptr.test',
        srv: { name: '_sip._tcp.naptr.test', priority: 10, weight: 0 },
        step: 'naptr',
      });
      // The sctp service's SRV was never asked for, nor the per-transport SRV fallback.
      assert.equal(server.count('SRV _sip._sctp.naptr.test'), 0);
      assert.equal(server.count('SRV _sip._ws.naptr.test'), 0);
      assert.equal(server.count('A naptr.test'), 0);
    });

    it('uses ws and wss services only when they are supported', async () => {
      const r = resolver({ supported: ['udp', 'tcp', 'tls', 'ws', 'wss'] });
      assert.deepEqual(brief(await r.resolve(uri('sip:naptr.test'))), [
        'ws 192.0.2.5:8080',
        'wss 192.0.2.6:8443',
        'tcp 192.0.2.2:5060',
        'udp 192.0.2.1:5060',
        'tls 192.0.2.3:5061',
      ]);
      const tcpOnly = resolver({ supported: ['tcp'] });
      assert.deepEqual(brief(await tcpOnly.resolve(uri('sip:naptr.test'))), ['tcp 192.0.2.2:5060']);
    });

    it('takes only SIPS+ services for a sips URI', async () => {
      assert.deepEqual(brief(await resolver().resolve(uri('sips:naptr.test'))), ['tls 192.0.2.3:5061']);
      const ws = resolver({ supported: ['udp', 'tcp', 'tls', 'ws', 'wss'] });
      assert.deepEqual(brief(await ws.resolve(uri('sips:naptr.test'))), [
        'wss 192.0.2.6:8443',
        'tls 192.0.2.3:5061',
      ]);
    });

    it('produces targets lazily: stopping at the first one skips the later steps', async () => {
      const r = resolver();
      const it = r.targets(uri('sip:naptr.test'));
      const first = await it.next();
      assert.equal(first.done, false);
      assert.equal((first.value as ResolvedTarget).address, '192.0.2.2');
      await it.return();
      assert.equal(server.count('SRV _sip._udp.naptr.test') + server.count('SRV _sip._tcp.naptr.test'), 2);
      assert.equal(server.count('A udp1.naptr.test'), 0, 'later SRV targets are not looked up');
      assert.equal(server.count('SRV _sip._tcp.naptr.test'), 1);
      assert.equal(server.count('A naptr.test'), 0);
    });

    it('falls through to SRV and A when NAPTR times out', async () => {
      const r = resolver();
      const targets = await r.resolve(uri('sip:slownaptr.test'));
      assert.deepEqual(brief(targets), ['udp 192.0.2.70:5060']);
      assert.equal(targets[0]!.step, 'address');
      assert.equal(r.stats().failures, 1);
      assert.deepEqual(server.log.slice(1).sort(), [
        'A slownaptr.test',
        'SRV _sip._tcp.slownaptr.test',
        'SRV _sip._udp.slownaptr.test',
        'SRV _sips._tcp.slownaptr.test',
      ]);
    });
  });

  describe('SRV without NAPTR (§4.1, RFC 2782)', () => {
    it('queries _sip._udp, _sip._tcp and _sips._tcp and lists them in that order, priorities ascending', async () => {
      const r = resolver();
      for (let i = 0; i < 50; i++) {
        const targets = await r.resolve(uri('sip:srv.test'));
        const list = brief(targets);
        assert.equal(list.length, 6);
        // Priority 10 (a and b's two addresses, weighted order), then priority 20, then tcp, then tls.
        assert.deepEqual(list.slice(0, 3).sort(), [
          'udp 192.0.2.10:5060',
          'udp 192.0.2.11:5062',
          'udp 192.0.2.12:5062',
        ]);
        assert.deepEqual(list.slice(3), [
          'udp 2001:db8::13:5064',
          'tcp 192.0.2.10:5070',
          'tls 192.0.2.14:5071',
        ]);
        // b's two addresses stay together.
        const b = list.indexOf('udp 192.0.2.11:5062');
        assert.equal(list[b + 1], 'udp 192.0.2.12:5062');
        assert.ok(targets.every((t) => t.step === 'srv'));
      }
      assert.equal(server.count('NAPTR srv.test'), 1);
      assert.equal(server.count('A srv.test'), 0, 'no A fallback when SRV answered');
    });

    it('takes only _sips._tcp for a sips URI', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sips:srv.test'))), ['tls 192.0.2.14:5071']);
      assert.equal(server.count('SRV _sip._udp.srv.test'), 0);
      assert.equal(server.count('SRV _sip._tcp.srv.test'), 0);
    });

    it('queries only the SRV of the transport parameter, skipping NAPTR', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sip:srv.test;transport=tcp'))), ['tcp 192.0.2.10:5070']);
      assert.deepEqual(brief(await r.resolve(uri('sips:srv.test;transport=tcp'))), ['tls 192.0.2.14:5071']);
      assert.deepEqual(server.log, [
        'SRV _sip._tcp.srv.test',
        'A a.srv.test',
        'SRV _sips._tcp.srv.test',
        'A tls.srv.test',
      ]);
    });

    it('falls back to A at the default port when the transport has no SRV', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sip:a.test;transport=tcp'))), ['tcp 192.0.2.20:5060']);
      assert.deepEqual(brief(await r.resolve(uri('sip:a.test;transport=tls'))), ['tls 192.0.2.20:5061']);
      assert.deepEqual(server.log, ['SRV _sip._tcp.a.test', 'A a.test', 'SRV _sips._tcp.a.test']);
    });

    it('resolves a name that has only SRV records', async () => {
      const targets = await resolver().resolve(uri('sip:onlysrv.test'));
      assert.deepEqual(brief(targets), ['tcp 192.0.2.10:5090']);
      assert.deepEqual(targets[0]!.srv, { name: '_sip._tcp.onlysrv.test', priority: 0, weight: 0 });
      assert.equal(targets[0]!.host, 'a.srv.test');
    });

    it('spreads first picks by weight within a priority (60/40 over 2,000 picks, within ±5 points)', async () => {
      const r = resolver();
      let a = 0;
      const picks = 2000;
      for (let i = 0; i < picks; i++) {
        const [first] = await r.resolve(uri('sip:srv.test;transport=udp'));
        if (first!.host === 'a.srv.test') a++;
        else assert.equal(first!.host, 'b.srv.test', 'a priority-20 target is never first');
      }
      // 60 % expected; the standard deviation of the share is ~1.1 points, so ±5 points is > 4.5 sigma.
      const share = a / picks;
      assert.ok(share > 0.55 && share < 0.65, `a picked first ${(share * 100).toFixed(1)} % of the time`);
      // Cached: one SRV query and one A query per target for all 2,000 resolutions.
      assert.equal(server.count('SRV _sip._udp.srv.test'), 1);
      assert.equal(server.count('A a.srv.test'), 1);
    });
  });

  describe('A/AAAA fallback (§4.2)', () => {
    it('uses UDP at 5060 for sip and TLS at 5061 for sips when there is no NAPTR or SRV', async () => {
      const r = resolver();
      const targets = await r.resolve(uri('sip:a.test'));
      assert.deepEqual(brief(targets), ['udp 192.0.2.20:5060']);
      assert.deepEqual(server.log.slice().sort(), [
        'A a.test',
        'NAPTR a.test',
        'SRV _sip._tcp.a.test',
        'SRV _sip._udp.a.test',
        'SRV _sips._tcp.a.test',
      ]);
      assert.deepEqual(brief(await r.resolve(uri('sips:a.test'))), ['tls 192.0.2.20:5061']);
      assert.deepEqual(brief(await r.resolve(uri('sip:v6.test'))), ['udp 2001:db8::30:5060']);
    });

    it('uses TCP by default when there is no UDP listener', async () => {
      const r = resolver({ supported: ['tcp', 'tls'] });
      assert.deepEqual(brief(await r.resolve(uri('sip:a.test'))), ['tcp 192.0.2.20:5060']);
    });
  });

  describe('errors', () => {
    it('rejects NXDOMAIN everywhere with DnsError NOT_FOUND naming the host', async () => {
      const r = resolver();
      await assert.rejects(r.resolve(uri('sip:nowhere.test')), (err: unknown) => {
        assert.ok(err instanceof DnsError);
        assert.equal(err.code, 'NOT_FOUND');
        assert.equal(err.host, 'nowhere.test');
        assert.match(err.message, /nowhere\.test/);
        return true;
      });
      assert.equal(r.stats().failures, 0, 'NXDOMAIN is an answer, not a failure');
    });

    it('rejects with TIMEOUT when a query is not answered', async () => {
      const r = resolver();
      const started = performance.now();
      await assert.rejects(r.resolve(uri('sip:slow.test:5060')), { name: 'DnsError', code: 'TIMEOUT' });
      assert.ok(performance.now() - started < 2000);
      assert.equal(r.stats().failures, 2, 'A timed out, then AAAA');
    });

    it('rejects with SERVFAIL and does not cache the failure', async () => {
      const r = resolver();
      await assert.rejects(r.resolve(uri('sip:fail.test:5060')), { name: 'DnsError', code: 'SERVFAIL' });
      await assert.rejects(r.resolve(uri('sip:fail.test:5060')), { name: 'DnsError', code: 'SERVFAIL' });
      assert.equal(server.count('A fail.test'), 2);
      assert.equal(r.stats().failures, 4);
    });

    it('the iterator throws the DnsError from next()', async () => {
      const it = resolver().targets(uri('sip:nowhere.test:5060'));
      await assert.rejects(it.next(), { name: 'DnsError', code: 'NOT_FOUND' });
    });
  });

  describe('cache', () => {
    it('answers within the TTL from the cache, and asks again after it', async () => {
      const r = resolver();
      assert.deepEqual(brief(await r.resolve(uri('sip:short.test:5060'))), ['udp 192.0.2.21:5060']);
      await r.resolve(uri('sip:short.test:5060'));
      assert.equal(server.count('A short.test'), 1);
      const stats = r.stats();
      assert.equal(stats.queries, 1);
      assert.equal(stats.cacheHits, 1);
      assert.equal(stats.cacheMisses, 1);
      await sleep(1100); // TTL 1 s
      assert.deepEqual(brief(await r.resolve(uri('sip:short.test:5060'))), ['udp 192.0.2.21:5060']);
      assert.equal(server.count('A short.test'), 2);
    });

    it('caches NXDOMAIN for negativeTtl', async () => {
      const r = resolver({ negativeTtl: 1 });
      await assert.rejects(r.resolve(uri('sip:nowhere.test:5060')));
      await assert.rejects(r.resolve(uri('sip:nowhere.test:5060')));
      assert.equal(server.count('A nowhere.test'), 1);
      assert.equal(server.count('AAAA nowhere.test'), 1);
      await sleep(1100);
      await assert.rejects(r.resolve(uri('sip:nowhere.test:5060')));
      assert.equal(server.count('A nowhere.test'), 2);
    });

    it('caches SRV and NAPTR answers for defaultTtl', async () => {
      const r = resolver({ defaultTtl: 1 });
      await r.resolve(uri('sip:naptr.test'));
      await r.resolve(uri('sip:naptr.test'));
      assert.equal(server.count('NAPTR naptr.test'), 1);
      assert.equal(server.count('SRV _sip._tcp.naptr.test'), 1);
      await sleep(1100);
      await r.resolve(uri('sip:naptr.test'));
      assert.equal(server.count('NAPTR naptr.test'), 2);
      assert.equal(server.count('SRV _sip._tcp.naptr.test'), 2);
      assert.equal(server.count('A tcp1.naptr.test'), 1, 'A records keep their own 60 s TTL');
    });

    it('shares one query among concurrent identical lookups', async () => {
      const r = resolver();
      const all = await Promise.all(Array.from({ length: 20 }, () => r.resolve(uri('sip:srv.test'))));
      for (const targets of all) assert.equal(targets.length, 6);
      for (const q of new Set(server.log)) assert.equal(server.count(q), 1, q);
      const stats = r.stats();
      assert.equal(stats.queries, server.log.length);
      assert.ok(stats.coalesced >= 19 * 4, `coalesced ${stats.coalesced}`);
    });

    it('evicts the least recently used answer beyond cacheSize', async () => {
      const r = resolver({ cacheSize: 2 });
      await r.resolve(uri('sip:a.test:5060'));
      await r.resolve(uri('sip:dual.test:5060'));
      await r.resolve(uri('sip:a.test:5060')); // a.test becomes most recent
      await r.resolve(uri('sip:v6.test:5060')); // two entries (A, AAAA): evicts dual.test then a.test
      assert.equal(r.stats().cached, 2);
      await r.resolve(uri('sip:a.test:5060'));
      assert.equal(server.count('A a.test'), 2);
    });

    it('clear() empties the cache and the counters', async () => {
      const r = resolver();
      await r.resolve(uri('sip:a.test:5060'));
      r.clear();
      assert.deepEqual(r.stats(), {
        queries: 0,
        cacheHits: 0,
        cacheMisses: 0,
        coalesced: 0,
        failures: 0,
        blacklisted: 0,
        cached: 0,
      });
      await r.resolve(uri('sip:a.test:5060'));
      assert.equal(server.count('A a.test'), 2);
    });
  });

  describe('blacklist', () => {
    it('skips a failed target while others remain, returns all when all failed, forgets after blacklistTime', async () => {
      const r = resolver({ blacklistTime: 150 });
      const b = uri('sip:b.srv.test:5062');
      const [first, second] = await r.resolve(b);
      assert.deepEqual(brief([first!, second!]), ['udp 192.0.2.11:5062', 'udp 192.0.2.12:5062']);
      r.markFailed(first!);
      assert.ok(r.isBlacklisted(first!));
      assert.deepEqual(brief(await r.resolve(b)), ['udp 192.0.2.12:5062']);
      assert.equal(r.stats().blacklisted, 1);
      r.markFailed(second!);
      assert.deepEqual(brief(await r.resolve(b)), ['udp 192.0.2.11:5062', 'udp 192.0.2.12:5062']);
      // Another protocol or port to the same address is not blacklisted.
      assert.deepEqual(brief(await r.resolve(uri('sip:b.srv.test:5062;transport=tcp'))), [
        'tcp 192.0.2.11:5062',
        'tcp 192.0.2.12:5062',
      ]);
      await sleep(200);
      assert.equal(r.stats().blacklisted, 0);
      assert.deepEqual(brief(await r.resolve(b)), ['udp 192.0.2.11:5062', 'udp 192.0.2.12:5062']);
    });

    it('skips a blacklisted SRV target and keeps the SRV order of the rest', async () => {
      const r = resolver();
      r.markFailed({ protocol: 'udp', address: '192.0.2.10', port: 5060 });
      for (let i = 0; i < 20; i++) {
        const list = brief(await r.resolve(uri('sip:srv.test;transport=udp')));
        assert.deepEqual(list, ['udp 192.0.2.11:5062', 'udp 192.0.2.12:5062', 'udp 2001:db8::13:5064']);
      }
    });

    it('the iterator consults the blacklist as it goes', async () => {
      const r = resolver();
      const it = r.targets(uri('sip:b.srv.test:5062'));
      const first = (await it.next()).value as ResolvedTarget;
      r.markFailed(first);
      const second = (await it.next()).value as ResolvedTarget;
      assert.equal(second.address, '192.0.2.12');
      assert.equal((await it.next()).done, true);
    });
  });

  it('bounds the targets of one URI by maxTargets', async () => {
    const targets = await resolver({ maxTargets: 2 }).resolve(uri('sip:srv.test'));
    assert.equal(targets.length, 2);
  });
});
