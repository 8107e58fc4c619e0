/**
 * Connection attacks against a real `olelo` process: connection exhaustion from one address
 * (limits.maxConnectionsPerIp) and from several (limits.maxConnections), slowloris connections holding
 * slots, and oversized WebSocket messages. Attackers bind other loopback addresses (127.0.0.2...), the
 * legitimate client uses 127.0.0.1; refused connections must be closed at once, the server must keep
 * serving, and the legitimate client must be served whenever the limits leave it room.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  DEFAULT_SCRIPT,
  freePort,
  HAS_PROC,
  OleloProcess,
  optionsRequest,
  sleep,
  stopAll,
  tcpOptions,
  tempDir,
  udpOptions,
  waitUntil,
} from '../helpers/process.js';

const PER_IP = 10;
const TOTAL = 40;
const MAX_MESSAGE_SIZE = 4096;

/** A raw TCP connection from `localAddress`, with its fate recorded. */
class Held {
  closed = false;
  closedAt = 0;
  readonly openedAt = Date.now();
  private constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
    });
  }

  static open(port: number, localAddress: string): Promise<Held> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      socket.once('connect', () => resolve(new Held(socket)));
      socket.once('error', reject);
    });
  }
}

describe('connection attacks', { skip: HAS_PROC ? false : 'needs /proc (Linux)' }, () => {
  const dir = tempDir('connections');
  let proc: OleloProcess;
  let port: number;
  let wsPort: number;
  const held: Held[] = [];

  before(async () => {
    port = await freePort();
    wsPort = await freePort();
    const config = join(dir.path, 'olelo.yaml');
    writeFileSync(
      config,
      `listen:\n  - udp:127.0.0.1:${port}\n  - tcp:127.0.0.1:${port}\n  - ws:127.0.0.1:${wsPort}\n` +
        `script: ${JSON.stringify(DEFAULT_SCRIPT)}\ndataDir: ${JSON.stringify(join(dir.path, 'data'))}\n` +
        `limits:\n  maxConnections: ${TOTAL}\n  maxConnectionsPerIp: ${PER_IP}\n  messageReadTimeout: 1s\n` +
        `  maxMessageSize: ${MAX_MESSAGE_SIZE}\n`,
    );
    proc = new OleloProcess(['--config', config], { cwd: dir.path });
    await proc.waitForLine((l) => l.includes('listening') && l.includes(`ws:127.0.0.1:${wsPort}`), 15_000);
  });

  after(async () => {
    for (const h of held) h.socket.destroy();
    await stopAll();
    dir.remove();
  });

  it(`refuses connections from one address beyond maxConnectionsPerIp (${PER_IP}); others are served`, async () => {
    const attack: Held[] = [];
    for (let i = 0; i < PER_IP + 5; i++) attack.push(await Held.open(port, '127.0.0.2'));
    held.push(...attack);
    await waitUntil(() => attack.filter((h) => h.closed).length >= 5, 2000, 20);
    await sleep(200);
    const closed = attack.filter((h) => h.closed);
    assert.equal(closed.length, 5, 'exactly the connections over the limit were closed');
    assert.ok(
      closed.every((h) => h.closedAt - h.openedAt < 1000),
      'each refused connection was closed at once',
    );
    assert.equal(await tcpOptions(port), 200, 'a client from another address is served over TCP');
    assert.equal(await udpOptions(port), 200, 'and over UDP');
  });

  it(`refuses every new connection once maxConnections (${TOTAL}) are open; UDP is still served`, async () => {
    for (const address of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      for (let i = 0; i < PER_IP; i++) held.push(await Held.open(port, address));
    }
    await sleep(200);
    assert.equal(held.filter((h) => !h.closed).length, TOTAL);
    const late = await Held.open(port, '127.0.0.6');
    held.push(late);
    assert.ok(await waitUntil(() => late.closed, 1000, 20), 'a connection over maxConnections is closed');
    // a global limit cannot tell the legitimate client from the attacker: TCP is refused, UDP served
    const status = await tcpOptions(port, 1500).catch(() => undefined);
    assert.equal(status, undefined, 'TCP from 127.0.0.1 refused while the table is full');
    assert.equal(await udpOptions(port), 200);
    // freeing one address's slots lets the legitimate client in again
    for (const h of held.filter((x) => !x.closed).slice(0, PER_IP)) h.socket.destroy();
    await sleep(200);
    assert.equal(await tcpOptions(port), 200, 'served again once connections are released');
    assert.equal(proc.exit, undefined);
  });

  it('frees slots held by slowloris connections after messageReadTimeout (1 s)', async () => {
    for (const h of held) h.socket.destroy();
    held.length = 0;
    await sleep(300);
    const slow: Held[] = [];
    for (let i = 0; i < PER_IP; i++) slow.push(await Held.open(port, '127.0.0.7'));
    held.push(...slow);
    // each starts a message and trickles a byte every 200 ms, never finishing it
    const text = optionsRequest(port, { transport: 'TCP' });
    let at = 0;
    const trickle = setInterval(() => {
      for (const h of slow) if (!h.closed) h.socket.write(text[at % 40]!);
      at++;
    }, 200);
    try {
      const extra = await Held.open(port, '127.0.0.7');
      assert.ok(await waitUntil(() => extra.closed, 1000, 20), 'the 11th connection is refused');
      assert.equal(await tcpOptions(port), 200, 'the legitimate client is served meanwhile');
      assert.ok(await waitUntil(() => slow.every((h) => h.closed), 4000, 50), 'slowloris connections closed');
      const lifetimes = slow.map((h) => h.closedAt - h.openedAt);
      assert.ok(Math.max(...lifetimes) < 3500, `closed after ${Math.max(...lifetimes)} ms`);
    } finally {
      clearInterval(trickle);
    }
    // the address may connect again
    const again = await Held.open(port, '127.0.0.7');
    held.push(again);
    await sleep(300);
    assert.equal(again.closed, false, 'slots are free again');
  });

  it(`closes a WebSocket sending a message over maxMessageSize with 1009; another keeps working`, async () => {
    const open = (): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, ['sip']);
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    const good = await open();
    const bad = await open();
    try {
      const code = new Promise<number>((resolve) => bad.once('close', (c) => resolve(c)));
      bad.on('error', () => {});
      bad.send(optionsRequest(wsPort, { padTo: MAX_MESSAGE_SIZE * 4 }));
      assert.equal(await code, 1009);
      const reply = new Promise<string>((resolve) => good.once('message', (d) => resolve(String(d))));
      good.send(optionsRequest(wsPort, { callId: 'ws-good' }).replace('SIP/2.0/UDP', 'SIP/2.0/WS'));
      assert.match(await reply, /^SIP\/2\.0 200 /);
    } finally {
      good.close();
      bad.terminate();
    }
    assert.equal(proc.exit, undefined);
  });
});
