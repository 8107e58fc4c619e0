import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { TransportError } from '../../src/transport/index.js';
import type { TlsOptions } from '../../src/transport/types.js';
import { makeCertificate, sipRequest, type TestCertificate, TestTransport, waitFor } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('TLS', () => {
  let certificate: TestCertificate;
  let other: TestCertificate;
  before(() => {
    certificate = makeCertificate();
    other = makeCertificate();
  });

  function tlsOptions(verifyClient: TlsOptions['verifyClient'], cert = certificate): TlsOptions {
    return { cert: cert.cert, key: cert.key, ca: certificate.cert, verifyClient, minVersion: 'TLSv1.2' };
  }

  async function started(verifyClient: TlsOptions['verifyClient'], limits = {}): Promise<TestTransport> {
    const t = new TestTransport(
      [{ protocol: 'tls', address: '127.0.0.1', port: 0 }],
      limits,
      tlsOptions(verifyClient),
    );
    await t.start();
    cleanups.push(() => t.stop(0));
    return t;
  }

  function client(
    port: number,
    withCertificate: boolean,
  ): { socket: TLSSocket; data: () => string; closed: () => boolean } {
    let data = '';
    let closed = false;
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: certificate.cert,
      ...(withCertificate ? { cert: certificate.cert, key: certificate.key } : {}),
    });
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    cleanups.push(() => socket.destroy());
    return { socket, data: () => data, closed: () => closed };
  }

  it('exchanges messages with a TLS client over the same connection', async () => {
    const t = await started('none');
    const c = client(t.transport.listeners[0]!.port, false);
    const text = sipRequest('over tls', 'MESSAGE', 'TLS');
    c.socket.write(text);
    const { data, source } = await t.message(0);
    assert.equal(data.toString(), text);
    assert.equal(source.protocol, 'tls');
    assert.equal(
      t.transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
        protocol: 'tls',
        address: source.address,
        port: source.port,
        connectionId: source.connectionId!,
      }),
      undefined,
    );
    await waitFor(() => c.data().includes('200 OK'), 'response');
  });

  it('opens a verified TLS connection to another server, which requires our client certificate', async () => {
    const b = await started('required');
    const a = await started('none');
    const failures: TransportError[] = [];
    const text = sipRequest('mutual', 'MESSAGE', 'TLS');
    const sent = a.transport.send(
      Buffer.from(text),
      {
        protocol: 'tls',
        address: '127.0.0.1',
        port: b.transport.listeners[0]!.port,
        servername: 'localhost',
      },
      (e) => failures.push(e),
    );
    assert.equal(sent, undefined);
    const { data } = await b.message(0);
    assert.equal(data.toString(), text);
    assert.deepEqual(failures, []);
    const inbound = b.transport.connectionInfo()[0]!;
    assert.equal(inbound.authorized, true);
    assert.equal(a.transport.connectionInfo()[0]!.authorized, true);
  });

  it('refuses a client without a certificate when verifyClient is required', async () => {
    const t = await started('required');
    const c = client(t.transport.listeners[0]!.port, false);
    c.socket.write(sipRequest('no cert'));
    await waitFor(c.closed, 'client rejected');
    await waitFor(() => t.transport.stats().connections.current.tls === 0, 'connection gone');
    assert.equal(t.received.length, 0);
    const closed = t.eventsOf('connection-closed');
    assert.equal(closed.length, 1);
    assert.notEqual(closed[0]!.reason, 'peer');
  });

  it('accepts a client without a certificate when verifyClient is optional, marked unauthorized', async () => {
    const t = await started('optional');
    const c = client(t.transport.listeners[0]!.port, false);
    c.socket.write(sipRequest('anonymous'));
    await t.message(0);
    assert.equal(t.transport.connectionInfo()[0]!.authorized, false);
  });

  it('fails the send when the server certificate does not verify', async () => {
    const server = new TestTransport(
      [{ protocol: 'tls', address: '127.0.0.1', port: 0 }],
      {},
      tlsOptions('none', other),
    );
    await server.start();
    cleanups.push(() => server.stop(0));
    const a = await started('none');
    const failures: TransportError[] = [];
    a.transport.send(
      Buffer.from(sipRequest()),
      {
        protocol: 'tls',
        address: '127.0.0.1',
        port: server.transport.listeners[0]!.port,
        servername: 'localhost',
      },
      (e) => failures.push(e),
    );
    await waitFor(() => failures.length === 1, 'verification failure');
    assert.equal(failures[0]!.code, 'CONNECT_FAILED');
    assert.equal(server.received.length, 0);
  });

  it('closes a connection whose TLS handshake does not complete in time', async () => {
    const t = await started('none', { messageReadTimeout: 200 });
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: t.transport.listeners[0]!.port });
    raw.on('error', () => {});
    cleanups.push(() => raw.destroy());
    let closed = false;
    raw.on('close', () => {
      closed = true;
    });
    await waitFor(() => closed, 'handshake timeout');
    assert.equal(t.transport.stats().closed.slowloris, 1);
  });
});
