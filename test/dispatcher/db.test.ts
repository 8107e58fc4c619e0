/**
 * The dispatcher with `source: db` and the example of its README: a real server on loopback reads its
 * sets from the `dispatcher` table of a SQLite database and routes with the README's example script;
 * the destinations are UDP peers answering as UAS. Rows added through storage take effect on reload.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Logger } from '../../src/core/logger.js';
import { validate } from '../../src/core/schema.js';
import type { Server } from '../../src/core/server.js';
import { StatsRegistry } from '../../src/core/stats.js';
import { openStorage, type Storage } from '../../src/db/index.js';
import {
  type DispatcherApi,
  dispatcherModule,
  parseDispatcherList,
} from '../../src/modules/dispatcher/index.js';
import { tempDir, waitUntil } from '../helpers/process.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';

const LOCAL = '127.0.0.1';
const README = readFileSync(join(ROOT, 'src/modules/dispatcher/README.md'), 'utf8');

function dispatcherOf(server: Server): DispatcherApi {
  return (server as unknown as { modules: { dispatcher: DispatcherApi } }).modules.dispatcher;
}

const header = (msg: string, name: string): string[] =>
  msg
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());

const hasCall = (msg: string, callId: string) => msg.includes(`\r\nCall-ID: ${callId}\r\n`);
const isRequest = (method: string, callId: string) => (m: string) =>
  m.startsWith(`${method} `) && hasCall(m, callId);
const isFinal = (method: string, callId: string) => (m: string) =>
  /^SIP\/2\.0 [2-6]\d\d /.test(m) && hasCall(m, callId) && header(m, 'CSeq')[0]?.endsWith(method) === true;

/** Answers a request as a UAS: its Via, From, Call-ID, CSeq and Record-Route, To with a tag. */
function answer(peer: UdpPeer, request: string, status: number, port: number): void {
  const lines = request.split('\r\n');
  const copied = lines.filter((l) => /^(Via|From|Call-ID|CSeq|Record-Route):/i.test(l));
  const to = lines.find((l) => /^To:/i.test(l))!;
  peer.send(
    [
      `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Server Error'}`,
      ...copied,
      to.includes(';tag=') ? to : `${to};tag=uas-${peer.port}`,
      `Contact: <sip:uas@${LOCAL}:${peer.port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
}

/** Waits for a message matching `test` at one of `peers`; resolves that peer and the message. */
async function arrival(
  peers: readonly UdpPeer[],
  test: (m: string) => boolean,
): Promise<{ peer: UdpPeer; msg: string }> {
  let peer: UdpPeer | undefined;
  const found = await waitUntil(
    () => {
      peer = peers.find((p) => p.received.some((b) => test(b.toString('latin1'))));
      return peer !== undefined;
    },
    3000,
    5,
  );
  assert.ok(found && peer, 'the request reached a destination');
  return { peer, msg: await peer.next(test) };
}

let sequence = 0;

describe('dispatcher with source: db, routing with the README example', () => {
  const dir = tempDir('ds-db');
  const url = `sqlite:${join(dir.path, 'olelo.db')}`;
  let server: Server;
  let ds: DispatcherApi;
  let port: number;
  let caller: UdpPeer;
  const uas: UdpPeer[] = [];
  const uri = (p: UdpPeer) => `sip:${LOCAL}:${p.port}`;

  before(async () => {
    caller = await UdpPeer.open();
    for (let i = 0; i < 3; i++) uas.push(await UdpPeer.open());
    // the table written before the server starts, as `olelo dispatcher add` does
    const db = await openStorage(url);
    await db.migrate();
    await db.dispatcher.add({ setid: 1, destination: uri(uas[0]!), attrs: 'duid=a;region=north' });
    await db.dispatcher.add({ setid: 1, destination: uri(uas[1]!), attrs: 'duid=b', description: 'b' });
    await db.dispatcher.add({ setid: 2, destination: 'sip:192.0.2.99:5060', flags: 4 });
    await db.close();
    // the README's example, as written
    const script = /```ts\n([\s\S]*?)```/.exec(README)?.[1];
    assert.ok(script, 'the README has a ts example');
    const file = join(dir.path, 'dispatcher-readme.ts');
    writeFileSync(file, script);
    const started = await startServer(
      `database:\n  url: ${JSON.stringify(url)}\nmodules:\n  dispatcher:\n    source: db\n`,
      { listen: [`udp:${LOCAL}:0`], script: file },
    );
    server = started.server;
    port = started.listener('udp').port;
    ds = dispatcherOf(server);
  });

  after(async () => {
    await server?.stop(200);
    caller?.close();
    for (const p of uas) p.close();
    dir.remove();
  });

  /** An INVITE from the caller through olelo; resolves the destination it reached and the request. */
  async function invite(callId: string) {
    caller.send(
      [
        'INVITE sip:service@example.com SIP/2.0',
        `Via: SIP/2.0/UDP ${LOCAL}:${caller.port};branch=z9hG4bK-${callId};rport`,
        'Max-Forwards: 70',
        `From: <sip:caller@example.com>;tag=c-${callId}`,
        'To: <sip:service@example.com>',
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:caller@${LOCAL}:${caller.port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      port,
    );
    return arrival(uas, isRequest('INVITE', callId));
  }

  /** A request of the dialog from the caller, routed by the Record-Route of `ok`. */
  function inDialog(method: 'ACK' | 'BYE', ok: string, callId: string, target: UdpPeer): void {
    const route = header(ok, 'Record-Route');
    caller.send(
      [
        `${method} sip:uas@${LOCAL}:${target.port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${LOCAL}:${caller.port};branch=z9hG4bK-${callId}-${method};rport`,
        'Max-Forwards: 70',
        ...route.map((r) => `Route: ${r}`),
        `From: <sip:caller@example.com>;tag=c-${callId}`,
        `To: ${header(ok, 'To')[0]}`,
        `Call-ID: ${callId}`,
        `CSeq: ${method === 'ACK' ? 1 : 2} ${method}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      port,
    );
  }

  /** A whole call: INVITE answered 200 by whichever destination gets it, ACK, BYE. Resolves that destination. */
  async function call(): Promise<UdpPeer> {
    const callId = `ds-db-${process.pid}-${++sequence}`;
    const { peer, msg } = await invite(callId);
    answer(peer, msg, 200, port);
    const ok = await caller.next(isFinal('INVITE', callId));
    assert.match(ok, /^SIP\/2\.0 200 /);
    assert.ok(header(ok, 'Record-Route').length > 0, 'the example record-routes');
    inDialog('ACK', ok, callId, peer);
    await peer.next(isRequest('ACK', callId));
    inDialog('BYE', ok, callId, peer);
    answer(peer, await peer.next(isRequest('BYE', callId)), 200, port);
    assert.match(await caller.next(isFinal('BYE', callId)), /^SIP\/2\.0 200 /);
    return peer;
  }

  it('loads the sets from the dispatcher table at start, with their attributes and flags', () => {
    const set1 = ds.destinations(1);
    assert.deepEqual(
      set1.map((d) => d.uri),
      [uri(uas[0]!), uri(uas[1]!)],
    );
    assert.equal(set1[0]!.attrs.get('region'), 'north');
    assert.equal(ds.destinations(2)[0]!.state, 'disabled', 'flag 4 read from the row');
    const list = ds.rpc['dispatcher.list']();
    assert.equal(list.NRSETS, 2);
  });

  it('the example spreads calls round-robin over the table’s set 1; ACK and BYE follow the Record-Route', async () => {
    const first = await call();
    const second = await call();
    const third = await call();
    assert.notEqual(first, second, 'round-robin moves to the other destination');
    assert.equal(third, first, 'and back');
  });

  it('picks up a row added through storage at reload (and the control command reloads too)', async () => {
    const added = await server.db.dispatcher.add({ setid: 1, destination: uri(uas[2]!), attrs: 'duid=c' });
    assert.equal(ds.destinations(1).length, 2, 'not before a reload');
    await ds.reload();
    assert.deepEqual(
      ds.destinations(1).map((d) => d.uri),
      [uri(uas[0]!), uri(uas[1]!), uri(uas[2]!)],
    );
    const reached = new Set<UdpPeer>();
    for (let i = 0; i < 3; i++) reached.add(await call());
    assert.ok(reached.has(uas[2]!), 'a call reached the new destination');
    assert.equal(await server.db.dispatcher.remove(added.id), true);
    await ds.rpc['dispatcher.reload']();
    assert.equal(ds.destinations(1).length, 2);
  });

  it('a bad row fails the reload with its id, and the running sets stay', async () => {
    const bad = await server.db.dispatcher.add({ setid: 1, destination: 'not-a-uri' });
    await assert.rejects(ds.reload(), new RegExp(`dispatcher table row:${bad.id}: not a SIP URI`));
    assert.equal(ds.destinations(1).length, 2);
    await server.db.dispatcher.remove(bad.id);
    await ds.reload();
    assert.equal(ds.destinations(1).length, 2);
  });

  it('the example’s failure route: a destination answering 500 is marked, the call moves on', async () => {
    const callId = `ds-db-${process.pid}-${++sequence}`;
    const { peer: failing, msg } = await invite(callId);
    answer(failing, msg, 500, port);
    const { peer: next, msg: retried } = await arrival(uas, isRequest('INVITE', callId));
    assert.notEqual(next, failing);
    answer(next, retried, 200, port);
    assert.match(await caller.next(isFinal('INVITE', callId)), /^SIP\/2\.0 200 /);
    const marked = ds.destinations(1).find((d) => d.uri === uri(failing))!;
    assert.equal(marked.state, 'inactive', 'marked probing: inactive and probed');
  });
});

describe('dispatcher source: db, refused', () => {
  /** The module created on a bare core over `db`; resolves what its start did. */
  async function startOn(db: Storage, params: Record<string, unknown> = {}): Promise<DispatcherApi> {
    const core = {
      db,
      log: Logger.create({ level: 'error', sink: () => {} }),
      stats: new StatsRegistry(),
      module: () => {
        throw new Error('no tm here');
      },
    };
    const parsed = validate(dispatcherModule.params!, { source: 'db', ...params });
    assert.ok(parsed.ok);
    const instance = dispatcherModule.create(
      core as unknown as Parameters<typeof dispatcherModule.create>[0],
      parsed.value as Record<string, unknown>,
    );
    try {
      await instance.start?.();
    } finally {
      await instance.stop?.();
    }
    return instance.api;
  }

  it('a dispatcher table older than version 4 stops the start, naming it', async () => {
    const dir = tempDir('ds-db-old');
    const db = await openStorage(`sqlite:${join(dir.path, 'old.db')}`);
    try {
      await db.migrate();
      const api = await startOn(db);
      assert.equal(api.destinations().length, 0, 'an empty table: no sets');
      // as Kamailio 3.x's table would be recorded
      await db.dispatcher.add({ setid: 1, destination: 'sip:10.0.0.1' });
      const raw = new Database(join(dir.path, 'old.db'));
      raw.prepare("UPDATE version SET table_version = 3 WHERE table_name = 'dispatcher'").run();
      raw.close();
      await assert.rejects(startOn(db), /table dispatcher is at version 3 .*olelo needs 4/);
    } finally {
      await db.close();
      dir.remove();
    }
  });

  it('source db with a list is a configuration error', async () => {
    const dir = tempDir('ds-db-conf');
    const db = await openStorage(`sqlite:${join(dir.path, 'c.db')}`);
    try {
      await assert.rejects(startOn(db, { list: '1 sip:10.0.0.1' }), /source db .*remove listFile and list/);
    } finally {
      await db.close();
      dir.remove();
    }
  });
});

describe('dispatcher README', () => {
  it('its list example reads', () => {
    const list = /## The list[\s\S]*?```\n([\s\S]*?)```/.exec(README)?.[1];
    assert.ok(list, 'the README has a list example');
    const records = parseDispatcherList(list, 'README');
    assert.deepEqual(
      records.map((r) => [r.setId, r.uri, r.flags, r.priority]),
      [
        [1, 'sip:10.0.0.11:5060', 0, 0],
        [1, 'sip:10.0.0.12:5060', 0, 0],
        [1, 'sip:10.0.0.13:5060;transport=tcp', 8, 0],
        [2, 'sip:gw1.example.com', 0, 10],
        [2, 'sip:gw2.example.com', 0, 5],
      ],
    );
  });
});
