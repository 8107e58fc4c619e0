/**
 * usrloc db-only mode: the database-backed store has the in-memory store's semantics (matching, ordering,
 * limits, expiry) on SQLite and on a real PostgreSQL; two stores on one database behave as one location
 * service (two servers sharing the table); and two olelo servers sharing a database route a request
 * received by one to a UA registered through the other.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStorage, type Storage } from '../../src/db/index.js';
import { DatabaseLocationStore, type DatabaseStoreOptions } from '../../src/modules/usrloc/db-store.js';
import type { Binding, ContactInput } from '../../src/modules/usrloc/types.js';
import { type DbServer, startPostgres } from '../helpers/db-servers.js';
import { tempDir } from '../helpers/process.js';
import { UdpPeer } from '../helpers/server.js';
import {
  answer,
  contactsOf,
  registerRequest,
  registrarServer,
  request,
  sipRequest,
  transact,
} from '../registrar/helpers.js';

interface Backend {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The URL of a new, empty database. */
  freshUrl(): Promise<string>;
}

const dir = tempDir('usrloc-db-only');
after(() => dir.remove());
let files = 0;
let postgres: DbServer | undefined;

const backends: Backend[] = [
  {
    name: 'SQLite',
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    freshUrl: () => Promise.resolve(`sqlite:${join(dir.path, `location-${++files}.db`)}`),
  },
  {
    name: 'PostgreSQL',
    async start() {
      postgres = await startPostgres();
    },
    async stop() {
      await postgres?.stop();
    },
    freshUrl: () => postgres!.createDatabase(),
  },
];

const isRequest = (method: string) => (t: string) => t.startsWith(`${method} `);

/** Every item of an async iterable (Array.fromAsync is Node 22+). */
async function collect<T>(items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

for (const backend of backends) {
  describe(`usrloc db-only on ${backend.name}`, () => {
    const opened: Storage[] = [];
    const stores: DatabaseLocationStore[] = [];
    /** The store clock, in Unix seconds; tests move it. */
    let t = Math.floor(Date.now() / 1000);
    const clock = () => t * 1000;

    /** A fresh migrated database, and `count` connections to it (one per "server"). */
    const database = async (count = 1): Promise<Storage[]> => {
      const url = await backend.freshUrl();
      const dbs: Storage[] = [];
      for (let i = 0; i < count; i++) {
        const db = await openStorage(url);
        opened.push(db);
        if (i === 0) await db.migrate();
        dbs.push(db);
      }
      return dbs;
    };
    const store = (db: Storage, options: DatabaseStoreOptions = {}) => {
      const s = new DatabaseLocationStore(db.location, { useDomain: true, clock, serverId: 1, ...options });
      stores.push(s);
      return s;
    };
    const input = (contact: string, more: Partial<ContactInput> = {}): ContactInput => ({
      contact,
      expires: t + 3600,
      callId: 'call-1',
      cseq: 1,
      ...more,
    });

    before(() => backend.start());
    after(async () => {
      for (const s of stores) await s.stop();
      for (const db of opened) await db.close();
      await backend.stop();
    });

    describe('one store', () => {
      let db: Storage;
      let s: DatabaseLocationStore;
      before(async () => {
        [db] = (await database()) as [Storage];
        s = store(db);
      });

      it('saves a binding, finds it by RFC 3261 §19.1.4 comparison and refreshes the same row', async () => {
        const saved = await s.save(
          'alice@Example.COM',
          input('sip:alice@host.example.com;transport=udp;ob', {
            q: 500,
            userAgent: 'Phone/1.0',
            path: '<sip:edge.example.com;lr>',
            socket: 'udp:192.0.2.10:5060',
            received: 'sip:203.0.113.7:40000',
            methods: 0x1fff,
            flags: 2,
            cflags: 64,
            connectionId: 12,
            keepalive: 1,
          }),
        );
        assert.equal(saved.status, 'inserted');
        const ruid = saved.status === 'inserted' ? saved.binding.ruid : '';
        assert.match(ruid, /^uloc-1-[0-9a-f]{12}-1$/, 'the ruid carries the serverId');
        const found = await s.find('alice@example.com', {
          contact: 'sip:alice@HOST.example.com;ob;transport=udp',
        });
        assert.equal(found?.ruid, ruid, 'parameters in any order, host case-insensitive');
        assert.equal(
          await s.find('alice@example.com', { contact: 'sip:ALICE@host.example.com;transport=udp;ob' }),
          undefined,
          'the user part is case-sensitive',
        );
        const [binding] = await s.lookup('alice@example.com');
        assert.deepEqual(binding, {
          ruid,
          contact: 'sip:alice@host.example.com;transport=udp;ob',
          received: 'sip:203.0.113.7:40000',
          path: '<sip:edge.example.com;lr>',
          expires: t + 3600,
          q: 500,
          callId: 'call-1',
          cseq: 1,
          lastModified: t,
          flags: 2,
          cflags: 64,
          userAgent: 'Phone/1.0',
          socket: 'udp:192.0.2.10:5060',
          methods: 0x1fff,
          instance: '',
          regId: 0,
          serverId: 1,
          connectionId: 12,
          keepalive: 1,
        });

        const contact = 'sip:alice@host.example.com;ob;transport=udp';
        const refreshed = await s.save('alice@example.com', input(contact, { cseq: 2, expires: t + 60 }));
        assert.equal(refreshed.status, 'updated');
        assert.equal(refreshed.status === 'updated' && refreshed.binding.ruid, ruid);
        // RFC 3261 §10.3 step 7: same Call-ID, CSeq not higher
        assert.equal((await s.save('alice@example.com', input(contact, { cseq: 2 }))).status, 'out-of-order');
        assert.equal((await s.save('alice@example.com', input(contact, { cseq: 1 }))).status, 'out-of-order');
        const other = await s.save('alice@example.com', input(contact, { callId: 'call-2', cseq: 1 }));
        assert.equal(other.status, 'updated', 'a new Call-ID always wins');
        const rows = await db.location.lookup('alice', 'example.com');
        assert.deepEqual(
          rows.map((r) => [r.ruid, r.callId, r.cseq]),
          [[ruid, 'call-2', 1]],
          'one row, rewritten in place',
        );
      });

      it('keys an RFC 5626 flow by instance and reg-id, whatever its contact', async () => {
        const instance = '<urn:uuid:00000000-0000-1000-8000-000a95a0e128>';
        const first = await s.save(
          'bob@example.com',
          input('sip:bob@192.0.2.5:5060', { instance, regId: 1 }),
        );
        const moved = await s.save(
          'bob@example.com',
          input('sip:bob@192.0.2.6:5070', { instance, regId: 1, callId: 'call-2' }),
        );
        assert.equal(moved.status, 'updated');
        assert.equal(
          moved.status === 'updated' && first.status === 'inserted' && moved.binding.ruid,
          first.status === 'inserted' && first.binding.ruid,
        );
        const second = await s.save(
          'bob@example.com',
          input('sip:bob@192.0.2.6:5070', { instance, regId: 2 }),
        );
        assert.equal(second.status, 'inserted', 'another reg-id is another flow');
        assert.equal((await s.lookup('bob@example.com')).length, 2);
        assert.equal((await s.find('bob@example.com', { contact: 'x', instance, regId: 2 }))?.regId, 2);

        // GRUU registrars: an instance without reg-id matches by instance
        const gruu = store(db, { matchInstance: true });
        const i2 = '<urn:uuid:11111111-0000-1000-8000-000a95a0e128>';
        await gruu.save('carl@example.com', input('sip:carl@192.0.2.7', { instance: i2 }));
        const again = await gruu.save(
          'carl@example.com',
          input('sip:carl@192.0.2.8', { instance: i2, cseq: 2 }),
        );
        assert.equal(again.status, 'updated');
        assert.deepEqual(
          (await gruu.lookup('carl@example.com')).map((b) => b.contact),
          ['sip:carl@192.0.2.8'],
        );
      });

      it('orders lookups by q, best first, the most recently written first among equals', async () => {
        const aor = 'dora@example.com';
        const save = async (contact: string, q: number | undefined) => {
          await s.save(aor, input(contact, q === undefined ? {} : { q }));
          t++;
        };
        await save('sip:c1@192.0.2.1', 500);
        await save('sip:c2@192.0.2.1', undefined); // no q counts as 1.0
        await save('sip:c3@192.0.2.1', 1000);
        await save('sip:c4@192.0.2.1', 100);
        await save('sip:c5@192.0.2.1', 500);
        const order = async () => (await s.lookup(aor)).map((b) => b.contact.slice(4, 6));
        assert.deepEqual(await order(), ['c3', 'c2', 'c5', 'c1', 'c4']);
        await s.save(aor, input('sip:c1@192.0.2.1', { q: 500, cseq: 2 }));
        assert.deepEqual(await order(), ['c3', 'c2', 'c1', 'c5', 'c4'], 'a refresh makes it the newest');
      });

      it('never returns an expired binding; the sweep deletes it once and tells the listeners', async () => {
        const aor = 'erin@example.com';
        const told: Array<[string, Binding]> = [];
        s.onExpired((a, b) => told.push([a, b]));
        const old = await s.save(aor, input('sip:erin@192.0.2.1', { expires: t + 10 }));
        await s.save(aor, input('sip:erin@192.0.2.2', { expires: 0 }));
        const before = await s.counts();
        t += 10;
        assert.deepEqual(
          (await s.lookup(aor)).map((b) => b.contact),
          ['sip:erin@192.0.2.2'],
        );
        assert.equal(await s.find(aor, { contact: 'sip:erin@192.0.2.1' }), undefined);
        assert.deepEqual(await s.counts(), { users: before.users, contacts: before.contacts - 1 });
        assert.ok(
          !(await collect(s.records())).some((r) => r.contact === 'sip:erin@192.0.2.1'),
          'dump leaves it out',
        );
        const renewed = await s.save(aor, input('sip:erin@192.0.2.1', { cseq: 5 }));
        assert.equal(renewed.status, 'inserted', 'an expired binding is gone for save too');
        assert.equal(await s.expire(), 1);
        assert.equal(await s.expire(), 0);
        assert.equal(told.length, 1);
        assert.equal(told[0]![0], aor);
        assert.equal(told[0]![1].ruid, old.status === 'inserted' ? old.binding.ruid : '');
        assert.deepEqual(
          (await s.lookup(aor)).map((b) => b.contact),
          ['sip:erin@192.0.2.1', 'sip:erin@192.0.2.2'],
        );
      });

      it('refuses a new contact beyond maxContacts; refreshes still pass', async () => {
        const limited = store(db, { maxContacts: 2 });
        const aor = 'fred@example.com';
        assert.equal((await limited.save(aor, input('sip:f1@192.0.2.1'))).status, 'inserted');
        assert.equal((await limited.save(aor, input('sip:f2@192.0.2.1'))).status, 'inserted');
        assert.deepEqual(await limited.save(aor, input('sip:f3@192.0.2.1')), {
          status: 'too-many',
          limit: 2,
        });
        assert.equal((await limited.save(aor, input('sip:f2@192.0.2.1', { cseq: 2 }))).status, 'updated');
        t += 3601;
        assert.equal(
          (await limited.save(aor, input('sip:f3@192.0.2.1'))).status,
          'inserted',
          'expired ones do not count',
        );
      });

      it('removes a binding (with §10.3 ordering) and whole AORs', async () => {
        const aor = 'gina@example.com';
        await s.save(aor, input('sip:g1@192.0.2.1', { cseq: 5 }));
        await s.save(aor, input('sip:g2@192.0.2.1', { expires: 0 }));
        assert.equal(
          await s.remove(aor, { contact: 'sip:g1@192.0.2.1' }, { callId: 'call-1', cseq: 5 }),
          'out-of-order',
        );
        assert.equal(
          await s.remove(aor, { contact: 'sip:g1@192.0.2.1' }, { callId: 'call-1', cseq: 6 }),
          'removed',
        );
        assert.equal(await s.remove(aor, { contact: 'sip:g1@192.0.2.1' }), 'not-found');
        assert.equal(await s.removeAor('GINA@example.com'), 0, 'the user part is case-sensitive');
        assert.equal(await s.removeAor('gina@EXAMPLE.com'), 1);
        assert.deepEqual(await s.lookup(aor), []);
      });

      it('dumps and counts every AOR; without useDomain the AOR is the user alone', async () => {
        const plain = store(db, { useDomain: false, serverId: 5 });
        const saved = await plain.save('hugo@anywhere.example', input('sip:hugo@192.0.2.9'));
        assert.match(saved.status === 'inserted' ? saved.binding.ruid : '', /^uloc-5-/);
        assert.deepEqual(
          (await plain.lookup('hugo')).map((b) => b.contact),
          ['sip:hugo@192.0.2.9'],
        );
        const [row] = await db.location.lookup('hugo', '');
        assert.equal(row?.serverId, 5);
        const records = await collect(s.records());
        assert.ok(records.some((r) => r.username === 'hugo' && r.domain === ''));
        assert.deepEqual(
          records.filter((r) => r.username === 'erin').map((r) => [r.domain, r.contact]),
          [['example.com', 'sip:erin@192.0.2.2']],
          'the permanent binding stays; those that expired are left out',
        );
        const counts = await s.counts();
        const aors = new Set(records.map((r) => `${r.username}@${r.domain}`));
        assert.deepEqual(counts, { users: aors.size, contacts: records.length });
        const ruids = new Set(records.map((r) => r.ruid));
        assert.equal(ruids.size, records.length, 'ruids are unique');
      });
    });

    describe('two servers on one database', () => {
      let a: DatabaseLocationStore;
      let b: DatabaseLocationStore;
      let dbA: Storage;
      before(async () => {
        const [first, second] = (await database(2)) as [Storage, Storage];
        dbA = first;
        a = store(first, { serverId: 1, maxContacts: 3 });
        b = store(second, { serverId: 2, maxContacts: 3 });
      });

      it('finds on one what the other saved; a refresh through the other updates the same row', async () => {
        const saved = await a.save('ivan@example.com', input('sip:ivan@192.0.2.1', { connectionId: 7 }));
        const [seen] = await b.lookup('ivan@example.com');
        assert.equal(seen?.ruid, saved.status === 'inserted' ? saved.binding.ruid : '');
        assert.equal(seen?.serverId, 1);
        const refreshed = await b.save(
          'ivan@example.com',
          input('sip:ivan@192.0.2.1', { cseq: 2, connectionId: 9 }),
        );
        assert.equal(refreshed.status, 'updated');
        const rows = await dbA.location.lookup('ivan', 'example.com');
        assert.deepEqual(
          rows.map((r) => [r.ruid, r.cseq, r.serverId, r.connectionId]),
          [[seen?.ruid, 2, 2, 9]],
          'one row, now written by server 2 (whose connection it is)',
        );
        assert.equal((await a.find('ivan@example.com', { contact: 'sip:ivan@192.0.2.1' }))?.cseq, 2);
        assert.equal(await b.removeAor('ivan@example.com'), 1);
        assert.deepEqual(await a.lookup('ivan@example.com'), []);
      });

      it('keeps maxContacts across both when they save at once, and loses no binding', async () => {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            (i % 2 ? a : b).save('jane@example.com', input(`sip:j${i}@192.0.2.1`)),
          ),
        );
        const inserted = results.flatMap((r) => (r.status === 'inserted' ? [r.binding.ruid] : []));
        assert.equal(inserted.length, 3);
        assert.equal(results.filter((r) => r.status === 'too-many').length, 5);
        assert.deepEqual(
          new Set((await b.lookup('jane@example.com')).map((x) => x.ruid)),
          new Set(inserted),
          'every binding answered inserted is there',
        );
        // one contact saved through both at once ends up in one row
        const same = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            (i % 2 ? a : b).save('kate@example.com', input('sip:kate@192.0.2.1', { callId: `c${i}` })),
          ),
        );
        assert.equal(same.filter((r) => r.status === 'inserted').length, 1);
        assert.equal((await dbA.location.lookup('kate', 'example.com')).length, 1);
      });

      it('expires on the expiry owner only, and every row once when every server sweeps', async () => {
        const told: string[] = [];
        const owner = store(dbA, { serverId: 2, expiryServerId: 2, timerInterval: 30 });
        const other = store(dbA, { serverId: 1, expiryServerId: 2, timerInterval: 30 });
        assert.equal(owner.sweeps, true);
        assert.equal(other.sweeps, false);
        owner.onExpired((aor) => told.push(`owner ${aor}`));
        other.onExpired((aor) => told.push(`other ${aor}`));
        await other.save('liam@example.com', input('sip:liam@192.0.2.1', { expires: t + 5 }));
        t += 5;
        await other.start();
        await new Promise((resolve) => setTimeout(resolve, 100)); // a few ticks of the non-owner
        assert.equal((await dbA.location.lookup('liam', 'example.com')).length, 1, 'the non-owner left it');
        await owner.start();
        for (let i = 0; i < 100 && told.length === 0; i++)
          await new Promise((resolve) => setTimeout(resolve, 20));
        assert.deepEqual(told, ['owner liam@example.com']);
        assert.deepEqual(await dbA.location.lookup('liam', 'example.com'), []);
        await owner.stop();
        await other.stop();

        // every server sweeping: each expired row is deleted, and told, once
        const counted: string[] = [];
        a.onExpired((aor, x) => counted.push(`a ${aor} ${x.ruid}`));
        b.onExpired((aor, x) => counted.push(`b ${aor} ${x.ruid}`));
        for (let i = 0; i < 20; i++)
          await a.save(`m${i}@example.com`, input('sip:m@192.0.2.1', { expires: t + 1 }));
        t += 1;
        const [fromA, fromB] = await Promise.all([a.expire(), b.expire()]);
        assert.equal(fromA + fromB, 20);
        assert.equal(counted.length, 20);
        assert.equal(new Set(counted.map((c) => c.split(' ')[2])).size, 20);
      });
    });

    it('end to end: a UA registered through server A is reached through server B', async () => {
      const url = await backend.freshUrl();
      const yaml = (serverId: number) => `
database:
  url: "${url}"
modules:
  usrloc:
    mode: db-only
    useDomain: true
    maxContacts: 1
    serverId: ${serverId}
`;
      const serverA = await registrarServer(yaml(1));
      const serverB = await registrarServer(yaml(2));
      const ua = await UdpPeer.open();
      const caller = await UdpPeer.open();
      try {
        const contact = `<sip:nora@127.0.0.1:${ua.port}>`;
        const ok = await transact(
          ua,
          registerRequest('nora', ua.port, { contact, expires: 300, callId: 'reg-nora', cseq: 5 }),
          serverA.udpPort,
        );
        assert.equal(ok.status, 200);
        assert.deepEqual(
          contactsOf(ok).map((c) => c.uri),
          [`sip:nora@127.0.0.1:${ua.port}`],
        );
        // the registrar over the shared table, through the other server: the limit and the CSeq order hold
        const second = `<sip:nora@127.0.0.1:${caller.port}>`;
        const full = await transact(
          ua,
          registerRequest('nora', ua.port, { contact: second, expires: 300 }),
          serverB.udpPort,
        );
        assert.equal(full.status, 503);
        const stale = await transact(
          ua,
          registerRequest('nora', ua.port, { contact, expires: 300, callId: 'reg-nora', cseq: 4 }),
          serverB.udpPort,
        );
        assert.equal(stale.status, 500);

        const message = sipRequest({
          method: 'MESSAGE',
          uri: 'sip:nora@example.com',
          port: caller.port,
          to: '<sip:nora@example.com>',
          headers: ['Content-Type: text/plain'],
          body: 'hello through B',
        });
        caller.send(message, serverB.udpPort);
        const got = await ua.next(isRequest('MESSAGE'));
        assert.equal(request(got).requestUri, `sip:nora@127.0.0.1:${ua.port}`);
        ua.send(answer(got, 200, 'OK'), serverB.udpPort);
        assert.match(await caller.next((x) => x.startsWith('SIP/2.0 2')), /^SIP\/2\.0 200 /);

        // unregistered through B: A no longer finds her
        const gone = await transact(
          ua,
          registerRequest('nora', ua.port, { contact, expires: 0, callId: request(message).callId, cseq: 9 }),
          serverB.udpPort,
        );
        assert.equal(gone.status, 200);
        const missed = await transact(
          caller,
          sipRequest({ method: 'MESSAGE', uri: 'sip:nora@example.com', port: caller.port }),
          serverA.udpPort,
        );
        assert.equal(missed.status, 404);
      } finally {
        ua.close();
        caller.close();
        await serverA.stop();
        await serverB.stop();
      }
    });
  });
}
