/**
 * The control API end to end: every registered method called over HTTP (`POST /RPC`) and over the Unix
 * socket against a running server, `olelo ctl`, `cfg.set` changing a live timer, and who may call.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctl } from '../../src/cli/ctl.js';
import type { Server } from '../../src/core/server.js';
import { machineAccess } from '../../src/rpc/control-server.js';
import { methodReference } from '../../src/rpc/registry.js';
import { ROOT, tempDir } from '../helpers/process.js';
import { startServer, UdpPeer } from '../helpers/server.js';
import { hasSipp, runSippUac } from '../helpers/sipp.js';
import { type TestCertificate, writeCertificate } from '../helpers/tls.js';

const SCRIPT = `
import { defineRoutes } from 'olelo/script';
export default defineRoutes({
  async request(req, m) {
    if (req.method === 'REGISTER') return void (await m.registrar.save(req));
    if (req.hasToTag) return m.sl.reply(req, 481);
    if (req.method === 'OPTIONS') return m.sl.reply(req, 200);
    m.rr.recordRoute(req);
    await m.tm.relay(req);
  },
});
`;

const BROKEN_SCRIPT = 'export default {{ this is not TypeScript';

type Answer = { result?: unknown; error?: { code: number; message: string } };
type Via = 'http' | 'socket';

/** POSTs a body to a path over HTTP or the Unix socket; answers status and parsed body. */
function post(
  to: { port?: number; socket?: string },
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(to.socket !== undefined ? { socketPath: to.socket } : { host: '127.0.0.1', port: to.port }),
        path,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let seq = 0;
function register(peer: UdpPeer, port: number, user: string, expires = 600): Promise<string> {
  seq++;
  peer.send(
    `${[
      'REGISTER sip:example.com SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-ctl-reg${seq};rport`,
      `From: <sip:${user}@example.com>;tag=r${seq}`,
      `To: <sip:${user}@example.com>`,
      `Call-ID: ctl-reg-${seq}@test`,
      `CSeq: ${seq} REGISTER`,
      `Contact: <sip:${user}@127.0.0.1:${peer.port}>;expires=${expires}`,
      'Max-Forwards: 70',
      'Content-Length: 0',
    ].join('\r\n')}\r\n\r\n`,
    port,
  );
  return peer.next((t) => t.includes(`ctl-reg-${seq}@test`));
}

describe('control API', () => {
  const dir = tempDir('ctl');
  let server: Server;
  let sip: number;
  let http: number;
  let socket: string;
  let peer: UdpPeer;
  let script: string;
  const admin = `ctl-admin-${process.pid}`;

  before(async () => {
    script = dir.file('script.ts', SCRIPT);
    const list = dir.file(
      'dispatcher.list',
      '1 sip:127.0.0.1:9 0 0 weight=10\n1 sip:127.0.0.1:19 0 0\n2 sip:127.0.0.1:29 0 0\n',
    );
    socket = join(dir.path, 'ctl.sock');
    const started = await startServer(
      [
        'control:',
        '  http:',
        '    listen: 127.0.0.1:0',
        `  socket: ${JSON.stringify(socket)}`,
        'domains: [example.com]',
        'modules:',
        '  usrloc:',
        '    useDomain: true',
        '  dispatcher:',
        `    listFile: ${JSON.stringify(list)}`,
        '    probingInterval: 0s',
        '',
      ].join('\n'),
      { listen: ['udp:127.0.0.1:0'], script },
    );
    server = started.server;
    sip = started.listener('udp').port;
    http = server.control!.httpAddress!.port;
    peer = await UdpPeer.open();
    await server.db.admins.remove(admin);
  });

  after(async () => {
    peer?.close();
    await server?.db.admins.remove(admin);
    await server?.stop(100);
    dir.remove();
  });

  async function call(via: Via, method: string, ...params: unknown[]): Promise<Answer> {
    const r = await post(
      via === 'http' ? { port: http } : { socket },
      '/RPC',
      JSON.stringify({ jsonrpc: '2.0', method, params, id: 7 }),
    );
    assert.equal(r.status, 200, r.body);
    const answer = JSON.parse(r.body) as Answer & { id: number; jsonrpc: string };
    assert.equal(answer.jsonrpc, '2.0');
    assert.equal(answer.id, 7);
    return answer;
  }
  async function ok(via: Via, method: string, ...params: unknown[]): Promise<unknown> {
    const a = await call(via, method, ...params);
    assert.equal(a.error, undefined, `${method} failed: ${JSON.stringify(a.error)}`);
    return a.result;
  }
  async function fails(via: Via, code: number, method: string, ...params: unknown[]): Promise<string> {
    const a = await call(via, method, ...params);
    assert.equal(a.error?.code, code, `${method}: ${JSON.stringify(a)}`);
    return a.error!.message;
  }

  /**
   * One check per method, each run over HTTP and over the socket. A method registered without an entry
   * here fails the coverage test below.
   */
  const checks: Record<string, (via: Via) => Promise<void>> = {
    'core.version': async (via) =>
      assert.match((await ok(via, 'core.version')) as string, /^olelo \d+\.\d+\.\d+ \(.+\) node v\d+/),
    'core.uptime': async (via) => {
      const r = (await ok(via, 'core.uptime')) as { now: string; up_since: string; uptime: number };
      assert.match(r.now, /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
      assert.match(r.up_since, /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
      assert.equal(r.uptime, Math.floor((Date.now() - server.startedAt) / 1000));
    },
    'core.info': async (via) => {
      const r = (await ok(via, 'core.info')) as {
        pid: number;
        workers: number;
        listeners: { uri: string }[];
      };
      assert.equal(r.pid, process.pid);
      assert.equal(r.workers, 1);
      assert.deepEqual(
        r.listeners.map((l) => l.uri),
        [`udp:127.0.0.1:${sip}`],
      );
    },
    'core.psx': async (via) =>
      assert.deepEqual(
        ((await ok(via, 'core.psx')) as { PID: number }[]).map((p) => p.PID),
        [process.pid],
      ),
    'core.sockets_list': async (via) => {
      const r = (await ok(via, 'core.sockets_list')) as { socket: { PROTO: string; PORT: number }[] };
      assert.deepEqual(
        r.socket.map((s) => `${s.PROTO}:${s.PORT}`),
        [`udp:${sip}`],
      );
    },
    'core.memory': async (via) => {
      const r = (await ok(via, 'core.memory')) as Record<string, number>;
      assert.ok(r.rss! > 10e6 && r.heap_used! > 1e6 && r.heap_used! <= r.heap_total!, JSON.stringify(r));
      assert.ok(r.heap_total! < r.heap_limit!);
    },
    'core.shmmem': async (via) => {
      const r = (await ok(via, 'core.shmmem')) as Record<string, number>;
      assert.deepEqual(Object.keys(r), ['total', 'free', 'used', 'real_used', 'max_used', 'fragments']);
      assert.equal(r.total, r.free! + r.used!);
      assert.ok(r.max_used! >= r.used!);
    },
    'core.tcp_info': async (via) => {
      const r = (await ok(via, 'core.tcp_info')) as Record<string, unknown>;
      assert.equal(r.max_connections, server.config.limits.maxConnections);
      assert.equal(r.opened_connections, 0); // this server has no TCP listener
      assert.deepEqual(r.by_protocol, { tcp: 0, tls: 0, ws: 0, wss: 0 });
    },
    'core.echo': async (via) =>
      assert.deepEqual(await ok(via, 'core.echo', 1, 'two', { three: 3 }), [1, 'two', { three: 3 }]),

    'stats.get': async (via) => {
      const before = (await ok(via, 'stats.get', 'core.rcv_requests')) as Record<string, number>;
      peer.send(
        `OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-ctl-o${++seq}\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: ctl-o-${seq}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        sip,
      );
      await peer.next((t) => t.includes(`ctl-o-${seq}`));
      const after = (await ok(via, 'stats.get', 'core.rcv_requests')) as Record<string, number>;
      assert.equal(after['core.rcv_requests'], before['core.rcv_requests']! + 1);
      const group = (await ok(via, 'stats.get', 'tm')) as Record<string, number>;
      assert.ok('tm.current' in group && Object.keys(group).every((k) => k.startsWith('tm.')));
      const all = (await ok(via, 'stats.get')) as Record<string, number>;
      assert.ok('tm.current' in all && 'core.rcv_requests' in all);
      assert.match(await fails(via, 404, 'stats.get', 'core.nothing_like_this'), /no statistic/);
      assert.match(await fails(via, 404, 'stats.get', 'nogroup'), /no statistics group/);
    },
    'stats.reset': async (via) => {
      server.stats.counter('test', 'resettable').value = 5;
      server.stats.gauge('test', 'level').value = 3;
      assert.deepEqual(await ok(via, 'stats.reset', 'test.resettable'), { reset: 1 });
      assert.equal(server.stats.get('test.resettable'), 0);
      server.stats.counter('test', 'resettable').value = 5;
      await ok(via, 'stats.reset', 'test');
      assert.equal(server.stats.get('test.resettable'), 0);
      assert.equal(server.stats.get('test.level'), 3, 'a gauge keeps its value');
    },
    'stats.get_statistics': async (via) => {
      server.stats.counter('test', 'shown').value = 42;
      assert.deepEqual(await ok(via, 'stats.get_statistics', 'shown'), ['test:shown = 42']);
      const group = (await ok(via, 'stats.get_statistics', 'tm:')) as string[];
      assert.ok(group.length > 5 && group.every((l) => /^tm:\w+ = \d+$/.test(l)), group.join());
      const all = (await ok(via, 'stats.get_statistics', 'all')) as string[];
      assert.ok(all.includes('test:shown = 42') && all.length > group.length);
    },
    'stats.fetch': async (via) => {
      server.stats.counter('test', 'fetched').value = 9;
      assert.deepEqual(await ok(via, 'stats.fetch', 'test.fetched'), { 'test.fetched': '9' });
    },
    'stats.reset_statistics': async (via) => {
      server.stats.counter('test', 'r2').value = 9;
      assert.deepEqual(await ok(via, 'stats.reset_statistics', 'r2'), {});
      assert.equal(server.stats.get('test.r2'), 0);
    },
    'stats.clear_statistics': async (via) => {
      server.stats.counter('test', 'c2').value = 4;
      assert.deepEqual(await ok(via, 'stats.clear_statistics', 'c2'), ['test:c2 = 4']);
      assert.equal(server.stats.get('test.c2'), 0);
    },
    'tm.stats': async (via) => {
      const r = (await ok(via, 'tm.stats')) as Record<string, number>;
      assert.deepEqual(Object.keys(r), [
        'current',
        'waiting',
        'total',
        'total_local',
        'rpl_received',
        'rpl_generated',
        'rpl_sent',
        '6xx',
        '5xx',
        '4xx',
        '3xx',
        '2xx',
        'created',
        'freed',
        'delayed_free',
      ]);
      assert.equal(r.current, server.stats.get('tm.current'));
      assert.equal(r.total, server.stats.get('tm.total'));
    },
    'sl.stats': async (via) => {
      const before = ((await ok(via, 'sl.stats')) as Record<string, number>)['200']!;
      peer.send(
        `OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-ctl-o${++seq}\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: ctl-o-${seq}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        sip,
      );
      await peer.next((t) => t.includes(`ctl-o-${seq}`));
      const r = (await ok(via, 'sl.stats')) as Record<string, number>;
      assert.equal(r['200'], before + 1);
      assert.ok(['2xx', '4xx', '483', 'xxx'].every((k) => typeof r[k] === 'number'));
    },

    'cfg.get': async (via) => {
      assert.equal(
        await ok(via, 'cfg.get', 'tm', 'fr_timer'),
        (server.config.modules.tm as { frTimer: number }).frTimer,
      );
      assert.equal(await ok(via, 'cfg.get', 'log', 'level'), 'debug');
      assert.match(await fails(via, 404, 'cfg.get', 'tm', 'nonsense'), /tm has .*frInvTimer/);
    },
    'cfg.set': async (via) => {
      assert.equal(await ok(via, 'cfg.set', 'tm', 'fr_timer', '20s'), 20_000);
      assert.equal(await ok(via, 'cfg.get', 'tm', 'frTimer'), 20_000);
      assert.match(
        await fails(via, 400, 'cfg.set', 'tm', 'fr_timer', 'soon'),
        /tm\.frTimer: expected a duration/,
      );
      assert.equal(await ok(via, 'cfg.get', 'tm', 'frTimer'), 20_000, 'a refused value changes nothing');
      assert.equal(await ok(via, 'cfg.set', 'log', 'level', 'info'), 'info');
      assert.equal(server.log.level, 'info');
      assert.match(await fails(via, 400, 'cfg.set', 'log', 'level', 'loud'), /log\.level/);
      await ok(via, 'cfg.set', 'log', 'level', 'debug');
      assert.equal(await ok(via, 'cfg.set', 'limits', 'max_connections', 77), 77);
      assert.equal(((await ok(via, 'core.tcp_info')) as { max_connections: number }).max_connections, 77);
      await ok(via, 'cfg.set', 'limits', 'maxConnections', server.config.limits.maxConnections);
      await ok(via, 'cfg.set', 'tm', 'fr_timer', 30_000);
      // an optional setting (unset: 64*T1), found by Kamailio's name too
      assert.equal(await ok(via, 'cfg.set', 'tm', 'wt_timer', '5s'), 5000);
      assert.equal(await ok(via, 'cfg.get', 'tm', 'wtTimer'), 5000);
      // and reaches the transaction layer, where the next transactions' Timers J, L, M and D read it
      const layer = (server as unknown as { pipeline: { hooks: { settings: { wait?: number } } } }).pipeline
        .hooks;
      assert.equal(layer.settings.wait, 5000);
      assert.match(
        await fails(via, 400, 'cfg.set', 'tm', 'wt_timer', 'later'),
        /tm\.wtTimer: expected a duration/,
      );
    },
    'cfg.list': async (via) => {
      const list = (await ok(via, 'cfg.list')) as string[];
      for (const s of ['log: level', 'tm: frTimer', 'tm: frInvTimer', 'tm: t1'])
        assert.ok(list.includes(s), s);
    },
    'cfg.help': async (via) =>
      assert.match(
        (await ok(via, 'cfg.help', 'tm', 'fr_inv_timer')) as string,
        /Final-response timer for INVITE.*duration/,
      ),

    'script.reload': async (via) => {
      assert.deepEqual(await ok(via, 'script.reload'), { reloaded: script });
      dir.file('script.ts', BROKEN_SCRIPT);
      try {
        assert.match(await fails(via, 500, 'script.reload'), /script not reloaded/);
      } finally {
        dir.file('script.ts', SCRIPT);
      }
      // the running script still answers
      peer.send(
        `OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-ctl-o${++seq}\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: ctl-o-${seq}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        sip,
      );
      assert.match(await peer.next((t) => t.includes(`ctl-o-${seq}`)), /^SIP\/2\.0 200/);
    },

    'system.listMethods': async (via) => {
      const names = (await ok(via, 'system.listMethods')) as string[];
      assert.deepEqual(names, [...names].sort());
      for (const m of ['core.uptime', 'ul.dump', 'dispatcher.list', 'subscriber.add', 'cfg.set'])
        assert.ok(names.includes(m), m);
    },
    'system.methodHelp': async (via) => {
      assert.match((await ok(via, 'system.methodHelp', 'ul.rm')) as string, /Removes an AOR/);
      await fails(via, 404, 'system.methodHelp', 'no.such');
    },
    'system.methodSignature': async (via) =>
      assert.equal(
        await ok(via, 'system.methodSignature', 'dispatcher.set_state'),
        'dispatcher.set_state state group address',
      ),

    'ul.dump': async (via) => {
      assert.match(await register(peer, sip, `dump-${via}`), /^SIP\/2\.0 200/);
      const r = (await ok(via, 'ul.dump')) as {
        Domains: {
          Domain: {
            AoRs: { Info: { AoR: string; Contacts: { Contact: { Address: string; Expires: number } }[] } }[];
          };
        }[];
      };
      const aor = r.Domains[0]!.Domain.AoRs.find((a) => a.Info.AoR === `dump-${via}@example.com`);
      assert.ok(aor, JSON.stringify(r));
      assert.equal(aor.Info.Contacts[0]!.Contact.Address, `sip:dump-${via}@127.0.0.1:${peer.port}`);
      assert.ok(aor.Info.Contacts[0]!.Contact.Expires > 590);
      const brief = (await ok(via, 'ul.dump', 'brief')) as typeof r;
      const b = brief.Domains[0]!.Domain.AoRs.find((a) => a.Info.AoR === `dump-${via}@example.com`)!;
      assert.deepEqual(Object.keys(b.Info.Contacts[0]!.Contact), ['Address', 'Expires']);
    },
    'ul.lookup': async (via) => {
      assert.match(await register(peer, sip, `look-${via}`), /^SIP\/2\.0 200/);
      const r = (await ok(via, 'ul.lookup', 'location', `look-${via}@example.com`)) as {
        AoR: string;
        Contacts: unknown[];
      };
      assert.equal(r.AoR, `look-${via}@example.com`);
      assert.equal(r.Contacts.length, 1);
      assert.equal(
        ((await ok(via, 'ul.lookup', `sip:look-${via}@example.com`)) as { AoR: string }).AoR,
        `look-${via}@example.com`,
      );
      assert.match(await fails(via, 404, 'ul.lookup', 'location', 'nobody@example.com'), /AOR not found/);
    },
    'ul.rm': async (via) => {
      assert.match(await register(peer, sip, `rm-${via}`), /^SIP\/2\.0 200/);
      await ok(via, 'ul.rm', 'location', `rm-${via}@example.com`);
      await fails(via, 404, 'ul.lookup', `rm-${via}@example.com`);
      await fails(via, 404, 'ul.rm', 'location', `rm-${via}@example.com`);
    },
    'ul.rm_contact': async (via) => {
      assert.match(await register(peer, sip, `rmc-${via}`), /^SIP\/2\.0 200/);
      await fails(via, 404, 'ul.rm_contact', 'location', `rmc-${via}@example.com`, 'sip:other@127.0.0.1:1');
      await ok(
        via,
        'ul.rm_contact',
        'location',
        `rmc-${via}@example.com`,
        `sip:rmc-${via}@127.0.0.1:${peer.port}`,
      );
      await fails(via, 404, 'ul.lookup', `rmc-${via}@example.com`);
    },

    'dispatcher.list': async (via) => {
      const r = (await ok(via, 'dispatcher.list')) as {
        NRSETS: number;
        RECORDS: { SET: { ID: number; TARGETS: { DEST: { URI: string; ATTRS: { WEIGHT: number } } }[] } }[];
      };
      assert.equal(r.NRSETS, 2);
      assert.deepEqual(
        r.RECORDS[0]!.SET.TARGETS.map((t) => t.DEST.URI),
        ['sip:127.0.0.1:9', 'sip:127.0.0.1:19'],
      );
      assert.equal(r.RECORDS[0]!.SET.TARGETS[0]!.DEST.ATTRS.WEIGHT, 10);
    },
    'dispatcher.set_state': async (via) => {
      const flags = async () =>
        (
          (await ok(via, 'dispatcher.list')) as {
            RECORDS: { SET: { TARGETS: { DEST: { FLAGS: string } }[] } }[];
          }
        ).RECORDS[0]!.SET.TARGETS.map((t) => t.DEST.FLAGS);
      await ok(via, 'dispatcher.set_state', 'ip', 1, 'sip:127.0.0.1:19');
      assert.deepEqual(await flags(), ['AX', 'IP']);
      await ok(via, 'dispatcher.set_state', 'a', '1', 'all');
      assert.deepEqual(await flags(), ['AX', 'AX']);
      await fails(via, 404, 'dispatcher.set_state', 'a', 7, 'all');
      assert.match(
        await fails(via, -32602, 'dispatcher.set_state', 'a', 'one', 'all'),
        /group must be a number/,
      );
    },
    'dispatcher.reload': async (via) => {
      dir.file(
        'dispatcher.list',
        '1 sip:127.0.0.1:9 0 0 weight=10\n1 sip:127.0.0.1:19 0 0\n2 sip:127.0.0.1:29 0 0\n3 sip:127.0.0.1:39 0 0\n',
      );
      await ok(via, 'dispatcher.reload');
      assert.equal(((await ok(via, 'dispatcher.list')) as { NRSETS: number }).NRSETS, 3);
      dir.file('dispatcher.list', '1 not a uri at all\n');
      assert.match(await fails(via, 500, 'dispatcher.reload'), /reload failed/);
      assert.equal(
        ((await ok(via, 'dispatcher.list')) as { NRSETS: number }).NRSETS,
        3,
        'the running sets stay',
      );
      dir.file(
        'dispatcher.list',
        '1 sip:127.0.0.1:9 0 0 weight=10\n1 sip:127.0.0.1:19 0 0\n2 sip:127.0.0.1:29 0 0\n',
      );
      await ok(via, 'dispatcher.reload');
    },
    'dispatcher.ping_active': async (via) => {
      assert.equal(await ok(via, 'dispatcher.ping_active', 0), 0);
      assert.equal(await ok(via, 'dispatcher.ping_active'), 0);
      assert.equal(await ok(via, 'dispatcher.ping_active', 1), 1);
      await fails(via, 400, 'dispatcher.ping_active', 5);
    },

    'domain.reload': async (via) => {
      await server.db.domains.remove(`reload-${via}.test`);
      await server.db.domains.add(`reload-${via}.test`);
      try {
        await ok(via, 'domain.reload');
        assert.ok(
          ((await ok(via, 'domain.dump')) as { domains: string[] }).domains.includes(`reload-${via}.test`),
        );
      } finally {
        await server.db.domains.remove(`reload-${via}.test`);
        await ok(via, 'domain.reload');
      }
    },
    'domain.dump': async (via) => {
      const r = (await ok(via, 'domain.dump')) as { domains: string[] };
      assert.ok(Array.isArray(r.domains));
      assert.ok(!r.domains.includes(`reload-${via}.test`));
    },
    'domain.list': async (via) => {
      await ok(via, 'domain.add', `list-${via}.test`);
      try {
        const r = (await ok(via, 'domain.list')) as { domain: string }[];
        assert.ok(r.some((d) => d.domain === `list-${via}.test`));
      } finally {
        await ok(via, 'domain.rm', `list-${via}.test`);
      }
    },
    'domain.add': async (via) => {
      await ok(via, 'domain.add', `add-${via}.test`);
      try {
        // the domain module reloads: the new domain is served at once
        assert.ok(
          ((await ok(via, 'domain.dump')) as { domains: string[] }).domains.includes(`add-${via}.test`),
        );
        await fails(via, 409, 'domain.add', `add-${via}.test`);
      } finally {
        await ok(via, 'domain.rm', `add-${via}.test`);
      }
    },
    'domain.rm': async (via) => {
      await ok(via, 'domain.add', `gone-${via}.test`);
      await ok(via, 'domain.rm', `gone-${via}.test`);
      assert.ok(
        !((await ok(via, 'domain.dump')) as { domains: string[] }).domains.includes(`gone-${via}.test`),
      );
      await fails(via, 404, 'domain.rm', `gone-${via}.test`);
    },
    'subscriber.add': async (via) => {
      const address = `sub-add-${via}-${process.pid}@example.com`;
      await ok(via, 'subscriber.rm', address).catch(() => undefined);
      await ok(via, 'subscriber.add', address, 'pw-123456');
      try {
        const s = await server.db.subscribers.get(`sub-add-${via}-${process.pid}`, 'example.com');
        assert.equal(s?.password, 'pw-123456');
        await fails(via, 409, 'subscriber.add', address, 'other');
      } finally {
        await server.db.subscribers.remove(`sub-add-${via}-${process.pid}`, 'example.com');
      }
    },
    'subscriber.list': async (via) => {
      const address = `sub-list-${via}-${process.pid}@example.com`;
      await server.db.subscribers.remove(`sub-list-${via}-${process.pid}`, 'example.com');
      await ok(via, 'subscriber.add', address, 'pw-123456');
      try {
        const found = (await ok(via, 'subscriber.list', 'example.com', `sub-list-${via}`)) as Record<
          string,
          unknown
        >[];
        assert.equal(found.length, 1);
        assert.equal(found[0]!.username, `sub-list-${via}-${process.pid}`);
        assert.ok(!('password' in found[0]!) && !('ha1' in found[0]!), 'no secret is handed out');
      } finally {
        await server.db.subscribers.remove(`sub-list-${via}-${process.pid}`, 'example.com');
      }
    },
    'subscriber.passwd': async (via) => {
      const user = `sub-pw-${via}-${process.pid}`;
      await server.db.subscribers.remove(user, 'example.com');
      await ok(via, 'subscriber.add', `${user}@example.com`, 'pw-123456');
      try {
        await ok(via, 'subscriber.passwd', `${user}@example.com`, 'new-pw-789');
        assert.equal((await server.db.subscribers.get(user, 'example.com'))?.password, 'new-pw-789');
        await fails(via, 404, 'subscriber.passwd', `nobody-${via}@example.com`, 'x-123456');
      } finally {
        await server.db.subscribers.remove(user, 'example.com');
      }
    },
    'subscriber.rm': async (via) => {
      const user = `sub-rm-${via}-${process.pid}`;
      await server.db.subscribers.remove(user, 'example.com');
      await ok(via, 'subscriber.add', `${user}@example.com`, 'pw-123456');
      await ok(via, 'subscriber.rm', `${user}@example.com`);
      assert.equal(await server.db.subscribers.get(user, 'example.com'), undefined);
      await fails(via, 404, 'subscriber.rm', `${user}@example.com`);
    },
    'alias.add': async (via) => {
      const user = `al-${via}-${process.pid}`;
      await server.db.subscribers.remove(user, 'example.com');
      await ok(via, 'subscriber.add', `${user}@example.com`, 'pw-123456');
      try {
        await ok(via, 'alias.add', `${user}-alias@example.com`, `${user}@example.com`);
        const list = (await ok(via, 'alias.list', `${user}@example.com`)) as { alias: string }[];
        assert.deepEqual(
          list.map((a) => a.alias),
          [`${user}-alias@example.com`],
        );
        await fails(via, 409, 'alias.add', `${user}-alias@example.com`, `${user}@example.com`);
        await ok(via, 'alias.rm', `${user}-alias@example.com`);
      } finally {
        await server.db.subscribers.remove(user, 'example.com');
      }
    },
    'alias.list': async (via) => assert.ok(Array.isArray(await ok(via, 'alias.list'))),
    'alias.rm': async (via) => {
      await fails(via, 404, 'alias.rm', `never-${via}@example.com`);
    },
    // ratelimit (Kamailio's pipelimit): pipes made by pl.set_pipe, one per way in
    'pl.set_pipe': async (via) => {
      const pipe = `ctl-set-${via}`;
      const r = (await ok(via, 'pl.set_pipe', pipe, 'taildrop', 2)) as { algorithm: string; limit: number };
      assert.deepEqual([r.algorithm, r.limit], ['TAILDROP', 2]);
      assert.equal(((await ok(via, 'pl.set_pipe', pipe, 'RED', 7)) as { limit: number }).limit, 7);
      assert.match(await fails(via, 400, 'pl.set_pipe', pipe, 'FAST', 1), /Unknown algorithm/);
      await ok(via, 'pl.rm_pipe', pipe);
    },
    'pl.list': async (via) => {
      const pipe = `ctl-list-${via}`;
      await ok(via, 'pl.set_pipe', pipe, 'TAILDROP', 3);
      const r = (await ok(via, 'pl.list', pipe)) as { name: string; limit: number; passed: number }[];
      assert.deepEqual(
        r.map((p) => [p.name, p.limit, p.passed]),
        [[pipe, 3, 0]],
      );
      assert.ok(((await ok(via, 'pl.list')) as { name: string }[]).some((p) => p.name === pipe));
      await fails(via, 400, 'pl.list', `no-such-${via}`);
      await ok(via, 'pl.rm_pipe', pipe);
    },
    'pl.stats': async (via) => {
      const pipe = `ctl-stats-${via}`;
      await ok(via, 'pl.set_pipe', pipe, 'TAILDROP', 4);
      assert.ok(((await ok(via, 'pl.stats')) as string[]).includes(`PIPE: id=${pipe} load=0 counter=0`));
      await ok(via, 'pl.rm_pipe', pipe);
    },
    'pl.get_pipes': async (via) => {
      const pipe = `ctl-get-${via}`;
      await ok(via, 'pl.set_pipe', pipe, 'RED', 9);
      assert.ok(
        ((await ok(via, 'pl.get_pipes')) as string[]).includes(
          `PIPE: id=${pipe} algorithm=RED limit=9 counter=0`,
        ),
      );
      await ok(via, 'pl.rm_pipe', pipe);
    },
    'pl.reset_pipe': async (via) => {
      const pipe = `ctl-reset-${via}`;
      await ok(via, 'pl.set_pipe', pipe, 'TAILDROP', 1);
      assert.equal(((await ok(via, 'pl.reset_pipe', pipe)) as { name: string }).name, pipe);
      await fails(via, 400, 'pl.reset_pipe', `no-such-${via}`);
      await ok(via, 'pl.rm_pipe', pipe);
    },
    'pl.rm_pipe': async (via) => {
      const pipe = `ctl-rm-${via}`;
      await ok(via, 'pl.set_pipe', pipe, 'TAILDROP', 1);
      await ok(via, 'pl.rm_pipe', pipe);
      await fails(via, 400, 'pl.rm_pipe', pipe);
    },
    // pike and htable: fuller checks (a flood, persistence) are in test/firewall/
    'pike.top': async (via) => {
      // this server's script does not call pike: nothing is tracked
      assert.deepEqual(await ok(via, 'pike.top'), { list: [], number_of_rows: 0 });
      assert.deepEqual(await ok(via, 'pike.top', 'ALL'), { list: [], number_of_rows: 0 });
      await fails(via, 400, 'pike.top', 'LUKEWARM');
    },
    'pike.list': async (via) =>
      assert.deepEqual(await ok(via, 'pike.list', 'hot'), { list: [], number_of_rows: 0 }),
    'htable.sets': async (via) => {
      await ok(via, 'htable.sets', 'ipban', `s-${via}`, 'yes');
      assert.equal(
        ((await ok(via, 'htable.get', 'ipban', `s-${via}`)) as { item: { value: string } }).item.value,
        'yes',
      );
      await fails(via, 404, 'htable.sets', 'no-such-table', 'k', 'v');
    },
    'htable.seti': async (via) => {
      await ok(via, 'htable.seti', 'ipban', `i-${via}`, '42');
      const r = (await ok(via, 'htable.get', 'ipban', `i-${via}`)) as { item: { value: number } };
      assert.strictEqual(r.item.value, 42);
    },
    'htable.get': async (via) => {
      await ok(via, 'htable.seti', 'ipban', `g-${via}`, 7);
      const r = (await ok(via, 'htable.get', 'ipban', `g-${via}`)) as { item: Record<string, unknown> };
      assert.equal(r.item.name, `g-${via}`);
      assert.equal(r.item.flags, 0);
      // the default ipban table expires items after 5 minutes
      assert.match(r.item.expire as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      await fails(via, 404, 'htable.get', 'ipban', `never-set-${via}`);
    },
    'htable.delete': async (via) => {
      await ok(via, 'htable.sets', 'ipban', `d-${via}`, 'x');
      await ok(via, 'htable.delete', 'ipban', `d-${via}`);
      await fails(via, 404, 'htable.get', 'ipban', `d-${via}`);
    },
    'htable.dump': async (via) => {
      await ok(via, 'htable.sets', 'ipban', `dump-${via}`, 'here');
      const r = (await ok(via, 'htable.dump', 'ipban')) as {
        entry: number;
        size: number;
        slot: { name: string; value: unknown; type: string }[];
      }[];
      const items = r.flatMap((e) => e.slot);
      assert.deepEqual(
        items.find((i) => i.name === `dump-${via}`),
        { name: `dump-${via}`, value: 'here', type: 'str' },
      );
      assert.equal(r[0]!.size, items.length);
    },
    'htable.flush': async () => {
      await ok('http', 'htable.sets', 'ipban', 'flush-me', 'x');
      await ok('http', 'htable.flush', 'ipban');
      await fails('http', 404, 'htable.get', 'ipban', 'flush-me');
    },
    'htable.reload': async (via) => {
      // ipban is not persistent here
      assert.match(await fails(via, 400, 'htable.reload', 'ipban'), /not persistent/);
    },
    'htable.listTables': async (via) => {
      const r = (await ok(via, 'htable.listTables')) as { name: string; expire: number; size: number }[];
      assert.deepEqual(
        r.map((t) => [t.name, t.expire, t.size]),
        [['ipban', 300, 65536]],
      );
    },
    'htable.stats': async (via) => {
      const r = (await ok(via, 'htable.stats')) as { name: string; all: number; limit: number }[];
      assert.equal(r[0]!.name, 'ipban');
      assert.equal(r[0]!.limit, 65536);
      assert.equal(typeof r[0]!.all, 'number');
    },
    // permissions: the control server has no address file or table (the module's own tests fill one)
    'permissions.addressReload': async (via) =>
      assert.deepEqual(await ok(via, 'permissions.addressReload'), { entries: 0 }),
    'permissions.addressDump': async (via) => assert.deepEqual(await ok(via, 'permissions.addressDump'), []),
    'permissions.subnetDump': async (via) => assert.deepEqual(await ok(via, 'permissions.subnetDump'), []),
    'permissions.testAddress': async (via) =>
      assert.deepEqual(await ok(via, 'permissions.testAddress', 1, '127.0.0.1', 5060), { result: -1 }),
  };

  it('has a check for every registered method', () => {
    const missing = server.rpc.names().filter((n) => !(n in checks));
    assert.deepEqual(missing, [], `methods without a test: ${missing.join(', ')}`);
  });

  it('docs/control.md lists every method as the registry describes it', () => {
    const file = join(ROOT, 'docs', 'control.md');
    const text = readFileSync(file, 'utf8');
    const begin = '<!-- methods:begin -->\n';
    const end = '<!-- methods:end -->';
    const from = text.indexOf(begin) + begin.length;
    const to = text.indexOf(end);
    assert.ok(from > begin.length && to >= from, 'docs/control.md has the methods markers');
    const expected = `${methodReference(server.rpc)}\n`;
    if (process.env.UPDATE_DOCS === '1') writeFileSync(file, text.slice(0, from) + expected + text.slice(to));
    else {
      // biome pads Markdown tables: compare cells, not their padding
      const cells = (t: string) =>
        t
          .split('\n')
          .map((l) => l.replace(/ +\|/g, ' |').replace(/\| +/g, '| ').replace(/-{3,}/g, '---'))
          .join('\n');
      assert.equal(
        cells(text.slice(from, to)),
        cells(expected),
        'regenerate: UPDATE_DOCS=1 node --test dist/test/rpc/control.test.js, then npx biome format --write docs',
      );
    }
  });

  for (const via of ['http', 'socket'] as const) {
    describe(`over ${via === 'http' ? 'HTTP' : 'the Unix socket'}`, () => {
      for (const [method, check] of Object.entries(checks)) it(method, () => check(via));
    });
  }

  it('answers JSON-RPC protocol errors: parse error, invalid request, unknown method, bad params, batches, notifications', async () => {
    const raw = async (body: string) => post({ port: http }, '/RPC', body);
    assert.equal(JSON.parse((await raw('{nope')).body).error.code, -32700);
    assert.equal(JSON.parse((await raw('{"jsonrpc":"2.0","id":1}')).body).error.code, -32600);
    assert.equal(
      JSON.parse((await raw('{"jsonrpc":"2.0","method":"no.such","id":1}')).body).error.code,
      -32601,
    );
    const tooMany = JSON.parse(
      (await raw('{"jsonrpc":"2.0","method":"core.uptime","params":[1],"id":1}')).body,
    );
    assert.equal(tooMany.error.code, -32602);
    assert.match(tooMany.error.message, /takes at most 0 parameters/);
    const missing = JSON.parse(
      (await raw('{"jsonrpc":"2.0","method":"cfg.get","params":["tm"],"id":1}')).body,
    );
    assert.match(missing.error.message, /parameter name missing \(usage: cfg\.get group name\)/);
    const named = JSON.parse(
      (await raw('{"jsonrpc":"2.0","method":"cfg.get","params":{"group":"tm","name":"t1"},"id":"x"}')).body,
    );
    assert.deepEqual(named, {
      jsonrpc: '2.0',
      result: (server.config.modules.tm as { t1: number }).t1,
      id: 'x',
    });
    const batch = JSON.parse(
      (
        await raw(
          '[{"jsonrpc":"2.0","method":"core.echo","params":[1],"id":1},{"jsonrpc":"2.0","method":"core.echo","params":[2]},{"jsonrpc":"2.0","method":"no.such","id":3}]',
        )
      ).body,
    );
    assert.deepEqual(
      batch.map((a: { id: number }) => a.id),
      [1, 3],
    );
    assert.deepEqual(batch[0].result, [1]);
    const notification = await raw('{"jsonrpc":"2.0","method":"core.echo","params":[1]}');
    assert.equal(notification.status, 204);
    assert.equal((await post({ port: http }, '/RPC', 'x'.repeat(2 * 1024 * 1024))).status, 413);
    const call = (i: number) => ({ jsonrpc: '2.0', method: 'core.echo', params: [i], id: i });
    const hundred = JSON.parse(
      (await raw(JSON.stringify(Array.from({ length: 100 }, (_, i) => call(i))))).body,
    );
    assert.equal(hundred.length, 100);
    const overBatch = JSON.parse(
      (await raw(JSON.stringify(Array.from({ length: 101 }, (_, i) => call(i))))).body,
    );
    assert.equal(overBatch.error.code, -32600);
    assert.match(overBatch.error.message, /at most 100/);
  });

  it('cfg.set tm fr_inv_timer changes a live call: a ringing branch times out after the new value', async () => {
    const uas = await UdpPeer.open();
    const uac = await UdpPeer.open();
    try {
      const ring = async (callId: string) => {
        uac.send(
          `INVITE sip:bob@127.0.0.1:${uas.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uac.port};branch=z9hG4bK-${callId};rport\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:${uac.port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
          sip,
        );
        const inv = await uas.next((t) => t.startsWith('INVITE') && t.includes(callId));
        const vias = inv.split('\r\n').filter((l) => l.startsWith('Via:'));
        const header = (name: string) => inv.split('\r\n').find((l) => l.startsWith(`${name}:`))!;
        uas.send(
          `SIP/2.0 180 Ringing\r\n${vias.join('\r\n')}\r\n${header('From')}\r\n${header('To')};tag=b\r\n${header('Call-ID')}\r\n${header('CSeq')}\r\nContent-Length: 0\r\n\r\n`,
          sip,
        );
        await uac.next((t) => t.startsWith('SIP/2.0 180') && t.includes(callId));
        return Date.now();
      };
      assert.equal(await ok('socket', 'cfg.set', 'tm', 'fr_inv_timer', 400), 400);
      const t0 = await ring('ctl-fr-1');
      await uac.next((t) => t.startsWith('SIP/2.0 408') && t.includes('ctl-fr-1'), 3000);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 300 && elapsed < 1500, `408 after ${elapsed} ms`);

      assert.equal(await ok('http', 'cfg.set', 'tm', 'fr_inv_timer', '2s'), 2000);
      const t1 = await ring('ctl-fr-2');
      await uac.next((t) => t.startsWith('SIP/2.0 408') && t.includes('ctl-fr-2'), 4000);
      const elapsed2 = Date.now() - t1;
      assert.ok(elapsed2 >= 1800 && elapsed2 < 3500, `408 after ${elapsed2} ms`);
    } finally {
      await ok('http', 'cfg.set', 'tm', 'fr_inv_timer', '120s');
      uas.close();
      uac.close();
    }
  });

  it('olelo ctl: readable and --json output, help, errors with exit codes', async () => {
    const run = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await ctl(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    const uptime = await run('--socket', socket, 'core.uptime');
    assert.equal(uptime.code, 0, uptime.err);
    assert.match(uptime.out, /^now: .*\nup_since: .*\nuptime: \d+$/);
    const json = await run('--url', `http://127.0.0.1:${http}`, '--json', 'cfg.get', 'tm', 'fr_timer');
    assert.equal(json.code, 0, json.err);
    assert.equal(JSON.parse(json.out), (server.config.modules.tm as { frTimer: number }).frTimer);
    const help = await run('--socket', socket, 'help');
    assert.equal(help.code, 0);
    assert.match(help.out, /^ul\.rm \[args\.\.\.\]\n {4}Removes an AOR/m);
    assert.match(help.out, /^dispatcher\.set_state state group address$/m);
    const one = await run('--socket', socket, 'help', 'cfg.set');
    assert.match(one.out, /^cfg\.set group name value\n\nChanges a setting/);
    const bad = await run('--socket', socket, 'cfg.set', 'tm', 'fr_timer', 'soon');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /error 400: tm\.frTimer: expected a duration/);
    const unknown = await run('--socket', socket, 'no.such');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /error -32601: Method Not Found: no\.such/);
    const away = await run('--socket', join(dir.path, 'nothing.sock'), 'core.uptime');
    assert.equal(away.code, 3);
    assert.match(away.err, /cannot reach .*nothing\.sock/);
    // issue 6: the dispatcher's list reloaded from the command line
    dir.file('dispatcher.list', '1 sip:127.0.0.1:9 0 0\n4 sip:127.0.0.1:49 0 0\n');
    const reload = await run('--socket', socket, 'dispatcher.reload');
    assert.deepEqual([reload.code, reload.out], [0, 'ok']);
    const sets = await run('--socket', socket, '--json', 'dispatcher.list');
    assert.deepEqual(
      (JSON.parse(sets.out) as { RECORDS: { SET: { ID: number } }[] }).RECORDS.map((r) => r.SET.ID),
      [1, 4],
    );
    dir.file(
      'dispatcher.list',
      '1 sip:127.0.0.1:9 0 0 weight=10\n1 sip:127.0.0.1:19 0 0\n2 sip:127.0.0.1:29 0 0\n',
    );
    assert.equal((await run('--socket', socket, 'dispatcher.reload')).code, 0);
    const usage = await run();
    assert.equal(usage.code, 2);
  });

  it('dashboard: login with an administrator, session cookie, /api/rpc refused without it; wrong passwords limited', async () => {
    await server.db.admins.add(admin, 'correct-horse');
    const login = (password: string) =>
      post({ port: http }, '/api/login', JSON.stringify({ username: admin, password }));
    const wrong = await login('wrong-password');
    assert.equal(wrong.status, 401);
    const good = await login('correct-horse');
    assert.equal(good.status, 200);
    assert.deepEqual(JSON.parse(good.body), { user: admin });
    const cookie = String(good.headers['set-cookie']).split(';')[0]!;
    assert.match(String(good.headers['set-cookie']), /HttpOnly; SameSite=Strict; Path=\//);
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'core.echo', params: ['hi'], id: 1 });
    const withSession = await post({ port: http }, '/api/rpc', body, {
      Cookie: cookie,
      'X-Requested-With': 'olelo-web',
    });
    assert.equal(withSession.status, 200);
    assert.deepEqual(JSON.parse(withSession.body).result, ['hi']);
    assert.equal((await post({ port: http }, '/api/rpc', body)).status, 401, 'no session');
    assert.equal(
      (await post({ port: http }, '/api/rpc', body, { Cookie: cookie })).status,
      401,
      'no X-Requested-With',
    );
    assert.equal(
      (
        await post({ port: http }, '/api/rpc', body, {
          Cookie: 'olelo_session=forged',
          'X-Requested-With': 'olelo-web',
        })
      ).status,
      401,
    );
    assert.equal((await post({ port: http }, '/api/logout', '', { Cookie: cookie })).status, 204);
    assert.equal(
      (await post({ port: http }, '/api/rpc', body, { Cookie: cookie, 'X-Requested-With': 'olelo-web' }))
        .status,
      401,
      'logged out',
    );
    // ten wrong passwords a minute from one address, then 429 even for the right one
    for (let i = 0; i < 10; i++) assert.equal((await login('wrong')).status, 401);
    const limited = await login('correct-horse');
    assert.equal(limited.status, 429);
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
  });

  it('metrics: Prometheus text on GET /metrics, moving with SIPp traffic', {
    skip: !hasSipp() && 'SIPp (sip-tester) is not installed',
  }, async () => {
    const metrics = async () => {
      const r = await fetch(`http://127.0.0.1:${http}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      return r.text();
    };
    const value = (text: string, name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      assert.ok(line, `${name} in /metrics`);
      return Number(line.split(' ')[1]);
    };
    const first = await metrics();
    const before = value(first, 'olelo_core_rcv_requests_total');
    const options = value(first, 'olelo_core_rcv_requests_by_method_total{method="OPTIONS"}');
    const ok200 = value(first, 'olelo_sl_replies_by_code_total{code="200"}');
    const r = await runSippUac({
      scenario: 'options.xml',
      local: '127.0.0.1',
      transport: 'u1',
      calls: 20,
      remote: `127.0.0.1:${sip}`,
      args: ['-r', '100'],
      dir: dir.path,
      name: 'metrics-options',
    });
    assert.equal(r.successful, 20, r.summary);
    const after = await metrics();
    assert.equal(value(after, 'olelo_core_rcv_requests_total'), before + 20);
    assert.equal(value(after, 'olelo_core_rcv_requests_by_method_total{method="OPTIONS"}'), options + 20);
    assert.equal(value(after, 'olelo_sl_replies_by_code_total{code="200"}'), ok200 + 20);
  });
});

describe('control API access rules', () => {
  const loopback = { host: '127.0.0.1', port: 8090 };
  const everywhere = { host: '0.0.0.0', port: 8090 };
  const token = 'a-long-enough-secret-token';
  const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('loopback without a token: open', () => {
    assert.equal(machineAccess(loopback, undefined, undefined), true);
    assert.equal(machineAccess({ host: '::1', port: 1 }, undefined, undefined), true);
  });
  it('elsewhere without a token: refused, whatever is sent', () => {
    assert.equal(machineAccess(everywhere, undefined, undefined), false);
    assert.equal(machineAccess(everywhere, undefined, 'Bearer anything'), false);
    assert.equal(machineAccess({ host: '192.0.2.7', port: 1 }, undefined, undefined), false);
  });
  it('with a token (anywhere): Bearer or Basic with the token as password, nothing else', () => {
    for (const listen of [loopback, everywhere]) {
      assert.equal(machineAccess(listen, token, `Bearer ${token}`), true);
      assert.equal(machineAccess(listen, token, basic('ops', token)), true);
      assert.equal(machineAccess(listen, token, undefined), false);
      assert.equal(machineAccess(listen, token, 'Bearer wrong'), false);
      assert.equal(machineAccess(listen, token, `Bearer ${token}x`), false);
      assert.equal(machineAccess(listen, token, basic(token, 'x')), false);
    }
  });
});

describe('control API with a token, over TCP', () => {
  let server: Server;
  let http: number;
  const token = 'test-token-0123456789';

  before(async () => {
    server = (
      await startServer(
        `control:\n  http:\n    listen: 127.0.0.1:0\n    token: ${token}\n  socket: "off"\n`,
        {
          listen: ['udp:127.0.0.1:0'],
        },
      )
    ).server;
    http = server.control!.httpAddress!.port;
  });
  after(() => server.stop(100));

  it('refuses /RPC and /metrics without the token (401 with WWW-Authenticate) and answers with it', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'core.version', id: 1 });
    const refused = await post({ port: http }, '/RPC', body);
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /^Bearer/);
    assert.equal((await fetch(`http://127.0.0.1:${http}/metrics`)).status, 401);
    const answered = await post({ port: http }, '/RPC', body, { Authorization: `Bearer ${token}` });
    assert.equal(answered.status, 200);
    assert.match(JSON.parse(answered.body).result, /^olelo /);
    const metrics = await fetch(`http://127.0.0.1:${http}/metrics`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(metrics.status, 200);
  });

  it('a dashboard data call without a login is refused', async () => {
    const r = await post(
      { port: http },
      '/api/rpc',
      JSON.stringify({ jsonrpc: '2.0', method: 'ul.dump', id: 1 }),
      {
        'X-Requested-With': 'olelo-web',
      },
    );
    assert.equal(r.status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${http}/api/session`)).status, 401);
  });
});

describe('control API on a server with a TLS listener', () => {
  const dir = tempDir('ctl-tls');
  let server: Server;
  let http: number;
  let socket: string;
  let cert: TestCertificate;

  before(async () => {
    cert = writeCertificate(dir.path);
    socket = join(dir.path, 'ctl.sock');
    server = (
      await startServer(
        `control:\n  http:\n    listen: 127.0.0.1:0\n  socket: ${JSON.stringify(socket)}\ntls:\n  certificate: ${cert.certPath}\n  key: ${cert.keyPath}\n`,
        { listen: ['udp:127.0.0.1:0', 'tls:127.0.0.1:0'] },
      )
    ).server;
    http = server.control!.httpAddress!.port;
  });
  after(async () => {
    await server?.stop(100);
    dir.remove();
  });

  for (const via of ['http', 'socket'] as const) {
    it(`tls.reload over ${via === 'http' ? 'HTTP' : 'the Unix socket'}: answers the fingerprint of the certificate file, refuses a broken one`, async () => {
      const call = async (method: string) => {
        const r = await post(
          via === 'http' ? { port: http } : { socket },
          '/RPC',
          JSON.stringify({ jsonrpc: '2.0', method, id: 1 }),
        );
        return JSON.parse(r.body) as Answer;
      };
      const fresh = writeCertificate(dir.path); // new key and certificate in the same files
      const answer = await call('tls.reload');
      assert.equal(answer.error, undefined, JSON.stringify(answer));
      const expected = new X509Certificate(fresh.cert).fingerprint256;
      assert.equal((answer.result as { fingerprint256: string }).fingerprint256, expected);
      writeFileSync(fresh.certPath, 'not a certificate');
      try {
        const refused = await call('tls.reload');
        assert.equal(refused.error?.code, 500);
      } finally {
        writeFileSync(fresh.certPath, fresh.cert);
      }
    });
  }

  it('tls.reload is in the method list only with a TLS listener', async () => {
    assert.ok(server.rpc.names().includes('tls.reload'));
  });
});
