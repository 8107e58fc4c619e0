/**
 * The `database` section of the configuration: URL checks that never echo a password, SQLite paths taken
 * from the config file's folder, the default file in `dataDir`, and URL parsing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/core/config.js';
import { databaseUrl, parseDatabaseUrl, redactUrl, StorageError } from '../../src/db/index.js';

const load = (text: string, env: NodeJS.ProcessEnv = {}) =>
  loadConfig({ text, file: '/etc/olelo/olelo.yaml', env, cwd: '/srv', hasIPv6: false });

describe('database configuration', () => {
  it('defaults to the SQLite file olelo.db in the data folder', () => {
    const config = load('dataDir: /var/lib/olelo\n');
    assert.equal(config.database.url, undefined);
    assert.equal(databaseUrl(config.database, config.dataDir), 'sqlite:/var/lib/olelo/olelo.db');
    assert.equal(config.database.poolSize, 10);
    assert.equal(config.database.connectTimeout, 10_000);
    assert.equal(config.database.busyTimeout, 5000);
  });

  it('takes a relative SQLite path from the config file’s folder, and from the working folder in a variable', () => {
    assert.equal(
      load('database:\n  url: sqlite:data/users.db\n').database.url,
      'sqlite:/etc/olelo/data/users.db',
    );
    assert.equal(
      load('', { OLELO_DATABASE__URL: 'sqlite:./x.db' }).database.url,
      `sqlite:${join('/srv', 'x.db')}`,
    );
    const url = 'postgres://olelo:secret@db.example.com:5432/kamailio';
    assert.equal(load(`database:\n  url: ${url}\n`).database.url, url, 'network URLs are kept as written');
  });

  it('rejects a URL of no known kind without showing its password', () => {
    assert.throws(
      () => load('database:\n  url: "oracle://scott:tiger@db/orcl"\n'),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /olelo\.yaml:2:\d+: database\.url: .*unsupported database URL/);
        assert.doesNotMatch(error.message, /tiger/);
        return true;
      },
    );
    assert.throws(
      () => load('', { OLELO_DATABASE__URL: 'mysql://root:hunter2@db' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /OLELO_DATABASE__URL: database\.url: .*names no database/);
        assert.doesNotMatch(error.message, /hunter2/);
        return true;
      },
    );
  });
});

describe('database URLs', () => {
  it('select the driver by scheme', () => {
    assert.equal(parseDatabaseUrl('sqlite:/a/b.db').dialect, 'sqlite');
    assert.equal(parseDatabaseUrl('sqlite:///a/b.db').dialect, 'sqlite');
    assert.equal(parseDatabaseUrl('postgres://h/d').dialect, 'postgres');
    assert.equal(parseDatabaseUrl('postgresql://h/d').dialect, 'postgres');
    assert.equal(parseDatabaseUrl('mysql://h/d').dialect, 'mysql');
    assert.equal(parseDatabaseUrl('MariaDB://h/d').dialect, 'mysql');
  });

  it('name SQLite files absolutely', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/olelo/olelo.db'), {
      dialect: 'sqlite',
      file: '/var/lib/olelo/olelo.db',
      display: 'sqlite:/var/lib/olelo/olelo.db',
    });
    assert.equal(parseDatabaseUrl('sqlite:olelo.db', '/base').display, 'sqlite:/base/olelo.db');
    assert.equal(parseDatabaseUrl('sqlite::memory:').display, 'sqlite::memory:');
    assert.throws(() => parseDatabaseUrl('sqlite:'), StorageError);
  });

  it('are shown without password', () => {
    assert.equal(redactUrl('postgres://u:p%40ss@h:5432/d'), 'postgres://u@h:5432/d');
    assert.equal(redactUrl('mysql://u@h/d?password=x&ssl=true'), 'mysql://u@h/d?ssl=true');
    assert.equal(redactUrl('sqlite:/a.db'), 'sqlite:/a.db');
  });
});
