/**
 * permissions against a real server over UDP: the README example (trusted sources from a file and from
 * the `address` table, with tags), reloads changing the answer live; and the default script's
 * protections: scanner User-Agents dropped without reply, no open relay (403), the REGISTER budget (503).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import { openStorage } from '../../src/db/index.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';
import { tempDir } from '../helpers/sipp.js';

let seq = 0;
/** Sends a request and resolves its final answer, or `undefined` when none comes within `waitMs`. */
async function send(
  peer: UdpPeer,
  port: number,
  o: { method?: string; uri?: string; from?: string; userAgent?: string; waitMs?: number } = {},
): Promise<string | undefined> {
  const id = `perm-${process.pid}-${++seq}`;
  const method = o.method ?? 'OPTIONS';
  const uri = o.uri ?? `sip:127.0.0.1:${port}`;
  peer.send(
    [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${peer.socket.address().address}:${peer.port};branch=z9hG4bK${id};rport`,
      'Max-Forwards: 70',
      `From: <${o.from ?? 'sip:probe@example.net'}>;tag=${id}`,
      `To: <${uri}>`,
      `Call-ID: ${id}`,
      `CSeq: 1 ${method}`,
      ...(o.userAgent === undefined ? [] : [`User-Agent: ${o.userAgent}`]),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
  try {
    return await peer.next(
      (m) => m.includes(`Call-ID: ${id}\r\n`) && !/^SIP\/2\.0 1/.test(m),
      o.waitMs ?? 2000,
    );
  } catch {
    return undefined;
  }
}

const status = (answer: string | undefined) => (answer === undefined ? 'none' : answer.split('\r\n')[0]!);

describe('permissions on a server (README example): file and database, reload', () => {
  const dir = tempDir('olelo-permissions-');
  const file = join(dir.path, 'address.list');
  const url = `sqlite:${join(dir.path, 'olelo.db')}`;
  let server: Server;
  let port: number;
  const peers: Record<string, UdpPeer> = {};

  before(async () => {
    const readme = readFileSync(join(ROOT, 'src/modules/permissions/README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(code, 'the README has a ts example');
    const script = join(dir.path, 'permissions-readme.ts');
    writeFileSync(script, code);
    writeFileSync(file, '# the file\n1 127.0.0.2 0 udp file-peer\n2 127.0.0.0/8 0 any loopback\n');
    const db = await openStorage(url);
    await db.migrate();
    await db.addresses.add({ grp: 1, ipAddr: '127.0.0.3', mask: 32, tag: 'db-peer' });
    await db.close();
    const started = await startServer(
      [
        `database:\n  url: ${JSON.stringify(url)}`,
        'modules:',
        '  permissions:',
        `    addressFile: ${JSON.stringify(file)}`,
        '    addressDb: true',
        '',
      ].join('\n'),
      { listen: ['udp:127.0.0.1:0'], script },
    );
    server = started.server;
    port = started.listener('udp').port;
    for (const a of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) peers[a] = await UdpPeer.open(a);
  });

  after(async () => {
    for (const p of Object.values(peers)) p.close();
    await server?.stop(100);
    dir.remove();
  });

  it('trusts the sources of the file and of the table, with their tags, and refuses the others', async () => {
    assert.equal(status(await send(peers['127.0.0.2']!, port)), 'SIP/2.0 200 Trusted file-peer');
    assert.equal(status(await send(peers['127.0.0.3']!, port)), 'SIP/2.0 200 Trusted db-peer');
    // 127.0.0.4 is only in group 2 (the /8)
    assert.equal(status(await send(peers['127.0.0.4']!, port)), 'SIP/2.0 403 Not Trusted');
    const dump = (await server.rpc.call('permissions.addressDump')) as { ip: string; tag: string }[];
    assert.deepEqual(dump.map((e) => `${e.ip} ${e.tag}`).sort(), [
      '127.0.0.2 file-peer',
      '127.0.0.3 db-peer',
    ]);
    const subnets = (await server.rpc.call('permissions.subnetDump')) as { ip: string; mask: number }[];
    assert.deepEqual(
      subnets.map((e) => `${e.ip}/${e.mask}`),
      ['127.0.0.0/8'],
    );
    assert.deepEqual(await server.rpc.call('permissions.testAddress', [2, '127.9.9.9', 0]), {
      result: 1,
      tag: 'loopback',
    });
  });

  it('permissions.addressReload reads the file and the table again and the answers change at once', async () => {
    writeFileSync(file, '1 127.0.0.4 0 udp new-file-peer\n');
    const rows = await server.db.addresses.list({ grp: 1 });
    for (const r of rows) await server.db.addresses.remove(r.id);
    await server.db.addresses.add({ grp: 1, ipAddr: '127.0.0.2', mask: 32, tag: 'moved-to-db' });
    // nothing changes before the reload
    assert.equal(status(await send(peers['127.0.0.4']!, port)), 'SIP/2.0 403 Not Trusted');
    assert.deepEqual(await server.rpc.call('permissions.addressReload'), { entries: 2 });
    assert.equal(status(await send(peers['127.0.0.4']!, port)), 'SIP/2.0 200 Trusted new-file-peer');
    assert.equal(status(await send(peers['127.0.0.2']!, port)), 'SIP/2.0 200 Trusted moved-to-db');
    assert.equal(status(await send(peers['127.0.0.3']!, port)), 'SIP/2.0 403 Not Trusted');
  });

  it('keeps the running table when the file has become bad, naming file and line', async () => {
    writeFileSync(file, '1 127.0.0.4 0 udp ok\n1 127.0.0.999\n');
    await assert.rejects(server.rpc.call('permissions.addressReload'), {
      message: new RegExp(`address reload failed: ${file.replace(/[.]/g, '\\.')}:2: not an IP address`),
    });
    assert.equal(status(await send(peers['127.0.0.4']!, port)), 'SIP/2.0 200 Trusted new-file-peer');
  });
});

describe('default script: scanners, open relay, REGISTER budget', () => {
  let server: Server;
  let port: number;
  let peer: UdpPeer;

  before(async () => {
    const started = await startServer(
      [
        'domains: [example.com]',
        'modules:',
        '  ratelimit:',
        '    interval: 3s',
        '    pipes:',
        '      register: { limit: 2 }',
        '',
      ].join('\n'),
      { listen: ['udp:127.0.0.1:0'] },
    );
    server = started.server;
    port = started.listener('udp').port;
    peer = await UdpPeer.open();
  });

  after(async () => {
    peer?.close();
    await server?.stop(100);
  });

  it('drops requests of scanner User-Agents without reply while a normal client is served', async () => {
    for (const ua of ['friendly-scanner', 'sipvicious 0.3.4', 'sipcli/v1.8', 'VaxSIPUserAgent/3.1']) {
      assert.equal(await send(peer, port, { userAgent: ua, waitMs: 400 }), undefined, ua);
    }
    assert.equal(status(await send(peer, port, { userAgent: 'sipsak 0.9.8' })), 'SIP/2.0 200 OK');
    assert.equal(status(await send(peer, port)), 'SIP/2.0 200 OK');
    assert.ok(
      (server.stats.get('core.drop_requests') ?? 0) >= 4,
      `dropped: ${server.stats.get('core.drop_requests')}`,
    );
  });

  it('is no open relay: a request from a foreign domain to a foreign domain gets 403', async () => {
    const answer = await send(peer, port, {
      method: 'MESSAGE',
      uri: 'sip:bob@far-away.example.org',
      from: 'sip:mallory@elsewhere.example.net',
    });
    assert.equal(status(answer), 'SIP/2.0 403 Relaying Denied');
  });

  it('answers REGISTERs past the register pipe 503 with Retry-After, before authentication', async () => {
    const left = 3000 - (Date.now() % 3000);
    if (left < 1000) await new Promise((r) => setTimeout(r, left + 20));
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await send(peer, port, {
        method: 'REGISTER',
        uri: 'sip:example.com',
        from: 'sip:alice@example.com',
      });
      answers.push(`${status(a)}${/\r\nRetry-After: (\d+)/.exec(a ?? '')?.[1] ?? ''}`);
    }
    assert.deepEqual(answers, [
      'SIP/2.0 401 Unauthorized',
      'SIP/2.0 401 Unauthorized',
      'SIP/2.0 503 Service Unavailable5',
    ]);
  });
});
