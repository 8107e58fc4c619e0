/**
 * Node's own floor for a UDP proxy: the CPU a Node process spends per call of `bench/proxy`'s SIPp
 * scenario when it does no SIP work at all — a relay that passes every datagram from the UAC to the UAS
 * and back (6 received, 6 sent per call; olelo's stateful proxy receives 6 and sends 7, the 100 Trying).
 * Same SIPp scenarios, rates, pinning and socket options as `bench/proxy` (the relay's socket is made as
 * olelo's UDP listener makes it: literal-address lookup, 8 MiB receive buffer).
 *
 *   node dist/bench/udp-floor.js [--rates 2000,4000] [--calls 20000] [--delay-us 0]
 *
 * It puts a number on what no change to olelo's SIP code can remove; docs/performance.md compares it
 * with olelo's and Kamailio's CPU per call. `--delay-us N` makes the relay spin N µs on every datagram
 * before passing it on (a stand-in for SIP work): what answering later costs the sends (on a VM that
 * halts idle CPUs at once, waking the receiver costs more once its CPU has gone idle).
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CLIENT_CPU,
  cpuMs,
  freeUdpPort,
  killAll,
  launch,
  log,
  ROOT,
  runSippClient,
  SERVER_CPU,
  SIPP_SOCKET_BUFFER,
  sleep,
  stopChild,
} from './lib/procs.js';

const { values: opts } = parseArgs({
  options: {
    relay: { type: 'string' },
    uas: { type: 'string' },
    rates: { type: 'string', default: '2000,4000' },
    calls: { type: 'string', default: '20000' },
    'delay-us': { type: 'string', default: '0' },
  },
});
const DELAY_MS = Number(opts['delay-us']) / 1000;

if (opts.relay !== undefined) {
  // the relay itself (a child of the bench)
  const uasPort = Number(opts.uas);
  const socket = createSocket({
    type: 'udp4',
    reuseAddr: false,
    lookup: (host, _o, cb) => (cb as (e: null, a: string, f: number) => void)(null, host, isIP(host)),
  });
  let uac: RemoteInfo | undefined;
  socket.on('message', (msg, from) => {
    if (DELAY_MS > 0) {
      const end = performance.now() + DELAY_MS;
      while (performance.now() < end) {
        // spinning: the stand-in for SIP work
      }
    }
    if (from.port === uasPort) {
      if (uac !== undefined) socket.send(msg, uac.port, uac.address);
    } else {
      uac = from;
      socket.send(msg, uasPort, '127.0.0.1');
    }
  });
  socket.bind(Number(opts.relay), '127.0.0.1', () => {
    socket.setRecvBufferSize(8 * 1024 * 1024);
    console.log('relaying');
  });
} else {
  const dir = join(ROOT, 'dist', 'bench-udp-floor');
  const { mkdirSync, rmSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const uasPort = await freeUdpPort();
  const relayPort = await freeUdpPort();
  const uas = launch(
    'sipp',
    [
      '-sf',
      join(ROOT, 'bench', 'stateless', 'uas.xml'),
      '-i',
      '127.0.0.1',
      '-p',
      String(uasPort),
      '-nostdin',
    ].concat(['-buff_size', String(SIPP_SOCKET_BUFFER)]),
    CLIENT_CPU,
    join(dir, 'uas.out'),
  );
  const relay = launch(
    process.execPath,
    [
      join(ROOT, 'dist', 'bench', 'udp-floor.js'),
      '--relay',
      String(relayPort),
      '--uas',
      String(uasPort),
      '--delay-us',
      String(opts['delay-us']),
    ],
    SERVER_CPU,
    join(dir, 'relay.out'),
  );
  try {
    await sleep(1500);
    const calls = Number(opts.calls);
    for (const rate of opts.rates!.split(',').map(Number)) {
      const before = cpuMs([relay.pid!]);
      const run = await runSippClient(
        [
          `127.0.0.1:${relayPort}`,
          '-sf',
          join(ROOT, 'test', 'sipp', 'uac.xml'),
          '-key',
          'uas',
          `127.0.0.1:${uasPort}`,
          '-r',
          String(rate),
          '-m',
          String(calls),
        ],
        dir,
        `floor-${rate}`,
        Math.ceil(calls / rate + 40),
      );
      const used = cpuMs([relay.pid!]) - before;
      const ok = run.stats.get('SuccessfulCall(C)') ?? 0;
      log(
        `${rate} calls/s: ${ok}/${calls} ok, relay CPU ${used} ms = ${((used * 1000) / calls).toFixed(1)} µs per call (12 datagrams: ${((used * 1000) / calls / 12).toFixed(2)} µs each)${DELAY_MS > 0 ? `, spinning ${opts['delay-us']} µs per datagram` : ''}`,
      );
    }
  } finally {
    await stopChild(relay);
    await stopChild(uas);
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
