/**
 * The statistics of a real server under real traffic: the default service (scripts/default.ts on SQLite)
 * with SIPp phones around it, a raw TCP client, and tm.newRequest to a host name served by a DNS server
 * on loopback. Every check is an exact move of a counter, computed from what SIPp sent and received.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TmApi } from '../../src/modules/tm/index.js';
import { renderMetrics } from '../../src/rpc/metrics.js';
import { ZoneServer } from '../dns/zone.js';
import { UdpPeer } from '../helpers/server.js';
import { hasSipp, killAllSipp, type SippProcess, type SippResult, tempDir } from '../helpers/sipp.js';
import {
  callArgs,
  finals,
  LOCAL,
  provision,
  registerArgs,
  type Service,
  startService,
  statusOf,
  succeeded,
  traced,
} from '../service/helpers.js';

const T = { timeout: 20_000 };
const SIPP = hasSipp() ? false : 'sipp is not installed';

/** Requests of `method` a SIPp process sent (retransmissions included). */
const sent = (r: SippResult, method: string) =>
  traced(r).filter((m) => m.sent && m.text.startsWith(`${method} `));
/** Responses a SIPp process sent or received whose status matches. */
function responses(r: SippResult, direction: 'sent' | 'received', match: (status: number) => boolean) {
  return traced(r).filter(
    (m) => m.sent === (direction === 'sent') && m.text.startsWith('SIP/2.0 ') && match(statusOf(m.text)),
  );
}

async function finished(uas: SippProcess, ms = 8000): Promise<SippResult> {
  const timer = setTimeout(() => uas.kill(), ms);
  try {
    return await uas.done;
  } finally {
    clearTimeout(timer);
  }
}

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('statistics of a running server', { skip: SIPP, concurrency: false }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;
  /** The value of every statistic when `mark()` was last called. */
  let marked: Record<string, number> = {};
  const mark = () => {
    marked = svc.server.stats.snapshot();
  };
  /** How much `key` moved since `mark()`. */
  const moved = (key: string) => {
    const now = svc.server.stats.get(key);
    assert.ok(now !== undefined, `${key} exists`);
    return now - (marked[key] ?? 0);
  };

  before(async () => {
    dir = tempDir('olelo-stats-');
    await provision(dir.path);
    svc = await startService(dir.path);
  });

  after(async () => {
    killAllSipp();
    await svc?.stop();
    dir?.remove();
  });

  it(
    'OPTIONS to the server: rcv_requests_options, sl.200_replies and replies by class move by what SIPp saw',
    T,
    async () => {
      mark();
      const r = await svc.uac('options.xml', 'options', ['-r', '50'], 5);
      assert.equal(succeeded([r], 5), undefined);
      const options = sent(r, 'OPTIONS').length;
      const oks = responses(r, 'received', (s) => s === 200).length;
      assert.ok(options >= 5 && oks === options, r.summary);
      assert.equal(moved('core.rcv_requests_options'), options);
      assert.equal(moved('core.rcv_requests'), options);
      assert.equal(moved('core.rcv_requests_invite'), 0);
      assert.equal(moved('core.unsupported_methods'), 0);
      assert.equal(moved('sl.200_replies'), oks);
      assert.equal(moved('sl.2xx_replies'), oks);
      assert.equal(moved('sl.sent_replies'), oks);
      assert.equal(moved('sl.4xx_replies'), 0);
      assert.equal(moved('core.rcv_replies'), 0);
      assert.equal(moved('tm.total'), 0);
      assert.equal(moved('transport.rcv_messages_udp'), options);
      assert.equal(moved('transport.sent_messages_udp'), oks);
      // and the same figures in the Prometheus exposition
      const text = renderMetrics(svc.server.stats);
      assert.ok(
        text.includes(
          `olelo_core_rcv_requests_by_method_total{method="OPTIONS"} ${svc.server.stats.get('core.rcv_requests_options')}\n`,
        ),
      );
    },
  );

  it(
    'REGISTER with digest authentication: challenge, accepted, one contact and one user more',
    T,
    async () => {
      mark();
      const r = await svc.uac('svc-register.xml', 'alice-reg', registerArgs('alice'));
      assert.equal(succeeded([r]), undefined);
      assert.deepEqual(finals(r), [401, 200], r.summary);
      const registers = sent(r, 'REGISTER').length;
      assert.equal(moved('core.rcv_requests_register'), registers);
      assert.equal(moved('auth.challenges'), 1);
      assert.equal(moved('auth.authorized'), 1);
      assert.equal(moved('auth.invalid'), 0);
      assert.equal(moved('registrar.accepted_regs'), 1);
      assert.equal(moved('registrar.rejected_regs'), 0);
      assert.equal(moved('usrloc.location_contacts'), 1);
      assert.equal(moved('usrloc.registered_users'), 1);
      // the challenge and the 200 were sent statelessly or by a transaction: 2 replies either way
      assert.equal(moved('sl.401_replies') + moved('tm.4xx_replies'), 1);
      assert.equal(moved('sl.2xx_replies') + moved('tm.2xx_replies'), 1);
      assert.equal(moved('sl.200_replies'), moved('sl.2xx_replies'));
    },
  );

  it('REGISTER with a wrong password: auth failures, no contact', T, async () => {
    mark();
    const r = await svc.uac('svc-register-reject.xml', 'wrong', registerArgs('bob', { password: 'guess' }));
    assert.equal(succeeded([r]), undefined);
    assert.deepEqual(finals(r), [401, 401], r.summary);
    assert.equal(moved('auth.invalid'), 1);
    assert.equal(moved('auth.authorized'), 0);
    assert.equal(moved('auth.challenges'), 2);
    assert.equal(moved('usrloc.location_contacts'), 0);
    assert.equal(moved('registrar.accepted_regs'), 0);
    assert.equal(moved('sl.401_replies') + moved('tm.4xx_replies'), 2);
  });

  it(
    'a proxied call: requests by method, replies by class, tm totals and replies, back to no current transaction',
    T,
    async () => {
      const bob = await svc.uas('svc-uas.xml', 'bob-uas');
      const reg = await svc.uac(
        'svc-register.xml',
        'bob-reg',
        registerArgs('bob', { contactPort: bob.port }),
      );
      assert.equal(succeeded([reg]), undefined);
      await until(() => svc.server.stats.get('tm.current') === 0, 'no transaction in progress');
      mark();
      const call = await svc.uac('svc-call.xml', 'alice-calls-bob', callArgs('alice', 'bob'));
      const uas = await finished(bob);
      assert.equal(succeeded([call, uas]), undefined);
      assert.deepEqual(finals(call), [407, 200, 200], call.summary);
      const invites = sent(call, 'INVITE').length;
      assert.equal(moved('core.rcv_requests_invite'), invites);
      assert.equal(moved('core.rcv_requests_ack'), sent(call, 'ACK').length);
      assert.equal(moved('core.rcv_requests_bye'), sent(call, 'BYE').length);
      // replies received by the server: everything the UAS sent
      const uas1xx = responses(uas, 'sent', (s) => s < 200).length;
      const uas2xx = responses(uas, 'sent', (s) => s >= 200 && s < 300).length;
      assert.ok(uas1xx >= 1 && uas2xx >= 2, uas.summary);
      assert.equal(moved('core.rcv_replies_1xx'), uas1xx);
      assert.equal(moved('core.rcv_replies_18x'), responses(uas, 'sent', (s) => s >= 180 && s < 190).length);
      assert.equal(moved('core.rcv_replies_2xx'), uas2xx);
      assert.equal(moved('core.rcv_replies_4xx'), 0);
      assert.equal(moved('tm.rpl_received'), uas1xx + uas2xx);
      // the INVITE and the BYE were relayed statefully; the challenge was stateless
      assert.equal(moved('tm.total'), 2);
      assert.equal(moved('tm.created'), 2);
      assert.equal(moved('sl.407_replies'), 1);
      assert.equal(moved('tm.2xx_replies'), 2);
      assert.equal(moved('tm.timeouts'), 0);
      // provisional replies sent upstream: 100 Trying (generated) and the relayed 18x
      assert.equal(moved('tm.1xx_replies'), responses(call, 'received', (s) => s < 200).length);
      // 100 Trying (generated) + the relayed 180/200 of the INVITE + the 200 of the BYE
      const callReplies = responses(call, 'received', () => true).length - 1; // minus the 407
      assert.equal(moved('tm.rpl_sent'), callReplies);
      assert.equal(moved('tm.rpl_generated'), responses(call, 'received', (s) => s === 100).length);
      await until(() => svc.server.stats.get('tm.current') === 0, 'the transactions to end');
      assert.equal(moved('tm.current'), 0);
      assert.equal(
        svc.server.stats.get('tm.waiting'),
        svc.server.stats.get('tm.total')! - svc.server.stats.get('tm.freed')!,
      );
    },
  );

  it('a TCP client: connection gauges up while it is connected, down after', T, async () => {
    mark();
    const port = svc.server.listeners.find((l) => l.protocol === 'tcp')!.port;
    const socket: Socket = connect(port, LOCAL);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    try {
      await until(() => moved('transport.connections_tcp') === 1, 'the connection to be counted');
      assert.equal(moved('tcp.current_opened_connections'), 1);
      assert.equal(moved('tcp.established'), 1);
      assert.equal(moved('transport.connections_opened_tcp'), 1);
      assert.equal(moved('transport.connections_tls'), 0);
    } finally {
      socket.destroy();
    }
    await until(() => moved('transport.connections_tcp') === 0, 'the connection to close');
    assert.equal(moved('tcp.current_opened_connections'), 0);
    assert.equal(moved('transport.closed_peer'), 1);
    assert.equal(moved('tcp.established'), 1);
  });
});

describe('DNS statistics of a running server', () => {
  let dns: ZoneServer;
  let peer: UdpPeer;
  let svc: Service;
  let dir: ReturnType<typeof tempDir>;

  before(async () => {
    peer = await UdpPeer.open();
    dns = new ZoneServer({ 'probe.test': [{ type: 'A', address: '127.0.0.1', ttl: 300 }] });
    await dns.start();
    dir = tempDir('olelo-stats-dns-');
    await provision(dir.path);
    svc = await startService(dir.path, {
      yaml: `dns:\n  servers: ["127.0.0.1:${dns.port}"]\n  timeout: 500ms\n`,
    });
  });

  after(async () => {
    await svc?.stop();
    await dns?.stop();
    peer?.close();
    dir?.remove();
  });

  it('tm.newRequest to a host name: a cache miss, then a hit; total_local and rpl_received', T, async () => {
    const tm = (svc.server as unknown as { modules: { tm: TmApi } }).modules.tm;
    const stats = svc.server.stats;
    const before = stats.snapshot();
    const moved = (key: string) => stats.get(key)! - before[key]!;
    // the peer answers each OPTIONS with 200
    peer.socket.on('message', (msg, from) => {
      const text = msg.toString('latin1');
      if (!text.startsWith('OPTIONS ')) return;
      const headers = text
        .split('\r\n')
        .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l))
        .join('\r\n');
      peer.socket.send(
        Buffer.from(`SIP/2.0 200 OK\r\n${headers}\r\nContent-Length: 0\r\n\r\n`, 'latin1'),
        from.port,
        from.address,
      );
    });
    for (let i = 0; i < 2; i++) {
      const res = await tm.newRequest({
        method: 'OPTIONS',
        uri: `sip:probe.test:${peer.port}`,
        from: 'sip:olelo@example.com',
        to: `sip:probe.test:${peer.port}`,
      });
      assert.equal(res.status, 200);
    }
    // the first lookup misses (NAPTR/SRV skipped: a port is given, so A only) and the second hits
    assert.equal(moved('dns.cache_misses'), 1);
    assert.equal(moved('dns.cache_hits'), 1);
    assert.equal(moved('dns.queries'), dns.count('A probe.test'));
    assert.equal(moved('dns.failed_dns_request'), 0);
    assert.equal(moved('tm.total_local'), 2);
    assert.equal(moved('tm.rpl_received'), 2);
    assert.equal(moved('tm.total'), 0);
    assert.equal(stats.get('dns.cached'), 1);
  });
});
