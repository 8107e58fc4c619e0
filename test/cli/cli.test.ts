/**
 * The `olelo` command run as a child process: --version, --help, --check, and the messages a bad
 * configuration (file or OLELO_* variable) or a route script that does not compile produce.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_SCRIPT, ROOT, type RunResult, runOlelo, tempDir } from '../helpers/process.js';

const dir = tempDir('cli');
after(() => dir.remove());

const LISTEN = 'listen:\n  - udp:127.0.0.1:0\n  - tcp:127.0.0.1:0\n';
const TAIL = `script: ${JSON.stringify(DEFAULT_SCRIPT)}\ndataDir: ${JSON.stringify(join(dir.path, 'data'))}\n`;

let files = 0;
/** Writes a config file in the temp dir and returns its path. */
function config(text: string): string {
  return dir.file(`config-${++files}.yaml`, text);
}

/** The line of `text` (1-based) holding `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  assert.notEqual(index, -1, `'${needle}' is in the config`);
  return index + 1;
}

/** Asserts olelo refused to start, exit 1, and printed `file:line:col: field: ...` with `message`. */
function assertConfigError(result: RunResult, where: string, field: string, message: string | RegExp): void {
  assert.equal(result.timedOut, false, `olelo started instead of rejecting the config:\n${result.stderr}`);
  assert.equal(result.code, 1, `exit code; stderr:\n${result.stderr}`);
  assert.match(result.stderr, /^olelo: invalid configuration$/m);
  const line = result.stderr.split('\n').find((l) => l.startsWith(`${where}:`) && l.includes(` ${field}: `));
  assert.ok(line !== undefined, `no line for ${where} ${field} in:\n${result.stderr}`);
  if (typeof message === 'string') assert.ok(line.includes(message), `'${line}' should say '${message}'`);
  else assert.match(line, message);
}

/** Runs olelo (to start, not only --check) on a config that must be rejected. */
function runBad(file: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runOlelo(['--config', file], { cwd: dir.path, env, timeoutMs: 10_000 });
}

describe('olelo --version and --help', () => {
  it('--version prints the version of package.json and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runOlelo([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), version);
    }
  });

  it('--help lists every option and exits 0', async () => {
    const r = await runOlelo(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: olelo/);
    for (const option of [
      '--config',
      '--check',
      '--log-format',
      '--log-level',
      '--version',
      '--help',
      '-c,',
      '-V,',
      '-h,',
    ])
      assert.ok(r.stdout.includes(option), `help mentions ${option}`);
  });

  it('rejects an unknown option with exit 2 and the usage', async () => {
    const r = await runOlelo(['--frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--frobnicate/);
    assert.match(r.stderr, /Usage: olelo/);
  });
});

describe('olelo --check', () => {
  it('accepts a valid configuration and route script, exits 0 without starting', async () => {
    const file = config(`${LISTEN}${TAIL}`);
    const r = await runOlelo(['--check', '--config', file], { cwd: dir.path });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration .*config-\d+\.yaml and route script .*default\.ts are valid/);
    assert.doesNotMatch(r.stdout + r.stderr, /listening/);
  });

  it('rejects a route script that does not compile, naming the file and line', async () => {
    const script = dir.file(
      'broken.ts',
      [
        "import { defineRoutes } from 'olelo/script';",
        '',
        'export default defineRoutes({',
        '  request(req, m) {',
        "    m.sl.reply(req, 486 'Busy');",
        '  },',
        '});',
        '',
      ].join('\n'),
    );
    const file = config(`${LISTEN}script: ${JSON.stringify(script)}\ndataDir: data\n`);
    const r = await runOlelo(['--check', '--config', file], { cwd: dir.path });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /route script does not compile/);
    assert.match(r.stderr, /broken\.ts:5:\d+: /, 'file and line of the error');
  });

  it('rejects a route script without a request route', async () => {
    const script = dir.file('empty.ts', 'export default {};\n');
    const file = config(`${LISTEN}script: ${JSON.stringify(script)}\ndataDir: data\n`);
    const r = await runOlelo(['--check', '--config', file], { cwd: dir.path });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no request route/);
  });

  it('rejects a missing config file', async () => {
    const r = await runOlelo(['--check', '--config', join(dir.path, 'nope.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\.yaml: cannot read the config file: no such file/);
  });
});

describe('configuration errors name the field and the line, and olelo does not start', () => {
  it('a value of the wrong type', async () => {
    const text = `${LISTEN}limits:\n  maxConnections: lots\n${TAIL}`;
    const file = config(text);
    assertConfigError(
      await runBad(file),
      `${file}:${lineOf(text, 'lots')}`,
      'limits.maxConnections',
      'expected an integer from 1 to 10000000, got "lots"',
    );
  });

  it('a section given as a scalar', async () => {
    const text = `${LISTEN}log: debug\n${TAIL}`;
    const file = config(text);
    assertConfigError(await runBad(file), `${file}:${lineOf(text, 'log:')}`, 'log', /expected a map/);
  });

  it('an out-of-range port, in a listener map and in a listener string', async () => {
    const map = `listen:\n  - proto: udp\n    address: 127.0.0.1\n    port: 70000\n${TAIL}`;
    const mapFile = config(map);
    assertConfigError(
      await runBad(mapFile),
      `${mapFile}:${lineOf(map, '70000')}`,
      'listen[0].port',
      'expected an integer from 0 to 65535, got 70000',
    );
    const str = `listen:\n  - tcp:127.0.0.1:0\n  - udp:127.0.0.1:65536\n${TAIL}`;
    const strFile = config(str);
    assertConfigError(
      await runBad(strFile),
      `${strFile}:${lineOf(str, '65536')}`,
      'listen[1]',
      "'65536' is not a port (0-65535)",
    );
  });

  it('an out-of-range limit', async () => {
    const text = `${LISTEN}limits:\n  maxMessageSize: 100\n${TAIL}`;
    const file = config(text);
    assertConfigError(
      await runBad(file),
      `${file}:${lineOf(text, '100')}`,
      'limits.maxMessageSize',
      'expected an integer from 512 to 16777216, got 100',
    );
  });

  it('a listener string that is not proto:address:port', async () => {
    const text = `listen:\n  - udp:127.0.0.1:0\n  - udpp:127.0.0.1:5060\n  - tcp:localhost:5060\n${TAIL}`;
    const file = config(text);
    const r = await runBad(file);
    assertConfigError(
      r,
      `${file}:${lineOf(text, 'udpp')}`,
      'listen[1]',
      `expected 'proto:address:port' with proto udp|tcp|tls|ws|wss, got "udpp:127.0.0.1:5060"`,
    );
    assertConfigError(
      r,
      `${file}:${lineOf(text, 'localhost')}`,
      'listen[2]',
      "'localhost' is not an IP address",
    );
  });

  it('an unknown field, with a suggestion, at the top level and in a section', async () => {
    const text = `${LISTEN}lissen: []\nlimits:\n  maxConection: 5\n${TAIL}`;
    const file = config(text);
    const r = await runBad(file);
    assertConfigError(
      r,
      `${file}:${lineOf(text, 'lissen')}`,
      'lissen',
      "unknown field; did you mean 'listen'?",
    );
    assertConfigError(
      r,
      `${file}:${lineOf(text, 'maxConection')}`,
      'limits.maxConection',
      "unknown field; did you mean 'maxConnections'?",
    );
  });

  it('a TLS listener without a certificate', async () => {
    const text = `listen:\n  - udp:127.0.0.1:0\n  - tls:127.0.0.1:0\n${TAIL}`;
    const file = config(text);
    assertConfigError(
      await runBad(file),
      `${file}:${lineOf(text, 'tls:')}`,
      'listen[1]',
      'a tls listener needs tls.certificate and tls.key to be set',
    );
  });

  it('a YAML syntax error', async () => {
    const text = `${LISTEN}limits:\n  maxConnections: 5\n  maxConnections: 6\n${TAIL}`;
    const file = config(text);
    const r = await runBad(file);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(
      r.stderr.includes(`${file}:${LISTEN.split('\n').length + 2}:3: YAML syntax: Map keys must be unique`),
      r.stderr,
    );
    const tabs = config(`${LISTEN}log:\n\tlevel: info\n${TAIL}`);
    const t = await runBad(tabs);
    assert.equal(t.code, 1, t.stderr);
    assert.ok(t.stderr.includes(`${tabs}:${LISTEN.split('\n').length + 1}:1: YAML syntax: Tabs`), t.stderr);
  });

  it('every problem is listed, in file order', async () => {
    const text = `listen:\n  - udpp:1.2.3.4\nlimits:\n  maxConnections: -1\nlog:\n  level: verbose\n${TAIL}`;
    const file = config(text);
    const r = await runBad(file);
    assert.equal(r.code, 1);
    const located = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
    assert.deepEqual(
      located.map((l) => Number(l.slice(file.length + 1).split(':')[0])),
      [2, 4, 6],
      r.stderr,
    );
  });

  it('a bad OLELO_* variable is named, with its setting', async () => {
    const file = config(`${LISTEN}${TAIL}`);
    const level = await runBad(file, { OLELO_LOG__LEVEL: 'verbose' });
    assert.equal(level.code, 1);
    assert.match(
      level.stderr,
      /^OLELO_LOG__LEVEL: log\.level: expected one of 'error', 'warn', 'info', 'debug', got "verbose"$/m,
    );
    const count = await runBad(file, { OLELO_LIMITS__MAX_CONNECTIONS: 'many' });
    assert.equal(count.code, 1);
    assert.match(
      count.stderr,
      /^OLELO_LIMITS__MAX_CONNECTIONS: limits\.maxConnections: expected an integer/m,
    );
    const typo = await runBad(file, { OLELO_LIMITS__MAX_CONECTIONS: '5' });
    assert.equal(typo.code, 1);
    assert.match(
      typo.stderr,
      /^OLELO_LIMITS__MAX_CONECTIONS: unknown setting; did you mean OLELO_LIMITS__MAX_CONNECTIONS\?$/m,
    );
    const listen = await runBad(file, { OLELO_LISTEN: 'udp:127.0.0.1:0,bogus' });
    assert.equal(listen.code, 1);
    assert.match(listen.stderr, /^OLELO_LISTEN: listen\[1\]: expected 'proto:address:port'/m);
  });

  it('a bad --log-format or --log-level value is reported under the option', async () => {
    const file = config(`${LISTEN}${TAIL}`);
    const format = await runOlelo(['--config', file, '--log-format', 'yaml'], {
      cwd: dir.path,
      timeoutMs: 10_000,
    });
    assert.equal(format.code, 1, format.stderr);
    assert.match(format.stderr, /^--log-format: log\.format: expected one of 'text', 'json', got "yaml"$/m);
    const level = await runOlelo(['--config', file, '--log-level', 'loud'], {
      cwd: dir.path,
      timeoutMs: 10_000,
    });
    assert.equal(level.code, 1, level.stderr);
    assert.match(level.stderr, /^--log-level: log\.level: expected one of .*, got "loud"$/m);
  });
});
