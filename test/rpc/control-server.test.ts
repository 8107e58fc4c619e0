/**
 * The control server alone (no SIP server): a registry with one method, administrators in memory, bound to
 * 127.0.0.1 on a port the system picks. The access rules and the dashboard's login limit.
 */
import assert from 'node:assert/strict';
import fs, { type Mode, mkdtempSync, type PathLike, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ctl } from '../../src/cli/ctl.js';
import { Logger } from '../../src/core/logger.js';
import type { AdminRecord, AdminStore } from '../../src/db/types.js';
import { ControlServer } from '../../src/rpc/control-server.js';
import { RpcRegistry } from '../../src/rpc/registry.js';

/** Administrators in memory; `verify` takes a while, as scrypt does. */
class MemoryAdmins implements AdminStore {
  readonly passwords = new Map<string, string>();
  private readonly stamps = new Map<string, string>();
  private changes = 0;
  async add(username: string, password: string): Promise<AdminRecord> {
    this.passwords.set(username, password);
    this.stamps.set(username, `v${++this.changes}`);
    return { username, created: 0 };
  }
  async credentialStamp(username: string): Promise<string | undefined> {
    return this.stamps.get(username);
  }
  async verify(username: string, password: string): Promise<boolean> {
    await sleep(30);
    return this.passwords.get(username) === password;
  }
  async setPassword(username: string, password: string): Promise<boolean> {
    if (!this.passwords.has(username)) return false;
    this.passwords.set(username, password);
    this.stamps.set(username, `v${++this.changes}`);
    return true;
  }
  async remove(username: string): Promise<boolean> {
    this.stamps.delete(username);
    return this.passwords.delete(username);
  }
  async list(): Promise<AdminRecord[]> {
    return [...this.passwords.keys()].map((username) => ({ username, created: 0 }));
  }
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function send(
  port: number,
  method: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, headers, timeout: 10_000, agent: false },
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
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('control server', () => {
  const admins = new MemoryAdmins();
  let server: ControlServer;
  let port: number;
  const calls: string[] = [];

  before(async () => {
    const registry = new RpcRegistry();
    registry.register({
      'test.touch': {
        doc: 'Records a call.',
        params: [{ name: 'what', type: 'string' }],
        handler: (what: string) => {
          calls.push(what);
          return what;
        },
      },
    });
    await admins.add('ops', 'correct-horse');
    server = new ControlServer({
      registry,
      log: Logger.create({ level: 'error', sink: () => {} }),
      http: { listen: { host: '127.0.0.1', port: 0 }, sessionTimeout: 60_000 },
      socket: undefined,
      admins,
      metrics: () => '# nothing\n',
    });
    await server.start();
    port = server.httpAddress!.port;
  });

  after(async () => {
    await server?.stop();
  });

  const login = (password: string) =>
    send(port, 'POST', '/api/login', JSON.stringify({ username: 'ops', password }), {
      'Content-Type': 'application/json',
    });

  it('refuses /RPC and /metrics to web pages (cross-site request forgery on loopback), answers machine clients', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'test.touch', params: ['forged'], id: 1 });
    // what a page on another site can send without a preflight: a text/plain POST, or a form
    const forged = await send(port, 'POST', '/RPC', body, {
      'Content-Type': 'text/plain',
      Origin: 'https://evil.example',
      'Sec-Fetch-Site': 'cross-site',
    });
    assert.equal(forged.status, 403);
    // a page whose own name was rebound to 127.0.0.1 sends a same-origin request
    const rebound = await send(port, 'POST', '/RPC', body, {
      'Content-Type': 'text/plain',
      Host: `evil.example:${port}`,
      Origin: `http://evil.example:${port}`,
      'Sec-Fetch-Site': 'same-origin',
    });
    assert.equal(rebound.status, 403);
    const scraped = await send(port, 'GET', '/metrics', '', { 'Sec-Fetch-Site': 'cross-site' });
    assert.equal(scraped.status, 403);
    assert.deepEqual(calls, [], 'no forged call ran');

    const curl = await send(port, 'POST', '/RPC', body.replace('forged', 'curl'), {
      'Content-Type': 'application/x-www-form-urlencoded',
    });
    assert.equal(curl.status, 200);
    assert.equal(JSON.parse(curl.body).result, 'curl');
    assert.equal((await send(port, 'GET', '/metrics', '')).status, 200);
    assert.equal((await send(port, 'GET', '/metrics', '', { 'Sec-Fetch-Site': 'none' })).status, 200);
    assert.deepEqual(calls, ['curl']);
  });

  it('ends the login sessions of an administrator removed or given a new password', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'test.touch', params: ['dashboard'], id: 1 });
    const session = async (name: string, password: string) => {
      const answer = await send(port, 'POST', '/api/login', JSON.stringify({ username: name, password }), {
        'Content-Type': 'application/json',
      });
      assert.equal(answer.status, 200, answer.body);
      return String(answer.headers['set-cookie']).split(';')[0]!;
    };
    const dashboardCall = (cookie: string) =>
      send(port, 'POST', '/api/rpc', body, {
        'Content-Type': 'application/json',
        Cookie: cookie,
        'X-Requested-With': 'olelo-web',
      });
    await admins.add('leaver', 'first-password');
    const leaver = await session('leaver', 'first-password');
    assert.equal((await dashboardCall(leaver)).status, 200);
    await admins.remove('leaver'); // olelo admin rm leaver
    assert.equal((await dashboardCall(leaver)).status, 401, 'removed administrator');
    await admins.add('leaver', 'first-password');
    assert.equal((await dashboardCall(leaver)).status, 401, 'added again: the old session stays ended');

    await admins.add('rotated', 'old-password');
    const rotated = await session('rotated', 'old-password');
    assert.equal((await send(port, 'GET', '/api/session', '', { Cookie: rotated })).status, 200);
    await admins.setPassword('rotated', 'new-password'); // olelo admin passwd rotated
    assert.equal((await dashboardCall(rotated)).status, 401, 'password changed');
    assert.equal((await send(port, 'GET', '/api/session', '', { Cookie: rotated })).status, 401);
    const fresh = await session('rotated', 'new-password');
    assert.equal((await dashboardCall(fresh)).status, 200);
  });

  it('counts logins sent in parallel: ten wrong passwords a minute, the rest refused with 429', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => login('wrong-password')));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 401).length, 10, statuses.join(' '));
    assert.equal(statuses.filter((s) => s === 429).length, 20, statuses.join(' '));
    assert.equal((await login('correct-horse')).status, 429, 'locked out for the rest of the minute');
  });
});

describe('control server Unix socket', () => {
  it('creates the socket file 0600 from the start, whatever the umask (not only after a chmod)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'olelo-ctlsock-'));
    const path = join(dir, 'ctl.sock');
    const modes: number[] = [];
    // the chmod that follows listen() is observed and skipped: the mode seen is the one bind() gave
    const chmod = fs.chmodSync;
    fs.chmodSync = (file: PathLike, mode: Mode) => {
      modes.push(statSync(file).mode & 0o777);
      void mode;
    };
    syncBuiltinESMExports();
    const umask = process.umask(0o022);
    const server = new ControlServer({
      registry: new RpcRegistry(),
      log: Logger.create({ level: 'error', sink: () => {} }),
      http: { listen: 'off', sessionTimeout: 60_000 },
      socket: path,
      admins: new MemoryAdmins(),
    });
    try {
      await server.start();
    } finally {
      fs.chmodSync = chmod;
      syncBuiltinESMExports();
      process.umask(umask);
    }
    try {
      assert.equal(modes.length, 1, 'chmod called once');
      assert.equal(modes[0]!.toString(8), '600');
      assert.equal((statSync(path).mode & 0o777).toString(8), '600');
      assert.equal(process.umask(), 0o022, 'the process umask is restored');
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('olelo ctl arguments', () => {
  it('passes every word after the method as a parameter, also one starting with "-"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'olelo-ctlargs-'));
    const path = join(dir, 'ctl.sock');
    const registry = new RpcRegistry();
    registry.register({
      'test.echo': {
        doc: 'Returns its arguments.',
        params: [{ name: 'values', type: 'any', rest: true }],
        handler: (...values: unknown[]) => values,
      },
      'test.add': {
        doc: 'Adds two numbers.',
        params: [
          { name: 'a', type: 'number' },
          { name: 'b', type: 'number' },
        ],
        handler: (a: number, b: number) => a + b,
      },
    });
    const server = new ControlServer({
      registry,
      log: Logger.create({ level: 'error', sink: () => {} }),
      http: { listen: 'off', sessionTimeout: 60_000 },
      socket: path,
      admins: new MemoryAdmins(),
    });
    await server.start();
    const run = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await ctl(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    try {
      const negative = await run('--socket', path, 'test.add', '5', '-3');
      assert.deepEqual([negative.code, negative.out, negative.err], [0, '2', '']);
      const words = await run('--socket', path, '--json', 'test.echo', '-x', '--json', '--', 'a b');
      assert.equal(words.code, 0, words.err);
      assert.deepEqual(JSON.parse(words.out), ['-x', '--json', '--', 'a b']);
      const ended = await run('--socket', path, '--', 'test.echo', '--url');
      assert.deepEqual([ended.code, ended.out], [0, '--url']);
      const unknownOption = await run('--socket', path, '--nope', 'test.echo');
      assert.equal(unknownOption.code, 2);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('login limit keys', () => {
  it('count an IPv4-mapped address as its IPv4 address and an IPv6 address by its /64', async () => {
    const { loginKey } = await import('../../src/rpc/control-server.js');
    assert.equal(loginKey('192.0.2.7'), '192.0.2.7');
    assert.equal(loginKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(loginKey('::FFFF:192.0.2.7'), '192.0.2.7');
    assert.equal(loginKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(loginKey('2001:0db8:0001:0002:ffff:eeee:dddd:cccc'), '2001:db8:1:2::/64');
    assert.equal(loginKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(loginKey('2001:db8::2'), loginKey('2001:db8:0:0:ffff::9'));
    assert.notEqual(loginKey('2001:db8:0:1::1'), loginKey('2001:db8:0:2::1'));
    assert.equal(loginKey('::1'), '0:0:0:0::/64');
    assert.equal(loginKey(undefined), 'unix');
  });
});
