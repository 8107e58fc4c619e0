/**
 * The storage suite on SQLite (a temp file per database), and what only the embedded engine has to show:
 * the file and its folder created on first open, WAL mode, and another process writing while this one
 * reads and writes (the CLI beside a running server).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStorage } from '../../src/db/index.js';
import { ROOT, tempDir } from '../helpers/process.js';
import { storageSuite } from './storage-suite.js';

const dir = tempDir('db-sqlite');
after(() => dir.remove());
let databases = 0;

function sql(url: string, ...statements: string[]): Promise<Record<string, unknown>[]> {
  const db = new Database(url.slice('sqlite:'.length));
  try {
    let rows: Record<string, unknown>[] = [];
    for (const statement of statements) {
      const prepared = db.prepare(statement);
      if (prepared.reader) rows = prepared.all() as Record<string, unknown>[];
      else {
        prepared.run();
        rows = [];
      }
    }
    return Promise.resolve(rows);
  } finally {
    db.close();
  }
}

storageSuite('SQLite', {
  dialect: 'sqlite',
  start: () => Promise.resolve(),
  stop: () => Promise.resolve(),
  freshUrl: () => Promise.resolve(`sqlite:${join(dir.path, `db-${++databases}.db`)}`),
  sql,
  // a folder cannot be made where a file is, even by root
  unreachableUrl: () => Promise.resolve(`sqlite:${dir.file('not-a-folder', '')}/olelo.db`),
});

/** Runs a child node process that adds `count` subscribers to the database, one statement each. */
function writerProcess(url: string, count: number): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { openStorage } = await import(${JSON.stringify(join(ROOT, 'dist/src/db/index.js'))});
    const db = await openStorage(${JSON.stringify(url)});
    await db.migrate();
    for (let i = 0; i < ${count}; i++) {
      await db.subscribers.add({ username: 'user' + i, domain: 'example.com', password: 'pw' + i });
      await new Promise((resolve) => setTimeout(resolve, 1)); // spread the writes over the reader's loop
    }
    await db.close();
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('SQLite specifics', () => {
  it('creates the file and its folders on first open, in WAL mode', async () => {
    const file = join(dir.path, 'new', 'folder', 'olelo.db');
    const db = await openStorage(`sqlite:${file}`);
    await db.migrate();
    await db.close();
    assert.ok(existsSync(file));
    const raw = new Database(file);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
  });

  it('takes a relative path from the given folder', async () => {
    const db = await openStorage('sqlite:rel/olelo.db', { base: dir.path });
    assert.equal(db.url, `sqlite:${join(dir.path, 'rel', 'olelo.db')}`);
    await db.close();
    assert.ok(existsSync(join(dir.path, 'rel', 'olelo.db')));
  });

  it('lets another process write while this one reads and writes', async () => {
    const url = `sqlite:${join(dir.path, 'concurrent.db')}`;
    const server = await openStorage(url);
    await server.migrate();
    const writer = writerProcess(url, 300);
    let finished = false;
    void writer.then(() => {
      finished = true;
    });
    let reads = 0;
    let seen = 0;
    let partial = 0;
    let ruid = 0;
    while (!finished) {
      seen = (await server.subscribers.list({ domain: 'example.com' })).length;
      reads++;
      if (seen > 0 && seen < 300) partial++;
      const t = Math.floor(Date.now() / 1000);
      await server.location.upsert([
        {
          ruid: `r${++ruid}`,
          username: 'srv',
          domain: 'example.com',
          contact: `sip:srv@192.0.2.1:${ruid}`,
          received: '',
          path: '',
          expires: t + 60,
          q: -1,
          callId: 'c',
          cseq: ruid,
          lastModified: t,
          flags: 0,
          cflags: 0,
          userAgent: '',
          socket: '',
          methods: -1,
          instance: '',
          regId: 0,
          serverId: 0,
          connectionId: 0,
          keepalive: 0,
        },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const { code, stderr } = await writer;
    assert.equal(code, 0, stderr);
    assert.ok(partial > 0, `the reader saw the writer's rows arrive (${reads} reads, last saw ${seen})`);
    assert.equal((await server.subscribers.list({ domain: 'example.com' })).length, 300);
    assert.equal((await server.location.lookup('srv', 'example.com')).length, ruid);
    await server.close();
  });
});
