/**
 * Flood benchmark: olelo (a child process, the default script with its defaults) takes OPTIONS over UDP
 * from one source at a fixed rate for a while; the source is banned by the default script's flood
 * protection and its requests dropped. Prints what the server received per second, its CPU per dropped
 * request and its resident memory.
 *
 *   npm run build && node dist/bench/flood.js [rate=20000] [seconds=10] [source=127.0.0.3]
 *
 * The sender runs in this process and competes with the server for the CPU; on a 2-core machine one
 * sender tops out around 40,000-60,000 datagrams/s.
 */
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { cpuSeconds, flood, residentMb } from '../test/firewall/flooder.js';
import { startServerProcess, stopAll, tempDir } from '../test/helpers/process.js';

const rate = Number(process.argv[2] ?? 20_000);
const seconds = Number(process.argv[3] ?? 10);
const source = process.argv[4] ?? '127.0.0.3';

function fetchStats(socketPath: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/RPC', method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        const result = (JSON.parse(body) as { result: Record<string, string> }).result;
        resolve(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Number(v)])));
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', method: 'stats.fetch', params: ['all'], id: 1 }));
  });
}

const dir = tempDir('bench-flood');
try {
  const socket = join(dir.path, 'data', 'olelo.sock');
  const server = await startServerProcess(dir.path, {
    yaml: `control:\n  socket: ${JSON.stringify(socket)}\n`,
  });
  const pid = server.proc.pid;
  const before = await fetchStats(socket);
  const cpuBefore = cpuSeconds(pid);
  const rssBefore = residentMb(pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, residentMb(pid));
  }, 200);
  const result = await flood({
    from: source,
    to: { address: '127.0.0.1', port: server.port },
    rate,
    count: rate * seconds,
    maxMs: seconds * 1000 + 2000,
  });
  clearInterval(sampler);
  const cpu = cpuSeconds(pid) - cpuBefore;
  const after = await fetchStats(socket);
  const received = (after['core.rcv_requests'] ?? 0) - (before['core.rcv_requests'] ?? 0);
  const dropped = (after['core.drop_requests'] ?? 0) - (before['core.drop_requests'] ?? 0);
  const secondsRun = result.durationMs / 1000;
  console.log(`flood from ${source}: ${result.sent} OPTIONS in ${secondsRun.toFixed(2)} s`);
  console.log(`  sent per second            ${Math.round(result.sent / secondsRun)}`);
  console.log(`  received by olelo per s    ${Math.round(received / secondsRun)}  (${received} in all)`);
  console.log(`  dropped (banned)           ${dropped}`);
  console.log(
    `  replies before the ban     ${result.replies}  (last ${Math.round(result.replyTimes.at(-1) ?? 0)} ms in)`,
  );
  console.log(
    `  olelo CPU                  ${cpu.toFixed(2)} s  (${Math.round((cpu / secondsRun) * 100)}% of a core)`,
  );
  console.log(`  CPU per dropped request    ${((cpu * 1e6) / Math.max(1, dropped)).toFixed(1)} us`);
  console.log(
    `  olelo RSS                  ${rssBefore.toFixed(0)} MB before, ${rssPeak.toFixed(0)} MB peak`,
  );
  await stopAll();
} finally {
  rmSync(dir.path, { recursive: true, force: true });
}
