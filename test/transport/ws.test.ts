import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { makeCertificate, sipRequest, TestTransport, waitFor } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(limits = {}): Promise<TestTransport> {
  const t = new TestTransport([{ protocol: 'ws', address: '127.0.0.1', port: 0 }], limits);
  await t.start();
  cleanups.push(() => t.stop(0));
  return t;
}

interface Client {
  ws: WebSocket;
  messages: string[];
  closeCode: () => number | undefined;
}

function client(url: string, protocols: string[] | undefined, options: { ca?: Buffer } = {}): Client {
  const ws = protocols === undefined ? new WebSocket(url, options) : new WebSocket(url, protocols, options);
  const messages: string[] = [];
  let code: number | undefined;
  ws.on('message', (data) => messages.push(String(data)));
  ws.on('error', () => {});
  ws.on('close', (c) => {
    code = c;
  });
  cleanups.push(() => ws.terminate());
  return { ws, messages, closeCode: () => code };
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

describe('WebSocket (RFC 7118)', () => {
  it('exchanges SIP messages with a client offering the sip subprotocol', async () => {
    const t = await started();
    const c = client(`ws://127.0.0.1:${t.transport.listeners[0]!.port}/`, ['sip']);
    await opened(c.ws);
    assert.equal(c.ws.protocol, 'sip');
    const text = sipRequest('over ws', 'MESSAGE', 'WS');
    c.ws.send(text);
    const { data, source } = await t.message(0);
    assert.equal(data.toString(), text);
    assert.equal(source.protocol, 'ws');
    assert.equal(typeof source.connectionId, 'number');
    const error = t.transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'ws',
      address: source.address,
      port: source.port,
      connectionId: source.connectionId!,
    });
    assert.equal(error, undefined);
    await waitFor(() => c.messages.length === 1, 'response');
    assert.match(c.messages[0]!, /^SIP\/2\.0 200 OK/);
    c.ws.send(Buffer.from(sipRequest('binary frame')), { binary: true });
    await t.message(1);
    const info = t.transport.connectionInfo();
    assert.equal(info.length, 1);
    assert.equal(info[0]!.protocol, 'ws');
    assert.equal(info[0]!.messagesIn, 2);
  });

  it('refuses an upgrade without the sip subprotocol', async () => {
    const t = await started();
    const c = client(`ws://127.0.0.1:${t.transport.listeners[0]!.port}/`, undefined);
    let status = 0;
    c.ws.on('unexpected-response', (_req, res) => {
      status = res.statusCode ?? 0;
      res.resume();
    });
    await waitFor(() => status !== 0 || c.closeCode() !== undefined, 'refusal');
    assert.equal(status, 400);
    assert.equal(t.eventsOf('connection-refused')[0]?.reason, 'ws-subprotocol');
    await waitFor(() => t.transport.connectionInfo().length === 0, 'connection gone');
  });

  it('closes the connection with 1009 on a message larger than maxMessageSize', async () => {
    const t = await started({ maxMessageSize: 1000 });
    const c = client(`ws://127.0.0.1:${t.transport.listeners[0]!.port}/`, ['sip']);
    await opened(c.ws);
    c.ws.send(sipRequest('x'.repeat(2000)));
    await waitFor(() => c.closeCode() !== undefined, 'close');
    assert.equal(c.closeCode(), 1009);
    await waitFor(() => t.transport.stats().closed.limit === 1, 'limit counter');
    assert.equal(t.received.length, 0);
  });

  it('does not open WebSocket connections: a send without one fails at once', async () => {
    const t = await started();
    const error = t.transport.send(Buffer.from('x'), { protocol: 'ws', address: '127.0.0.1', port: 1 });
    assert.equal(error?.code, 'NO_CONNECTION');
  });

  it('closes an upgrade that does not come in time, and plain HTTP gets 426', async () => {
    const t = await started({ messageReadTimeout: 200 });
    const port = t.transport.listeners[0]!.port;
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(response.status, 426);
    await response.arrayBuffer();
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port });
    raw.on('error', () => {});
    cleanups.push(() => raw.destroy());
    let closed = false;
    raw.on('close', () => {
      closed = true;
    });
    raw.write('GET / HTTP/1.1\r\n');
    await waitFor(() => closed, 'slow upgrade closed');
    assert.ok(t.transport.stats().closed.slowloris >= 1);
  });

  it('serves wss with the same rules', async () => {
    const certificate = makeCertificate();
    const t = new TestTransport(
      [{ protocol: 'wss', address: '127.0.0.1', port: 0 }],
      {},
      { cert: certificate.cert, key: certificate.key, verifyClient: 'none', minVersion: 'TLSv1.2' },
    );
    await t.start();
    cleanups.push(() => t.stop(0));
    const c = client(`wss://localhost:${t.transport.listeners[0]!.port}/`, ['sip'], { ca: certificate.cert });
    await opened(c.ws);
    c.ws.send(sipRequest('secure', 'MESSAGE', 'WSS'));
    const { source } = await t.message(0);
    assert.equal(source.protocol, 'wss');
    t.transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      ...source,
      connectionId: source.connectionId!,
    });
    await waitFor(() => c.messages.length === 1, 'wss response');
    await t.stop(200);
    await waitFor(() => c.closeCode() !== undefined, 'closed by stop');
    assert.equal(c.closeCode(), 1001);
  });
});
