import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type FramerSink,
  type FramingLimits,
  readContentLength,
  StreamFramer,
} from '../../src/transport/framing.js';

function request(body = '', extra = ''): string {
  return (
    'MESSAGE sip:bob@example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n' +
    'Call-ID: a84b4c76e66710\r\n' +
    extra +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const RESPONSE = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nl: 5\r\n\r\nhello';

class Collector implements FramerSink {
  frames: Buffer[] = [];
  pings = 0;
  onFrame(message: Buffer): void {
    this.frames.push(message);
  }
  onPing(): void {
    this.pings++;
  }
  get texts(): string[] {
    return this.frames.map((f) => f.toString('latin1'));
  }
}

function frame(chunks: (string | Buffer)[], limits: FramingLimits = { maxMessageSize: 65535 }) {
  const sink = new Collector();
  const framer = new StreamFramer(sink, limits);
  let ok = true;
  for (const c of chunks) {
    if (!framer.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c)) {
      ok = false;
      break;
    }
  }
  return { sink, framer, ok, error: framer.error };
}

function bytewise(text: string): Buffer[] {
  const b = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

describe('StreamFramer', () => {
  it('delivers a message received in one chunk as a view of that chunk', () => {
    const chunk = Buffer.from(request('hi'), 'latin1');
    const { sink, ok } = frame([chunk]);
    assert.ok(ok);
    assert.equal(sink.frames.length, 1);
    assert.equal(sink.frames[0]!.buffer, chunk.buffer);
    assert.equal(sink.texts[0], request('hi'));
  });

  it('delivers several messages joined in one chunk, each with exactly its body', () => {
    const text = request('one') + RESPONSE + request('') + request('three!');
    const { sink, ok, framer } = frame([text]);
    assert.ok(ok);
    assert.deepEqual(sink.texts, [request('one'), RESPONSE, request(''), request('three!')]);
    assert.equal(framer.pendingBytes, 0);
  });

  it('assembles one message split across chunks, and keeps the rest for the next', () => {
    const a = request('body of the first');
    const b = request('second');
    const text = a + b;
    const { sink, ok } = frame([
      text.slice(0, 10),
      text.slice(10, 90),
      text.slice(90, a.length + 3),
      text.slice(a.length + 3),
    ]);
    assert.ok(ok);
    assert.deepEqual(sink.texts, [a, b]);
  });

  it('frames a stream fed byte by byte', () => {
    const text = `${request('x'.repeat(300))}\r\n\r\n${RESPONSE}${request('')}`;
    const { sink, ok, framer } = frame(bytewise(text));
    assert.ok(ok);
    assert.deepEqual(sink.texts, [request('x'.repeat(300)), RESPONSE, request('')]);
    assert.equal(sink.pings, 1);
    assert.equal(framer.pendingBytes, 0);
  });

  it('frames the same stream whatever the split points', () => {
    const messages = [
      request('a'.repeat(1000)),
      RESPONSE,
      request('b'),
      request('c'.repeat(5000), 'Subject: x\r\n'),
    ];
    const bytes = Buffer.from(messages.join(''), 'latin1');
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let run = 0; run < 200; run++) {
      const chunks: Buffer[] = [];
      let at = 0;
      while (at < bytes.length) {
        const n = 1 + (random() % (run % 2 === 0 ? 40 : 3000));
        chunks.push(bytes.subarray(at, at + n));
        at += n;
      }
      const { sink, ok } = frame(chunks);
      assert.ok(ok);
      assert.deepEqual(sink.texts, messages, `run ${run}`);
    }
  });

  it('hands out messages that later chunks cannot change', () => {
    const text = request('abcdef');
    const first = Buffer.from(text.slice(0, 20), 'latin1');
    const second = Buffer.from(text.slice(20), 'latin1');
    const { sink } = frame([first, second]);
    first.fill(0);
    second.fill(0);
    assert.equal(sink.texts[0], text);
  });

  it('reports a message in progress through pendingBytes', () => {
    const sink = new Collector();
    const framer = new StreamFramer(sink, { maxMessageSize: 65535 });
    const text = request('12345');
    framer.push(Buffer.from(text.slice(0, 30), 'latin1'));
    assert.equal(framer.pendingBytes, 30);
    framer.push(Buffer.from(text.slice(30), 'latin1'));
    assert.equal(framer.pendingBytes, 0);
    assert.equal(sink.frames.length, 1);
  });

  describe('keepalives (RFC 5626 §3.5.1)', () => {
    it('answers a CRLFCRLF ping once', () => {
      const { sink, ok } = frame(['\r\n\r\n']);
      assert.ok(ok);
      assert.equal(sink.pings, 1);
      assert.equal(sink.frames.length, 0);
    });

    it('recognises a ping split across chunks', () => {
      const { sink } = frame(['\r', '\n', '\r', '\n']);
      assert.equal(sink.pings, 1);
    });

    it('ignores a single CRLF (a pong) and CRLFs before a message', () => {
      const pong = frame(['\r\n', request('y')]);
      assert.equal(pong.sink.pings, 0);
      assert.deepEqual(pong.sink.texts, [request('y')]);
      const { sink } = frame([`\r\n${request('z')}`]);
      assert.equal(sink.pings, 0);
      assert.deepEqual(sink.texts, [request('z')]);
    });

    it('recognises pings between messages and answers once per chunk', () => {
      const { sink } = frame([`${request('a')}\r\n\r\n${request('b')}\r\n\r\n\r\n\r\n`]);
      assert.deepEqual(sink.texts, [request('a'), request('b')]);
      assert.equal(sink.pings, 1);
    });
  });

  describe('errors', () => {
    it('rejects a stream message without Content-Length (RFC 3261 §18.3)', () => {
      const { ok, error, sink } = frame([
        'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n',
      ]);
      assert.equal(ok, false);
      assert.equal(error, 'missing-content-length');
      assert.equal(sink.frames.length, 0);
    });

    for (const value of ['abc', '-1', '12 34', '', '1x', '99999999999']) {
      it(`rejects Content-Length "${value}"`, () => {
        const { ok, error } = frame([`OPTIONS sip:a@b SIP/2.0\r\nContent-Length: ${value}\r\n\r\n`]);
        assert.equal(ok, false);
        assert.equal(error, 'bad-content-length');
      });
    }

    it('rejects conflicting Content-Length values, accepts repeated equal ones', () => {
      assert.equal(frame([request('ab', 'l: 3\r\n')]).error, 'bad-content-length');
      const { ok, sink } = frame([request('ab', 'CONTENT-LENGTH :  2 \r\n')]);
      assert.ok(ok);
      assert.equal(sink.frames.length, 1);
    });

    it('delivers the messages before an error, then stops', () => {
      const { ok, sink, error } = frame([`${request('a')}GET / HTTP/1.1\r\nHost: x\r\n\r\n${request('b')}`]);
      assert.equal(ok, false);
      assert.equal(error, 'garbage');
      assert.deepEqual(sink.texts, [request('a')]);
    });

    it('closes early on bytes that cannot start SIP (a TLS ClientHello)', () => {
      const { ok, error } = frame([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])]);
      assert.equal(ok, false);
      assert.equal(error, 'garbage');
    });

    it('rejects an HTTP request line as soon as it is complete', () => {
      const { ok, error } = frame(bytewise('GET /index.html HTTP/1.1\r\n'));
      assert.equal(ok, false);
      assert.equal(error, 'garbage');
    });

    it('rejects a first line longer than its bound', () => {
      const { ok, error } = frame(['A'.repeat(200)], { maxMessageSize: 65535, maxStartLineLength: 100 });
      assert.equal(ok, false);
      assert.equal(error, 'garbage');
    });

    it('rejects a header section larger than maxMessageSize, whole or byte by byte', () => {
      const big = `OPTIONS sip:a@b SIP/2.0\r\nSubject: ${'x'.repeat(600)}\r\n`;
      assert.equal(frame([big], { maxMessageSize: 500 }).error, 'header-too-large');
      assert.equal(frame(bytewise(big), { maxMessageSize: 500 }).error, 'header-too-large');
    });

    it('rejects a message whose Content-Length takes it past maxMessageSize', () => {
      const head = 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1000\r\n\r\n';
      assert.equal(frame([head], { maxMessageSize: 1000 }).error, 'message-too-large');
    });

    it('accepts a message of exactly maxMessageSize bytes', () => {
      const head = 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 100\r\n\r\n';
      const text = head + 'b'.repeat(100);
      const { ok, sink } = frame(bytewise(text), { maxMessageSize: text.length });
      assert.ok(ok);
      assert.deepEqual(sink.texts, [text]);
    });

    it('ignores input after stop()', () => {
      const sink = new Collector();
      const framer = new StreamFramer(sink, { maxMessageSize: 65535 });
      framer.stop();
      assert.ok(framer.push(Buffer.from(request('a'))));
      assert.equal(sink.frames.length, 0);
    });
  });

  describe('readContentLength', () => {
    it('reads the full and the compact name, case-insensitively', () => {
      const a = Buffer.from('INVITE sip:a SIP/2.0\r\ncontent-LENGTH: 42\r\n\r\n', 'latin1');
      assert.equal(readContentLength(a, 0, a.length - 2), 42);
      const b = Buffer.from('INVITE sip:a SIP/2.0\r\nLocation: x\r\nL:7\r\n\r\n', 'latin1');
      assert.equal(readContentLength(b, 0, b.length - 2), 7);
    });
  });
});
