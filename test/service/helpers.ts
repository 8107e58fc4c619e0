/**
 * The stage of the default-service tests: olelo started in this process with scripts/default.ts on a
 * SQLite database in a temp folder (users, the domain and aliases provisioned through the storage API or
 * the real CLI), listening on 127.0.0.1 with OS-assigned ports, and SIPp UACs and UASes around it running
 * the scenarios test/sipp/svc-*.xml. Everything a test starts is stopped, and every file removed, by it.
 */
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config.js';
import { Logger } from '../../src/core/logger.js';
import { moduleSchemas } from '../../src/core/module.js';
import { Server } from '../../src/core/server.js';
import { openStorage } from '../../src/db/index.js';
import { builtinModules } from '../../src/script/api.js';
import { DEFAULT_SCRIPT } from '../helpers/process.js';
import {
  headerValues,
  runSippUac,
  type SippProcess,
  type SippResult,
  startSippUas,
} from '../helpers/sipp.js';

export const LOCAL = '127.0.0.1';
/** The local domain of the tests (in the `domain` table). */
export const DOMAIN = 'example.com';
/** Accounts of the `subscriber` table, with their passwords. */
export const USERS: Readonly<Record<string, string>> = {
  alice: 'alice-secret',
  bob: 'bob-secret',
  carol: 'carol-secret',
  dave: 'dave-secret',
  erin: 'erin-secret',
  frank: 'frank-secret',
  grace: 'grace-secret',
};

/** What goes into the database before the server starts. */
export interface Provision {
  users?: Readonly<Record<string, string>>;
  domains?: readonly string[];
  /** alias user (in DOMAIN) → account user (in DOMAIN). */
  aliases?: Readonly<Record<string, string>>;
}

/** The SQLite URL of the database file of a test folder. */
export const databaseUrl = (dir: string) => `sqlite:${join(dir, 'olelo.db')}`;

/** Creates (or updates) the database of `dir` with the storage API. */
export async function provision(dir: string, p: Provision = {}): Promise<void> {
  const db = await openStorage(databaseUrl(dir));
  try {
    await db.migrate();
    for (const domain of p.domains ?? [DOMAIN]) await db.domains.add(domain);
    for (const [username, password] of Object.entries(p.users ?? USERS))
      await db.subscribers.add({ username, domain: DOMAIN, password });
    for (const [alias, user] of Object.entries(p.aliases ?? {}))
      await db.aliases.add({ aliasUsername: alias, aliasDomain: DOMAIN, username: user, domain: DOMAIN });
  } finally {
    await db.close();
  }
}

/** The YAML config of a service in `dir`: `extra` is appended (features, module parameters). */
export function serviceConfig(
  dir: string,
  extra = '',
  listen = [`udp:${LOCAL}:0`, `tcp:${LOCAL}:0`],
  script = DEFAULT_SCRIPT,
): string {
  return (
    `listen:\n${listen.map((l) => `  - ${l}\n`).join('')}` +
    `script: ${JSON.stringify(script)}\n` +
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\n` +
    `database:\n  url: ${JSON.stringify(databaseUrl(dir))}\n` +
    // the control API's HTTP port would be shared by parallel tests: off unless the test configures it
    (/^control:/m.test(extra) ? '' : 'control:\n  http:\n    listen: "off"\n') +
    // SIPp 3.6 answers MD5 only, and only the first challenge
    `modules:\n  auth:\n    algorithms: [MD5]\n${extra}`
  );
}

/** A running service and the SIPp helpers pointed at it. */
export interface Service {
  server: Server;
  /** olelo's UDP port on 127.0.0.1. */
  port: number;
  /** Log lines (info and above). */
  logs: string[];
  stats(group: string): Record<string, number>;
  /** Runs a SIPp UAC scenario against the service. */
  uac(scenario: string, name: string, args: string[], calls?: number): Promise<SippResult>;
  /** Starts a SIPp UAS (answering `calls` calls, then exiting). */
  uas(scenario: string, name: string, calls?: number): Promise<SippProcess>;
  stop(): Promise<void>;
}

/**
 * Starts olelo on the database of `dir` (provisioned beforehand). `modules` is YAML under `modules:` (two
 * spaces of indent, after the auth settings), `yaml` more top-level settings; `listen` replaces the
 * listeners (UDP and TCP on 127.0.0.1), `script` the default script.
 */
export async function startService(
  dir: string,
  options: { modules?: string; yaml?: string; listen?: string[]; script?: string } = {},
): Promise<Service> {
  const text = serviceConfig(
    dir,
    `${options.modules ?? ''}${options.yaml ?? ''}`,
    options.listen,
    options.script,
  );
  const config = loadConfig({ text, env: {}, cwd: dir, moduleSchemas: moduleSchemas(builtinModules) });
  const logs: string[] = [];
  const log = Logger.create({ level: 'info', sink: (line) => logs.push(line) });
  const server = await Server.start(config, { log });
  const port = server.listeners.find((l) => l.protocol === 'udp')!.port;
  const started: SippProcess[] = [];
  return {
    server,
    port,
    logs,
    stats: (group) => server.stats.snapshot(group),
    uac: (scenario, name, args, calls = 1) =>
      runSippUac({
        scenario,
        local: LOCAL,
        calls,
        remote: `${LOCAL}:${port}`,
        args,
        dir,
        name,
        randomMediaPort: true,
      }),
    async uas(scenario, name, calls = 1) {
      const p = await startSippUas({ scenario, local: LOCAL, calls, dir, name, randomMediaPort: true });
      started.push(p);
      return p;
    },
    async stop() {
      for (const p of started) p.kill();
      await server.stop(200);
    },
  };
}

/** SIPp arguments to REGISTER `user`@DOMAIN with its password (or `password`), the Contact at `contactPort`. */
export function registerArgs(
  user: string,
  options: { password?: string; authUser?: string; contactPort?: number; expires?: number } = {},
): string[] {
  return [
    ...['-s', user, '-key', 'domain', DOMAIN, '-auth_uri', DOMAIN],
    ...[
      '-key',
      'contact_port',
      String(options.contactPort ?? 9),
      '-key',
      'expires',
      String(options.expires ?? 60),
    ],
    ...['-au', options.authUser ?? user, '-ap', options.password ?? USERS[options.authUser ?? user] ?? 'x'],
  ];
}

/**
 * SIPp arguments for a call from `caller`@`callerDomain` to `callee`@`domain` (DOMAIN by default),
 * authenticating as `authUser` (the caller) with its password.
 */
export function callArgs(
  caller: string,
  callee: string,
  options: { password?: string; authUser?: string; callerDomain?: string; domain?: string } = {},
): string[] {
  const domain = options.domain ?? DOMAIN;
  const authUser = options.authUser ?? caller;
  return [
    ...['-s', callee, '-key', 'domain', domain, '-auth_uri', `${callee}@${domain}`],
    ...['-key', 'caller', caller, '-key', 'caller_domain', options.callerDomain ?? DOMAIN],
    ...['-au', authUser, '-ap', options.password ?? USERS[authUser] ?? 'x'],
  ];
}

/** One message of a SIPp `-trace_msg` log. */
export interface Traced {
  sent: boolean;
  text: string;
}

/** The messages of a SIPp trace, in order. */
export function traced(r: SippResult): Traced[] {
  const out: Traced[] = [];
  const re =
    /^-{20,}[^\n]*\n\S+ message (sent|received) (?:\[\d+\] bytes :|\(\d+ bytes\):)\s*\n\n?([\s\S]*?)(?=^-{20,}|(?![\s\S]))/gm;
  for (const m of r.messages.matchAll(re)) out.push({ sent: m[1] === 'sent', text: m[2]!.trim() });
  return out;
}

/** The status of a response's text. */
export const statusOf = (text: string) => Number(text.slice(8, 11));

/** The final responses a SIPp process received, in order; retransmissions (same CSeq and status) once. */
export function finals(r: SippResult): number[] {
  const seen = new Map<string, number>();
  for (const m of traced(r)) {
    if (m.sent || !m.text.startsWith('SIP/2.0 ') || statusOf(m.text) < 200) continue;
    const key = `${headerValues(m.text, 'Call-ID')[0]} ${headerValues(m.text, 'CSeq')[0]} ${statusOf(m.text)}`;
    seen.set(key, statusOf(m.text));
  }
  return [...seen.values()];
}

/** The requests of `method` a SIPp process received. */
export function requestsOf(r: SippResult, method: string): string[] {
  return traced(r)
    .filter((m) => !m.sent && m.text.startsWith(`${method} `))
    .map((m) => m.text);
}

/** The responses a SIPp process received, as text. */
export function responses(r: SippResult): string[] {
  return traced(r)
    .filter((m) => !m.sent && m.text.startsWith('SIP/2.0 '))
    .map((m) => m.text);
}

/** Asserts a SIPp run ended by itself with `calls` successful calls; the message lists every run. */
export function succeeded(runs: SippResult[], calls = 1): string | undefined {
  for (const r of runs) {
    if (r.killed || r.code !== 0 || r.successful !== calls || r.failed !== 0)
      return runs.map((x) => x.summary).join('\n');
  }
  return undefined;
}
