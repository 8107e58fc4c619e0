/**
 * The whole receive path of a real `olelo` process (transport, framing, parser, pipeline, transaction
 * layer, the default script) fuzzed over UDP and TCP with mutated messages of the torture corpus
 * (test/fixtures/torture): bytes flipped, cut short, header lines duplicated, huge values, spliced
 * messages, lying Content-Length. After every batch the server must answer a valid OPTIONS with 200, and
 * its resident memory must stay bounded.
 *
 * `npm test` sends FUZZ_MESSAGES (default 6000) messages, half over each transport; `npm run fuzz` sends
 * many more. FUZZ_SEED replays a run. (Not OLELO_*: those are settings.)
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  HAS_PROC,
  rssMb,
  type ServerChild,
  sleep,
  startServerProcess,
  stopAll,
  tcpOptions,
  tempDir,
  udpOptions,
  waitUntil,
} from '../helpers/process.js';

const MESSAGES = Number(process.env.FUZZ_MESSAGES ?? 6000);
const BATCH = 250;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() >>> 0);
/** RSS may grow this much over its warmed-up baseline, whatever the number of messages. */
const RSS_TOLERANCE_MB = 48;
const MAX_MESSAGE_SIZE = 16_384;

const corpus: Buffer[] = [];
for (const folder of ['rfc4475', 'rfc5118', 'rfc5118-wire']) {
  const url = new URL(`../../../test/fixtures/torture/${folder}/`, import.meta.url);
  for (const name of readdirSync(url).sort()) corpus.push(readFileSync(new URL(name, url)));
}

/** mulberry32: a seeded PRNG so a failing run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = [':', ';', ',', '"', '<', '>', '@', '=', '%', '\\', ' ', '\t', '\r\n', '\r\n ', '\0', '\xff'];

/** One mutated corpus message; `random` drives every choice. */
function mutate(random: () => number): Buffer {
  const int = (n: number) => Math.floor(random() * n);
  let text = corpus[int(corpus.length)]!.toString('latin1');
  for (let k = 1 + int(3); k > 0; k--) {
    const at = int(text.length + 1);
    switch (int(8)) {
      case 0: {
        // flip bytes
        const chars = [...text];
        for (let n = 1 + int(6); n > 0; n--) chars[int(chars.length)] = String.fromCharCode(int(256));
        text = chars.join('');
        break;
      }
      case 1:
        text = text.slice(0, at); // truncate
        break;
      case 2: {
        // duplicate a header line many times
        const lines = text.split('\r\n');
        const i = 1 + int(Math.max(1, lines.length - 2));
        const line = lines[i] ?? 'Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKdup';
        lines.splice(i, 0, ...new Array(1 + int(120)).fill(line));
        text = lines.join('\r\n');
        break;
      }
      case 3: {
        // a huge value in a header
        const colon = text.indexOf(':', at);
        if (colon !== -1)
          text = `${text.slice(0, colon + 1)} ${'x'.repeat(1000 + int(9000))}${text.slice(colon + 1)}`;
        break;
      }
      case 4:
        text = text.slice(0, at) + SPECIAL[int(SPECIAL.length)]! + text.slice(at); // syntax characters
        break;
      case 5: {
        // splice in a piece of another message
        const other = corpus[int(corpus.length)]!.toString('latin1');
        const from = int(other.length);
        text = text.slice(0, at) + other.slice(from, from + 1 + int(300)) + text.slice(at);
        break;
      }
      case 6:
        text = text.replace(
          /Content-Length: *\d+/i,
          `Content-Length: ${['0', '99999', '-1', '7', 'x'][int(5)]}`,
        );
        break;
      default:
        text = text.slice(0, at) + text.slice(at + 1 + int(40)); // delete a run
    }
  }
  return Buffer.from(text, 'latin1');
}

/** Over TCP a message needs a Content-Length that frames it; half the messages get a correct one. */
function framed(message: Buffer, random: () => number): Buffer {
  if (random() < 0.5) return message;
  const text = message.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return message;
  const head = text.slice(0, end).replace(/\r\n(Content-Length|l) *:[^\r]*/gi, '');
  return Buffer.from(
    `${head}\r\nContent-Length: ${text.length - end - 4}\r\n\r\n${text.slice(end + 4)}`,
    'latin1',
  );
}

describe('the receive path under fuzzed corpus messages', {
  skip: HAS_PROC ? false : 'needs /proc (Linux)',
}, () => {
  const dir = tempDir('receive-fuzz');
  let server: ServerChild;
  let baseline = 0;

  before(async () => {
    // next hops resolve against a DNS port nobody listens on: lookups fail at once, none leaves the host
    const dnsPort = await freePort();
    server = await startServerProcess(dir.path, {
      nodeArgs: ['--max-semi-space-size=1'],
      yaml: `limits:\n  maxMessageSize: ${MAX_MESSAGE_SIZE}\n  messageReadTimeout: 2s\ndns:\n  servers: ["127.0.0.1:${dnsPort}"]\n  timeout: 500ms\n`,
    });
    for (let i = 0; i < 20; i++) assert.equal(await udpOptions(server.port), 200);
    assert.equal(await tcpOptions(server.port), 200);
    await sleep(200);
    baseline = rssMb(server.proc.pid);
  });

  after(async () => {
    await stopAll();
    dir.remove();
  });

  it(`takes ${MESSAGES} mutated messages over UDP and TCP, answering OPTIONS after every batch of ${BATCH}`, async (t) => {
    t.diagnostic(`seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${corpus.length} corpus messages`);
    const random = prng(SEED);
    const port = server.port;
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    udp.on('message', () => {});
    let udpErrors = 0;
    udp.on('error', () => {
      udpErrors++;
    });
    let tcp: Socket | undefined;
    let tcpClosedByServer = 0;
    const tcpSocket = (): Socket => {
      if (tcp !== undefined && !tcp.destroyed && tcp.writable) return tcp;
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.on('data', () => {});
      s.on('close', () => {
        tcpClosedByServer++;
      });
      tcp = s;
      return s;
    };
    let peak = baseline;
    const started = Date.now();
    try {
      for (let sent = 0; sent < MESSAGES; ) {
        const batchEnd = Math.min(MESSAGES, sent + BATCH);
        for (; sent < batchEnd; sent++) {
          const message = mutate(random);
          if (sent % 2 === 0) {
            if (message.length > 0 && message.length < 65_000) udp.send(message, port, '127.0.0.1');
          } else {
            const s = tcpSocket();
            s.write(framed(message, random));
          }
          // let the sockets drain now and then: a bounded burst, not an unbounded queue
          if (sent % 50 === 49) await sleep(2);
        }
        if (server.proc.exit !== undefined) break;
        assert.equal(
          await udpOptions(port, { timeoutMs: 5000 }),
          200,
          `OPTIONS after ${sent} messages (seed ${SEED})`,
        );
        peak = Math.max(peak, rssMb(server.proc.pid));
      }
    } finally {
      tcp?.destroy();
      udp.close();
    }
    assert.equal(
      server.proc.exit,
      undefined,
      `olelo exited (seed ${SEED}):\n${server.proc.output.slice(-3000)}`,
    );
    assert.equal(await tcpOptions(port), 200, 'OPTIONS over TCP after the run');
    const crashes = server.proc.lines.filter((l) => /uncaught|unhandled|FATAL|route handler failed/i.test(l));
    assert.deepEqual(crashes, [], `unexpected exceptions (seed ${SEED})`);
    let rss = rssMb(server.proc.pid);
    await waitUntil(
      () => {
        rss = rssMb(server.proc.pid);
        return rss < baseline + RSS_TOLERANCE_MB;
      },
      15_000,
      250,
    );
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(
      `${MESSAGES} messages in ${seconds.toFixed(1)} s (${Math.round(MESSAGES / seconds)}/s); TCP connections closed ` +
        `${tcpClosedByServer}; UDP send errors ${udpErrors}; RSS baseline ${baseline.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, after ${rss.toFixed(1)} MB`,
    );
    assert.ok(
      rss < baseline + RSS_TOLERANCE_MB,
      `RSS ${rss.toFixed(1)} MB stays above baseline ${baseline.toFixed(1)} + ${RSS_TOLERANCE_MB} MB (seed ${SEED})`,
    );
  });
});
