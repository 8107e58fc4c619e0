/**
 * WebSocket clients of the default service. A browser client (JsSIP, SIP.js) writes a Contact whose host
 * is a made-up `<random>.invalid` (RFC 7118 §5): every request to it must go through its open WebSocket
 * connection. Here a WebSocket client of the test, speaking raw SIP with digest authentication, is called
 * by a SIPp phone (its ACK and BYE reach the client through the registration's connection, whether its
 * Contact is the registered one or its GRUU), and calls a UDP phone of the test (whose BYE reaches the
 * client through the `alias` of the client's Contact).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createResponseBytes } from '../../src/sip/build.js';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import { answer } from '../auth/client.js';
import { UdpPeer } from '../helpers/server.js';
import { hasSipp, killAllSipp, tempDir } from '../helpers/sipp.js';
import {
  callArgs,
  DOMAIN,
  finals,
  LOCAL,
  provision,
  type Service,
  startService,
  succeeded,
  USERS,
} from './helpers.js';

const T = { timeout: 20_000 };

/** A SIP-over-WebSocket client (RFC 7118) that keeps what it receives until asked for it. */
class WsClient {
  private readonly received: string[] = [];
  private waiters: Array<{ test: (m: string) => boolean; resolve: (m: string) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
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
    return new WsClient(ws);
  }

  send(text: string | Buffer): void {
    this.ws.send(typeof text === 'string' ? text : text.toString('latin1'));
  }

  next(test: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
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

const sip = (lines: string[], body = '') =>
  `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const request = (text: string) => parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
const response = (text: string) => parseMessage(Buffer.from(text, 'latin1')) as SipResponse;
const isRequest = (method: string) => (m: string) => m.startsWith(`${method} `);
const isStatus = (status: number, method: string) => (m: string) =>
  m.startsWith(`SIP/2.0 ${status} `) && new RegExp(`^CSeq: \\d+ ${method}\\r?$`, 'mi').test(m);

/** Registers `user` through `send`, answering the 401; resolves the 200. `extra` are more header lines. */
async function register(
  user: string,
  contact: string,
  via: string,
  send: (text: string) => void,
  next: (test: (m: string) => boolean) => Promise<string>,
  extra: string[] = [],
): Promise<SipResponse> {
  const callId = `reg-${user}-${Date.now()}`;
  const lines = (cseq: number, auth?: string) => [
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: ${via};branch=z9hG4bK${callId}${cseq};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${DOMAIN}>;tag=${user}reg`,
    `To: <sip:${user}@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: ${contact};expires=600`,
    ...extra,
    ...(auth === undefined ? [] : [`Authorization: ${auth}`]),
  ];
  send(sip(lines(1)));
  const challenge = response(await next(isStatus(401, 'REGISTER')));
  const credentials = answer(challenge.getHeader('www-authenticate')!, {
    username: user,
    password: USERS[user]!,
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
  });
  send(sip(lines(2, credentials)));
  return response(await next(isStatus(200, 'REGISTER')));
}

describe('default service: WebSocket clients', { skip: hasSipp() ? false : 'sipp is not installed' }, () => {
  let dir: ReturnType<typeof tempDir>;
  let svc: Service;
  let wsUrl: string;
  const clients: WsClient[] = [];
  const peers: UdpPeer[] = [];

  before(async () => {
    dir = tempDir('olelo-svc-ws-');
    await provision(dir.path);
    svc = await startService(dir.path, { listen: [`udp:${LOCAL}:0`, `ws:${LOCAL}:0`] });
    wsUrl = `ws://${LOCAL}:${svc.server.listeners.find((l) => l.protocol === 'ws')!.port}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const p of peers) p.close();
    killAllSipp();
    await svc?.stop();
    dir?.remove();
  });

  it(
    'delivers a call to a WebSocket client, and its ACK and BYE through the same connection',
    T,
    async () => {
      const carol = await WsClient.open(wsUrl);
      clients.push(carol);
      const contact = '<sip:c4r0l@df7jal23ls0d.invalid;transport=ws>';
      const ok = await register(
        'carol',
        contact,
        'SIP/2.0/WS df7jal23ls0d.invalid',
        (t) => carol.send(t),
        (t) => carol.next(t),
      );
      assert.match(ok.getHeader('contact') ?? '', /df7jal23ls0d\.invalid/);

      // a SIPp phone calls carol; carol answers like a browser phone does
      const call = svc.uac('svc-call.xml', 'alice-calls-ws', callArgs('alice', 'carol'));
      const invite = request(await carol.next(isRequest('INVITE')));
      assert.equal(invite.requestUri, 'sip:c4r0l@df7jal23ls0d.invalid;transport=ws');
      const answerWith = (status: number) =>
        createResponseBytes(invite, status, {
          toTag: 'ws-callee',
          copyRecordRoute: true,
          headers: [['Contact', contact]],
        });
      carol.send(answerWith(180));
      carol.send(answerWith(200));
      // in-dialog requests name carol's .invalid Contact: they reach her through her registration's connection
      const ack = request(await carol.next(isRequest('ACK')));
      assert.equal(ack.requestUri, 'sip:c4r0l@df7jal23ls0d.invalid;transport=ws');
      const bye = request(await carol.next(isRequest('BYE')));
      carol.send(createResponseBytes(bye, 200));
      const r = await call;
      assert.equal(succeeded([r]), undefined);
      assert.deepEqual(finals(r), [407, 200, 200]);
    },
  );

  it('reaches a WebSocket client that answers with its GRUU (RFC 5627), as JsSIP does', T, async () => {
    const frank = await WsClient.open(wsUrl);
    clients.push(frank);
    const instance = '<urn:uuid:0f1e2d3c-4b5a-4697-8899-aabbccddeeff>';
    const ok = await register(
      'frank',
      `<sip:fr4nk@k2j4.invalid;transport=ws>;+sip.instance="${instance}";reg-id=1`,
      'SIP/2.0/WS k2j4.invalid',
      (t) => frank.send(t),
      (t) => frank.next(t),
      ['Supported: path, gruu, outbound'],
    );
    const gruu = /pub-gruu="([^"]+)"/.exec(ok.getHeader('contact') ?? '')?.[1];
    assert.ok(gruu, 'the 200 hands out a public GRUU');
    assert.match(gruu, /^sip:frank@example\.com;gr=urn:uuid:/);

    const call = svc.uac('svc-call.xml', 'alice-calls-gruu', callArgs('alice', 'frank'));
    const invite = request(await frank.next(isRequest('INVITE')));
    assert.equal(invite.requestUri, 'sip:fr4nk@k2j4.invalid;transport=ws');
    const answerWith = (status: number) =>
      createResponseBytes(invite, status, {
        toTag: 'gruu-callee',
        copyRecordRoute: true,
        headers: [['Contact', `<${gruu}>`]],
      });
    frank.send(answerWith(180));
    frank.send(answerWith(200));
    // the ACK and the BYE name the GRUU: the registrar resolves it to frank's connection
    const ack = request(await frank.next(isRequest('ACK')));
    assert.equal(ack.requestUri, 'sip:fr4nk@k2j4.invalid;transport=ws');
    const bye = request(await frank.next(isRequest('BYE')));
    frank.send(createResponseBytes(bye, 200));
    const r = await call;
    assert.equal(succeeded([r]), undefined);
    assert.deepEqual(finals(r), [407, 200, 200]);
  });

  it(
    'routes a call from a WebSocket client, and the callee’s BYE back to it by its Contact’s alias',
    T,
    async () => {
      const dave = await UdpPeer.open();
      peers.push(dave);
      await register(
        'dave',
        `<sip:dave@${LOCAL}:${dave.port}>`,
        `SIP/2.0/UDP ${LOCAL}:${dave.port}`,
        (t) => dave.send(t, svc.port),
        (t) => dave.next(t),
      );
      const erin = await WsClient.open(wsUrl);
      clients.push(erin);
      const callId = `ws-call-${Date.now()}`;
      const invite = (cseq: number, branch: string, auth?: string) =>
        sip(
          [
            `INVITE sip:dave@${DOMAIN} SIP/2.0`,
            `Via: SIP/2.0/WS q8x2.invalid;branch=z9hG4bK${branch};rport`,
            'Max-Forwards: 70',
            `From: <sip:erin@${DOMAIN}>;tag=erin1`,
            `To: <sip:dave@${DOMAIN}>`,
            `Call-ID: ${callId}`,
            `CSeq: ${cseq} INVITE`,
            'Contact: <sip:e9r1n@q8x2.invalid;transport=ws;ob>',
            ...(auth === undefined ? [] : [`Proxy-Authorization: ${auth}`]),
            'Content-Type: application/sdp',
          ],
          'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n',
        );
      erin.send(invite(1, 'erin1'));
      const challenge = response(await erin.next(isStatus(407, 'INVITE')));
      erin.send(
        sip([
          `ACK sip:dave@${DOMAIN} SIP/2.0`,
          'Via: SIP/2.0/WS q8x2.invalid;branch=z9hG4bKerin1;rport',
          'Max-Forwards: 70',
          `From: <sip:erin@${DOMAIN}>;tag=erin1`,
          `To: ${challenge.getHeader('to')}`,
          `Call-ID: ${callId}`,
          'CSeq: 1 ACK',
        ]),
      );
      const credentials = answer(challenge.getHeader('proxy-authenticate')!, {
        username: 'erin',
        password: USERS.erin!,
        method: 'INVITE',
        uri: `sip:dave@${DOMAIN}`,
      });
      erin.send(invite(2, 'erin2', credentials));

      // dave gets the INVITE with erin's Contact carrying where she really is
      const received = request(await dave.next(isRequest('INVITE')));
      const target = /<([^>]+)>/.exec(received.getHeader('contact')!)![1]!;
      assert.match(target, /^sip:e9r1n@q8x2\.invalid;transport=ws;ob;alias=127\.0\.0\.1~\d+~5$/);
      const rr = received.getHeaders('record-route');
      assert.equal(rr.length, 2, 'WebSocket in, UDP out: two Record-Route values (RFC 5658)');
      const ok = createResponseBytes(received, 200, {
        toTag: 'dave1',
        copyRecordRoute: true,
        headers: [['Contact', `<sip:dave@${LOCAL}:${dave.port}>`]],
      });
      dave.send(ok.toString('latin1'), svc.port);
      const ok200 = response(await erin.next(isStatus(200, 'INVITE')));
      erin.send(
        sip([
          `ACK sip:dave@${LOCAL}:${dave.port} SIP/2.0`,
          'Via: SIP/2.0/WS q8x2.invalid;branch=z9hG4bKerin3;rport',
          ...[...ok200.getHeaders('record-route')].reverse().map((v) => `Route: ${v}`),
          'Max-Forwards: 70',
          `From: <sip:erin@${DOMAIN}>;tag=erin1`,
          `To: ${ok200.getHeader('to')}`,
          `Call-ID: ${callId}`,
          'CSeq: 2 ACK',
        ]),
      );
      await dave.next(isRequest('ACK'));

      // dave hangs up: the BYE's Request-URI is erin's Contact as he got it, alias and all
      dave.send(
        sip([
          `BYE ${target} SIP/2.0`,
          `Via: SIP/2.0/UDP ${LOCAL}:${dave.port};branch=z9hG4bKdavebye;rport`,
          ...rr.map((v) => `Route: ${v}`),
          'Max-Forwards: 70',
          `From: <sip:dave@${DOMAIN}>;tag=dave1`,
          `To: <sip:erin@${DOMAIN}>;tag=erin1`,
          `Call-ID: ${callId}`,
          'CSeq: 1 BYE',
        ]),
        svc.port,
      );
      const bye = request(await erin.next(isRequest('BYE')));
      assert.equal(bye.requestUri, 'sip:e9r1n@q8x2.invalid;transport=ws;ob', 'the alias was taken off');
      erin.send(createResponseBytes(bye, 200));
      await dave.next(isStatus(200, 'BYE'));
    },
  );
});
