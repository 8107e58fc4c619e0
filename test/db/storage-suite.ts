/**
 * The storage test suite every driver passes: migrations (empty database, idempotence, concurrent runs,
 * an existing Kamailio database), CRUD of subscribers, domains, aliases, location and dispatcher
 * destinations, and clear errors.
 * test/db/{sqlite,postgres,mariadb}.test.ts run it against each engine.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { migrations, openStorage, type Storage, StorageError } from '../../src/db/index.js';
import type { Dialect, LocationRow } from '../../src/db/types.js';
import { kamailioRows, kamailioTables } from './kamailio-fixture.js';

/** An engine the suite runs on. */
export interface Backend {
  readonly dialect: Dialect;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The URL of a new, empty database. */
  freshUrl(): Promise<string>;
  /** Runs statements on a database directly (not through olelo), returning the last one's rows. */
  sql(url: string, ...statements: string[]): Promise<Record<string, unknown>[]>;
  /** A URL of this engine that nothing answers (a closed port), with a password in it. */
  unreachableUrl(): Promise<string>;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const now = () => Math.floor(Date.now() / 1000);

/** Expects a StorageError with `code`; returns it. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StorageError, `expected a StorageError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a StorageError ${code}`);
}

function contact(overrides: Partial<LocationRow> = {}): LocationRow {
  return {
    ruid: 'ruid-1',
    username: 'alice',
    domain: 'example.com',
    contact: 'sip:alice@192.0.2.10:5060;transport=tcp',
    received: 'sip:203.0.113.7:40000;transport=tcp',
    path: '<sip:edge.example.com;lr>',
    expires: now() + 3600,
    q: 500,
    callId: 'call-id-1@host',
    cseq: 42,
    lastModified: now(),
    flags: 3,
    cflags: 64,
    userAgent: 'olelo-test/1.0',
    socket: 'tcp:192.0.2.1:5060',
    methods: 8191,
    instance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
    regId: 1,
    serverId: 7,
    connectionId: 1234,
    keepalive: 1,
    partition: 0,
    ...overrides,
  };
}

export function storageSuite(name: string, backend: Backend): void {
  describe(`storage on ${name}`, () => {
    const opened: Storage[] = [];
    /** Opens a database for the test; closed after the suite. */
    const open = async (url: string) => {
      const db = await openStorage(url, { connectTimeout: 5000, busyTimeout: 5000 });
      opened.push(db);
      return db;
    };
    /** A fresh, migrated database. */
    const fresh = async () => {
      const db = await open(await backend.freshUrl());
      await db.migrate();
      return db;
    };

    before(() => backend.start(), { timeout: 120_000 });
    after(async () => {
      await Promise.all(opened.map((db) => db.close()));
      await backend.stop();
    });

    describe('migrations', () => {
      it('create the Kamailio tables on an empty database and record their versions', async () => {
        const db = await open(await backend.freshUrl());
        assert.equal(db.dialect, backend.dialect);
        const report = await db.migrate();
        assert.deepEqual(report.applied.length, migrations.length);
        assert.deepEqual([...report.createdTables].sort(), [
          'address',
          'dbaliases',
          'dispatcher',
          'domain',
          'domain_attrs',
          'location',
          'location_attrs',
          'olelo_admin',
          'olelo_htable',
          'olelo_migrations',
          'subscriber',
          'version',
        ]);
        assert.deepEqual(report.tableVersions, {
          version: 1,
          subscriber: 7,
          domain: 2,
          dbaliases: 1,
          location: 9,
        });
        assert.deepEqual(
          (await db.appliedMigrations()).map((m) => m.id),
          migrations.map((m) => m.id),
        );
        const applied = (await db.appliedMigrations())[0]!;
        assert.ok(Math.abs(applied.appliedAt - now()) < 120, 'applied_at is now');
      });

      it('are idempotent: a second run, and a run from another connection, change nothing', async () => {
        const url = await backend.freshUrl();
        const first = await open(url);
        await first.migrate();
        await first.subscribers.add({ username: 'alice', domain: 'example.com', password: 'pw' });
        const again = await first.migrate();
        assert.deepEqual(again.applied, []);
        assert.deepEqual(again.createdTables, []);
        const second = await open(url);
        const third = await second.migrate();
        assert.deepEqual(third.applied, []);
        assert.deepEqual(third.createdTables, []);
        assert.equal((await second.subscribers.list()).length, 1);
        assert.deepEqual(await second.tableVersions(), {
          version: 1,
          subscriber: 7,
          domain: 2,
          domain_attrs: 1,
          dbaliases: 1,
          location: 9,
          location_attrs: 1,
          dispatcher: 4,
          address: 6,
        });
      });

      it('wait for each other when several processes start at once', async () => {
        const url = await backend.freshUrl();
        const dbs = await Promise.all([open(url), open(url), open(url)]);
        const reports = await Promise.all(dbs.map((db) => db.migrate()));
        assert.equal(
          reports.reduce((n, r) => n + r.applied.length, 0),
          migrations.length,
          'each migration applied once',
        );
        assert.deepEqual(
          (await dbs[0]!.appliedMigrations()).map((m) => m.id),
          migrations.map((m) => m.id),
        );
      });

      it('leave an existing Kamailio database as it is and read what Kamailio wrote', async () => {
        const url = await backend.freshUrl();
        const ha1 = md5('carol:kamailio.test:carolpw');
        const ha1b = md5('carol@kamailio.test:kamailio.test:carolpw');
        const written = 1_900_000_000; // 2030-03-17, as usrloc would write it
        await backend.sql(
          url,
          ...kamailioTables(backend.dialect),
          ...kamailioRows(backend.dialect, ha1, ha1b, written),
        );
        const db = await open(url);
        const report = await db.migrate();
        // the fixture has no dispatcher table (the dispatcher section shows one kept) and no olelo_* table
        assert.deepEqual(
          report.createdTables,
          ['olelo_migrations', 'dispatcher', 'olelo_admin', 'olelo_htable', 'address'],
          'no Kamailio table recreated',
        );
        assert.deepEqual(report.applied.length, migrations.length);
        const versions = await db.tableVersions();
        assert.deepEqual(versions, {
          version: 1,
          subscriber: 7,
          domain: 2,
          domain_attrs: 1,
          dbaliases: 1,
          location: 9,
          location_attrs: 1,
          acc: 5,
          dispatcher: 4,
          address: 6,
        });

        const carol = await db.subscribers.get('carol', 'kamailio.test');
        assert.ok(carol);
        assert.equal(carol.password, 'carolpw');
        assert.equal(carol.ha1, ha1);
        assert.equal(carol.ha1b, ha1b);
        assert.equal(carol.emailAddress, undefined);
        assert.equal(carol.created, undefined, 'kamctl does not write datetime_created');
        assert.deepEqual(
          (await db.domains.list()).map((d) => d.domain),
          ['kamailio.test'],
        );
        assert.deepEqual(
          (await db.aliases.lookup('1000', 'kamailio.test')).map((a) => `${a.username}@${a.domain}`),
          ['carol@kamailio.test'],
        );
        const [row, permanent] = await db.location.lookup('carol', '');
        assert.ok(
          row && permanent,
          'contacts written without domain (use_domain=0) are found with domain ""',
        );
        assert.equal(row.lastModified, written);
        assert.equal(row.expires, written + 60);
        assert.equal(row.q, -1, 'Kamailio writes no q as -1');
        assert.equal(row.methods, 8191);
        assert.equal(row.connectionId, -1);
        assert.equal(row.received, '');
        assert.equal(row.instance, '');
        assert.equal(permanent.expires, 0, 'a permanent contact');
        assert.equal(permanent.q, 500);
        assert.equal((await db.domains.list())[0]?.lastModified, written);
        // olelo's expiry and Kamailio's rows compare in SQL: the expired one goes, the permanent one stays
        assert.equal(await db.location.deleteExpired(written + 61), 1);
        assert.deepEqual(
          (await db.location.lookup('carol', '')).map((r) => r.ruid),
          ['uloc-2'],
        );

        // kamctl keeps working after olelo's additions: its INSERT names only Kamailio's columns
        await backend.sql(
          url,
          "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ('dave', 'kamailio.test', 'x', 'h', 'hb')",
        );
        assert.equal((await db.subscribers.get('dave', 'kamailio.test'))?.ha1, 'h');
        await db.subscribers.add({
          username: 'erin',
          domain: 'kamailio.test',
          password: 'erinpw',
          emailAddress: 'e@x',
        });
        const rows = await backend.sql(
          url,
          "SELECT username, ha1 FROM subscriber WHERE domain = 'kamailio.test' ORDER BY username",
        );
        assert.deepEqual(
          rows.map((r) => r.username),
          ['carol', 'dave', 'erin'],
        );
        assert.equal(rows[2]!.ha1, md5('erin:kamailio.test:erinpw'));
        // a second start changes nothing
        assert.deepEqual((await db.migrate()).applied, []);
      });

      it('work with the Kamailio 4.x subscriber table (version 6, email_address NOT NULL)', async () => {
        const url = await backend.freshUrl();
        await backend.sql(url, ...kamailioTables(backend.dialect, { subscriberVersion: 6 }));
        const db = await open(url);
        await db.migrate();
        const added = await db.subscribers.add({
          username: 'frank',
          domain: 'kamailio.test',
          password: 'pw',
        });
        assert.equal(added.emailAddress, undefined);
        await db.subscribers.add({
          username: 'gina',
          domain: 'kamailio.test',
          password: 'pw',
          emailAddress: 'g@x',
        });
        assert.equal((await db.subscribers.get('gina', 'kamailio.test'))?.emailAddress, 'g@x');
        assert.equal((await db.tableVersions()).subscriber, 6, 'the version row is Kamailio’s to change');
      });

      it('refuse a Kamailio table older than olelo can use, naming it', async () => {
        const url = await backend.freshUrl();
        await backend.sql(
          url,
          ...kamailioTables(backend.dialect),
          "UPDATE version SET table_version = 6 WHERE table_name = 'location'",
        );
        const db = await open(url);
        const error = await rejectsWith(db.migrate(), 'schema');
        assert.match(error.message, /table location is at version 6 .*needs 8 or later/);
      });
    });

    describe('subscribers', () => {
      let db: Storage;
      before(async () => {
        db = await fresh();
      });

      it('stores the password and computes ha1 = MD5(user:realm:pass) and ha1b = MD5(user@domain:realm:pass)', async () => {
        const alice = await db.subscribers.add({
          username: 'alice',
          domain: 'Example.COM',
          password: 'secret',
          emailAddress: 'alice@example.com',
        });
        assert.equal(alice.username, 'alice');
        assert.equal(alice.domain, 'example.com', 'domains are lower-cased');
        assert.equal(alice.password, 'secret');
        assert.equal(alice.ha1, md5('alice:example.com:secret'));
        assert.equal(alice.ha1b, md5('alice@example.com:example.com:secret'));
        assert.equal(alice.emailAddress, 'alice@example.com');
        assert.ok(alice.created !== undefined && Math.abs(alice.created - now()) < 120);
        assert.deepEqual(await db.subscribers.get('alice', 'example.com'), alice);
        assert.deepEqual(await db.subscribers.get('alice', 'EXAMPLE.com'), alice);
        assert.equal(await db.subscribers.get('nobody', 'example.com'), undefined);
      });

      it('refuses an account that exists', async () => {
        await db.subscribers.add({ username: 'bob', domain: 'example.com', password: 'a' });
        const error = await rejectsWith(
          db.subscribers.add({ username: 'bob', domain: 'example.com', password: 'b' }),
          'exists',
        );
        assert.match(error.message, /user bob@example\.com exists already/);
        assert.equal((await db.subscribers.get('bob', 'example.com'))?.password, 'a');
      });

      it('keeps only the hashes when asked, or takes precomputed ones', async () => {
        const hashed = await db.subscribers.add({
          username: 'hashonly',
          domain: 'example.com',
          password: 'pw',
          storePassword: false,
        });
        assert.equal(hashed.password, undefined);
        assert.equal(hashed.ha1, md5('hashonly:example.com:pw'));
        const given = await db.subscribers.add({
          username: 'given',
          domain: 'example.com',
          ha1: 'a'.repeat(32),
          ha1b: 'b'.repeat(32),
        });
        assert.equal(given.password, undefined);
        assert.equal(given.ha1, 'a'.repeat(32));
        assert.equal(given.ha1b, 'b'.repeat(32));
      });

      it('changes a password with its hashes; false for an unknown account', async () => {
        await db.subscribers.add({ username: 'carl', domain: 'example.com', password: 'old' });
        assert.equal(await db.subscribers.setPassword('carl', 'example.com', 'new'), true);
        const carl = await db.subscribers.get('carl', 'example.com');
        assert.equal(carl?.password, 'new');
        assert.equal(carl?.ha1, md5('carl:example.com:new'));
        assert.equal(carl?.ha1b, md5('carl@example.com:example.com:new'));
        assert.equal(
          await db.subscribers.setPassword('carl', 'example.com', 'new'),
          true,
          'same password again',
        );
        assert.equal(await db.subscribers.setPassword('nobody', 'example.com', 'x'), false);
      });

      it('lists by domain then username, and removes', async () => {
        await db.subscribers.add({ username: 'zed', domain: 'a.example', password: 'x' });
        const all = (await db.subscribers.list()).map((s) => `${s.username}@${s.domain}`);
        assert.deepEqual(
          all,
          [...all].sort((x, y) => {
            const [ux, dx] = x.split('@') as [string, string];
            const [uy, dy] = y.split('@') as [string, string];
            return dx.localeCompare(dy) || ux.localeCompare(uy);
          }),
        );
        assert.equal(all[0], 'zed@a.example');
        assert.deepEqual(
          (await db.subscribers.list({ domain: 'A.example' })).map((s) => s.username),
          ['zed'],
        );
        assert.equal(await db.subscribers.remove('zed', 'a.example'), true);
        assert.equal(await db.subscribers.remove('zed', 'a.example'), false);
        assert.deepEqual(await db.subscribers.list({ domain: 'a.example' }), []);
      });

      it('keeps user parts and passwords with non-ASCII characters', async () => {
        const user = await db.subscribers.add({
          username: 'jürgen',
          domain: 'example.com',
          password: 'pässwört',
        });
        assert.equal(user.ha1, md5('jürgen:example.com:pässwört'));
        assert.equal((await db.subscribers.get('jürgen', 'example.com'))?.password, 'pässwört');
      });
    });

    describe('domains and aliases', () => {
      let db: Storage;
      before(async () => {
        db = await fresh();
      });

      it('adds, lists, finds and removes domains', async () => {
        const added = await db.domains.add('Example.com');
        assert.equal(added.domain, 'example.com');
        assert.equal(added.did, undefined);
        assert.ok(Math.abs(added.lastModified - now()) < 120);
        await db.domains.add('b.example', 'did-b');
        await rejectsWith(db.domains.add('EXAMPLE.com'), 'exists');
        assert.deepEqual(
          (await db.domains.list()).map((d) => [d.domain, d.did]),
          [
            ['b.example', 'did-b'],
            ['example.com', undefined],
          ],
        );
        assert.equal(await db.domains.has('EXAMPLE.COM'), true);
        assert.equal(await db.domains.remove('example.com'), true);
        assert.equal(await db.domains.remove('example.com'), false);
        assert.equal(await db.domains.has('example.com'), false);
      });

      it('adds, looks up, lists and removes aliases', async () => {
        const alias = await db.aliases.add({
          aliasUsername: '1000',
          aliasDomain: 'Example.com',
          username: 'alice',
          domain: 'example.com',
        });
        assert.deepEqual(
          { ...alias, id: 0 },
          {
            id: 0,
            aliasUsername: '1000',
            aliasDomain: 'example.com',
            username: 'alice',
            domain: 'example.com',
          },
        );
        await db.aliases.add({
          aliasUsername: 'sales',
          aliasDomain: 'example.com',
          username: 'alice',
          domain: 'example.com',
        });
        await db.aliases.add({
          aliasUsername: 'help',
          aliasDomain: 'example.com',
          username: 'bob',
          domain: 'example.com',
        });
        const error = await rejectsWith(
          db.aliases.add({
            aliasUsername: '1000',
            aliasDomain: 'example.com',
            username: 'bob',
            domain: 'example.com',
          }),
          'exists',
        );
        assert.match(error.message, /alias 1000@example\.com exists already/);
        assert.deepEqual(
          (await db.aliases.lookup('1000', 'EXAMPLE.com')).map((a) => a.username),
          ['alice'],
        );
        assert.deepEqual(await db.aliases.lookup('nobody', 'example.com'), []);
        assert.deepEqual(
          (await db.aliases.list({ username: 'alice', domain: 'example.com' })).map((a) => a.aliasUsername),
          ['1000', 'sales'],
        );
        assert.equal((await db.aliases.list()).length, 3);
        assert.equal(await db.aliases.remove('sales', 'example.com'), 1);
        assert.equal(await db.aliases.remove('sales', 'example.com'), 0);
        assert.equal((await db.aliases.list()).length, 2);
      });
    });

    describe('location', () => {
      let db: Storage;
      let url: string;
      before(async () => {
        url = await backend.freshUrl();
        db = await open(url);
        await db.migrate();
      });

      it('stores every field of a contact and reads it back the same', async () => {
        const row = contact();
        await db.location.upsert([row]);
        assert.deepEqual(await db.location.lookup('alice', 'example.com'), [row]);
      });

      it('replaces a contact by ruid', async () => {
        const updated = contact({ cseq: 43, expires: now() + 7200, userAgent: 'new-ua', q: 1000 });
        await db.location.upsert([updated]);
        assert.deepEqual(await db.location.lookup('alice', 'example.com'), [updated]);
      });

      it('writes absent values as NULL, as Kamailio does, and reads them back absent', async () => {
        const bare = contact({
          ruid: 'ruid-bare',
          username: 'nodomain',
          domain: '',
          received: '',
          path: '',
          socket: '',
          instance: '',
          methods: -1,
          regId: 0,
          q: -1,
        });
        await db.location.upsert([bare]);
        assert.deepEqual(await db.location.lookup('nodomain', ''), [bare]);
        const [raw] = await backend.sql(
          url,
          "SELECT domain, received, path, socket, instance, methods, q FROM location WHERE ruid = 'ruid-bare'",
        );
        assert.deepEqual(
          [raw!.domain, raw!.received, raw!.path, raw!.socket, raw!.instance, raw!.methods],
          [null, null, null, null, null, null],
        );
        assert.equal(Number(raw!.q), -1, 'no q is stored as -1, as Kamailio does');
        const [stored] = await backend.sql(url, "SELECT q FROM location WHERE ruid = 'ruid-1'");
        assert.equal(Number(stored!.q), 1, 'q is stored as a fraction');
      });

      it('upserts a batch, loads everything, deletes by ruid, by AOR and when expired', async () => {
        const t = now();
        await db.location.upsert([
          contact({ ruid: 'b-1', username: 'bob', contact: 'sip:bob@192.0.2.20', expires: t - 10 }),
          contact({ ruid: 'b-2', username: 'bob', contact: 'sip:bob@192.0.2.21', expires: t + 600 }),
          contact({ ruid: 'b-3', username: 'bob', contact: 'sip:bob@192.0.2.22', expires: 0 }),
          contact({ ruid: 'c-1', username: 'carol', contact: 'sip:carol@192.0.2.30', expires: t - 1 }),
        ]);
        const all = await db.location.loadAll();
        assert.deepEqual(
          all.map((r) => r.ruid),
          ['ruid-1', 'b-1', 'b-2', 'b-3', 'c-1', 'ruid-bare'],
        );
        assert.equal(all.find((r) => r.ruid === 'b-3')?.expires, 0, 'a permanent contact keeps expires 0');
        assert.equal(await db.location.deleteExpired(t), 2);
        assert.deepEqual(
          (await db.location.lookup('bob', 'example.com')).map((r) => r.ruid),
          ['b-2', 'b-3'],
        );
        await db.location.delete(['b-2', 'unknown-ruid']);
        assert.deepEqual(
          (await db.location.lookup('bob', 'example.com')).map((r) => r.ruid),
          ['b-3'],
        );
        assert.equal(await db.location.deleteAor('bob', 'example.com'), 1);
        assert.equal(await db.location.deleteAor('bob', 'example.com'), 0);
        assert.equal(await db.location.deleteAor('nodomain', ''), 1);
        assert.deepEqual(
          (await db.location.loadAll()).map((r) => r.ruid),
          ['ruid-1'],
        );
      });

      it('deletes a large batch of ruids', async () => {
        const rows = Array.from({ length: 1200 }, (_, i) =>
          contact({ ruid: `bulk-${i}`, username: `bulk${i % 10}`, contact: `sip:u${i}@192.0.2.1` }),
        );
        await db.location.upsert(rows);
        assert.equal((await db.location.loadAll()).length, 1201);
        await db.location.delete(rows.map((r) => r.ruid));
        assert.equal((await db.location.loadAll()).length, 1);
      });
    });

    describe('location shared by several servers', () => {
      let url: string;
      let first: Storage;
      let second: Storage;
      before(async () => {
        url = await backend.freshUrl();
        first = await open(url);
        await first.migrate();
        second = await open(url);
      });

      it('updateAor reads an AOR and writes it in turns: concurrent read-modify-writes lose nothing', async () => {
        await first.location.upsert([contact({ ruid: 'turns', username: 'turns', cseq: 0 })]);
        const bump = (db: Storage) =>
          db.location.updateAor('turns', 'example.com', async (rows, writes) => {
            const [row] = rows;
            assert.ok(row);
            await new Promise((resolve) => setTimeout(resolve, 2)); // let the other one try meanwhile
            await writes.upsert([{ ...row, cseq: row.cseq + 1 }]);
            return row.cseq;
          });
        const seen = await Promise.all(Array.from({ length: 20 }, (_, i) => bump(i % 2 ? first : second)));
        assert.deepEqual(
          [...seen].sort((a, b) => a - b),
          Array.from({ length: 20 }, (_, i) => i),
        );
        assert.equal((await second.location.lookup('turns', 'example.com'))[0]?.cseq, 20);
      });

      it('updateAor inserts into an empty AOR in turns, and rolls back when its function throws', async () => {
        const add = (db: Storage, n: number) =>
          db.location.updateAor('few', '', async (rows, writes) => {
            if (rows.length >= 3) return false; // a limit of 3 contacts, checked and kept
            await new Promise((resolve) => setTimeout(resolve, 2));
            await writes.upsert([contact({ ruid: `few-${n}`, username: 'few', domain: '' })]);
            return true;
          });
        const added = await Promise.all(Array.from({ length: 8 }, (_, i) => add(i % 2 ? first : second, i)));
        assert.equal(added.filter(Boolean).length, 3);
        assert.equal((await first.location.lookup('few', '')).length, 3);
        await assert.rejects(
          first.location.updateAor('few', '', async (rows, writes) => {
            await writes.delete(rows.map((r) => r.ruid));
            throw new Error('changed my mind');
          }),
          /changed my mind/,
        );
        assert.equal((await second.location.lookup('few', '')).length, 3, 'the delete was rolled back');
      });

      it('takeExpired deletes expired rows and hands each to exactly one caller; counts sees live ones', async () => {
        const t = now();
        await first.location.deleteAor('turns', 'example.com');
        await first.location.deleteAor('few', '');
        const expired = Array.from({ length: 30 }, (_, i) =>
          contact({ ruid: `old-${i}`, username: `old${i % 7}`, expires: t - 100 + i }),
        );
        await first.location.upsert([
          ...expired,
          contact({ ruid: 'live-1', username: 'live', expires: t + 600 }),
          contact({ ruid: 'live-2', username: 'live', contact: 'sip:live@192.0.2.2', expires: 0 }),
          contact({ ruid: 'live-3', username: 'other', domain: '', expires: t + 600 }),
        ]);
        assert.deepEqual(await first.location.counts(t), { users: 2, contacts: 3 });
        assert.deepEqual(await first.location.counts(t - 200), { users: 9, contacts: 33 });
        const takers = await Promise.all([
          first.location.takeExpired(t, 4),
          second.location.takeExpired(t, 50),
          first.location.takeExpired(t, 50),
        ]);
        const taken = takers.flat().map((r) => r.ruid);
        assert.equal(taken.length, 30, 'every expired row taken once');
        assert.deepEqual(new Set(taken), new Set(expired.map((r) => r.ruid)));
        assert.equal(takers[0]!.length <= 4, true, 'at most limit rows per call');
        assert.deepEqual(
          takers.flat().find((r) => r.ruid === 'old-3'),
          expired[3],
          'the rows come back whole',
        );
        assert.deepEqual(await second.location.takeExpired(t, 50), []);
        assert.deepEqual(
          (await first.location.loadAll()).map((r) => r.ruid),
          ['live-1', 'live-2', 'live-3'],
        );
      });
    });

    describe('dashboard administrators', () => {
      let db: Storage;
      before(async () => {
        db = await fresh();
      });

      it('adds with an scrypt hash, verifies, changes the password, lists and removes', async () => {
        const added = await db.admins.add('ops', 'first-secret');
        assert.equal(added.username, 'ops');
        assert.ok(Math.abs(added.created - Date.now() / 1000) < 5);
        await assert.rejects(
          db.admins.add('ops', 'other'),
          (e: unknown) => e instanceof StorageError && e.code === 'exists',
        );
        assert.equal(await db.admins.verify('ops', 'first-secret'), true);
        assert.equal(await db.admins.verify('ops', 'First-secret'), false);
        assert.equal(await db.admins.verify('nobody', 'first-secret'), false);
        assert.equal(await db.admins.setPassword('ops', 'second-secret'), true);
        assert.equal(await db.admins.setPassword('nobody', 'x'), false);
        assert.equal(await db.admins.verify('ops', 'first-secret'), false);
        assert.equal(await db.admins.verify('ops', 'second-secret'), true);
        await db.admins.add('auditor', 'third-secret');
        const list = await db.admins.list();
        assert.deepEqual(
          list.map((a) => a.username),
          ['auditor', 'ops'],
        );
        assert.equal(list[1]!.created, added.created);
        assert.ok(!JSON.stringify(list).includes('scrypt'), 'no hash handed out');
        assert.equal(await db.admins.remove('ops'), true);
        assert.equal(await db.admins.remove('ops'), false);
        assert.equal(await db.admins.verify('ops', 'second-secret'), false);
      });
    });

    describe('htable items (olelo_htable)', () => {
      let db: Storage;
      before(async () => {
        db = await fresh();
      });

      it('writes, updates, deletes and loads items per table, strings and numbers, skipping expired ones', async () => {
        const later = Math.floor(Date.now() / 1000) + 3600;
        await db.htables.write(
          'ipban',
          [
            { key: '192.0.2.1', value: 1, expires: later },
            { key: '2001:db8::1', value: 'banned ünïcode', expires: 0 },
            { key: 'gone', value: 5, expires: Math.floor(Date.now() / 1000) - 10 },
          ],
          [],
        );
        await db.htables.write('other', [{ key: '192.0.2.1', value: -7.5, expires: 0 }], []);
        assert.deepEqual(await db.htables.load('ipban'), [
          { key: '192.0.2.1', value: 1, expires: later },
          { key: '2001:db8::1', value: 'banned ünïcode', expires: 0 },
        ]);
        // an upsert of an existing key, and a delete, in one write
        await db.htables.write(
          'ipban',
          [{ key: '192.0.2.1', value: 'now a string', expires: 0 }],
          ['2001:db8::1'],
        );
        assert.deepEqual(await db.htables.load('ipban'), [
          { key: '192.0.2.1', value: 'now a string', expires: 0 },
        ]);
        assert.deepEqual(await db.htables.load('other'), [{ key: '192.0.2.1', value: -7.5, expires: 0 }]);
        await db.htables.clear('ipban');
        assert.deepEqual(await db.htables.load('ipban'), []);
        assert.equal((await db.htables.load('other')).length, 1, 'another table is kept');
      });

      it('leaves out items too long for the columns instead of failing the whole batch', async () => {
        const longKey = 'k'.repeat(129);
        const longValue = 'v'.repeat(256);
        const skipped = await db.htables.write(
          'long',
          [
            { key: longKey, value: 1, expires: 0 },
            { key: 'fits', value: 'ok', expires: 0 },
            { key: 'long-value', value: longValue, expires: 0 },
            { key: 'k'.repeat(128), value: 'v'.repeat(255), expires: 0 },
          ],
          [longKey],
        );
        assert.deepEqual(skipped, [longKey, 'long-value']);
        assert.deepEqual(
          (await db.htables.load('long')).map((r) => r.key).sort(),
          ['fits', 'k'.repeat(128)].sort(),
        );
      });
    });

    describe('trusted addresses (address)', () => {
      let db: Storage;
      before(async () => {
        db = await fresh();
      });

      it('adds rows with Kamailio defaults, lists them by group then id, removes by id', async () => {
        const a = await db.addresses.add({
          grp: 2,
          ipAddr: '192.0.2.0',
          mask: 24,
          port: 5060,
          tag: 'carrier-a',
        });
        assert.deepEqual(
          { ...a, id: 0 },
          { id: 0, grp: 2, ipAddr: '192.0.2.0', mask: 24, port: 5060, tag: 'carrier-a' },
        );
        const b = await db.addresses.add({ ipAddr: '2001:db8::10', mask: 128 });
        assert.deepEqual(
          { ...b, id: 0 },
          { id: 0, grp: 1, ipAddr: '2001:db8::10', mask: 128, port: 0, tag: '' },
        );
        const c = await db.addresses.add({ ipAddr: '198.51.100.7' });
        assert.equal(c.mask, 32, "Kamailio's default mask");
        assert.ok(a.id !== b.id && b.id !== c.id);
        assert.deepEqual(
          (await db.addresses.list()).map((r) => r.ipAddr),
          ['2001:db8::10', '198.51.100.7', '192.0.2.0'],
        );
        assert.deepEqual(
          (await db.addresses.list({ grp: 2 })).map((r) => r.id),
          [a.id],
        );
        assert.equal(await db.addresses.remove(b.id), true);
        assert.equal(await db.addresses.remove(b.id), false);
        assert.deepEqual(
          (await db.addresses.list()).map((r) => r.id),
          [c.id, a.id],
        );
        await assert.rejects(db.addresses.add({ ipAddr: '192.0.2.1', port: 70000 }), { code: 'query' });
        await assert.rejects(db.addresses.add({ ipAddr: '192.0.2.1', tag: 'x'.repeat(65) }), {
          code: 'query',
        });
      });
    });

    describe('dispatcher', () => {
      let db: Storage;
      before(async () => {
        db = await fresh();
      });

      it('adds destinations with their new ids, lists them by set then id, gets and removes by id', async () => {
        const a = await db.dispatcher.add({
          setid: 2,
          destination: 'sip:10.0.0.21:5060',
          flags: 8,
          priority: 5,
          attrs: 'weight=50;duid=a',
          description: 'gateway A',
        });
        assert.deepEqual(
          { ...a, id: 0 },
          {
            id: 0,
            setid: 2,
            destination: 'sip:10.0.0.21:5060',
            flags: 8,
            priority: 5,
            attrs: 'weight=50;duid=a',
            description: 'gateway A',
          },
        );
        const b = await db.dispatcher.add({ setid: 1, destination: 'sip:10.0.0.11' });
        assert.deepEqual(
          { ...b, id: 0 },
          {
            id: 0,
            setid: 1,
            destination: 'sip:10.0.0.11',
            flags: 0,
            priority: 0,
            attrs: '',
            description: '',
          },
          'absent numbers are 0, absent texts empty',
        );
        const c = await db.dispatcher.add({ setid: 2, destination: 'sip:gw.example.com;transport=tcp' });
        assert.ok(a.id < c.id && b.id !== a.id && b.id !== c.id, 'new ids, increasing');
        assert.deepEqual(
          (await db.dispatcher.list()).map((d) => d.id),
          [b.id, a.id, c.id],
        );
        assert.deepEqual(
          (await db.dispatcher.list({ setid: 2 })).map((d) => d.destination),
          ['sip:10.0.0.21:5060', 'sip:gw.example.com;transport=tcp'],
        );
        assert.deepEqual(await db.dispatcher.list({ setid: 9 }), []);
        assert.deepEqual(await db.dispatcher.get(a.id), a);
        assert.equal(await db.dispatcher.get(a.id + 1000), undefined);
        assert.equal(await db.dispatcher.remove(a.id), true);
        assert.equal(await db.dispatcher.remove(a.id), false);
        assert.equal(await db.dispatcher.get(a.id), undefined);
        assert.deepEqual(
          (await db.dispatcher.list()).map((d) => d.id),
          [b.id, c.id],
        );
      });

      it('adds concurrently, each destination with its own id', async () => {
        const added = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            db.dispatcher.add({ setid: 7, destination: `sip:10.0.7.${i}`, priority: i }),
          ),
        );
        for (const d of added) assert.equal((await db.dispatcher.get(d.id))?.priority, d.priority);
        assert.equal(new Set(added.map((d) => d.id)).size, 12);
        assert.equal((await db.dispatcher.list({ setid: 7 })).length, 12);
      });

      it('refuses what the columns cannot hold, on every engine', async () => {
        const base = { setid: 3, destination: 'sip:10.0.0.31' };
        await rejectsWith(db.dispatcher.add({ ...base, destination: `sip:${'a'.repeat(189)}` }), 'query');
        await rejectsWith(db.dispatcher.add({ ...base, attrs: `duid=${'x'.repeat(124)}` }), 'query');
        await rejectsWith(db.dispatcher.add({ ...base, description: 'd'.repeat(65) }), 'query');
        await rejectsWith(db.dispatcher.add({ ...base, destination: '' }), 'query');
        await rejectsWith(db.dispatcher.add({ ...base, setid: 1.5 }), 'query');
        await rejectsWith(db.dispatcher.add({ ...base, flags: 2 ** 31 }), 'query');
        assert.deepEqual(await db.dispatcher.list({ setid: 3 }), []);
        // the limits themselves fit, counted in characters
        const longest = await db.dispatcher.add({
          ...base,
          destination: `sip:${'a'.repeat(188)}`,
          attrs: `duid=${'x'.repeat(123)}`,
          description: 'é'.repeat(64),
        });
        assert.equal((await db.dispatcher.get(longest.id))?.description, 'é'.repeat(64));
      });

      it('keeps a dispatcher table Kamailio made, and reads and writes its rows', async () => {
        const url = await backend.freshUrl();
        const mysql = backend.dialect === 'mysql';
        const id = mysql
          ? 'id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY'
          : backend.dialect === 'postgres'
            ? 'id SERIAL PRIMARY KEY'
            : 'id INTEGER PRIMARY KEY';
        await backend.sql(
          url,
          ...kamailioTables(backend.dialect),
          `CREATE TABLE dispatcher (${id}, setid INTEGER NOT NULL DEFAULT 0,
            destination VARCHAR(192) NOT NULL DEFAULT '', flags INTEGER NOT NULL DEFAULT 0,
            priority INTEGER NOT NULL DEFAULT 0, attrs VARCHAR(128) NOT NULL DEFAULT '',
            description VARCHAR(64) NOT NULL DEFAULT '')`,
          "INSERT INTO version (table_name, table_version) VALUES ('dispatcher', 4)",
          // as an operator's INSERT leaves it: only the columns given, the rest their defaults
          "INSERT INTO dispatcher (setid, destination) VALUES (1, 'sip:10.1.0.1:5060')",
          "INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES (1, 'sip:10.1.0.2:5060', 8, 10, 'weight=30;duid=k2', 'kamailio row')",
        );
        const kdb = await open(url);
        const report = await kdb.migrate();
        assert.ok(!report.createdTables.includes('dispatcher'), 'the table is kept');
        assert.equal((await kdb.tableVersions()).dispatcher, 4);
        const rows = await kdb.dispatcher.list({ setid: 1 });
        assert.deepEqual(
          rows.map(({ id: _, ...r }) => r),
          [
            { setid: 1, destination: 'sip:10.1.0.1:5060', flags: 0, priority: 0, attrs: '', description: '' },
            {
              setid: 1,
              destination: 'sip:10.1.0.2:5060',
              flags: 8,
              priority: 10,
              attrs: 'weight=30;duid=k2',
              description: 'kamailio row',
            },
          ],
        );
        const added = await kdb.dispatcher.add({
          setid: 1,
          destination: 'sip:10.1.0.3:5060',
          attrs: 'duid=o3',
        });
        assert.ok(added.id > rows[1]!.id);
        // what Kamailio's dispatcher would read (its query names the columns)
        const raw = await backend.sql(
          url,
          'SELECT id, setid, destination, flags, priority, attrs, description FROM dispatcher ORDER BY id',
        );
        assert.deepEqual(
          raw.map((r) => [Number(r.setid), r.destination, Number(r.flags), r.attrs, r.description]),
          [
            [1, 'sip:10.1.0.1:5060', 0, '', ''],
            [1, 'sip:10.1.0.2:5060', 8, 'weight=30;duid=k2', 'kamailio row'],
            [1, 'sip:10.1.0.3:5060', 0, 'duid=o3', ''],
          ],
        );
        assert.equal(await kdb.dispatcher.remove(rows[0]!.id), true);
        assert.equal((await kdb.dispatcher.list()).length, 2);
      });
    });

    describe('errors', () => {
      it('a URL of no known kind names the kinds olelo takes', async () => {
        const error = await rejectsWith(openStorage('oracle://scott:tiger@db/orcl'), 'bad-url');
        assert.match(error.message, /unsupported database URL 'oracle:\/\/scott@db\/orcl'/);
        assert.match(error.message, /sqlite:FILE, postgres:\/\/.*mysql:\/\//);
        assert.doesNotMatch(error.message, /tiger/);
      });

      it('an unreachable server is named by its URL without the password', async () => {
        const url = await backend.unreachableUrl();
        if (backend.dialect === 'sqlite') {
          const error = await rejectsWith(openStorage(url), 'connect');
          assert.match(error.message, /cannot open sqlite:/);
          return;
        }
        const started = Date.now();
        const error = await rejectsWith(openStorage(url, { connectTimeout: 3000 }), 'connect');
        assert.ok(Date.now() - started < 10_000, 'fails within the connect timeout');
        const shown = new URL(url);
        const password = decodeURIComponent(shown.password);
        shown.password = '';
        assert.ok(error.message.startsWith(`cannot connect to ${shown.toString()}: `), error.message);
        assert.ok(!error.message.includes(password), `the password is not in: ${error.message}`);
        assert.match(error.message, /ECONNREFUSED|refused/i);
      });

      if (backend.dialect !== 'sqlite') {
        it('a wrong password or an unknown database is a clear connect error', async () => {
          const good = new URL(await backend.freshUrl());
          const wrong = new URL(good);
          wrong.password = 'wrong-password';
          const badPassword = await rejectsWith(openStorage(wrong.toString()), 'connect');
          assert.match(badPassword.message, /authentication failed|Access denied/i);
          assert.doesNotMatch(badPassword.message, /wrong-password/);
          const missing = new URL(good);
          missing.pathname = '/no_such_database';
          const noDatabase = await rejectsWith(openStorage(missing.toString()), 'connect');
          assert.match(noDatabase.message, /no_such_database/);
        });
      }
    });
  });
}
