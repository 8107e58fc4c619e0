/**
 * A start that fails half way (here: the script's start event route throws, after the listeners are
 * bound and the modules started) leaves nothing behind: the ports are free again at once.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServer } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'olelo-failed-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A TCP port the OS had free a moment ago (UDP is bound on the same number). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('a failed start', () => {
  it('closes the listeners it had opened', { timeout: 15_000 }, async () => {
    const script = join(dir, 'throws.ts');
    writeFileSync(
      script,
      "import { defineRoutes } from 'olelo/script';\n" +
        'export default defineRoutes({\n' +
        "  request(req, m) { m.sl.reply(req, 404, 'Not here'); },\n" +
        "  events: { start() { throw new Error('start route broke'); } },\n" +
        '});\n',
    );
    const port = await freePort();
    await assert.rejects(
      startServer('', { listen: [`udp:127.0.0.1:${port}`, `tcp:127.0.0.1:${port}`], script }),
      /start route broke/,
    );
    // both ports can be bound again: nothing of the failed server holds them
    const tcp = createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  });
});
