/**
 * The examples of the domain and alias modules' READMEs, run as route scripts against a database with a
 * domain table and an alias, with raw SIP over UDP.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from '../helpers/process.js';
import { ROOT, UdpPeer } from '../helpers/server.js';
import { tempDir } from '../helpers/sipp.js';
import { DOMAIN, LOCAL, provision, type Service, startService } from './helpers.js';

/** The `ts` example of a module's README, written to `dir`. */
function readmeScript(module: string, dir: string): string {
  const readme = readFileSync(join(ROOT, `src/modules/${module}/README.md`), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, `the ${module} README has a ts example`);
  const file = join(dir, `${module}-readme.ts`);
  writeFileSync(file, code);
  return file;
}

let sequence = 0;

/** Sends a MESSAGE from `from` to `to` through the server and resolves the final response. */
async function message(peer: UdpPeer, port: number, from: string, to: string): Promise<string> {
  const id = `readme-${process.pid}-${++sequence}`;
  peer.send(
    [
      `MESSAGE ${to} SIP/2.0`,
      `Via: SIP/2.0/UDP ${LOCAL}:${peer.port};branch=z9hG4bK${id};rport`,
      'Max-Forwards: 70',
      `From: <${from}>;tag=${id}`,
      `To: <${to}>`,
      `Call-ID: ${id}`,
      'CSeq: 1 MESSAGE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
  return peer.next((m) => m.includes(`Call-ID: ${id}\r\n`) && /^SIP\/2\.0 [2-6]/.test(m));
}

describe('domain README example', () => {
  const dir = tempDir('olelo-svc-domain-');
  let svc: Service;
  let peer: UdpPeer;
  let far: UdpPeer;

  before(async () => {
    await provision(dir.path);
    svc = await startService(dir.path, {
      script: readmeScript('domain', dir.path),
      modules: '  domain:\n    reloadInterval: 200ms\n',
      yaml: 'domains: [sip.example.org]\n',
    });
    peer = await UdpPeer.open();
    far = await UdpPeer.open();
  });

  after(async () => {
    peer?.close();
    far?.close();
    await svc?.stop();
    dir.remove();
  });

  it('serves the domains of the table and of the config, relays for local users, refuses the rest', async () => {
    const stranger = 'sip:someone@far.example.net';
    assert.match(await message(peer, svc.port, stranger, `sip:bob@${DOMAIN}`), /^SIP\/2\.0 404 /);
    // a configured domain is one of the server's names: with one of its ports
    assert.match(
      await message(peer, svc.port, stranger, `sip:bob@sip.example.org:${svc.port}`),
      /^SIP\/2\.0 404 /,
    );
    assert.match(await message(peer, svc.port, stranger, 'sip:bob@sip.example.org:5999'), /^SIP\/2\.0 403 /);
    assert.match(await message(peer, svc.port, stranger, `sip:x@${LOCAL}:${far.port}`), /^SIP\/2\.0 403 /);
    // from a local domain: relayed
    const relayed = message(peer, svc.port, `sip:alice@${DOMAIN}`, `sip:x@${LOCAL}:${far.port}`);
    const arrived = await far.next((m) => m.startsWith('MESSAGE '));
    const lines = arrived.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/.test(l));
    far.send(
      [
        'SIP/2.0 200 OK',
        ...lines.map((l) => (l.startsWith('To:') ? `${l};tag=far` : l)),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      svc.port,
    );
    assert.match(await relayed, /^SIP\/2\.0 200 /);
  });

  it('picks up a domain added to the table while running, at the next reload', async () => {
    const stranger = 'sip:someone@far.example.net';
    assert.match(await message(peer, svc.port, stranger, 'sip:bob@new.example'), /^SIP\/2\.0 403 /);
    await svc.server.db.domains.add('new.example');
    assert.ok(await waitUntil(() => svc.stats('domain')['domain.domains'] === 2, 3000, 50));
    assert.match(await message(peer, svc.port, stranger, 'sip:bob@new.example'), /^SIP\/2\.0 404 /);
  });
});

describe('alias README example', () => {
  const dir = tempDir('olelo-svc-alias-');
  let svc: Service;
  let peer: UdpPeer;

  before(async () => {
    await provision(dir.path, { aliases: { '100': 'alice' } });
    svc = await startService(dir.path, { script: readmeScript('alias', dir.path) });
    peer = await UdpPeer.open();
  });

  after(async () => {
    peer?.close();
    await svc?.stop();
    dir.remove();
  });

  it('redirects an alias to its account, and answers 404 for what is no alias', async () => {
    const moved = await message(peer, svc.port, 'sip:x@far.example.net', `sip:100@${DOMAIN}`);
    assert.match(moved, /^SIP\/2\.0 302 /);
    assert.match(moved, new RegExp(`\\r\\nContact: <sip:alice@${DOMAIN}>\\r\\n`));
    assert.match(
      await message(peer, svc.port, 'sip:x@far.example.net', `sip:101@${DOMAIN}`),
      /^SIP\/2\.0 404 /,
    );
    assert.equal(svc.stats('alias')['alias.found'], 1);
  });
});
