/**
 * 10,000 distinct AORs registered with digest authentication through the default service, then each
 * looked up: a SIPp UAC registers one account per call from an injection file (one password for all),
 * against 10,000 rows of the subscriber table; then a request to each AOR must reach the contact that AOR
 * registered — a UDP socket of the test that answers 200 and notes what arrived.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStorage } from '../../src/db/index.js';
import { hasSipp, killAllSipp, tempDir } from '../helpers/sipp.js';
import { DOMAIN, databaseUrl, LOCAL, provision, type Service, startService, succeeded } from './helpers.js';

const N = 10_000;
const PASSWORD = 'one-password-4-all';
const WINDOW = 200;

/** A UDP phone for every AOR at once: answers each request 200 and notes its Request-URI by Call-ID. */
class Phones {
  readonly reached = new Map<string, string>();

  private constructor(readonly socket: Socket) {
    socket.on('message', (buf, from) => {
      const text = buf.toString('latin1');
      if (text.startsWith('SIP/2.0')) return;
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      const lines = head.split('\r\n');
      const uri = lines[0]!.split(' ')[1]!;
      const copy = lines.filter((l) => /^(Via|From|Call-ID|CSeq|To):/i.test(l));
      const callId = /^Call-ID: *(.*)$/im.exec(head)?.[1] ?? '';
      this.reached.set(callId, uri);
      const response = [
        'SIP/2.0 200 OK',
        ...copy.map((l) => (/^To:/i.test(l) ? `${l};tag=phone` : l)),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(Buffer.from(response, 'latin1'), from.port, from.address);
    });
  }

  static async open(): Promise<Phones> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, LOCAL, resolve));
    return new Phones(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }
}

/** Sends `count` requests with at most WINDOW outstanding, resending late ones; resolves each final status. */
async function pipeline(serverPort: number, count: number, make: (i: number, localPort: number) => string) {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOCAL, resolve));
  const localPort = socket.address().port;
  const statuses: number[] = new Array(count);
  const sentAt = new Map<number, number>();
  let next = 0;
  let done = 0;
  return new Promise<number[]>((resolve, reject) => {
    const send = (i: number) => {
      sentAt.set(i, Date.now());
      socket.send(Buffer.from(make(i, localPort), 'latin1'), serverPort, LOCAL);
    };
    const fill = () => {
      while (next < count && sentAt.size < WINDOW) send(next++);
    };
    const timer = setInterval(() => {
      const now = Date.now();
      for (const [i, at] of sentAt) if (now - at > 1000) send(i);
    }, 250);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.close();
      reject(new Error(`only ${done} of ${count} answered`));
    }, 30_000);
    socket.on('message', (buf) => {
      const text = buf.toString('latin1');
      if (text.startsWith('SIP/2.0 1')) return;
      const m = /\r\nCall-ID: n(\d+)\r\n/i.exec(text);
      if (m === null) return;
      const i = Number(m[1]);
      if (!sentAt.has(i)) return; // a late duplicate
      sentAt.delete(i);
      statuses[i] = Number(text.slice(8, 11));
      if (++done === count) {
        clearInterval(timer);
        clearTimeout(giveUp);
        socket.close();
        resolve(statuses);
      } else fill();
    });
    fill();
  });
}

describe('default service: 10,000 AORs', { skip: hasSipp() ? false : 'sipp is not installed' }, () => {
  const dir = tempDir('olelo-svc-scale-');
  let svc: Service;
  let phones: Phones;

  before(async () => {
    await provision(dir.path, { users: {} });
    const db = await openStorage(databaseUrl(dir.path));
    const start = performance.now();
    for (let i = 0; i < N; i++)
      await db.subscribers.add({ username: `u${i}`, domain: DOMAIN, password: PASSWORD });
    await db.close();
    console.log(`${N} subscribers added in ${Math.round(performance.now() - start)} ms`);
    svc = await startService(dir.path);
    phones = await Phones.open();
  });

  after(async () => {
    killAllSipp();
    phones?.close();
    await svc?.stop();
    dir.remove();
  });

  it('registers 10,000 AORs with digest authentication and routes a request to each one’s contact', {
    timeout: 60_000,
  }, async () => {
    const csv = join(dir.path, 'users.csv');
    const lines = ['SEQUENTIAL'];
    for (let i = 0; i < N; i++) lines.push(`u${i};[authentication username=u${i} password=${PASSWORD}]`);
    writeFileSync(csv, `${lines.join('\n')}\n`);

    const start = performance.now();
    const reg = await svc.uac(
      'svc-register-scale.xml',
      'scale',
      [
        ...[
          '-inf',
          csv,
          '-key',
          'domain',
          DOMAIN,
          '-auth_uri',
          DOMAIN,
          '-key',
          'contact_port',
          String(phones.port),
        ],
        ...['-r', '2500', '-l', '500'],
      ],
      N,
    );
    const registeredMs = performance.now() - start;
    assert.equal(succeeded([reg], N), undefined);
    assert.equal(svc.stats('usrloc')['usrloc.registered_users'], N);
    // every REGISTER is challenged once and then authorized; a retransmission (SIPp's, when the machine is
    // slow) is answered the same way again, so authorized = REGISTERs received - challenges sent
    const auth = svc.stats('auth');
    const registers = svc.stats('core')['core.rcv_requests_register']!;
    assert.ok(auth['auth.authorized']! >= N);
    assert.equal(auth['auth.authorized'], registers - auth['auth.challenges']!);

    const lookupStart = performance.now();
    const statuses = await pipeline(svc.port, N, (i, port) =>
      [
        `MESSAGE sip:u${i}@${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP ${LOCAL}:${port};branch=z9hG4bKscale${i};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@elsewhere.example.org>;tag=p${i}`,
        `To: <sip:u${i}@${DOMAIN}>`,
        `Call-ID: n${i}`,
        'CSeq: 1 MESSAGE',
        'Content-Type: text/plain',
        'Content-Length: 2',
        '',
        'hi',
      ].join('\r\n'),
    );
    const lookupMs = performance.now() - lookupStart;
    for (let i = 0; i < N; i++) {
      assert.equal(statuses[i], 200, `MESSAGE ${i}`);
      assert.equal(
        phones.reached.get(`n${i}`),
        `sip:u${i}@${LOCAL}:${phones.port}`,
        `u${i} reached its own contact`,
      );
    }
    console.log(
      `${N} authenticated REGISTERs in ${Math.round(registeredMs)} ms, ${N} lookups (relayed MESSAGEs) in ${Math.round(lookupMs)} ms`,
    );
    assert.ok(registeredMs + lookupMs < 40_000, 'bounded time');
  });
});
