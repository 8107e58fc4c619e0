import assert from 'node:assert/strict';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { TransportError } from '../../src/transport/index.js';
import { sipRequest, sleep, TestTransport, waitFor } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(limits = {}, address = '127.0.0.1'): Promise<TestTransport> {
  const t = new TestTransport([{ protocol: 'tcp', address, port: 0 }], limits);
  await t.start();
  cleanups.push(() => t.stop(0));
  return t;
}

/** A raw TCP client that records what it reads. */
class Client {
  readonly socket: Socket;
  data = '';
  closed = false;
  constructor(port: number, host = '127.0.0.1') {
    this.socket = tcpConnect({ port, host });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.data += d;
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
    cleanups.push(() => this.socket.destroy());
  }
  connected(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.socket.connecting) resolve();
      else this.socket.once('connect', () => resolve());
    });
  }
  write(text: string | Buffer): void {
    this.socket.write(text);
  }
  untilClosed(what = 'close'): Promise<void> {
    return waitFor(() => this.closed, what);
  }
}

describe('TCP', () => {
  it('frames a message sent in several chunks and two messages sent in one', async () => {
    const t = await started();
    const c = new Client(t.transport.listeners[0]!.port);
    await c.connected();
    const text = sipRequest('chunked body');
    c.write(text.slice(0, 7));
    await sleep(20);
    c.write(text.slice(7, 60));
    await sleep(20);
    c.write(text.slice(60));
    const first = await t.message(0);
    assert.equal(first.data.toString(), text);
    assert.equal(first.source.protocol, 'tcp');
    assert.equal(first.source.port, c.socket.localPort);
    assert.equal(typeof first.source.connectionId, 'number');
    c.write(sipRequest('a') + sipRequest('b'));
    await t.message(2);
    assert.equal(t.received[1]!.data.toString().endsWith('a'), true);
    assert.equal(t.received[2]!.data.toString().endsWith('b'), true);
    assert.equal(t.transport.stats().received.tcp, 3);
  });

  it('sends a response over the connection the request came on (RFC 3261 §18.2.2)', async () => {
    const t = await started();
    const c = new Client(t.transport.listeners[0]!.port);
    c.write(sipRequest('x'));
    const { source } = await t.message(0);
    const error = t.transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'tcp',
      address: source.address,
      port: 5060, // the Via port: ignored while the connection is open
      connectionId: source.connectionId!,
    });
    assert.equal(error, undefined);
    await waitFor(() => c.data.includes('200 OK'), 'response');
    assert.equal(t.transport.connectionInfo().length, 1);
  });

  it("reuses a connection the peer opened for a request to the peer's address and port (RFC 5923)", async () => {
    const t = await started();
    const c = new Client(t.transport.listeners[0]!.port);
    c.write(sipRequest('register'));
    await t.message(0);
    const error = t.transport.send(Buffer.from(sipRequest('to the peer', 'OPTIONS')), {
      protocol: 'tcp',
      address: '127.0.0.1',
      port: c.socket.localPort!,
    });
    assert.equal(error, undefined);
    await waitFor(() => c.data.includes('OPTIONS sip:bob'), 'request over the inbound connection');
    const info = t.transport.connectionInfo();
    assert.equal(info.length, 1);
    assert.equal(info[0]!.direction, 'inbound');
    assert.equal(info[0]!.messagesOut, 1);
  });

  it('reuses a connection under an RFC 5923 alias', async () => {
    const t = await started();
    const c = new Client(t.transport.listeners[0]!.port);
    c.write(sipRequest('x'));
    const { source } = await t.message(0);
    assert.ok(t.transport.aliasConnection(source.connectionId!, '127.0.0.1', 5099));
    assert.equal(
      t.transport.send(Buffer.from(sipRequest('aliased')), {
        protocol: 'tcp',
        address: '127.0.0.1',
        port: 5099,
      }),
      undefined,
    );
    await waitFor(() => c.data.includes('aliased'), 'aliased request');
    assert.deepEqual(t.transport.connectionInfo()[0]!.aliases, ['127.0.0.1:5099']);
  });

  it('opens a connection for a request, queues until connected, and gets the response back on it', async () => {
    const a = await started();
    const b = await started();
    const bPort = b.transport.listeners[0]!.port;
    const failures: TransportError[] = [];
    const text = sipRequest('first');
    assert.equal(
      a.transport.send(Buffer.from(text), { protocol: 'tcp', address: '127.0.0.1', port: bPort }, (e) =>
        failures.push(e),
      ),
      undefined,
    );
    assert.equal(
      a.transport.send(Buffer.from(sipRequest('second')), {
        protocol: 'tcp',
        address: '127.0.0.1',
        port: bPort,
      }),
      undefined,
    );
    await b.message(1);
    assert.equal(b.received[0]!.data.toString(), text);
    const out = a.transport.connectionInfo();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.direction, 'outbound');
    const { source } = b.received[0]!;
    assert.equal(
      b.transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
        ...source,
        connectionId: source.connectionId!,
      }),
      undefined,
    );
    const reply = await a.message(0);
    assert.equal(reply.source.connectionId, out[0]!.id);
    assert.equal(reply.source.listener, a.transport.listeners[0]);
    assert.deepEqual(failures, []);
  });

  it('tells onFailure when the connection is refused', async () => {
    const a = await started();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const failures: TransportError[] = [];
    const sent = a.transport.send(
      Buffer.from(sipRequest()),
      { protocol: 'tcp', address: '127.0.0.1', port },
      (e) => failures.push(e),
    );
    assert.equal(sent, undefined);
    await waitFor(() => failures.length === 1, 'connect failure');
    assert.equal(failures[0]!.code, 'CONNECT_FAILED');
    assert.match(failures[0]!.message, /ECONNREFUSED/);
    const stats = a.transport.stats();
    assert.equal(stats.closed['connect-failed'], 1);
    assert.equal(stats.sendFailures.tcp, 1);
    assert.equal(stats.connections.current.tcp, 0);
  });

  it('answers a CRLFCRLF keepalive with CRLF (RFC 5626 §3.5.1)', async () => {
    const t = await started();
    const c = new Client(t.transport.listeners[0]!.port);
    c.write('\r\n\r\n');
    await waitFor(() => c.data === '\r\n', 'pong');
    assert.equal(t.transport.stats().keepalives.pongsSent, 1);
  });

  it('closes an idle connection', async () => {
    const t = await started({ connectionIdleTimeout: 200 });
    const c = new Client(t.transport.listeners[0]!.port);
    const opened = Date.now();
    await c.connected();
    await c.untilClosed('idle close');
    assert.ok(Date.now() - opened >= 190);
    await waitFor(() => t.transport.stats().closed.idle === 1, 'idle counter');
    assert.equal(t.eventsOf('connection-closed')[0]!.reason, 'idle');
  });

  it('closes a connection that starts a message and does not finish it (slowloris)', async () => {
    const t = await started({ messageReadTimeout: 200 });
    const c = new Client(t.transport.listeners[0]!.port);
    const text = sipRequest('x'.repeat(1000));
    let sent = text.length - 1000;
    c.write(text.slice(0, sent));
    // one byte every 50 ms: traffic keeps flowing, the message never completes in time
    const timer = setInterval(() => c.socket.writable && c.write(text.slice(sent, ++sent)), 50);
    cleanups.push(() => clearInterval(timer));
    await c.untilClosed('slowloris close');
    assert.equal(t.transport.stats().closed.slowloris, 1);
    assert.equal(t.received.length, 0);
  });

  it('a messageReadTimeout lowered at runtime is enforced at its own pace (the sweep follows it)', async () => {
    // started with the default 10 s: one sweep a second; lowered to 200 ms: a sweep every 50 ms
    const t = await started({ messageReadTimeout: 10_000, connectionIdleTimeout: 60_000 });
    const sweep = () =>
      (t.transport as unknown as { sweepTimer: { _idleTimeout: number } }).sweepTimer._idleTimeout;
    assert.equal(sweep(), 1000);
    t.transport.setLimits({ messageReadTimeout: 200 });
    assert.equal(sweep(), 50);
    const c = new Client(t.transport.listeners[0]!.port);
    await c.connected();
    const opened = Date.now();
    c.write(sipRequest('x').slice(0, 20)); // a message started and never finished
    await c.untilClosed('slowloris close');
    const after = Date.now() - opened;
    assert.ok(after >= 150 && after < 700, `closed after ${after} ms`);
    assert.equal(t.transport.stats().closed.slowloris, 1);
  });

  it('closes a connection that sends garbage or a message without Content-Length', async () => {
    const t = await started();
    const port = t.transport.listeners[0]!.port;
    const http = new Client(port);
    http.write('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
    await http.untilClosed();
    const noLength = new Client(port);
    noLength.write('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n');
    await noLength.untilClosed();
    const good = new Client(port);
    good.write(sipRequest('still fine'));
    await t.message(0);
    const stats = t.transport.stats();
    assert.equal(stats.framingErrors.garbage, 1);
    assert.equal(stats.framingErrors['missing-content-length'], 1);
    assert.equal(stats.closed.garbage, 1);
    assert.equal(stats.closed.framing, 1);
    assert.equal(t.eventsOf('framing-error').length, 2);
  });

  it('refuses connections beyond maxConnections and maxConnectionsPerIp', async () => {
    const t = await started({ maxConnections: 2 });
    const port = t.transport.listeners[0]!.port;
    const c1 = new Client(port);
    const c2 = new Client(port);
    c1.write(sipRequest('1'));
    c2.write(sipRequest('2'));
    await t.message(1);
    const c3 = new Client(port);
    await c3.untilClosed('refusal');
    assert.equal(t.transport.stats().connections.refused.tcp, 1);
    assert.equal(t.eventsOf('connection-refused')[0]!.reason, 'max-connections');
    assert.equal(c1.closed || c2.closed, false);

    const p = await started({ maxConnectionsPerIp: 1 });
    const pport = p.transport.listeners[0]!.port;
    const d1 = new Client(pport);
    d1.write(sipRequest('1'));
    await p.message(0);
    const d2 = new Client(pport);
    await d2.untilClosed('per-IP refusal');
    assert.equal(p.eventsOf('connection-refused')[0]!.reason, 'max-connections-per-ip');
    d1.socket.destroy();
    await waitFor(() => p.transport.connectionInfo().length === 0, 'first connection gone');
    const d3 = new Client(pport);
    d3.write(sipRequest('3'));
    await p.message(1);
  });

  it('fails sends once the write buffer is over maxWriteBuffer', async () => {
    const t = await started({ maxWriteBuffer: 64 * 1024 });
    const c = new Client(t.transport.listeners[0]!.port);
    c.write(sipRequest('x'));
    const { source } = await t.message(0);
    c.socket.pause(); // the peer stops reading
    const big = Buffer.alloc(60 * 1024, 0x41);
    let error: TransportError | undefined;
    for (let i = 0; i < 2000 && error === undefined; i++) {
      error = t.transport.send(big, { protocol: 'tcp', address: source.address, port: source.port });
    }
    assert.ok(error instanceof TransportError);
    assert.equal(error.code, 'WRITE_BUFFER_FULL');
    assert.equal(t.transport.stats().writeQueueDrops, 1);
    c.socket.destroy();
  });

  it('stop() closes listeners and connections, and later sends fail', async () => {
    const t = new TestTransport([
      { protocol: 'tcp', address: '127.0.0.1', port: 0 },
      { protocol: 'udp', address: '127.0.0.1', port: 0 },
    ]);
    await t.start();
    const port = t.transport.listeners[0]!.port;
    const c = new Client(port);
    c.write(sipRequest('x'));
    await t.message(0);
    await t.transport.stop(500);
    await c.untilClosed('close on stop');
    assert.equal(t.transport.connectionInfo().length, 0);
    assert.equal(t.transport.stats().connections.current.tcp, 0);
    assert.equal(t.transport.stats().closed.stopped, 1);
    const late = t.transport.send(Buffer.from('x'), { protocol: 'udp', address: '127.0.0.1', port: 9 });
    assert.equal(late?.code, 'STOPPED');
    const refused = new Client(port);
    await refused.untilClosed('refused after stop');
  });

  it('lets [::] and 0.0.0.0 listen on the same port', async () => {
    const v4 = await started({}, '0.0.0.0');
    const port = v4.transport.listeners[0]!.port;
    const v6 = new TestTransport([
      { protocol: 'tcp', address: '::', port },
      { protocol: 'udp', address: '0.0.0.0', port },
      { protocol: 'udp', address: '::', port },
    ]);
    await v6.start();
    cleanups.push(() => v6.stop(0));
    const c = new Client(port, '::1');
    c.write(sipRequest('v6'));
    const { source } = await v6.message(0);
    assert.equal(source.family, 6);
    assert.equal(v6.transport.listeners[0]!.advertisedHost, '[::]');
  });
});
