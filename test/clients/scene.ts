/**
 * The stage of the real-client tests: an olelo in this process listening on UDP, TCP and WebSocket
 * (127.0.0.1, OS-assigned ports) running scripts/default.ts on its own SQLite database with the users
 * provisioned (or the route script below, with static users), and optionally a SIPp UAS on 127.0.0.2 as
 * another domain's phone. See README.md in this folder.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from '../../src/core/server.js';
import { openStorage } from '../../src/db/index.js';
import { DEFAULT_SCRIPT } from '../helpers/process.js';
import { startServer } from '../helpers/server.js';
import { killAllSipp, type SippProcess, type SippResult, startSippUas, tempDir } from '../helpers/sipp.js';

export const DOMAIN = 'example.com';
/** The SIPp UAS listens here: another host (all of 127/8 is loopback), so a call to it leaves the domain. */
export const UAS_ADDRESS = '127.0.0.2';
/** The users (static users, or `subscriber` rows for scripts/default.ts); the realm is the domain. */
export const USERS: Record<string, string> = {
  alice: 'alice-secret',
  bob: 'bob-secret',
  carol: 'carol-secret',
};

/**
 * The route script of the stage: olelo as the registrar and proxy of `example.com`, in the manner of
 * Kamailio's default configuration (see README.md, "The route script"):
 *
 * - REGISTER: digest auth (401), To must be the authenticated user (403), the source kept for clients
 *   behind a NAT, `m.registrar.save`.
 * - New requests from a local user: proxy auth (407), credentials removed. Requests from other domains
 *   are taken only for local users (403 otherwise).
 * - To a local user: `m.registrar.lookup` (404 for an unknown user, 480 for a known one not registered),
 *   Record-Route, `m.tm.relay` — over the connection the callee registered on.
 * - In-dialog requests: loose-route, then `handleRuriAlias`: a Request-URI carrying `;alias=` goes out
 *   to the address it names (the connection of a WebSocket or TCP client).
 * - A client that cannot be reached at its Contact — a WebSocket client names `<random>.invalid`
 *   (RFC 7118 §5), a TCP client names its listening port, not its connection's — gets
 *   `;alias=<source>` added to the Contact of its requests (`setContactAlias`), and of its responses
 *   through a per-transaction reply route.
 *
 * - To another domain (the SIPp UAS at 127.0.0.2): only for authenticated local users (403 otherwise),
 *   Record-Route, `m.tm.relay`.
 */
export function clientScript(): string {
  return `
import { defineRoutes, type Modules, type RequestContext } from 'olelo/script';
import { isSipUri, type Uri } from 'olelo/sip';

const DOMAIN = ${JSON.stringify(DOMAIN)};
/**
 * Clients that cannot be reached at their Contact: a WebSocket client (64), a private Contact (1), a Via
 * host (2) or port (16) other than the source (Kamailio's nat_uac_test("83"))
 */
const NAT_REQUEST = ['websocket', 'contact-private', 'via-received', 'via-port'] as const;
/** the same for responses (their top Via is ours): WebSocket, private Contact, Contact port not the source port */
const NAT_RESPONSE = ['websocket', 'contact-private', 'contact-port'] as const;

/** True for a SIP URI of this domain. */
function isLocal(uri: Uri | undefined): boolean {
  return uri !== undefined && isSipUri(uri) && uri.host.toLowerCase() === DOMAIN;
}

/** Adds the callee's real address to the Contact of its responses when it cannot be reached at it. */
function aliasCalleeContact(req: RequestContext, m: Modules): void {
  m.tm.onReply(req, (res) => {
    if (m.nathelper.isBehindNat(res, NAT_RESPONSE)) m.nathelper.setContactAlias(res);
  });
}

export default defineRoutes({
  async request(req, m) {
    if (!m.maxfwd.process(req, 70)) return m.sl.reply(req, 483, 'Too Many Hops');
    if (!m.sanity.check(req)) return;

    // a Contact the client cannot be reached at gets the source it really came from
    if (req.method !== 'REGISTER' && m.nathelper.isBehindNat(req, NAT_REQUEST)) m.nathelper.setContactAlias(req);

    if (req.hasToTag) {
      if (!m.rr.looseRoute(req)) {
        if (req.method !== 'ACK') m.sl.reply(req, 404, 'Not here');
        return;
      }
      // towards a client whose Contact was aliased: its own connection (or NAT binding)
      const alias = m.nathelper.handleRuriAlias(req);
      if (alias === 'invalid') return m.sl.reply(req, 400, 'Bad alias');
      if (alias === 'none' && isLocal(req.sipUri)) {
        // a GRUU (RFC 5627) of ours names one registered instance
        if (req.sipUri?.params.has('gr') !== true || (await m.registrar.lookup(req)) !== 'found') {
          // nobody to send it to (an ACK for one of olelo's own stateless replies never gets here)
          if (req.method !== 'ACK') m.sl.reply(req, 404, 'Not Found');
          return;
        }
      }
      if (req.method === 'INVITE' || req.method === 'UPDATE') aliasCalleeContact(req, m);
      if (req.method === 'ACK') await m.forward(req);
      else await m.tm.relay(req);
      return;
    }
    // a CANCEL or ACK that matches no transaction goes nowhere
    if (req.method === 'CANCEL' || req.method === 'ACK') return;

    // a pre-loaded Route naming this server (an outbound proxy setting) is ours to remove
    m.rr.looseRoute(req);
    const uri = req.sipUri;
    if (req.method === 'REGISTER') {
      if (!isLocal(req.msg.to?.uri)) return m.sl.reply(req, 403, 'Not Our Domain');
      const result = await m.auth.wwwAuthorize(req);
      if (result === 'error') return m.sl.reply(req, 500);
      if (result !== 'authorized') return m.auth.wwwChallenge(req);
      if (!m.auth.checkTo(req)) return m.sl.reply(req, 403, 'Not Your AOR');
      m.auth.consumeCredentials(req);
      if (m.nathelper.isBehindNat(req, NAT_REQUEST)) m.nathelper.fixNatedRegister(req);
      await m.registrar.save(req);
      return;
    }

    const fromLocal = isLocal(req.msg.from?.uri);
    if (fromLocal) {
      // 407, 403 (From is not the user) or 500 when false
      if (!(await m.auth.authenticate(req))) return;
      m.auth.consumeCredentials(req);
    }
    if (uri === undefined || !isLocal(uri)) {
      if (!fromLocal) return m.sl.reply(req, 403, 'Not relaying');
      m.rr.recordRoute(req);
      await m.tm.relay(req);
      return;
    }
    const found = await m.registrar.lookup(req);
    if (found === 'not-found') {
      // a subscriber with nothing registered is unavailable; anyone else does not exist
      if (await m.auth.isSubscriber(uri.user ?? '', DOMAIN)) return m.sl.reply(req, 480, 'Temporarily Unavailable');
      return m.sl.reply(req, 404, 'Not Found');
    }
    if (found === 'method-not-allowed') return m.sl.reply(req, 405, 'Method Not Allowed');
    m.rr.recordRoute(req);
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE') aliasCalleeContact(req, m);
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
  /**
   * Where to call the SIPp UAS: `sip:sipp@127.0.0.2:<port>` (another domain, reached through olelo;
   * `;transport=tcp` when it takes TCP).
   */
  uasUri: string;
  /** The route script running. */
  script: SceneScript;
  /** The auth module's statistics. */
  authStats(): Record<string, number>;
  /** Waits for the SIPp UAS to finish (it exits after its calls) and returns what it did. */
  uasResult(): Promise<SippResult>;
  /** Stops the UAS (if still running) and olelo, and removes the temp folder. */
  stop(): Promise<void>;
}

/**
 * The route script of a scene: `default`, scripts/default.ts (the default service) with its users in the
 * scene's own SQLite database (`domain` and `subscriber` rows written through the storage API); or
 * `clients`, the script above with static users. `OLELO_CLIENTS_SCRIPT` overrides the choice of every
 * scene.
 */
export type SceneScript = 'clients' | 'default';

/** Options of {@link startScene}. */
export interface SceneOptions {
  /** Name for the temp folder and SIPp trace files. */
  name: string;
  /** SIPp UAS scenario (test/sipp/...) to relay requests to, and how many calls it takes before exiting. */
  uas?: { scenario: string; calls: number; timeoutS?: number; transport?: 'udp' | 'tcp' };
  /** Default: `default`. */
  script?: SceneScript;
}

/** Writes the domain and the users into a new SQLite database (as `olelo domain add` / `user add` would). */
async function provision(url: string): Promise<void> {
  const db = await openStorage(url);
  try {
    await db.migrate();
    await db.domains.add(DOMAIN);
    for (const [username, password] of Object.entries(USERS))
      await db.subscribers.add({ username, domain: DOMAIN, password });
  } finally {
    await db.close();
  }
}

/** Starts olelo (and the SIPp UAS); the caller must `stop()` it. */
export async function startScene(options: SceneOptions): Promise<Scene> {
  const dir = tempDir(`olelo-clients-${options.name}-`);
  let uas: SippProcess | undefined;
  try {
    if (options.uas !== undefined) {
      uas = await startSippUas({
        scenario: options.uas.scenario,
        local: UAS_ADDRESS,
        calls: options.uas.calls,
        dir: dir.path,
        name: `${options.name}-uas`,
        timeoutS: options.uas.timeoutS ?? 20,
        randomMediaPort: true,
        ...(options.uas.transport === 'tcp' ? { transport: 't1' as const } : {}),
      });
    }
    const env = process.env.OLELO_CLIENTS_SCRIPT;
    const which: SceneScript = env === 'default' || env === 'clients' ? env : (options.script ?? 'default');
    // baresip 1.0 and JsSIP 3 answer MD5 only, and only the first challenge
    let yaml = 'modules:\n  auth:\n    algorithms: [MD5]\n';
    let script: string;
    if (which === 'clients') {
      script = join(dir.path, 'route.ts');
      writeFileSync(script, clientScript());
      const users = Object.entries(USERS).map(([u, p]) => `      ${u}@${DOMAIN}: ${JSON.stringify(p)}`);
      yaml += `    users:\n${users.join('\n')}\n`;
    } else {
      script = DEFAULT_SCRIPT;
      const url = `sqlite:${join(dir.path, 'olelo.db')}`;
      await provision(url);
      yaml += `database:\n  url: ${JSON.stringify(url)}\n`;
    }
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
      uasUri:
        uas === undefined
          ? ''
          : `sip:sipp@${UAS_ADDRESS}:${uas.port}${options.uas?.transport === 'tcp' ? ';transport=tcp' : ''}`,
      script: which,
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
        else writeFileSync(join(dir.path, 'olelo.log'), `${logs.join('\n')}\n`);
      },
    };
  } catch (error) {
    uas?.kill();
    killAllSipp();
    dir.remove();
    throw error;
  }
}
