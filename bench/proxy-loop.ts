/**
 * Case (c) of the parser bench for olelo alone, in a plain loop, for profiling:
 *
 *   taskset -c 1 node --cpu-prof --cpu-prof-dir=/tmp/olelo-prof dist/bench/proxy-loop.js [seconds]
 *
 * Parse, decrement Max-Forwards, add a Record-Route, prepend a Via, serialize; for `seconds` (default 10).
 * `--read` profiles case (b) instead: parse and read every typed header.
 */
import { parseMessage, type SipMessageAny, serializeMessage } from '../src/sip/index.js';
import { NEW_RR, NEW_VIA, POOL, POOL_SIZE } from './input.js';

const args = process.argv.slice(2);
const read = args.includes('--read');
const seconds = Number(args.find((a) => a !== '--read') ?? 10);
if (!(seconds > 0)) {
  console.error('usage: node dist/bench/proxy-loop.js [seconds] [--read]');
  process.exit(2);
}

function proxy(buf: Buffer): number {
  const msg = parseMessage(buf);
  msg.setHeader('Max-Forwards', String((msg.maxForwards ?? 70) - 1));
  msg.prependHeader('Record-Route', NEW_RR);
  msg.prependVia(NEW_VIA);
  return serializeMessage(msg).length;
}

function touch(msg: SipMessageAny): number {
  let s = msg.via.length + msg.route.length + msg.recordRoute.length;
  s += msg.from!.params.size + msg.to!.params.size + msg.callId!.length + msg.cseq!.seq + msg.maxForwards!;
  s += msg.contact!.list.length + msg.contentLength! + msg.contentType!.type.length + msg.expires!;
  s += msg.allow!.length + msg.supported!.length;
  if (msg.kind === 'request') s += msg.uri.scheme.length;
  return s;
}

const step = read ? (buf: Buffer) => touch(parseMessage(buf)) : proxy;
const deadline = performance.now() + seconds * 1000;
let sink = 0;
let count = 0;
while (performance.now() < deadline) {
  for (let i = 0; i < 1000; i++) sink += step(POOL[(count + i) & (POOL_SIZE - 1)]!);
  count += 1000;
}
const rate = Math.round(count / seconds);
console.log(
  `${read ? 'read' : 'proxy'}: ${count} messages in ${seconds} s (${rate} msgs/s; checksum ${sink})`,
);
