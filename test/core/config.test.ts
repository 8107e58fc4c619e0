import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ConfigError,
  type ConfigIssue,
  envVariableName,
  formatListener,
  type LoadConfigOptions,
  loadConfig,
  parseListener,
} from '../../src/core/config.js';
import { configReference, EXAMPLE_CONFIG } from '../../src/core/config-doc.js';
import { type AnySchema, s } from '../../src/core/schema.js';

const CWD = resolve('/srv/olelo');

/** Loads YAML text as `olelo.yaml` in /etc/olelo, with an empty environment unless given. */
function load<M extends Record<string, AnySchema>>(text: string, options: LoadConfigOptions<M> = {}) {
  return loadConfig({ text, file: '/etc/olelo/olelo.yaml', env: {}, hasIPv6: true, cwd: CWD, ...options });
}

/** The issues of a configuration that must fail. */
function failure(run: () => unknown): { issues: ConfigIssue[]; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return { issues: error.issues, message: error.message };
    throw error;
  }
  assert.fail('expected a ConfigError');
}

/** The single issue of a configuration that must fail, as `line:column path: message`. */
function onlyIssue(text: string, options: LoadConfigOptions<Record<string, AnySchema>> = {}): string {
  const { issues } = failure(() => load(text, options));
  assert.equal(issues.length, 1, issues.map((i) => i.message).join('\n'));
  const [issue] = issues;
  return `${issue!.line}:${issue!.column} ${issue!.path}: ${issue!.message}`;
}

const tm = s.object({
  fr_timer: s.duration({ default: '30s', doc: 'Final response timeout.' }),
  fr_inv_timer: s.duration({ default: '120s' }),
});
const registrar = s.object({ realm: s.string(), maxContacts: s.integer({ min: 1, default: 10 }) });

describe('defaults', () => {
  test('runs on defaults with no file', () => {
    const config = loadConfig({ env: {}, hasIPv6: true, cwd: CWD });
    assert.deepEqual(config.listen.map(formatListener), [
      'udp:0.0.0.0:5060',
      'tcp:0.0.0.0:5060',
      'udp:[::]:5060',
      'tcp:[::]:5060',
      'ws:0.0.0.0:8080',
    ]);
    assert.deepEqual(config.domains, []);
    assert.deepEqual(config.tls, { verifyClient: 'none', minVersion: 'TLSv1.2' });
    assert.deepEqual(config.limits, {
      maxMessageSize: 65535,
      maxHeaderCount: 256,
      maxLineLength: 8192,
      maxViaCount: 64,
      maxConnections: 10_000,
      maxConnectionsPerIp: 100,
      connectionIdleTimeout: 600_000,
      messageReadTimeout: 10_000,
      maxTransactions: 0,
      memoryHighWatermark: 0.85,
      maxEventLoopUtilization: 0,
      overloadRetryAfter: 5,
    });
    assert.deepEqual(config.log, { level: 'info', format: 'text' });
    assert.equal(config.script, join(CWD, 'scripts/default.ts'));
    assert.equal(config.dataDir, join(CWD, 'data'));
    assert.deepEqual(config.modules, {});
  });

  test('treats an empty file as all defaults', () => {
    assert.equal(load('# nothing here\n').log.level, 'info');
  });

  test('leaves out the default IPv6 listeners on a host without IPv6', () => {
    const config = loadConfig({ env: {}, hasIPv6: false });
    assert.deepEqual(config.listen.map(formatListener), [
      'udp:0.0.0.0:5060',
      'tcp:0.0.0.0:5060',
      'ws:0.0.0.0:8080',
    ]);
  });

  test('keeps IPv6 listeners that were configured even without IPv6', () => {
    const config = load('listen: ["udp:[::1]:5060"]\n', { hasIPv6: false });
    assert.deepEqual(config.listen.map(formatListener), ['udp:[::1]:5060']);
  });

  test('gives every loaded module its default parameters', () => {
    const config = load('', { moduleSchemas: { tm } });
    assert.deepEqual(config.modules.tm, { fr_timer: 30_000, fr_inv_timer: 120_000 });
  });
});

describe('a full valid file', () => {
  const text = `
listen:
  - udp:10.0.0.5:5060 advertise 203.0.113.7
  - tcp:10.0.0.5
  - tls:[2001:db8::5]:5061 advertise sip.example.com:5061
  - { proto: wss, address: 0.0.0.0, port: 443, advertise: "[2001:db8::9]" }
domains: [Example.COM, sip.example.com, 192.0.2.1, "[2001:db8::1]"]
tls:
  certificate: tls/cert.pem
  key: /etc/ssl/key.pem
  ca: tls/ca.pem
  verifyClient: optional
  minVersion: TLSv1.3
limits:
  maxMessageSize: 131072
  maxHeaderCount: 100
  maxLineLength: 4096
  maxViaCount: 16
  maxConnections: 5000
  maxConnectionsPerIp: 20
  connectionIdleTimeout: 2m
  messageReadTimeout: 2500
log:
  level: debug
  format: json
script: routes/main.ts
dataDir: /var/lib/olelo
modules:
  tm:
    fr_timer: 10s
  registrar:
    realm: example.com
`;

  test('loads every setting, normalized', () => {
    const config = load(text, { moduleSchemas: { tm, registrar } });
    assert.deepEqual(config.listen, [
      {
        protocol: 'udp',
        address: '10.0.0.5',
        port: 5060,
        family: 4,
        advertise: { host: '203.0.113.7', port: 5060 },
      },
      { protocol: 'tcp', address: '10.0.0.5', port: 5060, family: 4 },
      {
        protocol: 'tls',
        address: '2001:db8::5',
        port: 5061,
        family: 6,
        advertise: { host: 'sip.example.com', port: 5061 },
      },
      {
        protocol: 'wss',
        address: '0.0.0.0',
        port: 443,
        family: 4,
        advertise: { host: '2001:db8::9', port: 443 },
      },
    ]);
    assert.deepEqual(config.domains, ['example.com', 'sip.example.com', '192.0.2.1', '2001:db8::1']);
    assert.deepEqual(config.tls, {
      certificate: '/etc/olelo/tls/cert.pem',
      key: '/etc/ssl/key.pem',
      ca: '/etc/olelo/tls/ca.pem',
      verifyClient: 'optional',
      minVersion: 'TLSv1.3',
    });
    assert.equal(config.limits.connectionIdleTimeout, 120_000);
    assert.equal(config.limits.messageReadTimeout, 2500);
    assert.equal(config.limits.maxConnectionsPerIp, 20);
    assert.deepEqual(config.log, { level: 'debug', format: 'json' });
    assert.equal(config.script, '/etc/olelo/routes/main.ts');
    assert.equal(config.dataDir, '/var/lib/olelo');
    assert.deepEqual(config.modules, {
      tm: { fr_timer: 10_000, fr_inv_timer: 120_000 },
      registrar: { realm: 'example.com', maxContacts: 10 },
    });
  });

  test('reads the file from disk and resolves paths from its folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'olelo-config-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'olelo.yaml'), 'script: my-routes.ts\nlog: { level: warn }\n');
    const config = loadConfig({ file: join(dir, 'conf', 'olelo.yaml'), env: {} });
    assert.equal(config.script, join(dir, 'conf', 'my-routes.ts'));
    assert.equal(config.dataDir, join(dir, 'conf', 'data'));
    assert.equal(config.log.level, 'warn');
  });

  test('takes the file from OLELO_CONFIG when none is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'olelo-config-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'olelo.yaml'), 'log: { format: json }\n');
    assert.equal(loadConfig({ env: { OLELO_CONFIG: join(dir, 'olelo.yaml') } }).log.format, 'json');
  });

  test('reports a config file that does not exist', () => {
    const { message } = failure(() => loadConfig({ file: '/nonexistent/olelo.yaml', env: {} }));
    assert.equal(message, '/nonexistent/olelo.yaml: cannot read the config file: no such file');
  });

  test('the documented example is a valid configuration', () => {
    const config = load(EXAMPLE_CONFIG);
    assert.equal(config.listen.length, 4);
    assert.equal(config.limits.connectionIdleTimeout, 300_000);
  });
});

describe('errors name the line and column of the bad value', () => {
  test('a value of the wrong type', () => {
    assert.equal(
      onlyIssue('limits:\n  maxConnections: lots\n'),
      '2:19 limits.maxConnections: expected an integer from 1 to 10000000, got "lots"',
    );
  });

  test('a number out of range', () => {
    assert.equal(
      onlyIssue('limits:\n  maxConnectionsPerIp: 0\n'),
      '2:24 limits.maxConnectionsPerIp: expected an integer from 1 to 10000000, got 0',
    );
  });

  test('a value outside an enumeration, with a suggestion', () => {
    assert.equal(
      onlyIssue('log:\n  level: debgu\n'),
      `2:10 log.level: expected one of 'error', 'warn', 'info', 'debug', got "debgu"; did you mean 'debug'?`,
    );
  });

  test('a listener string with an unknown protocol', () => {
    assert.equal(
      onlyIssue('listen:\n  - udp:1.2.3.4\n  - udpp:1.2.3.4\n'),
      `3:5 listen[1]: expected 'proto:address:port' with proto udp|tcp|tls|ws|wss, got "udpp:1.2.3.4"`,
    );
  });

  test('a listener string with a bad port or address gives the reason', () => {
    assert.equal(
      onlyIssue('listen: ["tcp:1.2.3.4:70000"]\n'),
      `1:10 listen[0]: expected 'proto:address:port' with proto udp|tcp|tls|ws|wss, got "tcp:1.2.3.4:70000" ('70000' is not a port (0-65535))`,
    );
    assert.match(onlyIssue('listen: ["udp:sip.example.com"]\n'), /is not an IP address\)$/);
  });

  test('a bad field inside a listener map', () => {
    assert.equal(
      onlyIssue('listen:\n  - proto: udp\n    address: 1.2.3.4\n    port: 99999\n'),
      '4:11 listen[0].port: expected an integer from 0 to 65535, got 99999',
    );
  });

  test('an unknown field, pointing at its key, with a suggestion', () => {
    assert.equal(
      onlyIssue('log:\n  level: info\nlisen: []\n'),
      "3:1 lisen: unknown field; did you mean 'listen'?",
    );
    assert.equal(
      onlyIssue('limits:\n  maxConnection: 5\n'),
      "2:3 limits.maxConnection: unknown field; did you mean 'maxConnections'?",
    );
  });

  test('an unknown module', () => {
    assert.equal(
      onlyIssue('modules:\n  registrar: { realm: a }\n  registar:\n    realm: x\n', {
        moduleSchemas: { tm, registrar },
      }),
      "3:3 modules.registar: unknown module; did you mean 'registrar'?",
    );
    assert.equal(onlyIssue('modules:\n  tm: {}\n'), '2:3 modules.tm: unknown module; known: none');
  });

  test('a loaded module whose required parameter is not set', () => {
    assert.equal(
      onlyIssue('log: {}\n', { moduleSchemas: { registrar } }),
      '1:1 modules.registrar.realm: expected a string, got nothing',
    );
  });

  test('a missing required module parameter, at the line of its parent', () => {
    assert.equal(
      onlyIssue('modules:\n  registrar:\n    maxContacts: 3\n', { moduleSchemas: { registrar } }),
      '2:3 modules.registrar.realm: expected a string, got nothing',
    );
  });

  test('a TLS listener without a certificate', () => {
    assert.equal(
      onlyIssue('listen:\n  - udp:0.0.0.0\n  - tls:0.0.0.0\n'),
      '3:5 listen[1]: a tls listener needs tls.certificate and tls.key to be set',
    );
    assert.equal(
      onlyIssue('tls:\n  certificate: c.pem\nlisten: ["wss:0.0.0.0"]\n'),
      '3:10 listen[0]: a wss listener needs tls.key to be set',
    );
  });

  test('a YAML syntax error', () => {
    const { issues, message } = failure(() => load('log:\n  level: info\n listen: [\n'));
    assert.ok(issues.length >= 1);
    assert.equal(issues[0]!.line, 3);
    assert.match(message, /^\/etc\/olelo\/olelo\.yaml:3:\d+: YAML syntax: /);
  });

  test('a key given twice', () => {
    const { issues } = failure(() => load('log: {}\nlog: {}\n'));
    assert.equal(issues[0]!.line, 2);
    assert.match(issues[0]!.message, /unique/);
  });

  test('a document that is not a map', () => {
    assert.equal(onlyIssue('- udp:0.0.0.0\n'), '1:1 : expected a map of settings at the top level');
  });

  test('every problem at once, in file order, one per line of the message', () => {
    const { message } = failure(() => load('log:\n  level: loud\nlimits:\n  maxViaCount: 1\nlisten: 5\n'));
    assert.equal(
      message,
      [
        `/etc/olelo/olelo.yaml:2:10: log.level: expected one of 'error', 'warn', 'info', 'debug', got "loud"`,
        '/etc/olelo/olelo.yaml:4:16: limits.maxViaCount: expected an integer from 2 to 10000, got 1',
        `/etc/olelo/olelo.yaml:5:9: listen: expected a non-empty list, each 'proto:address:port' with proto udp|tcp|tls|ws|wss, or a map with proto, address, port, advertise, got 5`,
      ].join('\n'),
    );
  });

  test('a bad duration', () => {
    assert.match(
      onlyIssue('limits:\n  messageReadTimeout: 10 seconds\n'),
      /^2:23 limits\.messageReadTimeout: expected a duration of at least 100ms .*, got "10 seconds"$/,
    );
  });
});

describe('environment variables', () => {
  test('name settings by path, with __ between levels and _ between words', () => {
    assert.equal(envVariableName(['log', 'level']), 'OLELO_LOG__LEVEL');
    assert.equal(envVariableName(['limits', 'maxConnectionsPerIp']), 'OLELO_LIMITS__MAX_CONNECTIONS_PER_IP');
    assert.equal(envVariableName(['dataDir']), 'OLELO_DATA_DIR');
    assert.equal(envVariableName(['modules', 'tm', 'fr_timer']), 'OLELO_MODULES__TM__FR_TIMER');
  });

  test('override the file, converted to each setting’s type', () => {
    const config = load(
      'log:\n  level: info\nlimits:\n  maxConnections: 100\nmodules:\n  tm: { fr_timer: 5s }\n',
      {
        moduleSchemas: { tm },
        env: {
          OLELO_LOG__LEVEL: 'debug',
          OLELO_LIMITS__MAX_CONNECTIONS: '500',
          OLELO_LIMITS__CONNECTION_IDLE_TIMEOUT: '90000',
          OLELO_DATA_DIR: '/var/lib/olelo',
          OLELO_MODULES__TM__FR_TIMER: '30s',
        },
      },
    );
    assert.equal(config.log.level, 'debug');
    assert.equal(config.limits.maxConnections, 500);
    assert.equal(config.limits.connectionIdleTimeout, 90_000);
    assert.equal(config.dataDir, '/var/lib/olelo');
    assert.equal(config.modules.tm.fr_timer, 30_000);
  });

  test('give lists comma-separated or as JSON', () => {
    const config = load('', {
      env: { OLELO_LISTEN: 'udp:0.0.0.0:5060, tcp:[::1]:5070', OLELO_DOMAINS: '["a.example","b.example"]' },
    });
    assert.deepEqual(config.listen.map(formatListener), ['udp:0.0.0.0:5060', 'tcp:[::1]:5070']);
    assert.deepEqual(config.domains, ['a.example', 'b.example']);
  });

  test('give a whole section as JSON', () => {
    assert.deepEqual(load('', { env: { OLELO_LOG: '{"level":"warn","format":"json"}' } }).log, {
      level: 'warn',
      format: 'json',
    });
  });

  test('resolve relative paths from the working directory', () => {
    const config = load('script: a.ts\n', { env: { OLELO_SCRIPT: 'b.ts' } });
    assert.equal(config.script, join(CWD, 'b.ts'));
  });

  test('unset a setting when empty, so its default applies', () => {
    assert.equal(load('log: { level: debug }\n', { env: { OLELO_LOG__LEVEL: '' } }).log.level, 'info');
  });

  test('report a bad value by the variable’s name', () => {
    const { issues, message } = failure(() =>
      load('log:\n  level: loud\n', {
        env: { OLELO_LOG__LEVEL: 'verbose', OLELO_LIMITS__MAX_CONNECTIONS: 'many' },
      }),
    );
    assert.deepEqual(
      issues.map((i) => [i.variable, i.line]),
      [
        ['OLELO_LIMITS__MAX_CONNECTIONS', undefined],
        ['OLELO_LOG__LEVEL', undefined],
      ],
    );
    assert.match(message, /^OLELO_LIMITS__MAX_CONNECTIONS: limits\.maxConnections: expected an integer/);
    assert.match(message, /\nOLELO_LOG__LEVEL: log\.level: expected one of .*, got "verbose"$/);
  });

  test('report a variable that names no setting, with a suggestion', () => {
    assert.equal(
      failure(() => load('', { env: { OLELO_LOG__LEVL: 'debug' } })).message,
      'OLELO_LOG__LEVL: unknown setting; did you mean OLELO_LOG__LEVEL?',
    );
    assert.equal(
      failure(() => load('', { env: { OLELO_MODULES__TM__FR_TIMER: '1s' } })).issues[0]!.variable,
      'OLELO_MODULES__TM__FR_TIMER',
      'a module that is not loaded has no variables',
    );
  });

  test('ignore OLELO_CONFIG and variables without the prefix', () => {
    assert.equal(
      load('', { env: { OLELO_CONFIG: '/elsewhere.yaml', PATH: '/bin', OLELOX: '1' } }).log.level,
      'info',
    );
  });
});

describe('listeners', () => {
  test('take the protocol’s default port', () => {
    assert.deepEqual(
      ['udp:1.2.3.4', 'tcp:1.2.3.4', 'tls:1.2.3.4', 'ws:1.2.3.4', 'wss:1.2.3.4'].map(
        (l) => parseListener(l).port,
      ),
      [5060, 5060, 5061, 8080, 8443],
    );
  });

  test('parse IPv6 addresses in brackets', () => {
    assert.deepEqual(parseListener('udp:[::1]:5060'), {
      protocol: 'udp',
      address: '::1',
      port: 5060,
      family: 6,
    });
    assert.deepEqual(parseListener('tls:[2001:db8::5]'), {
      protocol: 'tls',
      address: '2001:db8::5',
      port: 5061,
      family: 6,
    });
    assert.deepEqual(parseListener('udp:[::]:5060 advertise [2001:db8::7]:5080').advertise, {
      host: '2001:db8::7',
      port: 5080,
    });
  });

  test('reject IPv6 addresses without brackets', () => {
    assert.throws(() => parseListener('udp:::1:5060'), /brackets/);
    assert.throws(() => parseListener('udp:[2001:db8::zz]:5060'), /not an IPv6 address/);
  });

  test('advertise the listener’s port when none is given', () => {
    assert.deepEqual(parseListener('udp:10.0.0.5:5070 advertise 203.0.113.7').advertise, {
      host: '203.0.113.7',
      port: 5070,
    });
  });

  test('reject anything after the address but an advertise clause', () => {
    assert.throws(() => parseListener('udp:10.0.0.5 publish 1.2.3.4'), /advertise/);
    assert.throws(() => parseListener('udp:10.0.0.5 advertise'), /advertise/);
  });

  test('format back to the written form', () => {
    for (const text of [
      'udp:10.0.0.5:5060',
      'tcp:[::1]:5060',
      'wss:0.0.0.0:443 advertise [2001:db8::1]:443',
    ]) {
      assert.equal(formatListener(parseListener(text)), text);
    }
  });
});

describe('configuration reference', () => {
  test('docs/configuration.md is generated from the schema and up to date (npm run docs:config)', () => {
    const committed = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    assert.equal(committed, configReference());
  });

  test('documents every setting with its variable', () => {
    const reference = configReference();
    for (const variable of [
      'OLELO_LISTEN',
      'OLELO_TLS__VERIFY_CLIENT',
      'OLELO_LIMITS__MESSAGE_READ_TIMEOUT',
    ]) {
      assert.ok(reference.includes(`\`${variable}\``), variable);
    }
  });
});
