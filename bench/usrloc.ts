/**
 * usrloc benchmark: bindings held in memory by the in-memory location store.
 *
 * Inserts N bindings (one per AOR, use_domain on) of realistic size — Contact URI with a ;transport
 * parameter, a received URI, no Path, a User-Agent out of a few, a UUID-like Call-ID — each value cut out
 * of a REGISTER's header text as the parser would hand it over. Then reports the heap the store holds
 * (after GC), bytes per binding, inserts/s, refreshes/s (same contact, Call-ID, CSeq+1), lookups/s, and
 * an expiry sweep over all of it with 10% expired (total time and the longest event-loop stall).
 *
 * Usage: node --expose-gc dist/bench/usrloc.js [--count 1000000] [--json]
 * Target (issue 5): 1,000,000 bindings in at most 1 GB of heap.
 */
import { performance } from 'node:perf_hooks';
import { MemoryLocationStore } from '../src/modules/usrloc/memory-store.js';
import type { ContactInput } from '../src/modules/usrloc/types.js';

const argv = process.argv.slice(2);
const countArg = argv.indexOf('--count');
const COUNT = countArg >= 0 ? Number(argv[countArg + 1]) : 1_000_000;
const JSON_OUT = argv.includes('--json');
const BATCH = 10_000;
const TARGET_BYTES = 1024 ** 3;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const USER_AGENTS = [
  'Linphone/5.2.5 (belle-sip/5.2.4)',
  'Zoiper rv2.10.19.5',
  'MicroSIP/3.21.3',
  'Yealink SIP-T46U 108.86.0.20',
  'baresip v3.10.0 (x86_64/linux)',
  'JsSIP 3.10.1',
];

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The header text of one REGISTER (as the parser's latin1 view holds it) and the values cut out of it. */
function makeInput(i: number, now: number): { aor: string; input: ContactInput } {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const pub = `198.51.${(i >> 8) & 255}.${i & 255}`;
  const port = 1024 + (i % 60000);
  const callId = `${hex((i * 2654435761) >>> 0, 8)}-${hex(i & 0xffff, 4)}-4c1e-9b2a-${hex(i, 12)}`;
  const header =
    `REGISTER sip:sip.example.com SIP/2.0\r\nVia: SIP/2.0/TCP ${ip}:${port};branch=z9hG4bK${i};rport\r\n` +
    `From: <sip:user${i}@sip.example.com>;tag=${i}\r\nTo: <sip:user${i}@sip.example.com>\r\n` +
    `Call-ID: ${callId}\r\nCSeq: 1 REGISTER\r\nContact: <sip:user${i}@${ip}:${port};transport=tcp>;expires=3600\r\n` +
    `User-Agent: ${USER_AGENTS[i % USER_AGENTS.length]}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const text = header.split('\r\n').join('\r\n'); // flat, like the parser's view
  const cut = (start: string, end: string) => {
    const a = text.indexOf(start) + start.length;
    return text.slice(a, text.indexOf(end, a));
  };
  return {
    aor: cut('To: <sip:', '>'),
    input: {
      contact: cut('Contact: <', '>'),
      received: `sip:${pub}:${port};transport=tcp`,
      callId: cut('Call-ID: ', '\r\n'),
      cseq: 1,
      userAgent: cut('User-Agent: ', '\r\n'),
      socket: 'tcp:192.0.2.10:5060',
      connectionId: i + 1,
      // 10% expire within a minute, for the sweep
      expires: now + (i % 10 === 0 ? 60 : 3600),
    },
  };
}

async function main(): Promise<void> {
  let clock = Date.now();
  const store = new MemoryLocationStore({ useDomain: true, clock: () => clock });
  const now = store.now();
  const baseline = heapAfterGc();

  // ------------------------------------------------------------------------------- insert
  let insertMs = 0;
  for (let start = 0; start < COUNT; start += BATCH) {
    const batch: { aor: string; input: ContactInput }[] = [];
    for (let i = start; i < Math.min(COUNT, start + BATCH); i++) batch.push(makeInput(i, now));
    const t = performance.now();
    for (const { aor, input } of batch) {
      if (store.save(aor, input).status !== 'inserted') throw new Error(`not inserted: ${aor}`);
    }
    insertMs += performance.now() - t;
  }
  const counts = store.counts();
  if (counts.contacts !== COUNT || counts.users !== COUNT)
    throw new Error(`counts ${JSON.stringify(counts)}`);
  const heap = heapAfterGc() - baseline;

  // ------------------------------------------------------------------------------- lookup
  const LOOKUP_KEYS = 100_000;
  const keys: string[] = [];
  for (let i = 0; i < LOOKUP_KEYS; i++) keys.push(`user${(i * 7919) % COUNT}@sip.example.com`);
  const LOOKUPS = 2_000_000;
  let found = 0;
  let t = performance.now();
  for (let n = 0; n < LOOKUPS; n++) found += store.lookup(keys[n % LOOKUP_KEYS]!).length;
  const lookupMs = performance.now() - t;
  if (found !== LOOKUPS) throw new Error(`lookups found ${found} of ${LOOKUPS}`);

  // ------------------------------------------------------------------------------- refresh
  const REFRESHES = Math.min(COUNT, 200_000);
  const refreshes: { aor: string; input: ContactInput }[] = [];
  for (let i = 0; i < REFRESHES; i++) {
    const r = makeInput(i, now);
    r.input.cseq = 2;
    refreshes.push(r);
  }
  t = performance.now();
  for (const { aor, input } of refreshes) {
    if (store.save(aor, input).status !== 'updated') throw new Error(`not updated: ${aor}`);
  }
  const refreshMs = performance.now() - t;
  refreshes.length = 0;

  // ------------------------------------------------------------------------------- sweep
  clock += 120_000; // the 10% with 60 s left are now expired
  let maxStall = 0;
  let last = performance.now();
  let sweeping = true;
  const ping = () => {
    const at = performance.now();
    maxStall = Math.max(maxStall, at - last);
    last = at;
    if (sweeping) setImmediate(ping);
  };
  setImmediate(ping);
  t = performance.now();
  const expired = await store.sweep();
  const sweepMs = performance.now() - t;
  sweeping = false;
  const expectedExpired = Math.ceil(COUNT / 10);
  if (expired !== expectedExpired) throw new Error(`sweep expired ${expired}, expected ${expectedExpired}`);

  const result = {
    bindings: COUNT,
    heapBytes: heap,
    heapMiB: +(heap / 1048576).toFixed(1),
    bytesPerBinding: Math.round(heap / COUNT),
    insertsPerSecond: Math.round(COUNT / (insertMs / 1000)),
    lookupsPerSecond: Math.round(LOOKUPS / (lookupMs / 1000)),
    refreshesPerSecond: Math.round(REFRESHES / (refreshMs / 1000)),
    sweepMs: Math.round(sweepMs),
    sweepExpired: expired,
    sweepLongestStallMs: +maxStall.toFixed(1),
    targetMet: (heap * 1_000_000) / COUNT <= TARGET_BYTES,
    node: process.version,
  };
  if (JSON_OUT) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`usrloc: ${COUNT.toLocaleString('en')} bindings (one per AOR), node ${process.version}`);
  console.log(
    `  heap held       ${result.heapMiB} MiB  (${result.bytesPerBinding} bytes per binding; target ≤ 1 GiB per million: ${result.targetMet ? 'met' : 'NOT met'})`,
  );
  console.log(`  insert          ${result.insertsPerSecond.toLocaleString('en')} /s`);
  console.log(
    `  refresh         ${result.refreshesPerSecond.toLocaleString('en')} /s  (same contact and Call-ID, CSeq+1)`,
  );
  console.log(`  lookup          ${result.lookupsPerSecond.toLocaleString('en')} /s`);
  console.log(
    `  expiry sweep    ${result.sweepMs} ms for all, ${expired.toLocaleString('en')} expired; longest event-loop stall ${result.sweepLongestStallMs} ms`,
  );
}

await main();
