/**
 * The stateful proxy's SIP work per call, without sockets: the server of `bench/proxy` (its route script
 * bench/proxy/olelo.ts, record-route + stateful relay) gets the messages of SIPp's calls of that bench
 * (INVITE, 180, 200, ACK, BYE, 200) handed to its receive pipeline directly; what it sends is captured
 * instead of written to a socket, and the UAC and UAS sides are played by this file. The time spent in
 * the server (`receive`, everything it runs synchronously: parse, script, transactions, serialization;
 * GC pauses that fall in it) is summed per call, at a fixed call rate so finished transactions wait out
 * their timers as they do under SIPp.
 *
 * What it leaves out on purpose: the kernel and Node's UDP path (about 9 µs per received-and-sent
 * message; docs/performance.md), so SIP work can be measured to a few percent on a noisy machine.
 *
 *   node dist/bench/call-loop.js [--rate 4000] [--seconds 20] [--by-message] [--alloc] [--snapshot FILE]
 *   (pin it: taskset -c 1; --by-message splits the server time over the six messages of a call)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/core/config.js';
import { Logger } from '../src/core/logger.js';
import { moduleSchemas } from '../src/core/module.js';
import type { Pipeline } from '../src/core/pipeline.js';
import { Server } from '../src/core/server.js';
import { builtinModules } from '../src/script/api.js';
import type { Destination, Listener, Source } from '../src/transport/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '4000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    snapshot: { type: 'string' },
    alloc: { type: 'boolean', default: false },
    'by-message': { type: 'boolean', default: false },
  },
});
const RATE = Number(opts.rate);
const SECONDS = Number(opts.seconds);
const WARMUP = Number(opts.warmup);

const UAC = { address: '127.0.0.1', port: 40_001 };
const UAS = { address: '127.0.0.1', port: 40_002 };
const SDP =
  'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

const dir = mkdtempSync(join(tmpdir(), 'olelo-call-loop-'));
const config = loadConfig({
  text: [
    'listen:',
    '  - udp:127.0.0.1:0',
    `script: ${join(ROOT, 'bench', 'proxy', 'olelo.ts')}`,
    `dataDir: ${dir}`,
    'control:',
    '  http:',
    '    listen: "off"',
    '  socket: "off"',
    '',
  ].join('\n'),
  env: {},
  cwd: ROOT,
  moduleSchemas: moduleSchemas(builtinModules),
});
const server = await Server.start(config, { log: Logger.create({ level: 'warn' }) });
const internals = server as unknown as { pipeline: Pipeline; transport: { send: unknown } };
const pipeline = internals.pipeline;
const listener: Listener = server.listeners[0]!;
const proxy = `${listener.address}:${listener.port}`;

/** What the server sent, in order. */
let outbox: Array<{ data: Buffer; dest: Destination }> = [];
internals.transport.send = (data: Buffer, dest: Destination) => {
  outbox.push({ data, dest });
  return undefined;
};

const source = (peer: { address: string; port: number }): Source => ({
  protocol: 'udp',
  address: peer.address,
  port: peer.port,
  family: 4,
  listener,
  connectionId: undefined,
  receivedAt: Date.now(),
});
const uacSource = source(UAC);
const uasSource = source(UAS);

let inServer = 0;
/** The six messages of a call, in order: ms spent in the server on each (for `--by-message`). */
const MESSAGES = ['INVITE', '180', '200 (INVITE)', 'ACK', 'BYE', '200 (BYE)'] as const;
const byMessage = new Float64Array(MESSAGES.length);
/** Hands a message (the `which`th of a call) to the server, timing it; returns what it sent. */
function deliver(which: number, text: string, from: Source): Array<{ data: Buffer; dest: Destination }> {
  const data = Buffer.from(text, 'latin1');
  from.receivedAt = Date.now();
  outbox = [];
  const t0 = performance.now();
  pipeline.receive(data, from);
  const t = performance.now() - t0;
  inServer += t;
  byMessage[which]! += t;
  return outbox;
}

function sentTo(
  out: Array<{ data: Buffer; dest: Destination }>,
  peer: { port: number },
  start: string,
): string {
  const found = out.find(
    (o) => o.dest.port === peer.port && o.data.toString('latin1', 0, start.length) === start,
  );
  if (found === undefined)
    throw new Error(
      `expected ${start} to ${peer.port}; got ${out.map((o) => o.data.toString('latin1').split('\r\n')[0]).join(', ')}`,
    );
  return found.data.toString('latin1');
}

/** The header lines of a message, split without olelo's parser (so a profile shows only the server's). */
function lines(text: string): string[] {
  return text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
}

/** The header lines of a received request a UAS copies into its responses (SIPp's [last_*]). */
function copied(text: string, toTag: string | undefined): string {
  const out: string[] = [];
  for (const line of lines(text)) {
    const name = line.slice(0, line.indexOf(':')).toLowerCase();
    if (name === 'to') out.push(toTag === undefined ? line : `${line};tag=${toTag}`);
    else if (
      name === 'via' ||
      name === 'from' ||
      name === 'call-id' ||
      name === 'cseq' ||
      name === 'record-route'
    )
      out.push(line);
  }
  return out.join('\r\n');
}

let callNumber = 0;
/** One call as the bench's SIPp UAC and UAS make it. */
function call(): void {
  const n = ++callNumber;
  const callId = `${n}-bench@127.0.0.1`;
  const fromTag = `${process.pid}SIPpTag00${n}`;
  const uasTag = `${process.pid}SIPpTag01${n}`;
  const uac = `${UAC.address}:${UAC.port}`;
  const invite =
    `INVITE sip:service@${UAS.address}:${UAS.port};transport=UDP SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP ${uac};branch=z9hG4bK-${n}-1-0;rport\r\n` +
    `From: "olelo test" <sip:caller@${uac}>;tag=${fromTag}\r\n` +
    `To: <sip:service@${UAS.address}:${UAS.port}>\r\n` +
    `Call-ID: ${callId}\r\nCSeq: 1 INVITE\r\n` +
    `Contact: <sip:caller@${uac};transport=UDP>\r\nMax-Forwards: 70\r\nSubject: olelo test call\r\n` +
    `Content-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`;
  const inviteOut = deliver(0, invite, uacSource);
  sentTo(inviteOut, UAC, 'SIP/2.0 100');
  const forwarded = sentTo(inviteOut, UAS, 'INVITE');
  const contact = `Contact: <sip:callee@${UAS.address}:${UAS.port};transport=UDP>`;
  sentTo(
    deliver(
      1,
      `SIP/2.0 180 Ringing\r\n${copied(forwarded, uasTag)}\r\n${contact}\r\nContent-Length: 0\r\n\r\n`,
      uasSource,
    ),
    UAC,
    'SIP/2.0 180',
  );
  const ok = sentTo(
    deliver(
      2,
      `SIP/2.0 200 OK\r\n${copied(forwarded, uasTag)}\r\n${contact}\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`,
      uasSource,
    ),
    UAC,
    'SIP/2.0 200',
  );
  // the UAC's route set: the 200's Record-Route, reversed (RFC 3261 §12.1.2); next hop the callee's Contact
  const routes = lines(ok)
    .filter((l) => l.startsWith('Record-Route:'))
    .reverse()
    .map((l) => `Route:${l.slice('Record-Route:'.length)}`)
    .join('\r\n');
  const inDialog = (method: string, cseq: number, branch: string) =>
    `${method} sip:callee@${UAS.address}:${UAS.port};transport=UDP SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP ${uac};branch=z9hG4bK-${n}-${branch};rport\r\n${routes}\r\n` +
    `From: "olelo test" <sip:caller@${uac}>;tag=${fromTag}\r\n` +
    `To: <sip:service@${UAS.address}:${UAS.port}>;tag=${uasTag}\r\n` +
    `Call-ID: ${callId}\r\nCSeq: ${cseq} ${method}\r\n` +
    `Contact: <sip:caller@${uac};transport=UDP>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  sentTo(deliver(3, inDialog('ACK', 1, '5'), uacSource), UAS, 'ACK');
  const bye = sentTo(deliver(4, inDialog('BYE', 2, '7'), uacSource), UAS, 'BYE');
  sentTo(
    deliver(
      5,
      `SIP/2.0 200 OK\r\n${copied(bye, undefined)}\r\n${contact}\r\nContent-Length: 0\r\n\r\n`,
      uasSource,
    ),
    UAC,
    'SIP/2.0 200',
  );
  void proxy;
}

/** Runs calls at RATE for `seconds`; resolves with [calls, ms in the server]. */
async function run(seconds: number): Promise<[number, number]> {
  const perTick = Math.max(1, Math.round(RATE / 100));
  const start = performance.now();
  const startInServer = inServer;
  byMessage.fill(0);
  let calls = 0;
  while (performance.now() - start < seconds * 1000) {
    const tick = performance.now();
    for (let i = 0; i < perTick; i++) call();
    calls += perTick;
    const wait = 10 - (performance.now() - tick);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
  }
  return [calls, inServer - startInServer];
}

/** Allocation sampling that counts collected objects too (what the GC has to work through). */
async function allocationProfile<T>(body: () => Promise<T>): Promise<{ result: T; top: string[] }> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  const result = await body();
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as {
    profile: { head: AllocNode };
  };
  session.disconnect();
  const bytes = new Map<string, number>();
  let total = 0;
  const walk = (n: AllocNode) => {
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/dist\//, '').replace(/^data:.*/, '(script)')}:${f.lineNumber + 1}`;
    bytes.set(key, (bytes.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  const top = [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}% ${k}`);
  return { result, top: [`sampled allocations: ${(total / 1048576).toFixed(0)} MiB`, ...top] };
}
interface AllocNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocNode[];
}

try {
  await run(WARMUP);
  const cpu0 = process.cpuUsage();
  let top: string[] = [];
  const [calls, ms] = opts.alloc
    ? await allocationProfile(() => run(SECONDS)).then((r) => {
        top = r.top;
        return r.result;
      })
    : await run(SECONDS);
  const cpu = process.cpuUsage(cpu0);
  if (top.length > 0) console.log(top.join('\n'));
  const perCall = (ms * 1000) / calls;
  console.log(
    `${calls} calls at ${RATE}/s over ${SECONDS} s: ${perCall.toFixed(1)} µs per call in the server ` +
      `(receive → sent, GC pauses inside included); process CPU ${((cpu.user + cpu.system) / calls).toFixed(1)} µs per call ` +
      `(the played UAC and UAS and their parsing included); tm.current ${server.stats.get('tm.current')}`,
  );
  if (opts['by-message']) {
    for (let i = 0; i < MESSAGES.length; i++)
      console.log(
        `  ${MESSAGES[i]!.padEnd(13)} ${((byMessage[i]! * 1000) / calls).toFixed(1).padStart(5)} µs`,
      );
  }
  if (opts.snapshot !== undefined) {
    const { writeHeapSnapshot } = await import('node:v8');
    console.log(`heap snapshot: ${writeHeapSnapshot(opts.snapshot)}`);
  }
} finally {
  await server.stop(100);
  rmSync(dir, { recursive: true, force: true });
}
