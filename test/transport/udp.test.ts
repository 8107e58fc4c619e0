import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TransportError, TransportLayer } from '../../src/transport/index.js';
import { LIMITS, sipRequest, TestTransport, waitFor } from './helpers.js';

function client(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = createSocket(type);
    socket.bind(0, address, () => resolve(socket));
  });
}

describe('UDP', () => {
  const t = new TestTransport(
    [
      { protocol: 'udp', address: '127.0.0.1', port: 0 },
      { protocol: 'udp', address: '::1', port: 0, advertise: { host: 'sip.example.com' } },
    ],
    { maxMessageSize: 2000 },
  );
  let v4: Socket;
  let v6: Socket;

  before(async () => {
    await t.start();
    v4 = await client('udp4', '127.0.0.1');
    v6 = await client('udp6', '::1');
  });
  after(async () => {
    v4.close();
    v6.close();
    await t.stop(0);
  });

  it('binds OS-assigned ports and advertises the bound or configured host', () => {
    const [a, b] = t.transport.listeners;
    assert.ok(a!.port > 0 && b!.port > 0);
    assert.equal(a!.family, 4);
    assert.equal(a!.advertisedHost, '127.0.0.1');
    assert.equal(a!.advertisedPort, a!.port);
    assert.equal(b!.family, 6);
    assert.equal(b!.advertisedHost, 'sip.example.com');
    assert.equal(b!.advertisedPort, b!.port);
  });

  it('receives a datagram on 127.0.0.1 and answers from the same socket', async () => {
    const listener = t.transport.listeners[0]!;
    const text = sipRequest('hello', 'MESSAGE', 'UDP');
    v4.send(text, listener.port, '127.0.0.1');
    const { data, source } = await t.message(0);
    assert.equal(data.toString(), text);
    assert.equal(source.protocol, 'udp');
    assert.equal(source.address, '127.0.0.1');
    assert.equal(source.port, v4.address().port);
    assert.equal(source.family, 4);
    assert.equal(source.listener, listener);
    assert.equal(source.connectionId, undefined);

    const reply = new Promise<[Buffer, { port: number }]>((resolve) =>
      v4.once('message', (m, r) => resolve([m, r])),
    );
    const error = t.transport.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), {
      protocol: 'udp',
      address: source.address,
      port: source.port,
    });
    assert.equal(error, undefined);
    const got = await reply;
    assert.equal(got[0].toString(), 'SIP/2.0 200 OK\r\n\r\n');
    assert.equal(got[1].port, listener.port);
  });

  it('receives and sends on ::1, choosing the IPv6 listener', async () => {
    const listener = t.transport.listeners[1]!;
    const before = t.received.length;
    v6.send(sipRequest('v6', 'OPTIONS', 'UDP'), listener.port, '::1');
    const { source } = await t.message(before);
    assert.equal(source.family, 6);
    assert.equal(source.address, '::1');
    assert.equal(source.listener, listener);
    assert.equal(t.transport.selectListener({ protocol: 'udp', address: '::1' }), listener);
    const got = new Promise<{ port: number }>((resolve) => v6.once('message', (_m, r) => resolve(r)));
    assert.equal(
      t.transport.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), {
        protocol: 'udp',
        address: '::1',
        port: source.port,
      }),
      undefined,
    );
    assert.equal((await got).port, listener.port);
  });

  it('counts CRLF keepalives, drops oversize and non-SIP datagrams', async () => {
    const port = t.transport.listeners[0]!.port;
    const before = t.received.length;
    v4.send('\r\n\r\n', port, '127.0.0.1');
    v4.send(Buffer.alloc(2001, 0x41), port, '127.0.0.1');
    v4.send(Buffer.from([0x00, 0x01, 0x00, 0x00]), port, '127.0.0.1'); // STUN-like
    await waitFor(() => {
      const s = t.transport.stats();
      return (
        s.keepalives.udpKeepalives === 1 &&
        s.datagramsDropped.oversize === 1 &&
        s.datagramsDropped.garbage === 1
      );
    }, 'drop counters');
    assert.equal(t.received.length, before);
    assert.equal(t.eventsOf('datagram-dropped').length, 2);
  });

  it('fails at once, with a reason, when no listener fits the destination', () => {
    const only4 = new TestTransport([{ protocol: 'udp', address: '127.0.0.1', port: 0 }]);
    const stopped = only4.transport.send(Buffer.from('x'), {
      protocol: 'udp',
      address: '127.0.0.1',
      port: 9,
    });
    assert.ok(stopped instanceof TransportError);
    assert.equal(stopped.code, 'STOPPED');
    const forced = t.transport.send(Buffer.from('x'), {
      protocol: 'udp',
      address: '127.0.0.1',
      port: 9,
      listener: t.transport.listeners[1]!,
    });
    assert.equal(forced?.code, 'NO_LISTENER');
    const stats = t.transport.stats();
    assert.ok(stats.sendFailures.udp >= 1);
    assert.ok(stats.sent.udp >= 2);
    assert.ok(stats.received.udp >= 2);
  });

  it('writes the datagrams sent in one turn after it, in order, and refuses a bad port at once', async () => {
    const got: string[] = [];
    const onMessage = (b: Buffer) => got.push(b.toString());
    v4.on('message', onMessage);
    const dest = { protocol: 'udp' as const, address: '127.0.0.1', port: v4.address().port };
    // count the writes to the socket itself
    const socket = (t.transport.listeners[0] as unknown as { socket: Socket }).socket;
    const write = socket.send;
    let writes = 0;
    socket.send = ((...args: Parameters<Socket['send']>) => {
      writes++;
      return (write as (...a: unknown[]) => void).apply(socket, args);
    }) as Socket['send'];
    for (let i = 0; i < 10; i++) assert.equal(t.transport.send(Buffer.from(`d${i}`), dest), undefined);
    // nothing is written before the turn is over, then all ten at once
    await Promise.resolve();
    assert.equal(writes, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(writes, 10);
    socket.send = write;
    await waitFor(() => got.length === 10, 'ten datagrams');
    assert.deepEqual(got, ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7', 'd8', 'd9']);
    // more than a queue's worth in one turn: the first 64 leave at once, the rest after the turn
    got.length = 0;
    for (let i = 0; i < 70; i++) t.transport.send(Buffer.from(`e${i}`), dest);
    await waitFor(() => got.length === 70, 'seventy datagrams');
    assert.deepEqual(
      got,
      Array.from({ length: 70 }, (_, i) => `e${i}`),
    );
    v4.off('message', onMessage);
    for (const port of [0, 65536, 1.5]) {
      const bad = t.transport.send(Buffer.from('x'), { ...dest, port });
      assert.equal(bad?.code, 'INVALID_DESTINATION', `port ${port}`);
    }
  });

  it('writes the datagrams still waiting when it stops', async () => {
    const sender = new TestTransport([{ protocol: 'udp', address: '127.0.0.1', port: 0 }]);
    await sender.start();
    const got: string[] = [];
    const onMessage = (b: Buffer) => got.push(b.toString());
    v4.on('message', onMessage);
    sender.transport.send(Buffer.from('last words'), {
      protocol: 'udp',
      address: '127.0.0.1',
      port: v4.address().port,
    });
    await sender.stop(0);
    await waitFor(() => got.length === 1, 'the datagram sent just before stop()');
    assert.deepEqual(got, ['last words']);
    v4.off('message', onMessage);
  });

  it('survives an onMessage handler that throws, counting it', async () => {
    const thrower = new TransportLayer({
      listeners: [{ protocol: 'udp', address: '127.0.0.1', port: 0 }],
      limits: LIMITS,
      onMessage: () => {
        throw new Error('handler bug');
      },
    });
    await thrower.start();
    v4.send(sipRequest('boom', 'MESSAGE', 'UDP'), thrower.listeners[0]!.port, '127.0.0.1');
    await waitFor(() => thrower.stats().handlerErrors === 1, 'handler error counted');
    await thrower.stop(0);
  });

  it('rejects start() naming the listener when its port is taken', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()));
    const port = taken.address().port;
    const clash = new TestTransport([{ protocol: 'udp', address: '127.0.0.1', port }]);
    await assert.rejects(clash.start(), (err: Error) => {
      assert.match(err.message, new RegExp(`udp:127\\.0\\.0\\.1:${port}`));
      assert.match(err.message, /EADDRINUSE/);
      return true;
    });
    taken.close();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const tcpPort = (server.address() as { port: number }).port;
    const tcpClash = new TestTransport([
      { protocol: 'udp', address: '127.0.0.1', port: 0 },
      { protocol: 'tcp', address: '127.0.0.1', port: tcpPort },
    ]);
    await assert.rejects(
      tcpClash.start(),
      /cannot listen on tcp:127\.0\.0\.1:\d+ \(listener 1\): EADDRINUSE/,
    );
    await new Promise((resolve) => server.close(resolve));
  });
});
