/**
 * The `olelo` command: runs the server, checks a configuration and route script, or provisions accounts,
 * domains, aliases and dispatcher destinations (`olelo user|domain|alias|dispatcher ...`, see provision.ts).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../core/config.js';
import { type LogFormat, Logger } from '../core/logger.js';
import { moduleSchemas } from '../core/module.js';
import { Server } from '../core/server.js';
import { builtinModules } from '../script/api.js';
import { loadScript, ScriptError } from '../script/loader.js';
import { CTL_HELP, ctl } from './ctl.js';
import { PROVISION_COMMANDS, PROVISION_HELP, provision } from './provision.js';

interface PackageInfo {
  name: string;
  version: string;
}

function packageInfo(): PackageInfo {
  const url = new URL('../../../package.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as PackageInfo;
}

const HELP = `Usage: olelo [options]
       olelo [--config FILE] user|domain|alias|dispatcher|admin|address COMMAND ...
       olelo [--config FILE] ctl METHOD [PARAM...]

Runs the olelo SIP server. Without --config it runs on embedded defaults: SIP over UDP and TCP on
port 5060 (IPv4 and, where available, IPv6), WebSocket on 8080, the route script scripts/default.ts,
data under ./data.

Options:
  -c, --config FILE       configuration file (YAML); also OLELO_CONFIG
      --check             validate the configuration and the route script, then exit
      --log-format FORMAT text (default) or json
      --log-level LEVEL   error, warn, info (default) or debug
  -V, --version           print the version and exit
  -h, --help              print this help and exit

Every setting can also be given as an environment variable (see docs/configuration.md).
Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the route script and the TLS certificate.

${PROVISION_HELP}
${CTL_HELP}`;

/** Options of either command line that take a value (the word after them is not a command). */
const VALUE_OPTIONS = new Set([
  '-c',
  '--config',
  '--log-format',
  '--log-level',
  '--email',
  '--did',
  '--flags',
  '--priority',
  '--attrs',
  '--description',
  '--password',
  '--socket',
  '--url',
  '--token',
  '--tag',
]);

/** The first word that is neither an option nor an option's value. */
function commandOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/** Runs the command line; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const command = commandOf(args);
  if (command !== undefined && PROVISION_COMMANDS.includes(command)) return provision(args);
  if (command === 'ctl') {
    const at = args.indexOf('ctl');
    return ctl([...args.slice(0, at), ...args.slice(at + 1)]);
  }
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(args);
  } catch (e) {
    console.error(`olelo: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values } = opts;
  if (values.version) {
    console.log(packageInfo().version);
    return 0;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const env = { ...process.env };
  // the options are applied as the variables they stand for; problems are reported under the option
  const flagOf: Record<string, string> = {};
  if (values['log-format'] !== undefined) {
    env.OLELO_LOG__FORMAT = values['log-format'];
    flagOf.OLELO_LOG__FORMAT = '--log-format';
  }
  if (values['log-level'] !== undefined) {
    env.OLELO_LOG__LEVEL = values['log-level'];
    flagOf.OLELO_LOG__LEVEL = '--log-level';
  }
  const file = values.config ?? process.env.OLELO_CONFIG;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({
      ...(file === undefined ? {} : { file }),
      env,
      moduleSchemas: moduleSchemas(builtinModules),
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      const issues = e.issues.map((i) =>
        i.variable !== undefined && flagOf[i.variable] !== undefined
          ? { ...i, variable: flagOf[i.variable] }
          : i,
      );
      console.error(`olelo: invalid configuration\n${new ConfigError(issues).message}`);
      return 1;
    }
    throw e;
  }
  if (values.check) {
    try {
      await loadScript(config.script);
    } catch (e) {
      if (e instanceof ScriptError) {
        console.error(`olelo: ${e.message}`);
        return 1;
      }
      throw e;
    }
    console.log(
      `olelo: configuration${file === undefined ? ' (defaults)' : ` ${file}`} and route script ${config.script} are valid`,
    );
    return 0;
  }

  const log = Logger.create({ level: config.log.level, format: config.log.format as LogFormat });
  // Signal handlers go in before anything is logged: a signal sent when a line appears (a supervisor, a
  // test) would otherwise take its default action if it beat their installation (all three end the process).
  let server: Server | undefined;
  let stopping: string | undefined;
  let stopped: (code: number) => void = () => {};
  const exitCode = new Promise<number>((resolve) => {
    stopped = resolve;
  });
  const stopServer = (s: Server) => {
    s.stop(5000).then(
      () => stopped(0),
      (e: unknown) => {
        log.error('error while stopping', { error: e as Error });
        stopped(1);
      },
    );
  };
  const stop = (signal: string) => {
    if (stopping !== undefined) return;
    stopping = signal;
    log.info('stopping', { signal });
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    if (server !== undefined) stopServer(server);
    // else: still starting; it stops as soon as it has started
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  const onHup = () => {
    if (server === undefined) log.warn('SIGHUP while starting: the route script being loaded stays');
    else {
      void server.reloadScript();
      if (server.hasTls) server.reloadTls(); // logs its outcome
    }
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  log.info('starting olelo', {
    version: packageInfo().version,
    node: process.version,
    config: file ?? '(defaults)',
  });
  try {
    server = await Server.start(config, { log });
  } catch (e) {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    log.error('cannot start', { error: e instanceof ScriptError ? e.message : (e as Error) });
    return 1;
  }
  if (stopping !== undefined) stopServer(server);
  return exitCode;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      check: { type: 'boolean' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
      version: { type: 'boolean', short: 'V' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}
