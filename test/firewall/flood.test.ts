/**
 * The headline test: olelo (a child process, the default script with its defaults) takes a flood
 * of 20,000 OPTIONS/s from 127.0.0.3 for 3 s; pike sees the source go over the limit, the default script
 * bans it in the htable `ipban`, and its requests are dropped without reply — while SIPp phones on
 * 127.0.0.2 keep registering and calling through the server with digest authentication, with no failure.
 * The server's CPU time and resident memory over the flood are printed (docs/security.md has them).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HAS_PROC, type ServerChild, startServerProcess, stopAll } from '../helpers/process.js';
import { hasSipp, killAllSipp, runSippUac, startSippUas, tempDir } from '../helpers/sipp.js';
import { callArgs, databaseUrl, provision, registerArgs, succeeded } from '../service/helpers.js';
import { cpuSeconds, flood, residentMb } from './flooder.js';

const SKIP = !hasSipp() ? 'sipp is not installed' : !HAS_PROC ? 'needs /proc' : false;
const PHONES = '127.0.0.2';
const FLOODER = '127.0.0.3';
const RATE = 20_000;
const FLOOD_MS = 3000;

/** A JSON-RPC call over the server's control socket. */
function rpc(socketPath: string, method: string, ...params: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/RPC', method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => {
          const answer = JSON.parse(body) as { result?: unknown; error?: { message: string } };
          if (answer.error !== undefined) reject(new Error(`${method}: ${answer.error.message}`));
          else resolve(answer.result);
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`${method}: no answer`)));
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }));
  });
}

describe('flood protection (default script)', { skip: SKIP }, () => {
  const dir = tempDir('olelo-flood-');
  let server: ServerChild;
  let socket: string;

  before(async () => {
    await provision(dir.path);
    socket = join(dir.path, 'data', 'olelo.sock');
    server = await startServerProcess(dir.path, {
      yaml:
        `database:\n  url: ${JSON.stringify(databaseUrl(dir.path))}\n` +
        `control:\n  socket: ${JSON.stringify(socket)}\n` +
        // SIPp 3.6 answers MD5 only
        'modules:\n  auth:\n    algorithms: [MD5]\n',
    });
  });

  after(async () => {
    killAllSipp();
    await stopAll();
    dir.remove();
  });

  it('bans a source flooding 20,000 requests/s within its first second while phones on another address register and call', {
    timeout: 30_000,
  }, async () => {
    const remote = `127.0.0.1:${server.port}`;
    const sipp = (scenario: string, name: string, args: string[], calls = 1) =>
      runSippUac({
        scenario,
        local: PHONES,
        remote,
        calls,
        args,
        dir: dir.path,
        name,
        randomMediaPort: true,
      });
    // the phones register before the flood
    const bob = await startSippUas({
      scenario: 'svc-uas.xml',
      local: PHONES,
      calls: 4,
      dir: dir.path,
      name: 'bob-uas',
      randomMediaPort: true,
    });
    const registered = await Promise.all([
      sipp('svc-register.xml', 'bob-reg', registerArgs('bob', { contactPort: bob.port })),
      sipp('svc-register.xml', 'alice-reg', registerArgs('alice')),
    ]);
    assert.equal(succeeded(registered), undefined);

    const pid = server.proc.pid;
    const cpuBefore = cpuSeconds(pid);
    const rssBefore = residentMb(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, residentMb(pid));
    }, 100);
    // during the flood: 4 calls alice → bob (one a second) and 3 more registrations of carol
    const [flooded, calls, reregs] = await Promise.all([
      flood({
        from: FLOODER,
        to: { address: '127.0.0.1', port: server.port },
        rate: RATE,
        count: (RATE * FLOOD_MS) / 1000,
        maxMs: FLOOD_MS + 1000,
      }),
      sipp('svc-call.xml', 'alice-calls-bob', [...callArgs('alice', 'bob'), '-r', '1'], 4),
      sipp('svc-register.xml', 'carol-reg', [...registerArgs('carol'), '-r', '1'], 3),
    ]);
    clearInterval(sampler);
    const cpu = cpuSeconds(pid) - cpuBefore;
    const uas = await bob.done;

    // the phones on the other address saw no failure
    assert.equal(succeeded([calls, uas], 4), undefined);
    assert.equal(succeeded([reregs], 3), undefined);

    // the flooding source is in the ban table, the phones' address is not
    const dump = (await rpc(socket, 'htable.dump', 'ipban')) as { slot: { name: string }[] }[];
    const banned = dump.flatMap((e) => e.slot.map((i) => i.name));
    assert.deepEqual(banned, [FLOODER]);

    // replies stopped within the first second, after a handful
    const lastReply = flooded.replyTimes.at(-1) ?? 0;
    assert.ok(flooded.replies > 0 && flooded.replies <= 200, `replies to the flood: ${flooded.replies}`);
    assert.ok(lastReply < 1000, `last reply to the flood ${lastReply.toFixed(0)} ms after it started`);
    assert.ok(flooded.sent >= (RATE * FLOOD_MS) / 1000 / 2, `sent ${flooded.sent}`);

    const fetched = (await rpc(socket, 'stats.fetch', 'all')) as Record<string, string>;
    const stats = Object.fromEntries(Object.entries(fetched).map(([k, v]) => [k, Number(v)]));
    const received = stats['core.rcv_requests'] ?? 0;
    const dropped = stats['core.drop_requests'] ?? 0;
    assert.ok(dropped > flooded.sent / 4, `dropped ${dropped} of ${flooded.sent}`);
    assert.ok((stats['htable.ipban_hits'] ?? 0) > 0);
    const figures = {
      sent: flooded.sent,
      sendRate: Math.round(flooded.sent / (flooded.durationMs / 1000)),
      receivedByServer: received,
      dropped,
      repliesToFlooder: flooded.replies,
      lastReplyMs: Math.round(lastReply),
      serverCpuSeconds: cpu,
      serverCpuPercent: Math.round((cpu / (flooded.durationMs / 1000)) * 100),
      cpuMicrosecondsPerDrop: Math.round((cpu * 1e6) / Math.max(1, dropped)),
      rssBeforeMb: Math.round(rssBefore),
      rssPeakMb: Math.round(rssPeak),
      pikeDetected: stats['pike.detected'],
      pikeBlocked: stats['pike.blocked'],
    };
    console.log(`# flood figures ${JSON.stringify(figures)}`);
  });
});
