/**
 * Test helpers: an olelo server on loopback with OS-assigned ports, and raw UDP peers.
 */
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/core/config.js';
import { Logger } from '../../src/core/logger.js';
import { moduleSchemas } from '../../src/core/module.js';
import { Server } from '../../src/core/server.js';
import { builtinModules } from '../../src/script/api.js';
import type { Listener, Protocol } from '../../src/transport/types.js';

/** The repository root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Starts a server from YAML (listeners default to UDP and TCP on 127.0.0.1 with OS-assigned ports). */
export async function startServer(
  yaml = '',
  options: { listen?: string[]; script?: string } = {},
): Promise<{ server: Server; logs: string[]; listener(protocol: Protocol, family?: 4 | 6): Listener }> {
  const listen = options.listen ?? ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'];
  // the control API stays off unless a test configures it: parallel tests would share its port and socket
  const control = /^control:/m.test(yaml) ? '' : 'control:\n  http:\n    listen: "off"\n  socket: "off"\n';
  const text = `listen:\n${listen.map((l) => `  - "${l}"`).join('\n')}\nscript: ${options.script ?? `${ROOT}scripts/default.ts`}\ndataDir: ${ROOT}dist/test-data\n${control}${yaml}`;
  const config = loadConfig({ text, env: {}, cwd: ROOT, moduleSchemas: moduleSchemas(builtinModules) });
  const logs: string[] = [];
  const log = Logger.create({ level: 'debug', sink: (line) => logs.push(line) });
  const server = await Server.start(config, { log });
  return {
    server,
    logs,
    listener(protocol, family = 4) {
      const l = server.listeners.find((x) => x.protocol === protocol && x.family === family);
      if (l === undefined) throw new Error(`no ${protocol} listener`);
      return l;
    },
  };
}

/** A UDP peer on loopback that records what it receives. */
export class UdpPeer {
  readonly socket: Socket;
  readonly received: Buffer[] = [];
  private waiters: Array<{ test: (b: Buffer) => boolean; resolve: (b: Buffer) => void }> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg) => {
      this.received.push(msg);
      const i = this.waiters.findIndex((w) => w.test(msg));
      if (i !== -1) this.waiters.splice(i, 1)[0]!.resolve(msg);
    });
  }

  static async open(address = '127.0.0.1'): Promise<UdpPeer> {
    const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(text: string, port: number, address = '127.0.0.1'): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, address);
  }

  /** The next received message matching `test` (already received ones count), within `timeoutMs`. */
  next(test: (text: string) => boolean = () => true, timeoutMs = 2000): Promise<string> {
    const match = (b: Buffer) => test(b.toString('latin1'));
    const seen = this.received.findIndex(match);
    if (seen !== -1) return Promise.resolve(this.received.splice(seen, 1)[0]!.toString('latin1'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (b: Buffer) => {
        clearTimeout(timer);
        const i = this.received.indexOf(b);
        if (i !== -1) this.received.splice(i, 1);
        resolve(b.toString('latin1'));
      };
      this.waiters.push({ test: match, resolve: done });
    });
  }

  close(): void {
    this.socket.close();
  }
}
