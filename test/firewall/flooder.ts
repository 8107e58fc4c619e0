/**
 * A SIP flood from one source address: OPTIONS over UDP at a fixed rate, each with its own branch and
 * Call-ID, for a bounded count and time; records when replies come back. Used by the flood test and by
 * bench/flood.ts. Also what /proc says of a process's CPU time and resident memory.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

/** What a flood did. */
export interface FloodResult {
  /** Datagrams handed to the socket. */
  sent: number;
  /** ms from the first send to the last. */
  durationMs: number;
  /** Replies received, and ms after the start each arrived. */
  replies: number;
  replyTimes: number[];
}

/** Options of {@link flood}. */
export interface FloodOptions {
  /** Source address to bind (any of 127/8 on Linux). */
  from: string;
  to: { address: string; port: number };
  /** Requests per second. */
  rate: number;
  /** Stop after this many requests ... */
  count: number;
  /** ... or this many ms, whichever comes first. */
  maxMs: number;
  /** How long to keep listening for replies after the last send. */
  drainMs?: number;
  /** Called once per pacing tick with the count sent so far. */
  onTick?: (sent: number, elapsedMs: number) => void;
}

/** Distinct requests cycled through: each one its own transaction. */
function requests(
  from: string,
  localPort: number,
  to: { address: string; port: number },
  n: number,
): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const id = `fl${process.pid}x${localPort}x${i}`;
    out.push(
      Buffer.from(
        `OPTIONS sip:${to.address}:${to.port} SIP/2.0\r\n` +
          `Via: SIP/2.0/UDP ${from}:${localPort};branch=z9hG4bK${id};rport\r\n` +
          'Max-Forwards: 70\r\n' +
          `From: <sip:flood@${from}>;tag=${id}\r\n` +
          `To: <sip:${to.address}:${to.port}>\r\n` +
          `Call-ID: ${id}\r\n` +
          'CSeq: 1 OPTIONS\r\n' +
          'User-Agent: olelo-flood-test\r\n' +
          'Content-Length: 0\r\n\r\n',
        'latin1',
      ),
    );
  }
  return out;
}

/** Sends the flood; resolves when it is over and the drain time has passed. */
export async function flood(o: FloodOptions): Promise<FloodResult> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, o.from, () => resolve());
  });
  socket.on('error', () => {
    // ICMP errors or a full buffer: a flood does not care
  });
  const pool = requests(o.from, socket.address().port, o.to, 4096);
  const replyTimes: number[] = [];
  const start = performance.now();
  socket.on('message', () => replyTimes.push(performance.now() - start));
  let sent = 0;
  let last = start;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const elapsed = now - start;
      const due = Math.min(o.count, Math.floor((elapsed * o.rate) / 1000));
      while (sent < due) {
        socket.send(pool[sent % pool.length]!, o.to.port, o.to.address);
        sent++;
      }
      last = now;
      o.onTick?.(sent, elapsed);
      if (sent >= o.count || elapsed >= o.maxMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await new Promise((r) => setTimeout(r, o.drainMs ?? 500));
  socket.close();
  return { sent, durationMs: last - start, replies: replyTimes.length, replyTimes };
}

const TICKS_PER_SECOND = 100; // Linux USER_HZ

/** CPU time (user + system) of a process so far, in seconds, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident memory of a process, in MB, from /proc. */
export function residentMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}
