/**
 * Clients registered over TCP or WebSocket are reached over their own connection: their Contacts (a
 * private address and port 9, an unresolvable `.invalid` host) cannot be reached, so the registrar keeps
 * the flow the REGISTER came on (received, listener) and lookup routes a UDP caller's request into it.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { UdpPeer } from '../helpers/server.js';
import {
  answer,
  contactsOf,
  registerRequest,
  registrarServer,
  request,
  response,
  sipRequest,
} from './helpers.js';

/** A SIP client on one TCP connection (messages without bodies). */
class TcpClient {
  private buffer = '';
  private readonly messages: string[] = [];
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (;;) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end === -1) break;
        this.messages.push(this.buffer.slice(0, end + 4));
        this.buffer = this.buffer.slice(end + 4);
      }
      this.waiter?.();
    });
  }

  static open(port: number): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new TcpClient(socket)));
      socket.once('error', reject);
    });
  }

  get port(): number {
    return this.socket.localPort ?? 0;
  }

  send(text: string): void {
    this.socket.write(text, 'latin1');
  }

  async next(test: (t: string) => boolean, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(test);
      if (i !== -1) return this.messages.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no matching message on the TCP connection');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('registration over a stream connection, then a request to it', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  before(async () => {
    srv = await registrarServer('modules:\n  usrloc:\n    useDomain: true\n', {
      listen: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0', 'ws:127.0.0.1:0'],
    });
  });
  after(() => srv.stop());

  it('delivers the INVITE of a UDP caller on the connection the client registered over', async () => {
    const client = await TcpClient.open(srv.tcpPort);
    const caller = await UdpPeer.open();
    try {
      client.send(
        registerRequest('rita', client.port, {
          contact: '<sip:rita@192.168.77.5:9;transport=tcp>',
          expires: 300,
          transport: 'TCP',
        }),
      );
      const ok = response(await client.next((t) => t.startsWith('SIP/2.0 ')));
      assert.equal(ok.status, 200);
      assert.deepEqual(
        contactsOf(ok).map((c) => c.uri),
        ['sip:rita@192.168.77.5:9;transport=tcp'],
      );

      const invite = sipRequest({
        method: 'INVITE',
        uri: 'sip:rita@example.com',
        port: caller.port,
        headers: ['Contact: <sip:caller@127.0.0.1>'],
      });
      caller.send(invite, srv.udpPort);
      const got = await client.next((t) => t.startsWith('INVITE '));
      const req = request(got);
      assert.equal(req.requestUri, 'sip:rita@192.168.77.5:9;transport=tcp');
      assert.match(req.topVia?.transport ?? '', /^TCP$/, 'sent over TCP, with our TCP Via');
      client.send(answer(got, 486, 'Busy Here'));
      const final = await caller.next((t) => /^SIP\/2\.0 486 /.test(t));
      assert.match(final, /^SIP\/2\.0 486 /);
      // the hop-by-hop ACK for the 486 (RFC 3261 §17.1.1.3)
      const busy = response(final);
      caller.send(
        [
          'ACK sip:rita@example.com SIP/2.0',
          `Via: ${request(invite).getHeader('via')}`,
          'Max-Forwards: 70',
          `From: ${busy.getHeader('from')}`,
          `To: ${busy.getHeader('to')}`,
          `Call-ID: ${busy.callId}`,
          `CSeq: ${busy.cseq?.seq} ACK`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        srv.udpPort,
      );
    } finally {
      client.close();
      caller.close();
    }
  });

  it('delivers a request to a WebSocket client (RFC 7118) on its own connection', async () => {
    const wsPort = srv.server.listeners.find((l) => l.protocol === 'ws')!.port;
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, 'sip');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const inbox: string[] = [];
    const waiting: Array<(t: string) => void> = [];
    ws.on('message', (data: Buffer) => {
      const text = data.toString('latin1');
      const w = waiting.shift();
      if (w === undefined) inbox.push(text);
      else w(text);
    });
    const next = () =>
      new Promise<string>((resolve, reject) => {
        const queued = inbox.shift();
        if (queued !== undefined) return resolve(queued);
        const timer = setTimeout(() => reject(new Error('nothing on the WebSocket')), 3000);
        waiting.push((t) => {
          clearTimeout(timer);
          resolve(t);
        });
      });
    const caller = await UdpPeer.open();
    try {
      // a browser's Via and Contact name a host nobody can resolve (RFC 7118 §5.2)
      ws.send(
        registerRequest('wanda', 0, {
          contact: '<sip:k3r9x@df7jal23ls0d.invalid;transport=ws>',
          expires: 300,
        }).replace(/Via: SIP\/2\.0\/UDP 127\.0\.0\.1:0/, 'Via: SIP/2.0/WS df7jal23ls0d.invalid'),
      );
      assert.equal(response(await next()).status, 200);
      caller.send(
        sipRequest({ method: 'MESSAGE', uri: 'sip:wanda@example.com', port: caller.port }),
        srv.udpPort,
      );
      const got = await next();
      assert.ok(got.startsWith('MESSAGE sip:k3r9x@df7jal23ls0d.invalid;transport=ws SIP/2.0'), got);
      ws.send(answer(got, 200, 'OK'));
      assert.match(await caller.next((t) => t.startsWith('SIP/2.0 2')), /^SIP\/2\.0 200 /);
    } finally {
      ws.terminate();
      caller.close();
    }
  });
});
