/**
 * 10,000 distinct AORs registered over one UDP socket, then each looked up: the script redirects (302)
 * to what lookup found, so every answer shows the contact the registrar returned for that AOR. Requests
 * are pipelined (a window of outstanding ones) and resent when their answer is late, as UDP allows loss.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { registrarServer } from './helpers.js';

const N = 10_000;
const WINDOW = 200;

/** Sends `count` requests made by `make(i)` with at most WINDOW outstanding; resolves each one's response. */
async function pipeline(
  serverPort: number,
  count: number,
  make: (i: number, localPort: number) => string,
): Promise<string[]> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const localPort = socket.address().port;
  const answers: string[] = new Array(count);
  const sentAt = new Map<number, number>();
  const texts = new Map<number, Buffer>();
  let next = 0;
  let done = 0;
  return new Promise<string[]>((resolve, reject) => {
    const send = (i: number) => {
      let data = texts.get(i);
      if (data === undefined) {
        data = Buffer.from(make(i, localPort), 'latin1');
        texts.set(i, data);
      }
      sentAt.set(i, Date.now());
      socket.send(data, serverPort, '127.0.0.1');
    };
    const fill = () => {
      while (next < count && sentAt.size < WINDOW) send(next++);
    };
    const timer = setInterval(() => {
      // UDP: resend what is still unanswered after 500 ms (the transaction layer absorbs duplicates)
      const now = Date.now();
      for (const [i, at] of sentAt) if (now - at > 500) send(i);
    }, 250);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.close();
      reject(new Error(`only ${done} of ${count} answered`));
    }, 60_000);
    socket.on('message', (buf) => {
      const text = buf.toString('latin1');
      if (text.startsWith('SIP/2.0 1')) return;
      const m = /\r\nCall-ID: n(\d+)\r\n/.exec(text);
      if (m === null) return;
      const i = Number(m[1]);
      if (!sentAt.has(i)) return; // a late duplicate
      sentAt.delete(i);
      texts.delete(i);
      answers[i] = text;
      if (++done === count) {
        clearInterval(timer);
        clearTimeout(giveUp);
        socket.close();
        resolve(answers);
      } else fill();
    });
    fill();
  });
}

const contactOf = (i: number) => `sip:u${i}@10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:5060`;

describe('10,000 AORs', () => {
  let srv: Awaited<ReturnType<typeof registrarServer>>;
  before(async () => {
    srv = await registrarServer('modules:\n  usrloc:\n    useDomain: true\n', {
      listen: ['udp:127.0.0.1:0'],
    });
  });
  after(() => srv.stop());

  it('registers 10,000 distinct AORs and looks each one up', { timeout: 60_000 }, async () => {
    const start = performance.now();
    const registered = await pipeline(srv.udpPort, N, (i, port) =>
      [
        'REGISTER sip:example.com SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKr${i};rport`,
        'Max-Forwards: 70',
        `From: <sip:u${i}@example.com>;tag=f${i}`,
        `To: <sip:u${i}@example.com>`,
        `Call-ID: n${i}`,
        'CSeq: 1 REGISTER',
        `Contact: <${contactOf(i)}>`,
        'Expires: 600',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const registeredMs = performance.now() - start;
    for (let i = 0; i < N; i++) assert.match(registered[i]!, /^SIP\/2\.0 200 /, `REGISTER ${i}`);
    assert.equal(srv.server.stats.get('usrloc.registered_users'), N);
    assert.equal(srv.server.stats.get('usrloc.location_contacts'), N);

    const lookupStart = performance.now();
    const looked = await pipeline(srv.udpPort, N, (i, port) =>
      [
        `OPTIONS sip:u${i}@example.com SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKl${i};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@example.com>;tag=p${i}`,
        `To: <sip:u${i}@example.com>`,
        `Call-ID: n${i}`,
        'CSeq: 1 OPTIONS',
        'X-Redirect: yes',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const lookupMs = performance.now() - lookupStart;
    for (let i = 0; i < N; i++) {
      const text = looked[i]!;
      assert.match(text, /^SIP\/2\.0 302 /, `lookup ${i}`);
      assert.ok(text.includes(`\r\nContact: <${contactOf(i)}>\r\n`), `lookup ${i} found its own contact`);
    }
    console.log(
      `10,000 REGISTERs in ${Math.round(registeredMs)} ms, 10,000 lookups in ${Math.round(lookupMs)} ms`,
    );
    assert.ok(registeredMs + lookupMs < 40_000, 'bounded time');
  });
});
