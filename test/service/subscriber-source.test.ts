/**
 * The subscriber table as the auth module's credential source (SubscriberCredentialSource): what it
 * reads from a row, and its optional cache of accounts found.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SubscriberCredentialSource, type SubscriberLookup } from '../../src/modules/auth/credentials.js';

type Row = { password: string | undefined; ha1: string; ha1b: string };

/** A table of rows by `user@domain` that counts its queries. */
function table(rows: Record<string, Row>): SubscriberLookup & { queries: number } {
  const t = {
    queries: 0,
    get(username: string, domain: string) {
      t.queries++;
      return Promise.resolve(rows[`${username}@${domain}`]);
    },
  };
  return t;
}

const HA1 = '0123456789abcdef0123456789abcdef';

describe('subscriber table credential source', () => {
  it('reads the password, or only the hashes when the password column is empty', async () => {
    const source = new SubscriberCredentialSource(
      table({
        'alice@example.com': { password: 'secret', ha1: HA1, ha1b: HA1 },
        'bob@example.com': { password: '', ha1: HA1, ha1b: '' },
      }),
    );
    assert.deepEqual(await source.lookup('alice', 'Example.COM'), {
      password: 'secret',
      ha1: HA1,
      ha1b: HA1,
    });
    assert.deepEqual(await source.lookup('bob', 'example.com'), { ha1: HA1 });
    assert.equal(await source.lookup('carol', 'example.com'), undefined);
  });

  it('asks the table every time without a cache', async () => {
    const t = table({ 'alice@example.com': { password: 'secret', ha1: HA1, ha1b: HA1 } });
    const source = new SubscriberCredentialSource(t);
    await source.lookup('alice', 'example.com');
    const again = source.lookup('alice', 'example.com');
    assert.ok(again instanceof Promise, 'a query, answered later');
    await again;
    assert.equal(t.queries, 2);
  });

  it('with cacheTime, answers a known account at once until its entry expires; unknown ones are not kept', async () => {
    let now = 1000;
    const t = table({ 'alice@example.com': { password: 'secret', ha1: HA1, ha1b: HA1 } });
    const source = new SubscriberCredentialSource(t, { cacheTime: 500, now: () => now });
    await source.lookup('alice', 'example.com');
    const hit = source.lookup('alice', 'example.com');
    assert.deepEqual(hit, { password: 'secret', ha1: HA1, ha1b: HA1 }, 'synchronous: no Promise');
    await source.lookup('mallory', 'example.com');
    await source.lookup('mallory', 'example.com');
    assert.equal(t.queries, 3, 'alice once, mallory twice');
    now += 501;
    assert.ok(source.lookup('alice', 'example.com') instanceof Promise, 'expired: asked again');
  });

  it('keeps at most cacheSize accounts, dropping the oldest', async () => {
    const rows: Record<string, Row> = {};
    for (const u of ['a', 'b', 'c']) rows[`${u}@example.com`] = { password: u, ha1: HA1, ha1b: HA1 };
    const t = table(rows);
    const source = new SubscriberCredentialSource(t, { cacheTime: 60_000, cacheSize: 2 });
    for (const u of ['a', 'b', 'c']) await source.lookup(u, 'example.com');
    assert.ok(source.lookup('a', 'example.com') instanceof Promise, 'a was dropped for c');
    assert.ok(!(source.lookup('c', 'example.com') instanceof Promise));
  });
});
