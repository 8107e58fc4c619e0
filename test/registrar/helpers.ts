/**
 * Helpers of the registrar tests: a server running a registrar script from a temporary file, raw SIP
 * requests, and responses read with olelo's own parser.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Params } from '../../src/sip/lexer.js';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import { formatUri } from '../../src/sip/uri.js';
import { startServer } from '../helpers/server.js';

/**
 * The route script of most tests: REGISTER is saved (NAT-fixed when `X-Nat` is present); OPTIONS with
 * `X-Registered` asks `registered`; other requests are looked up and relayed, or redirected (302 to the
 * looked-up Request-URI and the destination set) when `X-Redirect` is present.
 */
export const REGISTRAR_SCRIPT = `
import { defineRoutes } from 'olelo/script';

export default defineRoutes({
  async request(req, m) {
    if (req.method === 'REGISTER') {
      if (req.hasHeader('x-nat')) m.nathelper.fixNatedRegister(req);
      const result = await m.registrar.save(req);
      req.log.debug('saved', { result });
      return;
    }
    if (req.hasToTag) {
      m.rr.looseRoute(req);
      if (req.method === 'ACK') await m.forward(req);
      else await m.tm.relay(req);
      return;
    }
    if (req.method === 'ACK' || req.method === 'CANCEL') {
      await m.forward(req);
      return;
    }
    if (req.hasHeader('x-registered')) {
      m.sl.reply(req, (await m.registrar.registered(req)) ? 200 : 404);
      return;
    }
    const found = await m.registrar.lookup(req);
    if (found === 'not-found') return m.sl.reply(req, 404, 'Not Found');
    if (found === 'method-not-allowed') return m.sl.reply(req, 405, 'Method Not Allowed');
    if (req.hasHeader('x-redirect')) {
      const targets = [req.msg.requestUri, ...(req.branches ?? []).map((b) => b.uri)];
      m.sl.reply(req, 302, undefined, targets.map((t) => ['Contact', '<' + t + '>']));
      return;
    }
    await m.tm.relay(req);
  },
});
`;

/** A server running `script` (written to a temporary file); `stop()` ends it and removes the file. */
export async function registrarServer(
  yaml = '',
  options: { script?: string; listen?: string[] } = {},
): Promise<{
  udpPort: number;
  tcpPort: number;
  server: Awaited<ReturnType<typeof startServer>>['server'];
  logs: string[];
  stop(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'olelo-registrar-'));
  const file = join(dir, 'script.ts');
  writeFileSync(file, options.script ?? REGISTRAR_SCRIPT);
  const started = await startServer(yaml, {
    script: file,
    listen: options.listen ?? ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'],
  });
  const udp = started.server.listeners.find((l) => l.protocol === 'udp');
  const tcp = started.server.listeners.find((l) => l.protocol === 'tcp');
  return {
    udpPort: udp?.port ?? 0,
    tcpPort: tcp?.port ?? 0,
    server: started.server,
    logs: started.logs,
    async stop() {
      await started.server.stop(200);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

/** A unique token for Call-IDs, branches and tags. */
export function unique(prefix = 'x'): string {
  return `${prefix}${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}`;
}

/** Options of {@link sipRequest}. */
export interface RequestSpec {
  method: string;
  uri: string;
  /** Local port of the sender (Via sent-by). */
  port: number;
  transport?: 'UDP' | 'TCP';
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  /** Extra header lines (`Name: value`). */
  headers?: readonly string[];
  body?: string;
}

/** A request as text, with a fresh Via branch. */
export function sipRequest(spec: RequestSpec): string {
  const body = spec.body ?? '';
  const lines = [
    `${spec.method} ${spec.uri} SIP/2.0`,
    `Via: SIP/2.0/${spec.transport ?? 'UDP'} 127.0.0.1:${spec.port};branch=z9hG4bK${unique('b')};rport`,
    'Max-Forwards: 70',
    `From: ${spec.from ?? spec.to ?? '<sip:caller@example.com>'};tag=${unique('t')}`,
    `To: ${spec.to ?? `<${spec.uri}>`}`,
    `Call-ID: ${spec.callId ?? unique('c')}`,
    `CSeq: ${spec.cseq ?? 1} ${spec.method}`,
    ...(spec.headers ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

/** A REGISTER for `user@example.com` (To and From), with the given Contact and other header lines. */
export function registerRequest(
  user: string,
  port: number,
  options: {
    contact?: string | readonly string[];
    expires?: number;
    callId?: string;
    cseq?: number;
    headers?: readonly string[];
    transport?: 'UDP' | 'TCP';
  } = {},
): string {
  const contacts =
    options.contact === undefined
      ? []
      : typeof options.contact === 'string'
        ? [options.contact]
        : options.contact;
  return sipRequest({
    method: 'REGISTER',
    uri: 'sip:example.com',
    port,
    to: `<sip:${user}@example.com>`,
    from: `<sip:${user}@example.com>`,
    ...(options.callId === undefined ? {} : { callId: options.callId }),
    cseq: options.cseq ?? 1,
    ...(options.transport === undefined ? {} : { transport: options.transport }),
    headers: [
      ...contacts.map((c) => `Contact: ${c}`),
      ...(options.expires === undefined ? [] : [`Expires: ${options.expires}`]),
      ...(options.headers ?? []),
    ],
  });
}

/** Parses a response received as text. */
export function response(text: string): SipResponse {
  const msg = parseMessage(Buffer.from(text, 'latin1'));
  if (msg.kind !== 'response') throw new Error(`not a response: ${text.slice(0, 80)}`);
  return msg;
}

/** Parses a request received as text. */
export function request(text: string): SipRequest {
  const msg = parseMessage(Buffer.from(text, 'latin1'));
  if (msg.kind !== 'request') throw new Error(`not a request: ${text.slice(0, 80)}`);
  return msg;
}

/** A response to a received request (Via, From, To with a tag, Call-ID, CSeq copied). */
export function answer(
  received: string,
  status: number,
  reason = 'Whatever',
  extra: readonly string[] = [],
): string {
  const req = request(received);
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const f of req.headers) {
    if (f.key === 'via' || f.key === 'from' || f.key === 'call-id' || f.key === 'cseq')
      lines.push(`${f.name}: ${f.value}`);
    else if (f.key === 'to')
      lines.push(`To: ${f.value}${f.value.includes('tag=') ? '' : `;tag=${unique('u')}`}`);
  }
  lines.push(...extra, 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/** The Contact values of a 200 to a REGISTER, as `{ uri, params }` (params by lower-case name). */
export function contactsOf(res: SipResponse): Array<{ uri: string; params: Params }> {
  return (res.contact?.list ?? []).map((c) => ({ uri: formatUri(c.uri), params: c.params }));
}

/** What the tests need of a UDP peer (test/helpers/server.ts UdpPeer). */
interface Peer {
  send(text: string, port: number): void;
  next(test?: (text: string) => boolean, timeoutMs?: number): Promise<string>;
}

/** Sends a request and resolves with its final response (provisional ones are skipped). */
export async function transact(
  peer: Peer,
  text: string,
  port: number,
  timeoutMs = 3000,
): Promise<SipResponse> {
  const callId = request(text).callId;
  peer.send(text, port);
  const final = await peer.next(
    (t) => /^SIP\/2\.0 [2-6]\d\d /.test(t) && t.includes(`Call-ID: ${callId}\r\n`),
    timeoutMs,
  );
  return response(final);
}
