/**
 * The provisioning methods of the control API called directly over a real SQLite database in a temp
 * folder: what they store, what they show (never a password or hash), their refusals (400, 404, 409) and
 * the reload hooks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { computeHa1, openStorage, type Storage } from '../../src/db/index.js';
import { provisionMethods } from '../../src/rpc/provision-methods.js';
import { RpcError, type RpcMethods } from '../../src/rpc/types.js';

describe('provisioning methods', () => {
  let dir: string;
  let db: Storage;
  let methods: RpcMethods;
  const changed = { domains: 0, aliases: 0 };

  const call = (name: string, ...args: unknown[]) => {
    const method = methods[name];
    assert.ok(method, `no method ${name}`);
    return Promise.resolve(method.handler(...args));
  };
  const refused = async (code: number, pattern: RegExp, name: string, ...args: unknown[]) => {
    await assert.rejects(call(name, ...args), (error: unknown) => {
      assert.ok(error instanceof RpcError, `not an RpcError: ${error}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, pattern);
      return true;
    });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'olelo-rpc-provision-'));
    db = await openStorage(`sqlite:${join(dir, 'olelo.db')}`);
    await db.migrate();
    methods = provisionMethods(db, {
      domainsChanged: async () => changed.domains++,
      aliasesChanged: async () => changed.aliases++,
    });
  });

  after(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('documents every method and declares its parameters', () => {
    assert.deepEqual(Object.keys(methods).sort(), [
      'alias.add',
      'alias.list',
      'alias.rm',
      'domain.add',
      'domain.list',
      'domain.rm',
      'subscriber.add',
      'subscriber.list',
      'subscriber.passwd',
      'subscriber.rm',
    ]);
    for (const [name, m] of Object.entries(methods)) {
      assert.ok(m.doc.length > 20, `${name} has no doc`);
      const params = m.params ?? [];
      const firstOptional = params.findIndex((p) => p.optional);
      if (firstOptional !== -1)
        assert.ok(
          params.slice(firstOptional).every((p) => p.optional),
          `${name}: only trailing parameters may be optional`,
        );
    }
  });

  it('adds an account with hashes for the domain realm, and shows it without password or hashes', async () => {
    const added = await call('subscriber.add', 'sip:alice@Example.COM', 'alice-secret', 'alice@example.org');
    assert.deepEqual(Object.keys(added as object).sort(), [
      'address',
      'created',
      'domain',
      'email',
      'username',
    ]);
    assert.equal((added as { address: string }).address, 'alice@example.com');
    const stored = await db.subscribers.get('alice', 'example.com');
    assert.equal(stored?.ha1, computeHa1('alice', 'example.com', 'alice-secret'));
    assert.equal(stored?.password, 'alice-secret');
    await call('subscriber.add', 'bob@example.com', 'bob-secret');
    await call('subscriber.add', 'bobby@other.net', 'x');
    const all = (await call('subscriber.list')) as Record<string, unknown>[];
    assert.deepEqual(
      all.map((s) => s.address),
      ['alice@example.com', 'bob@example.com', 'bobby@other.net'],
    );
    for (const s of all)
      for (const key of ['password', 'ha1', 'ha1b'])
        assert.equal(key in s, false, `${key} shown for ${s.address}`);
    assert.equal(JSON.stringify(all).includes('secret'), false);
  });

  it('lists by domain and by a case-insensitive part of user@domain', async () => {
    const addresses = async (...args: unknown[]) =>
      ((await call('subscriber.list', ...args)) as { address: string }[]).map((s) => s.address);
    assert.deepEqual(await addresses('example.com'), ['alice@example.com', 'bob@example.com']);
    assert.deepEqual(await addresses('', 'BOB'), ['bob@example.com', 'bobby@other.net']);
    assert.deepEqual(await addresses('other.net', 'bob'), ['bobby@other.net']);
    assert.deepEqual(await addresses(undefined, '@other'), ['bobby@other.net']);
    assert.deepEqual(await addresses('', 'nobody'), []);
  });

  it('refuses a bad address (400), an empty password (400) and an existing account (409)', async () => {
    await refused(400, /expected user@domain/, 'subscriber.add', 'alice', 'x');
    await refused(400, /domain takes no port/, 'subscriber.add', 'carol@example.com:5060', 'x');
    await refused(400, /password is empty/, 'subscriber.add', 'carol@example.com', '');
    await refused(409, /alice@example\.com exists already/, 'subscriber.add', 'alice@example.com', 'y');
    await refused(400, /bad domain/, 'subscriber.list', 'exa mple.com');
  });

  it('changes a password (the hashes follow) and refuses an unknown account (404)', async () => {
    assert.deepEqual(await call('subscriber.passwd', 'bob@example.com', 'new-bob'), {
      address: 'bob@example.com',
    });
    const stored = await db.subscribers.get('bob', 'example.com');
    assert.equal(stored?.ha1, computeHa1('bob', 'example.com', 'new-bob'));
    await refused(404, /unknown user nobody@example\.com/, 'subscriber.passwd', 'nobody@example.com', 'x');
    await refused(400, /password is empty/, 'subscriber.passwd', 'bob@example.com', '');
  });

  it('adds, lists and removes domains, reloading the domain cache each time', async () => {
    const before = changed.domains;
    const added = (await call('domain.add', 'Example.COM')) as Record<string, unknown>;
    assert.equal(added.domain, 'example.com');
    assert.equal(typeof added.lastModified, 'string');
    await call('domain.add', 'other.net', 'did-1');
    assert.deepEqual(
      ((await call('domain.list')) as { domain: string; did?: string }[]).map((d) => [d.domain, d.did]),
      [
        ['example.com', undefined],
        ['other.net', 'did-1'],
      ],
    );
    await refused(409, /domain example\.com exists already/, 'domain.add', 'example.com');
    await refused(400, /bad domain/, 'domain.add', 'bad domain');
    assert.deepEqual(await call('domain.rm', 'other.net'), { domain: 'other.net' });
    await refused(404, /unknown domain other\.net/, 'domain.rm', 'other.net');
    assert.equal(changed.domains, before + 3);
  });

  it('adds aliases only for existing accounts, lists and removes them, reloading aliases', async () => {
    const before = changed.aliases;
    assert.deepEqual(await call('alias.add', 'sales@example.com', 'sip:alice@example.com'), {
      alias: 'sales@example.com',
      target: 'alice@example.com',
    });
    await call('alias.add', 'help@example.com', 'bob@example.com');
    await refused(
      404,
      /unknown user nobody@example\.com/,
      'alias.add',
      'x@example.com',
      'nobody@example.com',
    );
    await refused(
      409,
      /alias sales@example\.com exists already \(for alice@example\.com\)/,
      'alias.add',
      'sales@example.com',
      'bob@example.com',
    );
    assert.deepEqual(await call('alias.list'), [
      { alias: 'help@example.com', target: 'bob@example.com' },
      { alias: 'sales@example.com', target: 'alice@example.com' },
    ]);
    assert.deepEqual(await call('alias.list', 'bob@example.com'), [
      { alias: 'help@example.com', target: 'bob@example.com' },
    ]);
    assert.deepEqual(await call('alias.rm', 'help@example.com'), { alias: 'help@example.com', removed: 1 });
    await refused(404, /unknown alias help@example\.com/, 'alias.rm', 'help@example.com');
    assert.equal(changed.aliases, before + 3);
  });

  it('removes an account, telling how many aliases still point at it, and refuses an unknown one', async () => {
    assert.deepEqual(await call('subscriber.rm', 'alice@example.com'), {
      address: 'alice@example.com',
      aliases: 1,
    });
    assert.equal(await db.subscribers.get('alice', 'example.com'), undefined);
    await refused(404, /unknown user alice@example\.com/, 'subscriber.rm', 'alice@example.com');
  });
});
