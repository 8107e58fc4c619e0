/**
 * 100,000 stateful transactions run to completion, and the heap returns near its baseline: nothing
 * (transactions, timers, tables) outlives its RFC 3261 lifetime.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startServer } from '../helpers/server.js';

const TOTAL = Number(process.env.OLELO_TM_MEMORY_TRANSACTIONS ?? 100_000);
const WINDOW = 300;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const dir = mkdtempSync(join(tmpdir(), 'olelo-tm-mem-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('transaction memory', () => {
  it(`runs ${TOTAL} transactions to completion and returns the heap near its baseline`, async () => {
    const script = join(dir, 'relay.ts');
    writeFileSync(
      script,
      "import { defineRoutes } from 'olelo/script';\nexport default defineRoutes({ async request(req, m) { await m.tm.relay(req); } });\n",
    );
    // short timers so completed transactions leave quickly: Timer J and K are 64*T1 and T4
    const { server, listener } = await startServer('modules:\n  tm:\n    t1: 20ms\n    t4: 20ms\n', {
      listen: ['udp:127.0.0.1:0'],
      script,
    });
    const port = listener('udp').port;
    const uas = createSocket('udp4');
    const uac = createSocket('udp4');
    await new Promise<void>((r) => uas.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => uac.bind(0, '127.0.0.1', r));
    const uasPort = uas.address().port;
    const uacPort = uac.address().port;
    // the UAS answers every request with 200, copying Via, From, To, Call-ID and CSeq
    uas.on('message', (buf) => {
      const text = buf.toString('latin1');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      const copied = head
        .split('\r\n')
        .slice(1)
        .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l))
        .map((l) => (l.startsWith('To:') ? `${l};tag=u` : l));
      uas.send(`SIP/2.0 200 OK\r\n${copied.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, port, '127.0.0.1');
    });
    let sent = 0;
    let answered = 0;
    const seen = new Uint8Array(TOTAL + 2000);
    const send = () => {
      const n = sent++;
      uac.send(
        `MESSAGE sip:bob@127.0.0.1:${uasPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uacPort};branch=z9hG4bK-m${n}\r\nFrom: <sip:a@127.0.0.1>;tag=f${n}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: mem${n}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        port,
        '127.0.0.1',
      );
    };
    const run = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const target = answered + count;
        const stop = sent + count;
        const deadline = setTimeout(
          () => reject(new Error(`only ${answered} of ${target} answered`)),
          120_000,
        );
        const onMessage = (buf: Buffer) => {
          const text = buf.toString('latin1');
          if (!text.startsWith('SIP/2.0 200')) return;
          // count each transaction once: under load the proxy retransmits, and late duplicate 200s pass
          const at = text.indexOf('Call-ID: mem') + 12;
          const n = Number.parseInt(text.slice(at, text.indexOf('\r', at)), 10);
          if (seen[n] === 1) return;
          seen[n] = 1;
          answered++;
          if (sent < stop) send();
          if (answered >= target) {
            clearTimeout(deadline);
            uac.off('message', onMessage);
            resolve();
          }
        };
        uac.on('message', onMessage);
        for (let i = 0; i < WINDOW && sent < stop; i++) send();
      });
    const settle = async () => {
      // Timer J (64*T1 = 1.3 s) and K end the transactions
      const deadline = Date.now() + 10_000;
      while (server.stats.get('tm.current')! > 0 || Date.now() < deadline - 8_000) {
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1600));
    };
    try {
      await run(2000); // warm-up: JIT, caches, pools
      await settle();
      const baseline = heapAfterGc();
      await run(TOTAL);
      const peakTables = server.stats.get('tm.total')!;
      await settle();
      const afterHeap = heapAfterGc();
      assert.equal(answered, TOTAL + 2000);
      assert.equal(peakTables, TOTAL + 2000);
      assert.equal(server.stats.get('tm.current'), 0);
      const growth = afterHeap - baseline;
      assert.ok(growth < 8 * 1024 * 1024, `heap grew by ${(growth / 1048576).toFixed(1)} MiB`);
    } finally {
      uac.close();
      uas.close();
      await server.stop(100);
    }
  });
});
