/**
 * TLS policy end to end, through the configuration (`tls.*`) of a real server on loopback: client
 * certificates verified against `tls.ca`, `tls.minVersion`, `tls.ciphers`, hostile handshakes (garbage,
 * aborted, no shared cipher) refused and counted while a legitimate client is unaffected, and the
 * certificate reloaded without a restart — by `tls.reload` and by SIGHUP to an `olelo` process.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Server } from '../../src/core/server.js';
import { freePort, OleloProcess, sleep, waitUntil } from '../helpers/process.js';
import { ROOT, startServer } from '../helpers/server.js';
import { type IssuedCertificate, issue, makeCa } from './certs.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-tls-policy-'));
const ca = makeCa(dir, 'ca');
const otherCa = makeCa(dir, 'other-ca');
const serverCert = issue(dir, ca, 'server', 'server');
const nextCert = issue(dir, ca, 'server-next', 'server');
const clientCert = issue(dir, ca, 'client', 'client');
const strangerCert = issue(dir, otherCa, 'stranger', 'client');

let seq = 0;
function options(port: number): string {
  seq++;
  const id = `tls${seq}x${process.pid}`;
  return (
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK${id};rport\r\n` +
    `From: <sip:probe@127.0.0.1>;tag=${id}\r\nTo: <sip:127.0.0.1:${port}>\r\nCall-ID: ${id}\r\n` +
    'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
  );
}

/** A TLS client that verifies the server against `ca` (as localhost) and sends OPTIONS on demand. */
class TlsClient {
  received = '';
  error: string | undefined;
  closed = false;
  private constructor(
    readonly socket: TLSSocket,
    readonly port: number,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.received += d;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error ??= e.code ?? e.message;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Resolves once the handshake is done (from the client's side), or with the error that ended it. */
  static open(port: number, extra: ConnectionOptions = {}): Promise<TlsClient | string> {
    return new Promise((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, ...extra });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('timeout');
      }, 5000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TlsClient(socket, port));
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(e.code ?? e.message);
      });
    });
  }

  get fingerprint(): string {
    return this.socket.getPeerCertificate().fingerprint256;
  }

  /** Sends OPTIONS and returns the reply's status, or the error or close that came instead. */
  async ask(timeoutMs = 3000): Promise<number | string> {
    const from = this.received.length;
    if (!this.closed) this.socket.write(options(this.port));
    const done = await waitUntil(
      () => this.closed || this.received.indexOf('\r\n\r\n', from) !== -1,
      timeoutMs,
      10,
    );
    const m = /^SIP\/2\.0 (\d{3}) /.exec(this.received.slice(from));
    if (m !== null) return Number(m[1]);
    return this.error ?? (this.closed ? 'closed' : done ? 'no reply' : 'timeout');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Opens, asks OPTIONS once, closes: the status, or why there was none. */
async function exchange(port: number, extra: ConnectionOptions = {}): Promise<number | string> {
  const client = await TlsClient.open(port, extra);
  if (typeof client === 'string') return client;
  try {
    return await client.ask();
  } finally {
    client.close();
  }
}

function tlsYaml(cert: IssuedCertificate, more = ''): string {
  return `tls:\n  certificate: ${cert.certPath}\n  key: ${cert.keyPath}\n${more}`;
}

async function tlsServer(yaml: string): Promise<{ server: Server; port: number }> {
  const started = await startServer(yaml, { listen: ['udp:127.0.0.1:0', 'tls:127.0.0.1:0'] });
  return { server: started.server, port: started.listener('tls').port };
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('TLS client certificates (tls.verifyClient, tls.ca)', () => {
  let server: Server;
  let port: number;
  before(async () => {
    ({ server, port } = await tlsServer(
      tlsYaml(serverCert, `  ca: ${ca.certPath}\n  verifyClient: required\n`),
    ));
  });
  after(() => server.stop(100));

  it('serves a client whose certificate the CA issued', async () => {
    assert.equal(await exchange(port, { cert: clientCert.cert, key: clientCert.key }), 200);
  });

  it('refuses a client without a certificate, and one from another CA, counting both', async () => {
    const before = server.stats.get('transport.tls_handshake_failures')!;
    assert.notEqual(await exchange(port), 200);
    assert.notEqual(await exchange(port, { cert: strangerCert.cert, key: strangerCert.key }), 200);
    assert.ok(
      await waitUntil(() => server.stats.get('transport.tls_handshake_failures')! >= before + 2, 2000, 20),
    );
    assert.equal(await exchange(port, { cert: clientCert.cert, key: clientCert.key }), 200);
  });
});

describe('TLS version and cipher policy (tls.minVersion, tls.ciphers)', () => {
  it('refuses TLS 1.2 when minVersion is TLSv1.3, and serves TLS 1.3', async () => {
    const { server, port } = await tlsServer(tlsYaml(serverCert, '  minVersion: TLSv1.3\n'));
    try {
      const refused = await exchange(port, { maxVersion: 'TLSv1.2' });
      assert.equal(typeof refused, 'string', `TLS 1.2 got ${refused}`);
      assert.equal(await exchange(port, { minVersion: 'TLSv1.3' }), 200);
      assert.equal(server.stats.get('transport.tls_handshake_failures'), 1);
    } finally {
      await server.stop(100);
    }
  });

  it('refuses a client offering only ciphers outside tls.ciphers, and serves one inside', async () => {
    const { server, port } = await tlsServer(
      tlsYaml(serverCert, '  ciphers: ECDHE-ECDSA-AES256-GCM-SHA384\n  minVersion: TLSv1.2\n'),
    );
    try {
      const tls12 = { maxVersion: 'TLSv1.2' as const };
      const outside = await exchange(port, { ...tls12, ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' });
      assert.equal(typeof outside, 'string', `a cipher outside the policy got ${outside}`);
      assert.equal(await exchange(port, { ...tls12, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }), 200);
      assert.equal(server.stats.get('transport.tls_handshake_failures'), 1);
    } finally {
      await server.stop(100);
    }
  });
});

describe('hostile TLS handshakes and certificate reload', () => {
  let server: Server;
  let port: number;
  let live: TlsClient;
  const certPath = join(dir, 'live.pem');
  const keyPath = join(dir, 'live-key.pem');

  before(async () => {
    copyFileSync(serverCert.certPath, certPath);
    copyFileSync(serverCert.keyPath, keyPath);
    ({ server, port } = await tlsServer(`tls:\n  certificate: ${certPath}\n  key: ${keyPath}\n`));
    const client = await TlsClient.open(port);
    assert.ok(typeof client !== 'string', `legitimate client: ${client}`);
    live = client;
    assert.equal(await live.ask(), 200);
  });
  after(async () => {
    live.close();
    await server.stop(100);
  });

  it('refuses garbage, an aborted ClientHello and a client with no shared cipher; the open client is unaffected', async () => {
    const failures = () => server.stats.get('transport.tls_handshake_failures')!;
    const start = failures();
    // plain SIP and random bytes on the TLS port
    for (const junk of [Buffer.from(options(port)), Buffer.alloc(64, 0xff)]) {
      const raw = netConnect({ host: '127.0.0.1', port });
      raw.on('error', () => {});
      raw.write(junk);
      const closed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 3000);
        raw.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      assert.ok(closed, 'the server closed a connection that sent garbage');
    }
    // a ClientHello cut in the middle, then the connection dropped
    const aborted = netConnect({ host: '127.0.0.1', port });
    aborted.on('error', () => {});
    await new Promise<void>((resolve) => aborted.once('connect', () => resolve()));
    aborted.write(Buffer.from('16030100c8010000c40303', 'hex'));
    await sleep(50);
    aborted.destroy();
    // TLS 1.2 with a cipher our ECDSA certificate cannot serve
    const rsaOnly = await exchange(port, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' });
    assert.equal(typeof rsaOnly, 'string', `no shared cipher got ${rsaOnly}`);
    assert.ok(await waitUntil(() => failures() >= start + 4, 3000, 20), `counted ${failures() - start} of 4`);
    assert.equal(await live.ask(), 200, 'the open connection still works');
    assert.equal(await exchange(port), 200, 'a new client is served');
    assert.ok(
      await waitUntil(() => server.stats.get('transport.connections_tls') === 1, 3000, 20),
      `only the legitimate connection stays open (${server.stats.get('transport.connections_tls')})`,
    );
  });

  it('tls.reload: new connections get the new certificate, the open one keeps working', async () => {
    const old = live.fingerprint;
    copyFileSync(nextCert.certPath, certPath);
    copyFileSync(nextCert.keyPath, keyPath);
    const result = (await server.rpc.call('tls.reload')) as { fingerprint256: string };
    const fresh = await TlsClient.open(port);
    assert.ok(typeof fresh !== 'string', `after reload: ${fresh}`);
    try {
      assert.notEqual(fresh.fingerprint, old);
      assert.equal(fresh.fingerprint, result.fingerprint256);
      assert.equal(await fresh.ask(), 200);
    } finally {
      fresh.close();
    }
    assert.equal(live.fingerprint, old);
    assert.equal(await live.ask(), 200, 'the connection opened before the reload still works');
  });

  it('refuses a bad new certificate (key mismatch, garbage) with a clear error and keeps the running one', async () => {
    const running = (await TlsClient.open(port)) as TlsClient;
    const current = running.fingerprint;
    running.close();
    copyFileSync(serverCert.certPath, certPath); // the old certificate with the new key: mismatch
    await assert.rejects(server.rpc.call('tls.reload'), (e: Error & { code?: number }) => {
      assert.equal(e.code, 500);
      assert.match(e.message, /TLS not reloaded: .*key values mismatch/);
      return true;
    });
    writeFileSync(certPath, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await assert.rejects(server.rpc.call('tls.reload'), /TLS not reloaded/);
    const after = await TlsClient.open(port);
    assert.ok(typeof after !== 'string', `after a refused reload: ${after}`);
    assert.equal(after.fingerprint, current);
    assert.equal(await after.ask(), 200);
    after.close();
    copyFileSync(nextCert.certPath, certPath);
  });
});

describe('SIGHUP reloads the TLS certificate of an olelo process', () => {
  it('serves the new certificate to new connections after SIGHUP', async () => {
    const work = join(dir, 'proc');
    const certPath = join(dir, 'proc.pem');
    const keyPath = join(dir, 'proc-key.pem');
    copyFileSync(serverCert.certPath, certPath);
    copyFileSync(serverCert.keyPath, keyPath);
    const port = await freePort();
    const config = join(dir, 'olelo-tls.yaml');
    writeFileSync(
      config,
      `listen:\n  - udp:127.0.0.1:${port}\n  - tls:127.0.0.1:${port}\n` +
        `script: ${JSON.stringify(join(ROOT, 'scripts', 'default.ts'))}\ndataDir: ${JSON.stringify(work)}\n` +
        `control:\n  socket: "off"\n${tlsYaml({ ...serverCert, certPath, keyPath })}`,
    );
    const proc = new OleloProcess(['--config', config], { cwd: dir });
    try {
      await proc.waitForLine((l) => l.includes('listening') && l.includes(`tls:127.0.0.1:${port}`), 15_000);
      const first = (await TlsClient.open(port)) as TlsClient;
      const old = first.fingerprint;
      copyFileSync(nextCert.certPath, certPath);
      copyFileSync(nextCert.keyPath, keyPath);
      const mark = proc.lines.length;
      proc.signal('SIGHUP');
      await proc.waitForLine(/TLS certificate reloaded/, 5000, mark);
      const second = (await TlsClient.open(port)) as TlsClient;
      assert.notEqual(second.fingerprint, old);
      assert.equal(await second.ask(), 200);
      assert.equal(await first.ask(), 200, 'the connection opened before SIGHUP still works');
      first.close();
      second.close();
    } finally {
      await proc.stop();
    }
  });
});
