import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadScript, ScriptError } from '../../src/script/loader.js';
import { waitUntil } from '../helpers/process.js';
import { ROOT, startServer, UdpPeer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-script-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function rejects(file: string, message: RegExp): Promise<void> {
  await assert.rejects(loadScript(file), (e: unknown) => e instanceof ScriptError && message.test(e.message));
}

/** esbuild service processes that are children of this process (Linux /proc). */
function esbuildChildren(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    if (comm === 'esbuild' && ppid === process.pid) out.push(Number(entry));
  }
  return out;
}

describe('route script loader', () => {
  it('leaves no esbuild service running once loads are done, and loads again after', async () => {
    const a = write('a.ts', 'export default { request() {} };\n');
    const b = write('b.ts', 'export default { request() {} };\n');
    // concurrent loads share one service: the first to finish must not stop it under the other
    const [ra, rb] = await Promise.all([loadScript(a), loadScript(b)]);
    assert.equal(typeof ra.request, 'function');
    assert.equal(typeof rb.request, 'function');
    assert.ok(await waitUntil(() => esbuildChildren().length === 0, 5000), 'esbuild service stopped');
    const again = await loadScript(a);
    assert.equal(typeof again.request, 'function');
    assert.ok(await waitUntil(() => esbuildChildren().length === 0, 5000), 'esbuild service stopped again');
  });

  it('loads the default script', async () => {
    const routes = await loadScript(join(ROOT, 'scripts/default.ts'));
    assert.equal(typeof routes.request, 'function');
  });

  it('loads the example of scripts/README.md', async () => {
    const readme = readFileSync(join(ROOT, 'scripts/README.md'), 'utf8');
    const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'README has a ts example');
    const routes = await loadScript(write('readme-example.ts', example));
    assert.equal(typeof routes.request, 'function');
    assert.equal(typeof routes.reply, 'function');
    assert.equal(typeof routes.onsend, 'function');
    assert.equal(routes.events?.timers?.[0]?.interval, 60_000);
  });

  it('bundles the local files a script imports', async () => {
    write('helper.ts', 'export const code: number = 486;\n');
    const file = write(
      'with-helper.ts',
      "import { defineRoutes } from 'olelo/script';\nimport { code } from './helper.ts';\nexport default defineRoutes({ request(req, m) { m.sl.reply(req, code); } });\n",
    );
    const { server, listener } = await startServer('', { listen: ['udp:127.0.0.1:0'], script: file });
    const peer = await UdpPeer.open();
    try {
      const port = listener('udp').port;
      peer.send(
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-h1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: h1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        port,
      );
      assert.match(await peer.next(), /^SIP\/2\.0 486 /);
    } finally {
      peer.close();
      await server.stop(100);
    }
  });

  it('rejects a script that does not compile, naming the file and line', async () => {
    const file = write(
      'broken.ts',
      "import { defineRoutes } from 'olelo/script';\nexport default defineRoutes({\n  request(req, m) {\n    if (\n  },\n});\n",
    );
    await rejects(file, /broken\.ts:\d+:\d+/);
  });

  it('rejects a script without a request route', async () => {
    await rejects(write('no-request.ts', 'export default { reply() {} };\n'), /no request route/);
  });

  it('rejects a script without a default export', async () => {
    await rejects(write('no-default.ts', 'export const x = 1;\n'), /export default/);
  });

  it('rejects a missing file', async () => {
    await rejects(join(dir, 'missing.ts'), /not found/);
  });

  it('reports an error thrown while the script loads', async () => {
    await rejects(
      write('throws.ts', "throw new Error('boom at load');\nexport default {};\n"),
      /boom at load/,
    );
  });
});
