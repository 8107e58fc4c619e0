/**
 * Shared pieces of the transport tests: a transport that records what it receives and emits, SIP
 * messages, waiting helpers, and a self-signed certificate made with openssl in a temp dir.
 */
import { TransportLayer } from '../../src/transport/index.js';
import type {
  ListenerOptions,
  Source,
  TlsOptions,
  TransportEvent,
  TransportLimits,
} from '../../src/transport/types.js';

export const LIMITS: TransportLimits = {
  maxMessageSize: 65535,
  maxConnections: 100,
  maxConnectionsPerIp: 50,
  connectionIdleTimeout: 30_000,
  messageReadTimeout: 5_000,
};

/** A SIP request with a body and a correct Content-Length. */
export function sipRequest(body = '', method = 'MESSAGE', transport = 'TCP'): string {
  return (
    `${method} sip:bob@example.com SIP/2.0\r\n` +
    `Via: SIP/2.0/${transport} 127.0.0.1:5060;branch=z9hG4bK${Math.random().toString(36).slice(2)}\r\n` +
    'Max-Forwards: 70\r\nCall-ID: abc@test\r\nCSeq: 1 MESSAGE\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

export interface Received {
  data: Buffer;
  source: Source;
}

/** A transport under test, with its messages and events recorded. */
export class TestTransport {
  readonly received: Received[] = [];
  readonly events: TransportEvent[] = [];
  readonly transport: TransportLayer;
  private waiters: (() => void)[] = [];

  constructor(listeners: ListenerOptions[], limits: Partial<TransportLimits> = {}, tls?: TlsOptions) {
    this.transport = new TransportLayer({
      listeners,
      limits: { ...LIMITS, ...limits },
      ...(tls === undefined ? {} : { tls }),
      onMessage: (data, source) => {
        this.received.push({ data, source });
        this.wake();
      },
      onEvent: (event) => {
        this.events.push(event);
        this.wake();
      },
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when `predicate` holds (checked on every message and event, and every 20 ms). */
  until(predicate: () => boolean, what = 'condition', timeoutMs = 3000): Promise<void> {
    return waitFor(predicate, what, timeoutMs, (w) => this.waiters.push(w));
  }

  /** The `n`-th message received (0-based), waiting for it. */
  async message(n = 0): Promise<Received> {
    await this.until(() => this.received.length > n, `message ${n}`);
    return this.received[n]!;
  }

  eventsOf<T extends TransportEvent['type']>(type: T): Extract<TransportEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<TransportEvent, { type: T }>[];
  }

  start(): Promise<void> {
    return this.transport.start();
  }

  stop(graceMs = 0): Promise<void> {
    return this.transport.stop(graceMs);
  }
}

/** Polls `predicate` until it holds or `timeoutMs` passes. */
export function waitFor(
  predicate: () => boolean,
  what = 'condition',
  timeoutMs = 3000,
  subscribe?: (wake: () => void) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) {
      resolve();
      return;
    }
    const started = Date.now();
    const check = (): void => {
      if (predicate()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      } else {
        subscribe?.(check);
      }
    };
    const timer = setInterval(check, 20);
    subscribe?.(check);
  });
}

/** Resolves with the first emission of `event` on `emitter`. */
export function once<T = unknown>(
  emitter: { once(event: string, listener: (...args: never[]) => void): unknown },
  event: string,
): Promise<T> {
  return new Promise((resolve) => emitter.once(event, ((value: T) => resolve(value)) as never));
}

/** A self-signed certificate for tests. */
export type TestCertificate = { cert: Buffer; key: Buffer };
export { makeCertificate } from '../helpers/tls.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
