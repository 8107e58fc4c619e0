/**
 * The stage of the real-client tests: an olelo in this process listening on UDP, TCP and WebSocket
 * (127.0.0.1, OS-assigned ports) with static digest users and the route script below written to a temp
 * file, and optionally a SIPp UAS behind it. See README.md in this folder.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from '../../src/core/server.js';
import { startServer } from '../helpers/server.js';
import { killAllSipp, type SippProcess, type SippResult, startSippUas, tempDir } from '../helpers/sipp.js';

export const DOMAIN = 'example.com';
/** Static users (`modules.auth.users`); the realm is the domain. */
export const USERS: Record<string, string> = {
  alice: 'alice-secret',
  bob: 'bob-secret',
  carol: 'carol-secret',
};

/**
 * The route script. There is no registrar yet: an authorized REGISTER is answered 200 with its own
 * Contact and `;expires=` (what baresip and JsSIP need to consider themselves registered), and the source
 * it came from is remembered (a stand-in for the location table, used only by the harness self-test:
 * requests marked `X-Test-Deliver` go to the last REGISTER source of their Request-URI user, without
 * authentication; in-dialog requests to a WebSocket client's `.invalid` Contact go to the source its
 * REGISTER came from). Any other request is authenticated (407), stripped of its credentials, record-routed
 * and relayed statefully to the SIPp UAS.
 */
export function clientScript(uasPort: number): string {
  return `
import { defineRoutes } from 'olelo/script';

const UAS = 'sip:127.0.0.1:${uasPort}';
/** user (and Contact user) -> where its last authorized REGISTER came from (stand-in for the location table) */
const lastSource = new Map<string, string>();

export default defineRoutes({
  async request(req, m) {
    if (!m.maxfwd.process(req, 70)) return m.sl.reply(req, 483, 'Too Many Hops');
    if (req.hasToTag) {
      if (m.rr.looseRoute(req)) {
        // stand-in for WebSocket contact handling: a JsSIP Contact names an .invalid host (RFC 7118 §5)
        const user = req.sipUri?.host.endsWith('.invalid') ? req.sipUri.user : undefined;
        const wsTarget = user === undefined ? undefined : lastSource.get(user);
        if (wsTarget !== undefined) req.nextHop = wsTarget;
        if (req.method === 'ACK') await m.forward(req);
        else await m.tm.relay(req);
      } else if (req.method !== 'ACK') m.sl.reply(req, 404);
      return;
    }
    if (req.method === 'ACK' || req.method === 'CANCEL') {
      await m.forward(req);
      return;
    }
    if (req.method === 'REGISTER') {
      const result = await m.auth.wwwAuthorize(req);
      if (result === 'error') return m.sl.reply(req, 500);
      if (result !== 'authorized') return m.auth.wwwChallenge(req);
      if (!m.auth.checkTo(req)) return m.sl.reply(req, 403, 'Not Your AOR');
      const contact = req.header('contact');
      const expires = /;\\s*expires=(\\d+)/i.exec(contact ?? '')?.[1] ?? req.header('expires') ?? '3600';
      if (contact === undefined || contact.trim() === '*' || Number(expires) === 0) return m.sl.reply(req, 200, 'OK');
      const s = req.source;
      const source = 'sip:' + s.address + ':' + s.port + ';transport=' + s.protocol;
      lastSource.set(m.auth.user(req)!.user, source);
      const contactUser = /<sips?:([^@>;]+)@/.exec(contact)?.[1];
      if (contactUser !== undefined) lastSource.set(contactUser, source);
      m.sl.reply(req, 200, 'OK', [['Contact', contact.replace(/;\\s*expires=\\d+/gi, '') + ';expires=' + expires]]);
      return;
    }
    if (req.hasHeader('x-test-deliver')) {
      const target = lastSource.get(req.sipUri?.user ?? '');
      if (target === undefined) return m.sl.reply(req, 480, 'Not Seen');
      req.removeHeader('x-test-deliver');
      m.rr.recordRoute(req);
      req.nextHop = target;
      await m.tm.relay(req);
      return;
    }
    if (!(await m.auth.authenticate(req))) return;
    m.auth.consumeCredentials(req);
    m.rr.recordRoute(req);
    req.nextHop = UAS;
    await m.tm.relay(req);
  },
});
`;
}

/** A running stage. */
export interface Scene {
  server: Server;
  /** Ports of olelo's listeners on 127.0.0.1. */
  udpPort: number;
  tcpPort: number;
  wsPort: number;
  /** `ws://127.0.0.1:<wsPort>` */
  wsUrl: string;
  /** olelo's log lines (debug level). */
  logs: string[];
  /** The SIPp UAS when one was asked for. */
  uas: SippProcess | undefined;
  /** The auth module's statistics. */
  authStats(): Record<string, number>;
  /** Waits for the SIPp UAS to finish (it exits after its calls) and returns what it did. */
  uasResult(): Promise<SippResult>;
  /** Stops the UAS (if still running) and olelo, and removes the temp folder. */
  stop(): Promise<void>;
}

/** Options of {@link startScene}. */
export interface SceneOptions {
  /** Name for the temp folder and SIPp trace files. */
  name: string;
  /** SIPp UAS scenario (test/sipp/...) to relay requests to, and how many calls it takes before exiting. */
  uas?: { scenario: string; calls: number; timeoutS?: number };
}

/** Starts olelo (and the SIPp UAS); the caller must `stop()` it. */
export async function startScene(options: SceneOptions): Promise<Scene> {
  const dir = tempDir(`olelo-clients-${options.name}-`);
  let uas: SippProcess | undefined;
  try {
    if (options.uas !== undefined) {
      uas = await startSippUas({
        scenario: options.uas.scenario,
        local: '127.0.0.1',
        calls: options.uas.calls,
        dir: dir.path,
        name: `${options.name}-uas`,
        timeoutS: options.uas.timeoutS ?? 20,
        randomMediaPort: true,
      });
    }
    const script = join(dir.path, 'route.ts');
    // port 9 (discard) when no UAS: requests relayed there time out, which no test expects
    writeFileSync(script, clientScript(uas?.port ?? 9));
    const users = Object.entries(USERS).map(([u, p]) => `      ${u}@${DOMAIN}: ${JSON.stringify(p)}`);
    // baresip 1.0 and JsSIP 3 answer MD5 only, and only the first challenge
    const yaml = `modules:\n  auth:\n    algorithms: [MD5]\n    users:\n${users.join('\n')}\n`;
    const { server, logs, listener } = await startServer(yaml, {
      listen: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0', 'ws:127.0.0.1:0'],
      script,
    });
    const wsPort = listener('ws').port;
    let uasDone: Promise<SippResult> | undefined;
    return {
      server,
      udpPort: listener('udp').port,
      tcpPort: listener('tcp').port,
      wsPort,
      wsUrl: `ws://127.0.0.1:${wsPort}`,
      logs,
      uas,
      authStats: () => server.stats.snapshot('auth'),
      uasResult() {
        if (uas === undefined) return Promise.reject(new Error('no UAS in this scene'));
        uasDone ??= uas.done;
        return uasDone;
      },
      async stop() {
        uas?.kill();
        if (uas !== undefined) await uas.done;
        await server.stop();
        if (process.env.OLELO_KEEP_CLIENTS === undefined) dir.remove();
      },
    };
  } catch (error) {
    uas?.kill();
    killAllSipp();
    dir.remove();
    throw error;
  }
}
