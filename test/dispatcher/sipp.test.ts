/**
 * The dispatcher with real SIPp peers on UDP loopback: scripts/loadbalancer.ts over three SIPp UAS
 * (round-robin, failover on 500 and on a stopped UAS, reload under load), the distributions of the
 * algorithms through a test script, and probing against UDP responders stopped and restarted.
 * Every SIPp run is bounded (-m, -timeout, an outer kill timer); the tests run concurrently.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from '../../src/core/server.js';
import type { DispatcherApi } from '../../src/modules/dispatcher/index.js';
import { waitUntil } from '../helpers/process.js';
import { ROOT, startServer } from '../helpers/server.js';
import {
  freePort,
  hasSipp,
  killAllSipp,
  runSippUac,
  type SippProcess,
  type SippResult,
  startSippUas,
  tempDir,
} from '../helpers/sipp.js';

const T = { timeout: 45_000 };
const SIPP = hasSipp();
const LOCAL = '127.0.0.1';

/** Test routing: the algorithm from X-Alg over set 1; each answered call's UAS port recorded by Call-ID. */
const COUNTING_SCRIPT = `
import { defineRoutes } from 'olelo/script';
const answered: Map<string, number> = ((globalThis as any).__dsAnswered ??= new Map());
export default defineRoutes({
  async request(req, m) {
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) {
        if (req.method === 'ACK') await m.forward(req);
        else await m.tm.relay(req);
      }
      return;
    }
    if (req.method === 'ACK' || req.method === 'CANCEL') return;
    if (!m.dispatcher.selectDestination(req, 1, Number(req.header('x-alg') ?? 4))) {
      m.sl.reply(req, 503, 'No destination available');
      return;
    }
    m.tm.onReply(req, (res) => {
      if (res.status === 200) answered.set(req.msg.callId ?? '', res.source.port);
    });
    m.rr.recordRoute(req);
    await m.tm.relay(req);
  },
});
`;

function dispatcherOf(server: Server): DispatcherApi {
  return (server as unknown as { modules: { dispatcher: DispatcherApi } }).modules.dispatcher;
}

function assertCalls(r: SippResult, calls: number, context = ''): void {
  const all = `${r.summary}\n${context}`;
  assert.equal(r.killed, false, all);
  assert.equal(r.successful, calls, all);
  assert.equal(r.failed, 0, all);
}

describe('dispatcher through olelo with SIPp', {
  skip: SIPP ? false : 'sipp (Debian sip-tester) is not installed',
  concurrency: true,
}, () => {
  let dir: ReturnType<typeof tempDir>;
  let countingScript: string;

  before(() => {
    dir = tempDir('olelo-sipp-ds-');
    countingScript = join(dir.path, 'ds-counting.ts');
    writeFileSync(countingScript, COUNTING_SCRIPT);
  });

  after(() => {
    killAllSipp();
    if (process.env.OLELO_KEEP_SIPP === undefined) dir?.remove();
  });

  interface Scene {
    server: Server;
    ds: DispatcherApi;
    port: number;
    listFile: string;
    uas: SippProcess[];
    uac(name: string, calls: number, args?: string[], timeoutS?: number): Promise<SippResult>;
  }

  /**
   * An olelo with `script` and a list of set 1 over the given UAS ports (`port` → line attributes),
   * started SIPp UAS for `scenarios` (undefined: no UAS on that port: a stopped one).
   */
  async function scene(
    name: string,
    options: {
      script?: string;
      uas: ({ scenario: string; calls: number } | undefined)[];
      line?: (port: number, i: number) => string;
      yaml?: string;
    },
    fn: (s: Scene) => Promise<void>,
  ): Promise<void> {
    const uas: SippProcess[] = [];
    const ports: number[] = [];
    try {
      for (const [i, u] of options.uas.entries()) {
        if (u === undefined) {
          ports.push(await freePort(LOCAL));
          continue;
        }
        const p = await startSippUas({
          scenario: u.scenario,
          local: LOCAL,
          calls: u.calls,
          dir: dir.path,
          name: `${name}-uas${i}`,
          timeoutS: 30,
          randomMediaPort: true,
        });
        uas.push(p);
        ports.push(p.port);
      }
      const listFile = join(dir.path, `${name}.list`);
      const line = options.line ?? ((port: number) => `1 sip:${LOCAL}:${port}`);
      writeFileSync(listFile, `${ports.map((p, i) => line(p, i)).join('\n')}\n`);
      const { server, listener } = await startServer(
        `modules:\n  dispatcher:\n    listFile: ${listFile}\n${options.yaml ?? ''}`,
        { listen: [`udp:${LOCAL}:0`], script: options.script ?? `${ROOT}scripts/loadbalancer.ts` },
      );
      const port = listener('udp').port;
      try {
        await fn({
          server,
          ds: dispatcherOf(server),
          port,
          listFile,
          uas,
          uac: (uacName, calls, args = [], timeoutS = 20) =>
            runSippUac({
              scenario: 'ds-uac.xml',
              local: LOCAL,
              calls,
              remote: `${LOCAL}:${port}`,
              dir: dir.path,
              name: `${name}-${uacName}`,
              timeoutS,
              randomMediaPort: true,
              args: [
                ...['-s', 'service', '-key', 'target', `${LOCAL}:${port}`],
                // SIPp keeps the first value of a key: the default algorithm only when none is given
                ...(args.includes('alg') ? [] : ['-key', 'alg', '4']),
                ...args,
              ],
            }),
        });
      } finally {
        await server.stop();
      }
    } finally {
      for (const p of uas) p.kill();
    }
  }

  const answer = (calls: number) => ({ scenario: 'tm-uas-answer.xml', calls });

  it('loadbalancer.ts: round-robin cycles exactly over three UAS', T, async () => {
    await scene('rr', { uas: [answer(10), answer(10), answer(10)] }, async (s) => {
      const r = await s.uac('uac', 30, ['-key', 'fromuser', 'rr', '-r', '50']);
      const uas = await Promise.all(s.uas.map((u) => u.done));
      assertCalls(r, 30, uas.map((u) => u.summary).join('\n'));
      // each UAS ends by itself after exactly its 10 calls
      for (const u of uas) assertCalls(u, 10);
      assert.deepEqual(
        s.ds.destinations(1).map((d) => d.load),
        [0, 0, 0],
        'every BYE released its call',
      );
    });
  });

  it('loadbalancer.ts: a UAS answering 500 is marked and its calls move on; no call fails', T, async () => {
    await scene(
      'fail500',
      { uas: [{ scenario: 'ds-uas-500.xml', calls: 1 }, answer(100), answer(100)] },
      async (s) => {
        const r = await s.uac('uac', 30, ['-key', 'fromuser', 'f', '-r', '50']);
        assertCalls(r, 30);
        assertCalls(await s.uas[0]!.done, 1);
        const states = s.ds.rpc['dispatcher.list']().RECORDS[0]!.SET.TARGETS.map((t) => t.DEST.FLAGS);
        assert.deepEqual(states, ['IP', 'AX', 'AX']);
      },
    );
  });

  it('loadbalancer.ts: a stopped UAS times out, is marked, and no call fails', T, async () => {
    await scene(
      'stopped',
      { uas: [answer(100), undefined, answer(100)], yaml: '  tm:\n    frTimer: 1s\n' },
      async (s) => {
        const r = await s.uac('uac', 12, ['-key', 'fromuser', 's', '-r', '10']);
        assertCalls(r, 12);
        const states = s.ds.rpc['dispatcher.list']().RECORDS[0]!.SET.TARGETS.map((t) => t.DEST.FLAGS);
        assert.deepEqual(states, ['AX', 'IP', 'AX']);
      },
    );
  });

  it(
    'weights (9) within 2% over 3,000 calls; From hash (1) is stable; priority (8) picks the first',
    T,
    async () => {
      const shared = globalThis as { __dsAnswered?: Map<string, number> };
      if (shared.__dsAnswered === undefined) shared.__dsAnswered = new Map();
      const answered = shared.__dsAnswered;
      const weights = [50, 30, 20];
      await scene(
        'dist',
        {
          script: countingScript,
          uas: [answer(5000), answer(5000), answer(5000)],
          line: (port, i) => `1 sip:${LOCAL}:${port} 0 ${i === 1 ? 10 : 0} weight=${weights[i]}`,
        },
        async (s) => {
          const ports = s.uas.map((u) => u.port);
          const counts = (prefix: string) => {
            const c = ports.map(() => 0);
            for (const [callId, port] of answered) if (callId.includes(prefix)) c[ports.indexOf(port)]!++;
            return c;
          };
          // -cid_str: Call-IDs tagged by run, to count each run's calls apart
          const run = (tag: string, alg: number, calls: number, rate: string, from: string) =>
            s.uac(tag, calls, [
              ...['-key', 'alg', String(alg), '-key', 'fromuser', from],
              ...['-cid_str', `${tag}-%u-%p@%s`, '-r', rate, '-l', '200'],
            ]);
          const w = await run('weight', 9, 3000, '600', 'w');
          assertCalls(w, 3000);
          const wc = counts('weight-');
          assert.equal(
            wc.reduce((a, b) => a + b, 0),
            3000,
          );
          for (const [i, c] of wc.entries())
            assert.ok(Math.abs(c / 3000 - weights[i]! / 100) <= 0.02, `weight ${weights[i]}%: ${c} of 3000`);
          const h = await run('hash', 1, 20, '50', 'carol');
          assertCalls(h, 20);
          assert.equal(
            counts('hash-').filter((c) => c > 0).length,
            1,
            `one UAS for one From: ${counts('hash-')}`,
          );
          const p = await run('prio', 8, 20, '50', 'p');
          assertCalls(p, 20);
          assert.deepEqual(counts('prio-'), [0, 20, 0], 'the priority-10 destination takes every call');
        },
      );
    },
  );

  it('loadbalancer.ts: reload under load (200 calls/s) drops no call', T, async () => {
    await scene('reload', { uas: [answer(2000), answer(2000), answer(2000)] }, async (s) => {
      const ports = s.uas.map((u) => u.port);
      const lists = [
        ports.map((p) => `1 sip:${LOCAL}:${p}`).join('\n'),
        [...ports]
          .reverse()
          .map((p, i) => `1 sip:${LOCAL}:${p} 0 ${i} weight=${10 * (i + 1)}`)
          .join('\n'),
      ];
      let reloads = 0;
      let stop = false;
      const reloading = (async () => {
        while (!stop) {
          writeFileSync(s.listFile, `${lists[reloads % 2]}\n`);
          await s.ds.reload();
          reloads++;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const r = await s.uac('uac', 1000, ['-key', 'fromuser', 'r', '-r', '200', '-l', '200']);
      stop = true;
      await reloading;
      assertCalls(r, 1000);
      assert.ok(reloads >= 50, `reloaded ${reloads} times during the run`);
    });
  });
});

describe('dispatcher probing', { concurrency: true }, () => {
  /** A UDP socket answering OPTIONS with 200 (a destination that is up), on `port` or a free one. */
  async function responder(port = 0): Promise<Socket> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, LOCAL, () => resolve());
    });
    socket.on('message', (msg) => {
      const text = msg.toString('latin1');
      if (!text.startsWith('OPTIONS ')) return;
      const head = text.split('\r\n\r\n', 1)[0]!.split('\r\n');
      const keep = head.filter((l) => /^(via|from|to|call-id|cseq):/i.test(l));
      const lines = keep.map((l) => (/^to:/i.test(l) ? `${l};tag=up` : l));
      const via = /^Via: SIP\/2\.0\/UDP ([^:;\s]+):(\d+)/im.exec(text);
      if (via === null) return;
      socket.send(
        `SIP/2.0 200 OK\r\n${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`,
        Number(via[2]),
        via[1],
      );
    });
    return socket;
  }

  it('marks a stopped destination inactive and a restarted one active within the intervals', T, async () => {
    const up = [await responder(), await responder(), await responder()];
    const dir = tempDir('olelo-ds-probe-');
    const listFile = join(dir.path, 'probe.list');
    writeFileSync(listFile, up.map((p) => `1 sip:${LOCAL}:${p.address().port}`).join('\n'));
    const interval = 200;
    const { server } = await startServer(
      `modules:\n  dispatcher:\n    listFile: ${listFile}\n    probingInterval: ${interval}ms\n    probingThreshold: 2\n    inactiveThreshold: 2\n    pingTimeout: 150ms\n`,
      { listen: [`udp:${LOCAL}:0`], script: `${ROOT}scripts/loadbalancer.ts` },
    );
    try {
      const ds = dispatcherOf(server);
      const state = (i: number) => ds.destinations(1)[i]!.state;
      assert.ok(
        await waitUntil(
          () => ds.rpc['dispatcher.list']().RECORDS[0]!.SET.TARGETS[0]!.DEST.LATENCY.AVG > 0,
          2000,
          20,
        ),
        'probes answered',
      );
      const port = up[1]!.address().port;
      up[1]!.close();
      const stopped = Date.now();
      // two failed probes: at most 2 intervals + the probe timeout, plus scheduling slack
      assert.ok(
        await waitUntil(() => state(1) === 'inactive', 2 * interval + 150 + 600, 20),
        'marked inactive',
      );
      assert.ok(Date.now() - stopped <= 2 * interval + 150 + 600);
      assert.equal(state(0), 'active');
      assert.equal(state(2), 'active');
      up[1] = await responder(port);
      const restarted = Date.now();
      assert.ok(await waitUntil(() => state(1) === 'active', 2 * interval + 600, 20), 'active again');
      assert.ok(Date.now() - restarted <= 2 * interval + 600);
      const dest = ds.rpc['dispatcher.list']().RECORDS[0]!.SET.TARGETS[1]!.DEST;
      assert.ok(dest.LATENCY.TIMEOUT >= 2, `timeouts counted: ${JSON.stringify(dest.LATENCY)}`);
    } finally {
      await server.stop();
      for (const p of up) p.close();
      dir.remove();
    }
  });
});
