/**
 * ratelimit against a real server over UDP: the README example as the route script, a TAILDROP pipe
 * whose exact budget per slot is checked, 503 with Retry-After past it, a limit changed live by
 * pl.set_pipe, and the per-source pipes the script creates.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from '../../src/core/server.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';
import { tempDir } from '../helpers/sipp.js';

/** The slot length of the test server: long enough that a burst fits in one slot. */
const INTERVAL = 3000;

let seq = 0;
function request(peer: UdpPeer, port: number, method: string): Promise<string> {
  const id = `rl-${process.pid}-${++seq}`;
  peer.send(
    [
      `${method} sip:example.com SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK${id};rport`,
      'Max-Forwards: 70',
      `From: <sip:u${seq}@example.com>;tag=${id}`,
      `To: <sip:u${seq}@example.com>`,
      `Call-ID: ${id}`,
      `CSeq: 1 ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
  return peer.next((m) => m.includes(`Call-ID: ${id}\r\n`));
}

/** Sends `n` requests one after the other; the status line and Retry-After of each answer. */
async function burst(peer: UdpPeer, port: number, method: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const answer = await request(peer, port, method);
    const status = /^SIP\/2\.0 (\d{3})/.exec(answer)?.[1] ?? '?';
    const retry = /\r\nRetry-After: *(\d+)/i.exec(answer)?.[1];
    out.push(retry === undefined ? status : `${status} retry ${retry}`);
  }
  return out;
}

/** Waits until at least `ms` are left in the current slot. */
async function slotWithRoom(ms: number): Promise<void> {
  const left = INTERVAL - (Date.now() % INTERVAL);
  if (left < ms) await sleep(left + 20);
}

/** Waits for the next slot to begin. */
async function nextSlot(): Promise<void> {
  await sleep(INTERVAL - (Date.now() % INTERVAL) + 20);
}

describe('ratelimit on a server (README example)', () => {
  const dir = tempDir('olelo-ratelimit-');
  let server: Server;
  let port: number;
  let peer: UdpPeer;

  before(async () => {
    const readme = readFileSync(join(ROOT, 'src/modules/ratelimit/README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(code, 'the README has a ts example');
    const script = join(dir.path, 'ratelimit-readme.ts');
    writeFileSync(script, code);
    const started = await startServer(
      `modules:\n  ratelimit:\n    interval: ${INTERVAL}ms\n    pipes:\n      register: { limit: 5 }\n`,
      { listen: ['udp:127.0.0.1:0'], script },
    );
    server = started.server;
    port = started.listener('udp').port;
    peer = await UdpPeer.open();
  });

  after(async () => {
    peer?.close();
    await server?.stop(100);
    dir.remove();
  });

  it('lets exactly the limit of a slot pass and answers the rest 503 with the Retry-After the script gives', async () => {
    await slotWithRoom(1500);
    const answers = await burst(peer, port, 'REGISTER', 8);
    assert.deepEqual(answers, [
      '200',
      '200',
      '200',
      '200',
      '200',
      '503 retry 10',
      '503 retry 10',
      '503 retry 10',
    ]);
    const pipe = (await server.rpc.call('pl.list', ['register'])) as { passed: number; dropped: number }[];
    assert.deepEqual(
      pipe.map((p) => [p.passed, p.dropped]),
      [[5, 3]],
    );
    // a raised limit applies at once to the same slot: 8 counted, 4 more may pass
    await server.rpc.call('pl.set_pipe', ['register', 'TAILDROP', 12]);
    assert.deepEqual(await burst(peer, port, 'REGISTER', 5), ['200', '200', '200', '200', '503 retry 10']);
    assert.equal(server.stats.get('ratelimit.dropped'), 4);
  });

  it('creates a pipe per source (50 a slot) and refuses past it with the default Retry-After', async () => {
    // the REGISTERs above counted in this source's pipe too: a fresh slot
    await nextSlot();
    const answers = await burst(peer, port, 'OPTIONS', 52);
    assert.deepEqual(answers.slice(0, 50), new Array(50).fill('200'));
    assert.deepEqual(answers.slice(50), ['503 retry 5', '503 retry 5']);
    const lines = (await server.rpc.call('pl.get_pipes')) as string[];
    assert.ok(
      lines.includes('PIPE: id=src:127.0.0.1 algorithm=TAILDROP limit=50 counter=52'),
      lines.join('\n'),
    );
    // another source address has its own budget
    const other = await UdpPeer.open('127.0.0.2');
    try {
      assert.deepEqual(await burst(other, port, 'OPTIONS', 1), ['200']);
      assert.equal(
        ((await server.rpc.call('pl.list', ['src:127.0.0.2'])) as { counter: number }[])[0]?.counter,
        1,
      );
    } finally {
      other.close();
    }
  });
});
