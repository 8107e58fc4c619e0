/**
 * Integration tests with real SIPp UAC and UAS processes on loopback through an olelo server started in
 * this process with the default script as a plain stateful proxy (its `auth` and `nat` features off, so it
 * relays between any addresses and leaves Contacts alone): OPTIONS, calls over UDP, TCP, TLS and IPv6,
 * calls that change transport or address family (double Record-Route, RFC 5658), and a WebSocket client.
 *
 * olelo's ports are assigned by the OS; SIPp needs explicit ports, picked free and retried on collision.
 * Every SIPp run is bounded (-m, -timeout with -timeout_error, an outer kill timer) and writes its trace
 * files into a temporary folder removed at the end.
 *
 * The Debian SIPp 3.6 is built without OpenSSL (`-t l1` is refused), so for TLS SIPp speaks TCP to small
 * in-process relays that carry each leg over TLS to and from olelo (like stunnel would).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { Server } from '../../src/core/server.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import type { Protocol, TransportStats } from '../../src/transport/types.js';
import { startServer, UdpPeer } from '../helpers/server.js';
import {
  hasIpv6Loopback,
  hasSipp,
  headerValues,
  killAllSipp,
  makeCertificate,
  type Relay,
  receivedMessages,
  runSippUac,
  type SippProcess,
  type SippResult,
  startRelay,
  startSippUas,
  tempDir,
} from '../helpers/sipp.js';

const CALLS = 20;
/**
 * The default script with authentication off (no 403 for calls between foreign addresses: the SIPp
 * phones here are no subscribers) and NAT handling off (Contacts reach the UAS as written).
 */
const PROXY_ONLY = 'features:\n  auth: false\n  nat: false\n';
/** Bound of each test (SIPp's own bounds are 20 s + 5 s; a passing test takes about 1 s). */
const T = { timeout: 30_000 };
const SIPP = hasSipp();

/** Waits for a UAS to finish its calls; kills it when it has not after `ms`. */
async function finished(uas: SippProcess, ms = 5000): Promise<SippResult> {
  const timer = setTimeout(() => uas.kill(), ms);
  try {
    return await uas.done;
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that a SIPp run ended by itself with every one of `calls` calls successful. */
function assertAllSucceeded(r: SippResult, calls: number): void {
  assert.equal(r.killed, false, r.summary);
  assert.equal(r.code, 0, r.summary);
  assert.equal(r.successful, calls, r.summary);
  assert.equal(r.failed, 0, r.summary);
}

/** The requests a SIPp process received with method `method`. */
function requests(r: SippResult, method: string): string[] {
  return receivedMessages(r.messages).filter((m) => m.startsWith(`${method} `));
}

/** Asserts olelo forwarded at least `calls` × (INVITE, ACK, BYE) and × (180, 200, 200) without errors. */
function assertForwardedCalls(server: Server, calls: number): void {
  const s = { ...server.stats.snapshot('core'), ...server.stats.snapshot('tm') };
  const text = JSON.stringify(s);
  // INVITE and BYE are relayed statefully (tm), the ACK for the 2xx statelessly (core)
  assert.ok(s['tm.total']! >= 2 * calls, `relayed requests: ${text}`);
  assert.ok(s['core.fwd_requests']! >= calls, `stateless ACKs: ${text}`);
  const replies = s['tm.1xx_replies']! + s['tm.2xx_replies']!;
  assert.ok(replies >= 2 * calls, `forwarded replies: ${text}`);
  assert.equal(s['core.parse_errors'], 0, text);
  assert.equal(s['core.send_errors'], 0, text);
  assert.equal(s['core.script_errors'], 0, text);
}

/** A SIP-over-WebSocket client (RFC 7118) that records the messages it receives. */
class WsClient {
  readonly received: string[] = [];
  private waiters: Array<{ test: (m: string) => boolean; resolve: (m: string) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? data.toString('latin1') : data.toString('utf8');
      const i = this.waiters.findIndex((w) => w.test(text));
      if (i === -1) this.received.push(text);
      else this.waiters.splice(i, 1)[0]!.resolve(text);
    });
  }

  static async open(url: string): Promise<WsClient> {
    const ws = new WebSocket(url, 'sip');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    assert.equal(ws.protocol, 'sip');
    return new WsClient(ws);
  }

  /** The client's own port, as the server sees it. */
  get localPort(): number {
    return (this.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
  }

  send(text: string): void {
    this.ws.send(text);
  }

  next(test: (text: string) => boolean, timeoutMs = 3000): Promise<string> {
    const i = this.received.findIndex(test);
    if (i !== -1) return Promise.resolve(this.received.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (m: string) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching WebSocket message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

function sipMessage(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function parse(text: string): SipRequest | SipResponse {
  return parseMessage(Buffer.from(text, 'latin1'));
}

/** The header lines a response copies from its request (RFC 3261 §8.2.6.2): every Via, From, Call-ID, CSeq. */
function copied(req: SipRequest): string[] {
  return [
    ...req.getHeaders('via').map((v) => `Via: ${v}`),
    `From: ${req.getHeader('from')}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.getHeader('cseq')}`,
  ];
}

/** Stream connections olelo has had for `protocol` since it started (inbound and outbound). */
function connectionsOpened(server: Server, protocol: Protocol): number {
  return (server.transportStats() as TransportStats).connections.total[protocol];
}

describe('SIPp through olelo (default script, as a plain proxy)', {
  skip: SIPP ? false : 'sipp (Debian sip-tester) is not installed',
}, () => {
  let dir: ReturnType<typeof tempDir>;

  before(() => {
    dir = tempDir();
  });

  after(() => {
    killAllSipp();
    dir?.remove();
  });

  it('answers OPTIONS aimed at olelo with 200, over UDP and over TCP', T, async () => {
    const { server, listener } = await startServer(PROXY_ONLY);
    try {
      for (const transport of ['u1', 't1'] as const) {
        const port = listener(transport === 'u1' ? 'udp' : 'tcp').port;
        const r = await runSippUac({
          scenario: 'options.xml',
          local: '127.0.0.1',
          transport,
          calls: 5,
          remote: `127.0.0.1:${port}`,
          args: ['-r', '50'],
          dir: dir.path,
          name: `options-${transport}`,
        });
        assertAllSucceeded(r, 5);
        const oks = receivedMessages(r.messages).filter((m) => m.startsWith('SIP/2.0 200 '));
        assert.equal(oks.length, 5, r.summary);
        for (const ok of oks) {
          assert.match(headerValues(ok, 'To')[0]!, /;tag=/);
          assert.match(headerValues(ok, 'Allow')[0] ?? '', /INVITE/);
        }
      }
      // at least: a UDP OPTIONS retransmitted by a slow run is answered again
      assert.ok(server.stats.get('core.sl_replies')! >= 10);
      assert.equal(server.stats.get('core.fwd_requests'), 0);
    } finally {
      await server.stop(100);
    }
  });

  it(`routes ${CALLS} calls statelessly over UDP`, T, async () => {
    const { server, listener } = await startServer(PROXY_ONLY, { listen: ['udp:127.0.0.1:0'] });
    const proxy = listener('udp').port;
    const uas = await startSippUas({
      scenario: 'uas.xml',
      local: '127.0.0.1',
      calls: CALLS,
      dir: dir.path,
      name: 'udp-uas',
    });
    try {
      const uac = await runSippUac({
        scenario: 'uac.xml',
        local: '127.0.0.1',
        calls: CALLS,
        remote: `127.0.0.1:${proxy}`,
        args: ['-key', 'uas', `127.0.0.1:${uas.port}`, '-rsa', `127.0.0.1:${proxy}`, '-r', String(CALLS)],
        dir: dir.path,
        name: 'udp-uac',
      });
      const uasResult = await finished(uas);
      assertAllSucceeded(uac, CALLS);
      assertAllSucceeded(uasResult, CALLS);
      const invites = requests(uasResult, 'INVITE');
      assert.ok(invites.length >= CALLS, uasResult.summary);
      for (const inv of invites) {
        assert.deepEqual(headerValues(inv, 'Record-Route'), [`<sip:127.0.0.1:${proxy};lr>`]);
        assert.match(
          headerValues(inv, 'Via')[0]!,
          new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${proxy};branch=z9hG4bK`),
        );
      }
      assert.ok(requests(uasResult, 'BYE').length >= CALLS, uasResult.summary);
      assertForwardedCalls(server, CALLS);
    } finally {
      uas.kill();
      await server.stop(100);
    }
  });

  it(`routes ${CALLS} calls over TCP, both legs`, T, async () => {
    const { server, listener } = await startServer(PROXY_ONLY, { listen: ['tcp:127.0.0.1:0'] });
    const proxy = listener('tcp').port;
    const uas = await startSippUas({
      scenario: 'uas.xml',
      local: '127.0.0.1',
      transport: 't1',
      calls: CALLS,
      dir: dir.path,
      name: 'tcp-uas',
    });
    try {
      const uac = await runSippUac({
        scenario: 'uac.xml',
        local: '127.0.0.1',
        transport: 't1',
        calls: CALLS,
        remote: `127.0.0.1:${proxy}`,
        args: ['-key', 'uas', `127.0.0.1:${uas.port}`, '-r', String(CALLS)],
        dir: dir.path,
        name: 'tcp-uac',
      });
      const uasResult = await finished(uas);
      assertAllSucceeded(uac, CALLS);
      assertAllSucceeded(uasResult, CALLS);
      const invites = requests(uasResult, 'INVITE');
      assert.equal(invites.length, CALLS, uasResult.summary);
      for (const inv of invites) {
        assert.deepEqual(headerValues(inv, 'Record-Route'), [`<sip:127.0.0.1:${proxy};transport=tcp;lr>`]);
        assert.match(
          headerValues(inv, 'Via')[0]!,
          new RegExp(`^SIP/2\\.0/TCP 127\\.0\\.0\\.1:${proxy};branch=`),
        );
      }
      assert.equal(requests(uasResult, 'ACK').length, CALLS, uasResult.summary);
      assert.equal(requests(uasResult, 'BYE').length, CALLS, uasResult.summary);
      // the UAC's connection and one olelo opened to the UAS, reused for every call and in-dialog request
      assert.equal(connectionsOpened(server, 'tcp'), 2);
      assertForwardedCalls(server, CALLS);
    } finally {
      uas.kill();
      await server.stop(100);
    }
  });

  it(`routes ${CALLS} calls over TLS, both legs (SIPp behind TCP-TLS relays)`, T, async () => {
    const certDir = tempDir('olelo-sipp-cert-');
    const relays: Relay[] = [];
    let uas: SippProcess | undefined;
    let server: Server | undefined;
    try {
      const { certPath, keyPath, cert, key } = makeCertificate(certDir.path);
      // olelo verifies the UAS relay's certificate (IP SAN 127.0.0.1) against this CA: the self-signed one
      const started = await startServer(
        `${PROXY_ONLY}tls:\n  certificate: ${certPath}\n  key: ${keyPath}\n  ca: ${certPath}\n`,
        {
          listen: ['tls:127.0.0.1:0'],
        },
      );
      server = started.server;
      const proxy = started.listener('tls').port;
      // in front of the UAS: olelo connects over TLS, the UAS gets TCP; its port is set once the UAS runs
      const uasTarget = { host: '127.0.0.1', port: 0 };
      const uasRelay = await startRelay({ from: 'tls', to: 'tcp', target: uasTarget, cert, key });
      relays.push(uasRelay);
      const uasUri = `127.0.0.1:${uasRelay.port};transport=tls`;
      uas = await startSippUas({
        scenario: 'uas-contact.xml',
        local: '127.0.0.1',
        transport: 't1',
        calls: CALLS,
        // in-dialog requests must reach the UAS through its relay, over TLS
        args: ['-key', 'contact', uasUri],
        dir: dir.path,
        name: 'tls-uas',
      });
      uasTarget.port = uas.port;
      // in front of the UAC: it speaks TCP, olelo gets TLS (verified against the same CA)
      const uacRelay = await startRelay({
        from: 'tcp',
        to: 'tls',
        target: { host: '127.0.0.1', port: proxy },
        ca: cert,
      });
      relays.push(uacRelay);
      const uac = await runSippUac({
        scenario: 'uac-target.xml',
        local: '127.0.0.1',
        transport: 't1',
        calls: CALLS,
        remote: `127.0.0.1:${uacRelay.port}`,
        args: ['-key', 'target', uasUri, '-key', 'via', 'TLS', '-r', String(CALLS)],
        dir: dir.path,
        name: 'tls-uac',
      });
      const uasResult = await finished(uas);
      assertAllSucceeded(uac, CALLS);
      assertAllSucceeded(uasResult, CALLS);
      const invites = requests(uasResult, 'INVITE');
      assert.equal(invites.length, CALLS, uasResult.summary);
      for (const inv of invites) {
        assert.deepEqual(headerValues(inv, 'Record-Route'), [`<sip:127.0.0.1:${proxy};transport=tls;lr>`]);
        assert.match(
          headerValues(inv, 'Via')[0]!,
          new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${proxy};branch=`),
        );
      }
      assert.equal(requests(uasResult, 'ACK').length, CALLS, uasResult.summary);
      assert.equal(requests(uasResult, 'BYE').length, CALLS, uasResult.summary);
      // one TLS connection each way, reused for every call
      assert.equal(uacRelay.accepted, 1);
      assert.equal(uasRelay.accepted, 1);
      assert.equal(connectionsOpened(server, 'tls'), 2);
      assertForwardedCalls(server, CALLS);
    } finally {
      uas?.kill();
      for (const r of relays) await r.close();
      await server?.stop(100);
      certDir.remove();
    }
  });

  it(
    `routes ${CALLS} calls from a TCP UAC to a UDP UAS with a double Record-Route (RFC 5658)`,
    T,
    async () => {
      const { server, listener } = await startServer(PROXY_ONLY, {
        listen: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'],
      });
      const udp = listener('udp').port;
      const tcp = listener('tcp').port;
      const uas = await startSippUas({
        scenario: 'uas.xml',
        local: '127.0.0.1',
        calls: CALLS,
        dir: dir.path,
        name: 'x-uas',
      });
      try {
        const uac = await runSippUac({
          scenario: 'uac-target.xml',
          local: '127.0.0.1',
          transport: 't1',
          calls: CALLS,
          remote: `127.0.0.1:${tcp}`,
          // no transport parameter: the UAS is reached over UDP
          args: ['-key', 'target', `127.0.0.1:${uas.port}`, '-key', 'via', 'TCP', '-r', String(CALLS)],
          dir: dir.path,
          name: 'x-uac',
        });
        const uasResult = await finished(uas);
        assertAllSucceeded(uac, CALLS);
        assertAllSucceeded(uasResult, CALLS);
        const rr = [`<sip:127.0.0.1:${udp};lr;r2=on>`, `<sip:127.0.0.1:${tcp};transport=tcp;lr;r2=on>`];
        const invites = requests(uasResult, 'INVITE');
        assert.ok(invites.length >= CALLS, uasResult.summary);
        for (const inv of invites) {
          assert.deepEqual(headerValues(inv, 'Record-Route'), rr);
          assert.match(headerValues(inv, 'Via')[0]!, new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${udp};`));
          assert.match(headerValues(inv, 'Via')[1]!, /^SIP\/2\.0\/TCP /);
        }
        // the UAC got the Record-Route set back, and its ACK and BYE crossed from TCP to UDP along it
        const oks = receivedMessages(uac.messages).filter(
          (m) => m.startsWith('SIP/2.0 200 ') && / INVITE/.test(headerValues(m, 'CSeq')[0]!),
        );
        assert.equal(oks.length, CALLS, uac.summary);
        for (const ok of oks) assert.deepEqual(headerValues(ok, 'Record-Route'), rr);
        for (const method of ['ACK', 'BYE']) {
          const reqs = requests(uasResult, method);
          assert.ok(reqs.length >= CALLS, `${method}: ${uasResult.summary}`);
          for (const r of reqs) {
            assert.deepEqual(
              headerValues(r, 'Route'),
              [],
              `${method} arrives with olelo's Route values removed`,
            );
            assert.match(headerValues(r, 'Via')[0]!, new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${udp};`));
          }
        }
        assert.equal(connectionsOpened(server, 'tcp'), 1, "the UAC's connection, for every call");
        assertForwardedCalls(server, CALLS);
      } finally {
        uas.kill();
        await server.stop(100);
      }
    },
  );

  it(
    `routes ${CALLS} calls from a UDP UAC to a TCP UAS, opening and reusing the TCP connection`,
    T,
    async () => {
      const { server, listener } = await startServer(PROXY_ONLY, {
        listen: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'],
      });
      const udp = listener('udp').port;
      const tcp = listener('tcp').port;
      const uas = await startSippUas({
        scenario: 'uas.xml',
        local: '127.0.0.1',
        transport: 't1',
        calls: CALLS,
        dir: dir.path,
        name: 'y-uas',
      });
      try {
        const uac = await runSippUac({
          scenario: 'uac-target.xml',
          local: '127.0.0.1',
          calls: CALLS,
          remote: `127.0.0.1:${udp}`,
          args: [
            ...['-key', 'target', `127.0.0.1:${uas.port};transport=tcp`, '-key', 'via', 'UDP'],
            ...['-rsa', `127.0.0.1:${udp}`, '-r', String(CALLS)],
          ],
          dir: dir.path,
          name: 'y-uac',
        });
        const uasResult = await finished(uas);
        assertAllSucceeded(uac, CALLS);
        assertAllSucceeded(uasResult, CALLS);
        const rr = [`<sip:127.0.0.1:${tcp};transport=tcp;lr;r2=on>`, `<sip:127.0.0.1:${udp};lr;r2=on>`];
        const invites = requests(uasResult, 'INVITE');
        assert.equal(invites.length, CALLS, uasResult.summary);
        for (const inv of invites) assert.deepEqual(headerValues(inv, 'Record-Route'), rr);
        for (const method of ['ACK', 'BYE']) {
          const reqs = requests(uasResult, method);
          assert.equal(reqs.length, CALLS, `${method}: ${uasResult.summary}`);
          for (const r of reqs) {
            assert.deepEqual(headerValues(r, 'Route'), []);
            assert.match(headerValues(r, 'Via')[0]!, new RegExp(`^SIP/2\\.0/TCP 127\\.0\\.0\\.1:${tcp};`));
          }
        }
        assert.equal(
          connectionsOpened(server, 'tcp'),
          1,
          'one connection to the UAS, reused for every call and in-dialog request',
        );
        assertForwardedCalls(server, CALLS);
      } finally {
        uas.kill();
        await server.stop(100);
      }
    },
  );

  it(`routes ${CALLS} calls over UDP on IPv6 loopback`, T, async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('this host has no ::1');
      return;
    }
    const { server, listener } = await startServer(PROXY_ONLY, { listen: ['udp:[::1]:0'] });
    const proxy = listener('udp', 6).port;
    const uas = await startSippUas({
      scenario: 'uas.xml',
      local: '::1',
      calls: CALLS,
      dir: dir.path,
      name: 'v6-uas',
    });
    try {
      const uac = await runSippUac({
        scenario: 'uac.xml',
        local: '::1',
        calls: CALLS,
        remote: `[::1]:${proxy}`,
        args: ['-key', 'uas', `[::1]:${uas.port}`, '-rsa', `[::1]:${proxy}`, '-r', String(CALLS)],
        dir: dir.path,
        name: 'v6-uac',
      });
      const uasResult = await finished(uas);
      assertAllSucceeded(uac, CALLS);
      assertAllSucceeded(uasResult, CALLS);
      const invites = requests(uasResult, 'INVITE');
      assert.ok(invites.length >= CALLS, uasResult.summary);
      for (const inv of invites) {
        assert.deepEqual(headerValues(inv, 'Record-Route'), [`<sip:[::1]:${proxy};lr>`]);
        assert.match(headerValues(inv, 'Via')[0]!, new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${proxy};`));
      }
      assertForwardedCalls(server, CALLS);
    } finally {
      uas.kill();
      await server.stop(100);
    }
  });

  it('routes calls from IPv4 to IPv6 with a double Record-Route (RFC 5658)', T, async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('this host has no ::1');
      return;
    }
    const N = 10;
    const { server, listener } = await startServer(PROXY_ONLY, {
      listen: ['udp:127.0.0.1:0', 'udp:[::1]:0'],
    });
    const v4 = listener('udp', 4).port;
    const v6 = listener('udp', 6).port;
    const uas = await startSippUas({
      scenario: 'uas.xml',
      local: '::1',
      calls: N,
      dir: dir.path,
      name: 'v46-uas',
    });
    try {
      const uac = await runSippUac({
        scenario: 'uac.xml',
        local: '127.0.0.1',
        calls: N,
        remote: `127.0.0.1:${v4}`,
        args: ['-key', 'uas', `[::1]:${uas.port}`, '-rsa', `127.0.0.1:${v4}`, '-r', String(N)],
        dir: dir.path,
        name: 'v46-uac',
      });
      const uasResult = await finished(uas);
      assertAllSucceeded(uac, N);
      assertAllSucceeded(uasResult, N);
      const invites = requests(uasResult, 'INVITE');
      assert.ok(invites.length >= N, uasResult.summary);
      for (const inv of invites) {
        assert.deepEqual(headerValues(inv, 'Record-Route'), [
          `<sip:[::1]:${v6};lr;r2=on>`,
          `<sip:127.0.0.1:${v4};lr;r2=on>`,
        ]);
      }
      for (const bye of requests(uasResult, 'BYE')) {
        assert.deepEqual(headerValues(bye, 'Route'), []);
        assert.match(headerValues(bye, 'Via')[0]!, new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${v6};`));
      }
      assertForwardedCalls(server, N);
    } finally {
      uas.kill();
      await server.stop(100);
    }
  });

  it(
    'relays MESSAGEs from a WebSocket client to a SIPp UAS on UDP, with the 200s back over the WebSocket',
    T,
    async () => {
      const N = 10;
      const { server, listener } = await startServer(PROXY_ONLY, {
        listen: ['udp:127.0.0.1:0', 'ws:127.0.0.1:0'],
      });
      const ws = listener('ws').port;
      let client: WsClient | undefined;
      const uas = await startSippUas({
        scenario: 'uas-message.xml',
        local: '127.0.0.1',
        calls: N,
        dir: dir.path,
        name: 'ws-message-uas',
      });
      try {
        client = await WsClient.open(`ws://127.0.0.1:${ws}`);
        const tag = randomBytes(4).toString('hex');
        for (let i = 0; i < N; i++) {
          client.send(
            sipMessage(
              [
                `MESSAGE sip:bob@127.0.0.1:${uas.port} SIP/2.0`,
                `Via: SIP/2.0/WS ${tag}.invalid;branch=z9hG4bK${tag}m${i};rport`,
                `From: <sip:alice@example.com>;tag=${tag}${i}`,
                `To: <sip:bob@127.0.0.1:${uas.port}>`,
                `Call-ID: ${tag}-${i}@ws`,
                `CSeq: ${i + 1} MESSAGE`,
                'Max-Forwards: 70',
                'Content-Type: text/plain',
              ],
              `hello olelo ${i}`,
            ),
          );
        }
        for (let i = 0; i < N; i++) {
          const res = parse(await client.next((m) => m.includes(`Call-ID: ${tag}-${i}@ws`))) as SipResponse;
          assert.equal(res.kind, 'response');
          assert.equal(res.status, 200);
          assert.equal(res.cseq?.method, 'MESSAGE');
          assert.ok(res.to?.params.get('tag'), 'the UAS tagged To');
          // olelo removed its own Via; ours came back with received and rport filled
          assert.equal(res.via.length, 1);
          assert.equal(res.via[0]!.branch, `z9hG4bK${tag}m${i}`);
          assert.equal(res.via[0]!.received, '127.0.0.1');
          assert.equal(res.via[0]!.rport, client.localPort);
        }
        const uasResult = await finished(uas);
        // the UAS scenario checks Max-Forwards, both Vias and the body of every MESSAGE
        assertAllSucceeded(uasResult, N);
        const s = { ...server.stats.snapshot('core'), ...server.stats.snapshot('tm') };
        // relayed statefully: one transaction and one 2xx per MESSAGE
        assert.equal(s['tm.total'], N, JSON.stringify(s));
        assert.equal(s['tm.2xx_replies'], N, JSON.stringify(s));
        assert.equal(s['core.send_errors'], 0, JSON.stringify(s));
      } finally {
        client?.close();
        uas.kill();
        await server.stop(100);
      }
    },
  );

  it(
    'routes a dialog between a WebSocket client and a UDP peer both ways (INVITE, ACK, BYE from the UDP side)',
    T,
    async () => {
      const { server, listener } = await startServer(PROXY_ONLY, {
        listen: ['udp:127.0.0.1:0', 'ws:127.0.0.1:0'],
      });
      const udp = listener('udp').port;
      const ws = listener('ws').port;
      const peer = await UdpPeer.open();
      let client: WsClient | undefined;
      try {
        client = await WsClient.open(`ws://127.0.0.1:${ws}`);
        // No registrar yet: the UDP side can reach the client only through a Contact naming the client's
        // own address and port, which olelo maps to the open WebSocket connection (RFC 5923-style reuse).
        const contact = `<sip:alice@127.0.0.1:${client.localPort};transport=ws>`;
        const bob = `sip:bob@127.0.0.1:${peer.port}`;
        client.send(
          sipMessage([
            `INVITE ${bob} SIP/2.0`,
            'Via: SIP/2.0/WS c.invalid;branch=z9hG4bKwsinv1;rport',
            'From: <sip:alice@example.com>;tag=ws1',
            `To: <${bob}>`,
            'Call-ID: ws-dialog@test',
            'CSeq: 1 INVITE',
            `Contact: ${contact}`,
            'Max-Forwards: 70',
          ]),
        );
        const inv = parse(await peer.next((m) => m.startsWith('INVITE '))) as SipRequest;
        const rr = [`<sip:127.0.0.1:${udp};lr;r2=on>`, `<sip:127.0.0.1:${ws};transport=ws;lr;r2=on>`];
        assert.deepEqual(inv.getHeaders('record-route'), rr, 'RFC 5658: one Record-Route per listener');
        assert.equal(inv.maxForwards, 69);
        assert.equal(inv.via.length, 2);

        peer.send(
          sipMessage([
            'SIP/2.0 200 OK',
            ...copied(inv),
            `To: <${bob}>;tag=udp1`,
            ...rr.map((r) => `Record-Route: ${r}`),
            `Contact: <${bob}>`,
          ]),
          udp,
        );
        const ok = parse(await client.next((m) => m.startsWith('SIP/2.0 200'))) as SipResponse;
        assert.equal(ok.cseq?.method, 'INVITE');
        assert.equal(ok.via.length, 1);
        assert.deepEqual(ok.getHeaders('record-route'), rr);

        // the caller's route set is the Record-Route reversed (RFC 3261 §12.1.2)
        const clientRoutes = [...rr].reverse().map((r) => `Route: ${r}`);
        client.send(
          sipMessage([
            `ACK ${bob} SIP/2.0`,
            'Via: SIP/2.0/WS c.invalid;branch=z9hG4bKwsack1;rport',
            ...clientRoutes,
            'From: <sip:alice@example.com>;tag=ws1',
            `To: <${bob}>;tag=udp1`,
            'Call-ID: ws-dialog@test',
            'CSeq: 1 ACK',
            'Max-Forwards: 70',
          ]),
        );
        const ack = parse(await peer.next((m) => m.startsWith('ACK '))) as SipRequest;
        assert.equal(ack.requestUri, bob);
        assert.deepEqual(ack.getHeaders('route'), [], 'olelo removed both of its Route values');

        // the callee hangs up: its route set is the Record-Route as received; the target the client's Contact
        const target = contact.slice(1, -1);
        peer.send(
          sipMessage([
            `BYE ${target} SIP/2.0`,
            `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKudpbye1;rport`,
            ...rr.map((r) => `Route: ${r}`),
            `From: <${bob}>;tag=udp1`,
            'To: <sip:alice@example.com>;tag=ws1',
            'Call-ID: ws-dialog@test',
            'CSeq: 1 BYE',
            'Max-Forwards: 70',
          ]),
          udp,
        );
        const bye = parse(await client.next((m) => m.startsWith('BYE '))) as SipRequest;
        assert.equal(bye.requestUri, target);
        assert.deepEqual(bye.getHeaders('route'), []);
        assert.equal(bye.via.length, 2);
        assert.equal(bye.via[0]!.transport, 'WS');
        assert.equal(bye.via[0]!.port, ws);
        client.send(sipMessage(['SIP/2.0 200 OK', ...copied(bye), 'To: <sip:alice@example.com>;tag=ws1']));
        const byeOk = parse(await peer.next((m) => m.startsWith('SIP/2.0 200'))) as SipResponse;
        assert.equal(byeOk.cseq?.method, 'BYE');
        assert.equal(byeOk.via.length, 1);
        assert.equal(byeOk.via[0]!.branch, 'z9hG4bKudpbye1');

        const s = { ...server.stats.snapshot('core'), ...server.stats.snapshot('tm') };
        // INVITE and BYE relayed statefully, the ACK for the 2xx statelessly
        assert.equal(s['tm.total'], 2, JSON.stringify(s));
        assert.equal(s['core.fwd_requests'], 1, JSON.stringify(s));
        assert.equal(s['tm.2xx_replies'], 2, JSON.stringify(s));
        assert.equal(s['core.send_errors'], 0, JSON.stringify(s));
      } finally {
        client?.close();
        peer.close();
        await server.stop(100);
      }
    },
  );
});
