/**
 * `olelo --config FILE` run as a child process: it starts and serves, stops on SIGTERM with exit 0,
 * writes JSON log lines with the message context, and reloads its route script on SIGHUP (keeping the
 * running one when the new one is broken).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DEFAULT_SCRIPT,
  freePort,
  OleloProcess,
  runOlelo,
  startServerProcess,
  statusOf,
  stopAll,
  tcpOptions,
  tempDir,
  udpOptions,
  udpRequest,
  uniqueId,
} from '../helpers/process.js';

const dir = tempDir('run');
after(async () => {
  await stopAll();
  dir.remove();
});

describe('olelo running from a config file', () => {
  it('starts, logs its listeners, answers OPTIONS over UDP and TCP, and exits 0 on SIGTERM', async () => {
    const { proc, port } = await startServerProcess(dir.path);
    await proc.waitForLine(/INFO +listening listener=udp:127\.0\.0\.1:\d+/, 1000);
    assert.ok(proc.lines.some((l) => l.includes(`listening listener=udp:127.0.0.1:${port}`)));
    assert.ok(proc.lines.some((l) => / INFO +starting olelo version=\d+\.\d+\.\d+/.test(l)));
    assert.equal(await udpOptions(port), 200);
    assert.equal(await tcpOptions(port), 200);
    const sent = Date.now();
    proc.signal('SIGTERM');
    const exit = await proc.waitExit(5000);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM; output:\n${proc.output}`);
    assert.ok(Date.now() - sent < 5000);
    assert.ok(proc.lines.some((l) => /stopping signal=SIGTERM/.test(l)));
    assert.ok(proc.lines.some((l) => / stopped$/.test(l)));
  });

  it('exits 0 on SIGINT too', async () => {
    const { proc } = await startServerProcess(dir.path);
    proc.signal('SIGINT');
    assert.deepEqual(await proc.waitExit(5000), { code: 0, signal: null });
  });

  it('a SIGTERM or SIGHUP during start-up does not kill it: SIGTERM stops it cleanly once started', async () => {
    const file = dir.file(
      'early.yaml',
      `listen:\n  - udp:127.0.0.1:0\nscript: ${JSON.stringify(DEFAULT_SCRIPT)}\ndataDir: data\n`,
    );
    // 'starting olelo' is written before the route script is compiled and the listeners bound
    const hup = new OleloProcess(['--config', file], { cwd: dir.path });
    await hup.waitForLine(/starting olelo/, 10_000);
    hup.signal('SIGHUP');
    await hup.waitForLine(/listening/, 10_000);
    assert.equal(hup.exit, undefined, 'SIGHUP while starting must not end the process');
    assert.deepEqual(await hup.stop(), { code: 0, signal: null });

    const term = new OleloProcess(['--config', file], { cwd: dir.path });
    await term.waitForLine(/starting olelo/, 10_000);
    term.signal('SIGTERM');
    const exit = await term.waitExit(10_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `output:\n${term.output}`);
    assert.ok(term.lines.some((l) => /stopping signal=SIGTERM/.test(l)));
  });

  it('exits 1 naming the listener when its port is taken', async () => {
    const port = await freePort();
    const squatter = createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(port, '127.0.0.1', resolve));
    try {
      const file = dir.file(
        'taken.yaml',
        `listen:\n  - udp:127.0.0.1:${port}\nscript: ${JSON.stringify(DEFAULT_SCRIPT)}\ndataDir: data\n`,
      );
      const r = await runOlelo(['--config', file], { cwd: dir.path, timeoutMs: 10_000 });
      assert.equal(r.timedOut, false);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot start .*udp:127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
    } finally {
      squatter.close();
    }
  });

  it('exits 1 when the route script does not compile', async () => {
    const script = dir.file(
      'nocompile.ts',
      'export default {\n  request(req) {\n    req..reply();\n  },\n};\n',
    );
    const file = dir.file(
      'nocompile.yaml',
      `listen:\n  - udp:127.0.0.1:0\nscript: ${JSON.stringify(script)}\ndataDir: data\n`,
    );
    const r = await runOlelo(['--config', file], { cwd: dir.path, timeoutMs: 10_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot start/);
    assert.match(r.stderr, /nocompile\.ts:3:/);
    assert.doesNotMatch(r.stderr, /listening/);
  });
});

describe('olelo --log-format json', () => {
  it('writes one JSON object per line; a message-related line carries callId, method and src', async () => {
    const { proc, port } = await startServerProcess(dir.path, {
      args: ['--log-format', 'json', '--log-level', 'debug'],
    });
    const callId = uniqueId('json');
    // Max-Forwards that does not parse: the script reads it, the pipeline answers 400 and logs 'bad request'
    const reply = await udpRequest(port, (localPort) => ({
      callId,
      text:
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK${callId}\r\n` +
        `From: <sip:probe@127.0.0.1>;tag=${callId}\r\nTo: <sip:127.0.0.1:${port}>\r\n` +
        `Call-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: many\r\nContent-Length: 0\r\n\r\n`,
    }));
    assert.equal(statusOf(reply), 400, reply);
    const line = await proc.waitForLine((l) => l.includes(callId), 3000);
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(record.level, 'debug');
    assert.equal(record.msg, 'bad request');
    assert.equal(record.callId, callId);
    assert.equal(record.method, 'OPTIONS');
    assert.match(String(record.src), /^udp:127\.0\.0\.1:\d+$/);
    assert.match(String(record.header), /^max-forwards$/i);
    assert.ok(!Number.isNaN(Date.parse(String(record.time))));
    await proc.stop();
    const lines = proc.lines.filter((l) => l !== '');
    assert.ok(lines.length >= 4);
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
    const listening = lines.map((l) => JSON.parse(l) as { msg: string; listener?: string });
    assert.ok(listening.some((r) => r.msg === 'listening' && r.listener === `udp:127.0.0.1:${port}`));
  });
});

describe('SIGHUP reloads the route script', () => {
  const busy = [
    "import { defineRoutes } from 'olelo/script';",
    '',
    'export default defineRoutes({',
    '  request(req, m) {',
    "    m.sl.reply(req, 486, 'Busy Here');",
    '  },',
    '});',
    '',
  ].join('\n');

  it('keeps the running script when the new one is broken, and takes a valid one', async () => {
    const script = dir.file('routes.ts', readFileSync(DEFAULT_SCRIPT, 'utf8'));
    const { proc, port } = await startServerProcess(join(dir.path), { script });
    assert.equal(await udpOptions(port), 200);

    // broken: the reload fails, is logged, and the old script keeps answering
    dir.file(
      'routes.ts',
      "import { defineRoutes } from 'olelo/script';\nexport default defineRoutes({ request( });\n",
    );
    let from = proc.lines.length;
    proc.signal('SIGHUP');
    const failed = await proc.waitForLine(/route script reload failed/, 5000, from);
    assert.match(failed, /ERROR/);
    assert.match(failed, /routes\.ts:2:/, 'the failure names the file and line');
    assert.equal(await udpOptions(port), 200, 'the old script still runs');
    assert.equal(proc.exit, undefined);

    // valid: the new script answers from now on
    dir.file('routes.ts', busy);
    from = proc.lines.length;
    proc.signal('SIGHUP');
    await proc.waitForLine(/route script reloaded/, 5000, from);
    assert.equal(await udpOptions(port), 486, 'the new script answers');
    assert.equal(await tcpOptions(port), 486);

    assert.deepEqual(await proc.stop(), { code: 0, signal: null });
  });
});
