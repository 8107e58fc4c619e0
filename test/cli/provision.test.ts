/**
 * The provisioning commands run as the real `olelo` CLI on a SQLite file in a temp folder: what they store
 * (password, ha1, ha1b), their messages and exit codes, and their use while a server runs on the same
 * database.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStorage, type Storage } from '../../src/db/index.js';
import { parseDispatcherList } from '../../src/modules/dispatcher/list.js';
import {
  DEFAULT_SCRIPT,
  OLELO_BIN,
  type RunResult,
  runOlelo,
  startServerProcess,
  stopAll,
  tempDir,
  udpOptions,
} from '../helpers/process.js';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

const dir = tempDir('provision');
after(async () => {
  await stopAll();
  dir.remove();
});

/** A config file whose database is `olelo.db` in its own data folder. */
function configFor(name: string, extra = ''): string {
  return dir.file(
    `${name}.yaml`,
    `script: ${JSON.stringify(DEFAULT_SCRIPT)}\ndataDir: ${JSON.stringify(join(dir.path, name))}\n${extra}`,
  );
}

/** Runs `olelo --config <config> ...args`. */
function olelo(config: string, ...args: string[]): Promise<RunResult> {
  return runOlelo(['--config', config, ...args], { cwd: dir.path, timeoutMs: 20_000 });
}

/** Runs olelo with `input` on its standard input. */
function oleloWithInput(
  config: string,
  input: string,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [OLELO_BIN, '--config', config, ...args], { cwd: dir.path });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Asserts the exit code, showing the output when it differs. */
function exits(result: { code: number | null; stdout: string; stderr: string }, code: number): void {
  assert.equal(result.code, code, `exit code; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
}

/** Opens the database a config names (the CLI must have created it). */
async function database(name: string): Promise<Storage> {
  return openStorage(`sqlite:${join(dir.path, name, 'olelo.db')}`);
}

describe('olelo user', () => {
  const config = configFor('users');

  it('add stores the password with ha1 = MD5(user:realm:pass) and ha1b = MD5(user@domain:realm:pass), realm = domain', async () => {
    const result = await olelo(config, 'user', 'add', 'alice@example.com', 'secret');
    exits(result, 0);
    assert.equal(result.stdout.trim(), 'added user alice@example.com');
    const db = await database('users');
    const alice = await db.subscribers.get('alice', 'example.com');
    await db.close();
    assert.ok(alice);
    assert.equal(alice.password, 'secret');
    assert.equal(alice.ha1, md5('alice:example.com:secret'));
    assert.equal(alice.ha1b, md5('alice@example.com:example.com:secret'));
  });

  it('takes sip: URIs and lower-cases the domain', async () => {
    exits(await olelo(config, 'user', 'add', 'sip:Bob@EXAMPLE.com', 'pw', '--email', 'bob@mail.example'), 0);
    const list = await olelo(config, 'user', 'list');
    exits(list, 0);
    // the order is the database's (SQLite sorts 'B' before 'a'; MySQL would not)
    assert.deepEqual(list.stdout.trim().split('\n').sort(), [
      'Bob@example.com <bob@mail.example>',
      'alice@example.com',
    ]);
  });

  it('refuses an account that exists, with exit 1', async () => {
    const result = await olelo(config, 'user', 'add', 'alice@Example.com', 'other');
    exits(result, 1);
    assert.match(result.stderr, /^olelo: user alice@example\.com exists already$/m);
  });

  it('rejects bad addresses and wrong usage with exit 2, saying what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['user', 'add', 'alice', 'pw'], /bad address 'alice': expected user@domain/],
      [['user', 'add', '@example.com', 'pw'], /the user part is empty/],
      [['user', 'add', 'alice@', 'pw'], /bad address 'alice@': the domain is empty/],
      [
        ['user', 'add', 'alice@exa$mple.com', 'pw'],
        /bad address 'alice@exa\$mple\.com': unexpected '\$mple\.com'/,
      ],
      [['user', 'add', 'alice@example.com:5060', 'pw'], /a domain takes no port/],
      [['user', 'add', 'alice@example.com;transport=tcp', 'pw'], /unexpected ';transport=tcp'/],
      [['user', 'add', 'al ice@example.com', 'pw'], /not a SIP user part/],
      [['user', 'add', 'alice@example.com'], /usage: olelo user add ADDRESS PASSWORD/],
      [['user', 'frob'], /unknown command 'user frob'/],
      [['user', 'add', 'x@example.com', 'pw', '--colour'], /Unknown option '--colour'/],
    ];
    const results = await Promise.all(cases.map(([args]) => olelo(config, ...args)));
    results.forEach((result, i) => {
      exits(result, 2);
      assert.match(result.stderr, cases[i]![1]);
    });
  });

  it('reads the password from standard input when it is -', async () => {
    const result = await oleloWithInput(config, 'from-stdin\n', 'user', 'add', 'carol@example.com', '-');
    exits(result, 0);
    const db = await database('users');
    assert.equal(
      (await db.subscribers.get('carol', 'example.com'))?.ha1,
      md5('carol:example.com:from-stdin'),
    );
    await db.close();
  });

  it('passwd changes the password and both hashes; an unknown user is exit 1', async () => {
    exits(await olelo(config, 'user', 'passwd', 'alice@example.com', 'new-secret'), 0);
    const db = await database('users');
    const alice = await db.subscribers.get('alice', 'example.com');
    await db.close();
    assert.equal(alice?.password, 'new-secret');
    assert.equal(alice?.ha1, md5('alice:example.com:new-secret'));
    assert.equal(alice?.ha1b, md5('alice@example.com:example.com:new-secret'));
    const unknown = await olelo(config, 'user', 'passwd', 'nobody@example.com', 'x');
    exits(unknown, 1);
    assert.match(unknown.stderr, /^olelo: unknown user nobody@example\.com$/m);
  });

  it('--hash-only stores no plain password, and passwd keeps it so', async () => {
    exits(await olelo(config, 'user', 'add', 'dave@example.com', 'pw1', '--hash-only'), 0);
    exits(await olelo(config, 'user', 'passwd', 'dave@example.com', 'pw2'), 0);
    const db = await database('users');
    const dave = await db.subscribers.get('dave', 'example.com');
    await db.close();
    assert.equal(dave?.password, undefined);
    assert.equal(dave?.ha1, md5('dave:example.com:pw2'));
  });

  it('list filters by domain and prints JSON on request', async () => {
    exits(await olelo(config, 'user', 'add', 'erin@other.example', 'pw'), 0);
    const other = await olelo(config, 'user', 'list', 'OTHER.example');
    assert.equal(other.stdout.trim(), 'erin@other.example');
    const json = await olelo(config, 'user', 'list', '--json');
    exits(json, 0);
    const rows = JSON.parse(json.stdout) as Array<{ username: string; domain: string; created?: string }>;
    assert.deepEqual(
      rows.map((r) => `${r.username}@${r.domain}`),
      ['Bob@example.com', 'alice@example.com', 'carol@example.com', 'dave@example.com', 'erin@other.example'],
    );
    assert.ok(rows.every((r) => r.created !== undefined && !Number.isNaN(Date.parse(r.created))));
    assert.doesNotMatch(json.stdout, /secret|ha1/, 'no password or hash is printed');
  });

  it('rm removes an account; an unknown one is exit 1', async () => {
    exits(await olelo(config, 'user', 'rm', 'erin@other.example'), 0);
    const again = await olelo(config, 'user', 'rm', 'erin@other.example');
    exits(again, 1);
    assert.match(again.stderr, /unknown user erin@other\.example/);
  });
});

describe('olelo domain and olelo alias', () => {
  const config = configFor('aliases');

  before(async () => {
    exits(await olelo(config, 'user', 'add', 'alice@example.com', 'pw'), 0);
  });

  it('domain add, list and rm; a second add or an unknown rm is exit 1', async () => {
    exits(await olelo(config, 'domain', 'add', 'Example.com'), 0);
    exits(await olelo(config, 'domain', 'add', 'b.example', '--did', 'b'), 0);
    const twice = await olelo(config, 'domain', 'add', 'example.com');
    exits(twice, 1);
    assert.match(twice.stderr, /domain example\.com exists already/);
    assert.equal((await olelo(config, 'domain', 'list')).stdout, 'b.example (did b)\nexample.com\n');
    exits(await olelo(config, 'domain', 'rm', 'b.example'), 0);
    exits(await olelo(config, 'domain', 'rm', 'b.example'), 1);
    exits(await olelo(config, 'domain', 'add', 'bad domain'), 2);
  });

  it('user add notes a domain missing from a non-empty domain table', async () => {
    const result = await olelo(config, 'user', 'add', 'zoe@elsewhere.example', 'pw');
    exits(result, 0);
    assert.match(result.stderr, /elsewhere\.example is not in the domain table/);
  });

  it('alias add, list and rm', async () => {
    const added = await olelo(config, 'alias', 'add', 'sip:1000@example.com', 'alice@example.com');
    exits(added, 0);
    assert.equal(added.stdout.trim(), 'added alias 1000@example.com for alice@example.com');
    exits(await olelo(config, 'alias', 'add', 'sales@example.com', 'alice@example.com'), 0);
    const list = await olelo(config, 'alias', 'list');
    assert.equal(
      list.stdout,
      '1000@example.com -> alice@example.com\nsales@example.com -> alice@example.com\n',
    );
    const json = JSON.parse((await olelo(config, 'alias', 'list', 'alice@example.com', '--json')).stdout);
    assert.deepEqual(json[0], { alias: '1000@example.com', target: 'alice@example.com' });
    exits(await olelo(config, 'alias', 'rm', 'sales@example.com'), 0);
    const gone = await olelo(config, 'alias', 'rm', 'sales@example.com');
    exits(gone, 1);
    assert.match(gone.stderr, /unknown alias sales@example\.com/);
  });

  it('alias add refuses a taken alias and an unknown target (unless --force)', async () => {
    const taken = await olelo(config, 'alias', 'add', '1000@example.com', 'zoe@elsewhere.example');
    exits(taken, 1);
    assert.match(taken.stderr, /alias 1000@example\.com exists already \(for alice@example\.com\)/);
    const unknown = await olelo(config, 'alias', 'add', '2000@example.com', 'nobody@example.com');
    exits(unknown, 1);
    assert.match(unknown.stderr, /unknown user nobody@example\.com .*--force/);
    exits(await olelo(config, 'alias', 'add', '2000@example.com', 'gateway@pstn.example', '--force'), 0);
  });

  it('user rm notes the aliases left pointing at the account', async () => {
    const result = await olelo(config, 'user', 'rm', 'alice@example.com');
    exits(result, 0);
    assert.match(result.stderr, /1 alias\(es\) still point to alice@example\.com/);
  });
});

describe('olelo dispatcher', () => {
  const config = configFor('dispatcher');

  it('add stores a destination with its flags, priority, attributes and description; list prints dispatcher.list lines', async () => {
    const first = await olelo(
      config,
      'dispatcher',
      'add',
      '1',
      'sip:10.0.0.11:5060',
      '--attrs',
      'weight=50;duid=a',
      '--description',
      'media server A',
    );
    exits(first, 0);
    assert.match(first.stdout, /^added dispatcher destination \d+: set 1 sip:10\.0\.0\.11:5060$/m);
    exits(
      await olelo(
        config,
        'dispatcher',
        'add',
        '2',
        'sip:gw1.example.com;transport=tcp',
        '--flags',
        '8',
        '--priority=-5',
      ),
      0,
    );
    exits(await olelo(config, 'dispatcher', 'add', '1', 'sip:10.0.0.12:5060', '--priority', '10'), 0);
    const db = await database('dispatcher');
    const rows = await db.dispatcher.list();
    await db.close();
    assert.deepEqual(
      rows.map(({ id: _, ...r }) => r),
      [
        {
          setid: 1,
          destination: 'sip:10.0.0.11:5060',
          flags: 0,
          priority: 0,
          attrs: 'weight=50;duid=a',
          description: 'media server A',
        },
        { setid: 1, destination: 'sip:10.0.0.12:5060', flags: 0, priority: 10, attrs: '', description: '' },
        {
          setid: 2,
          destination: 'sip:gw1.example.com;transport=tcp',
          flags: 8,
          priority: -5,
          attrs: '',
          description: '',
        },
      ],
    );
    const list = await olelo(config, 'dispatcher', 'list');
    exits(list, 0);
    const [a, b, c] = rows.map((r) => r.id);
    assert.deepEqual(list.stdout.trim().split('\n'), [
      `1 sip:10.0.0.11:5060 0 0 weight=50;duid=a  # id ${a}: media server A`,
      `1 sip:10.0.0.12:5060 0 10  # id ${b}`,
      `2 sip:gw1.example.com;transport=tcp 8 -5  # id ${c}`,
    ]);
    // the lines are a list the module reads (olelo dispatcher list > dispatcher.list)
    assert.deepEqual(
      parseDispatcherList(list.stdout).map((r) => [r.setId, r.uri, r.flags, r.priority, r.attrs.body]),
      rows.map((r) => [r.setid, r.destination, r.flags, r.priority, r.attrs]),
    );
  });

  it('list filters by set and prints JSON on request', async () => {
    const result = await olelo(config, 'dispatcher', 'list', '2', '--json');
    exits(result, 0);
    const rows = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.destination, 'sip:gw1.example.com;transport=tcp');
    assert.equal(rows[0]!.flags, 8);
    assert.equal(typeof rows[0]!.id, 'number');
    exits(await olelo(config, 'dispatcher', 'list', '9'), 0);
  });

  it('rm removes a destination by id; an unknown id is exit 1', async () => {
    const db = await database('dispatcher');
    const [first] = await db.dispatcher.list({ setid: 1 });
    await db.close();
    const removed = await olelo(config, 'dispatcher', 'rm', String(first!.id));
    exits(removed, 0);
    assert.equal(removed.stdout.trim(), `removed dispatcher destination ${first!.id}`);
    const again = await olelo(config, 'dispatcher', 'rm', String(first!.id));
    exits(again, 1);
    assert.match(again.stderr, new RegExp(`^olelo: unknown dispatcher destination ${first!.id}$`, 'm'));
    const list = await olelo(config, 'dispatcher', 'list', '1');
    assert.equal(list.stdout.trim().split('\n').length, 1);
  });

  it('rejects what the module could not load, and wrong usage, with exit 2, before opening the database', async () => {
    const unreachable = configFor(
      'dispatcher-unreachable',
      'database:\n  url: postgres://olelo@127.0.0.1:1/olelo\n',
    );
    const cases: Array<[string[], RegExp]> = [
      [['dispatcher', 'add', '1', 'not-a-uri'], /olelo: not a SIP URI: 'not-a-uri'/],
      [['dispatcher', 'add', 'one', 'sip:10.0.0.1'], /the set id must be an integer: 'one'/],
      [['dispatcher', 'add', '--', '-1', 'sip:10.0.0.1'], /set id must not be negative/],
      [
        ['dispatcher', 'add', '1', 'sip:10.0.0.1', '--attrs', 'weight=150'],
        /attribute weight must be 0-100: 150/,
      ],
      [
        ['dispatcher', 'add', '1', 'sip:10.0.0.1', '--attrs', 'weight'],
        /attribute is not name=value: 'weight'/,
      ],
      [['dispatcher', 'add', '1', 'sip:10.0.0.1', '--flags', 'x'], /--flags must be an integer: 'x'/],
      [['dispatcher', 'add', '1', 'sip:10.0.0.1', '--priority', '99999999999'], /--priority is out of range/],
      [
        ['dispatcher', 'add', '1', 'sip:10.0.0.1', '--description', 'd'.repeat(65)],
        /--description is longer than 64 characters/,
      ],
      [['dispatcher', 'add', '1'], /usage: olelo dispatcher add SETID URI/],
      [['dispatcher', 'rm', 'x'], /the id must be an integer: 'x'/],
      [['dispatcher', 'rm'], /usage: olelo dispatcher rm ID/],
      [['dispatcher', 'show'], /unknown command 'dispatcher show': add, rm or list/],
    ];
    for (const [args, message] of cases) {
      const result = await olelo(unreachable, ...args);
      exits(result, 2);
      assert.match(result.stderr, message, args.join(' '));
      assert.doesNotMatch(result.stderr, /cannot connect/);
    }
  });
});

describe('olelo provisioning and its database', () => {
  it('uses the database of OLELO_DATABASE__URL over the config file', async () => {
    const config = configFor('env-db');
    const file = join(dir.path, 'elsewhere.db');
    const result = await runOlelo(['--config', config, 'user', 'add', 'amy@example.com', 'pw'], {
      cwd: dir.path,
      env: { OLELO_DATABASE__URL: `sqlite:${file}` },
    });
    exits(result, 0);
    const db = await openStorage(`sqlite:${file}`);
    assert.equal((await db.subscribers.list()).length, 1);
    await db.close();
  });

  it('an unreachable database is exit 1, named without its password', async () => {
    const config = configFor(
      'unreachable',
      'database:\n  url: postgres://olelo:s3cret@127.0.0.1:1/olelo\n  connectTimeout: 2s\n',
    );
    const result = await olelo(config, 'user', 'list');
    exits(result, 1);
    assert.match(result.stderr, /^olelo: cannot connect to postgres:\/\/olelo@127\.0\.0\.1:1\/olelo: /m);
    assert.doesNotMatch(result.stderr, /s3cret/);
  });

  it('a bad address is reported before the database is opened', async () => {
    const config = configFor('unreachable-too', 'database:\n  url: postgres://olelo@127.0.0.1:1/olelo\n');
    const result = await olelo(config, 'user', 'add', 'not-an-address', 'pw');
    exits(result, 2);
    assert.doesNotMatch(result.stderr, /cannot connect/);
  });

  it('--help describes the provisioning commands', async () => {
    for (const args of [['--help'], ['user', '--help']]) {
      const result = await runOlelo(args);
      exits(result, 0);
      assert.match(result.stdout, /olelo user add ADDRESS PASSWORD/);
      assert.match(result.stdout, /olelo alias add ALIAS ADDRESS/);
      assert.match(result.stdout, /olelo dispatcher add SETID URI/);
    }
  });

  it('works while a server runs on the same database', async () => {
    const serverDir = join(dir.path, 'live');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(serverDir);
    const server = await startServerProcess(serverDir);
    assert.match(server.proc.output, /database ready/);
    const config = server.config;
    // several at once: each migrates (a no-op) and writes while the server holds the file open
    const adds = await Promise.all(
      ['u1', 'u2', 'u3', 'u4', 'u5'].map((u) => olelo(config, 'user', 'add', `${u}@example.com`, `pw-${u}`)),
    );
    for (const result of adds) exits(result, 0);
    exits(await olelo(config, 'domain', 'add', 'example.com'), 0);
    exits(await olelo(config, 'user', 'passwd', 'u1@example.com', 'changed'), 0);
    assert.equal(await udpOptions(server.port), 200, 'the server still answers');
    const list = await olelo(config, 'user', 'list');
    assert.equal(list.stdout.trim().split('\n').length, 5);
    const exit = await server.proc.stop();
    assert.equal(exit.code, 0, server.proc.output);
    assert.doesNotMatch(server.proc.output, /SQLITE_BUSY|locked|StorageError/);
    const db = await openStorage(`sqlite:${join(serverDir, 'data', 'olelo.db')}`);
    assert.equal((await db.subscribers.get('u1', 'example.com'))?.ha1, md5('u1:example.com:changed'));
    await db.close();
  });
});

describe('olelo admin', () => {
  const config = configFor('admins');

  it('add stores an scrypt hash (never the password) that verifies; list, passwd and rm; exit codes', async () => {
    exits(await olelo(config, 'admin', 'add', 'ops', '--password', 'first-secret'), 0);
    const db = await database('admins');
    try {
      assert.equal(await db.admins.verify('ops', 'first-secret'), true);
      assert.equal(await db.admins.verify('ops', 'wrong-secret'), false);
      assert.equal(await db.admins.verify('nobody', 'first-secret'), false);
      const raw = new Database(join(dir.path, 'admins', 'olelo.db'), { readonly: true });
      const row = raw.prepare('SELECT password_hash FROM olelo_admin WHERE username = ?').get('ops') as {
        password_hash: string;
      };
      raw.close();
      assert.match(row.password_hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}$/);
      assert.ok(!row.password_hash.includes('first-secret'));
    } finally {
      await db.close();
    }
    const twice = await olelo(config, 'admin', 'add', 'ops', 'another-secret');
    exits(twice, 1);
    assert.match(twice.stderr, /administrator ops exists already/);
    const list = await olelo(config, 'admin', 'list', '--json');
    exits(list, 0);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { username: string }[]).map((a) => a.username),
      ['ops'],
    );
    exits(await olelo(config, 'admin', 'passwd', 'ops', 'second-secret'), 0);
    const after = await database('admins');
    try {
      assert.equal(await after.admins.verify('ops', 'first-secret'), false);
      assert.equal(await after.admins.verify('ops', 'second-secret'), true);
    } finally {
      await after.close();
    }
    exits(await olelo(config, 'admin', 'passwd', 'nobody', 'second-secret'), 1);
    exits(await olelo(config, 'admin', 'rm', 'ops'), 0);
    exits(await olelo(config, 'admin', 'rm', 'ops'), 1);
  });

  it('reads the password from standard input; refuses short passwords and bad names with exit 2', async () => {
    exits(await oleloWithInput(config, 'from-stdin-pw\n', 'admin', 'add', 'piped'), 0);
    const db = await database('admins');
    try {
      assert.equal(await db.admins.verify('piped', 'from-stdin-pw'), true);
    } finally {
      await db.close();
    }
    const short = await olelo(config, 'admin', 'add', 'shorty', 'short');
    exits(short, 2);
    assert.match(short.stderr, /shorter than 8/);
    const bad = await olelo(config, 'admin', 'add', 'bad name', 'long-enough');
    exits(bad, 2);
    assert.match(bad.stderr, /bad administrator name/);
    const both = await olelo(config, 'admin', 'add', 'x', 'long-enough', '--password', 'long-enough');
    exits(both, 2);
  });
});

describe('olelo address', () => {
  const config = configFor('addresses');

  it('add, list and rm rows of the address table; bad input is exit 2, an unknown id exit 1', async () => {
    exits(await olelo(config, 'address', 'add', '1', '192.0.2.0/24', '--tag', 'carrier-a'), 0);
    exits(await olelo(config, 'address', 'add', '2', '2001:db8::7', '5061'), 0);
    const list = await olelo(config, 'address', 'list', '--json');
    exits(list, 0);
    const rows = JSON.parse(list.stdout) as {
      id: number;
      grp: number;
      ipAddr: string;
      mask: number;
      port: number;
      tag: string;
    }[];
    assert.deepEqual(
      rows.map((r) => [r.grp, r.ipAddr, r.mask, r.port, r.tag]),
      [
        [1, '192.0.2.0', 24, 0, 'carrier-a'],
        [2, '2001:db8::7', 128, 5061, ''],
      ],
    );
    const one = await olelo(config, 'address', 'list', '2');
    assert.match(one.stdout, /^\d+\tgroup 2\t2001:db8::7\/128\tport 5061\n$/);
    for (const bad of [
      ['add', '1', 'not-an-ip'],
      ['add', '1', '192.0.2.1/33'],
      ['add', '1', '2001:db8::/129'],
      ['add', 'x', '192.0.2.1'],
      ['add', '1', '192.0.2.1', '70000'],
    ]) {
      const r = await olelo(config, 'address', ...bad);
      exits(r, 2);
    }
    exits(await olelo(config, 'address', 'rm', String(rows[0]!.id)), 0);
    exits(await olelo(config, 'address', 'rm', String(rows[0]!.id)), 1);
    const left = JSON.parse((await olelo(config, 'address', 'list', '--json')).stdout) as unknown[];
    assert.equal(left.length, 1);
  });
});
