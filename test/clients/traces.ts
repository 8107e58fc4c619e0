/**
 * Reading what the real clients sent and received: JsSIP's socket trace and baresip's `-s` output.
 */
import type { Baresip } from '../helpers/baresip.js';
import type { JsSipUser } from '../helpers/jssip.js';

/** Status codes of the responses a JsSIP user received to requests with `method`, in order. */
export function jssipResponsesTo(user: JsSipUser, method: string): number[] {
  return user.trace
    .filter((t) => t.startsWith('< SIP/2.0 ') && new RegExp(`^CSeq: *\\d+ ${method}\\s*$`, 'mi').test(t))
    .map((t) => Number(t.slice(10, 13)));
}

/** The requests of `method` a JsSIP user received (`<`) or sent (`>`), text without the marker. */
export function jssipRequests(user: JsSipUser, method: string, way: '<' | '>'): string[] {
  return user.trace.filter((t) => t.startsWith(`${way} ${method} `)).map((t) => t.slice(2));
}

/** The responses with `status` to `method` a JsSIP user received (`<`) or sent (`>`), text without the marker. */
export function jssipResponses(user: JsSipUser, status: number, method: string, way: '<' | '>'): string[] {
  return user.trace
    .filter(
      (t) =>
        t.startsWith(`${way} SIP/2.0 ${status} `) && new RegExp(`^CSeq: *\\d+ ${method}\\s*$`, 'mi').test(t),
    )
    .map((t) => t.slice(2));
}

/** The first value of header `name` in a message's text. */
export function headerOf(message: string, name: string): string | undefined {
  return new RegExp(`^${name}: *(.*?)\\r?$`, 'mi').exec(message)?.[1];
}

/** One SIP message in baresip's `-s` trace: `<PROTO> <src> -> <dst>`, the message, `#`. */
export interface BaresipTraced {
  protocol: string;
  /** `address:port` it left from and went to. */
  from: string;
  to: string;
  /** Its lines (start line first). */
  lines: string[];
  /** `INVITE`, `BYE`, ... for a request; the status (`200`) for a response. */
  what: string;
  /** The CSeq method. */
  cseqMethod: string | undefined;
  /**
   * It has all been read: the next message's `#` line came, or its Content-Length header did (and its
   * body, when it has one). baresip prints `#`, then `<PROTO> <src> -> <dst>`, then the message.
   */
  complete: boolean;
}

/** The SIP messages of baresip's trace (`sipTrace: true`), sent and received, in order. */
export function baresipMessages(b: Baresip): BaresipTraced[] {
  const out: BaresipTraced[] = [];
  const lines = b.lines;
  for (let i = 0; i < lines.length; i++) {
    const head = /^(UDP|TCP|TLS|WS|WSS) (\S+) -> (\S+)$/.exec(lines[i]!);
    if (head === null) continue;
    const body: string[] = [];
    let complete = false;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j] === '#' || /^(UDP|TCP|TLS|WS|WSS) \S+ -> \S+$/.test(lines[j]!)) {
        complete = true;
        break;
      }
      body.push(lines[j]!);
    }
    const length = body.findIndex((l) => /^(Content-Length|l):/i.test(l));
    if (length !== -1 && (/:\s*0\s*$/.test(body[length]!) || body.length > length + 1)) complete = true;
    const start = body[0] ?? '';
    const status = /^SIP\/2\.0 (\d{3}) /.exec(start);
    out.push({
      protocol: head[1]!,
      from: head[2]!,
      to: head[3]!,
      lines: body,
      what: status === null ? start.slice(0, start.indexOf(' ')) : status[1]!,
      cseqMethod: body.map((l) => /^CSeq: *\d+ (\S+)/i.exec(l)?.[1]).find((m) => m !== undefined),
      complete,
    });
  }
  return out;
}

/** Status codes of the responses baresip received to `method`, in order (from its `-s` trace). */
export function baresipResponsesTo(b: Baresip, method: string): number[] {
  const out: number[] = [];
  const lines = b.lines;
  for (let i = 0; i < lines.length; i++) {
    const status = /^SIP\/2\.0 (\d{3}) /.exec(lines[i]!);
    if (status === null) continue;
    for (let j = i + 1; j < lines.length && j < i + 20; j++) {
      const cseq = /^CSeq: \d+ (\S+)/i.exec(lines[j]!);
      if (cseq !== null) {
        if (cseq[1] === method) out.push(Number(status[1]));
        break;
      }
    }
  }
  return out;
}

/** Resolves once `test()` holds (checked every 10 ms); rejects after `timeoutMs` naming `what`. */
export async function waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() >= deadline) throw new Error(`timeout (${timeoutMs} ms) waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The first complete message of baresip's trace that passes `test`, waiting for it: its output comes
 * through a pipe, and may come after the ctrl_tcp event that told of the call (or after a JsSIP event).
 */
export async function baresipMessage(
  b: Baresip,
  test: (m: BaresipTraced) => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<BaresipTraced> {
  let found: BaresipTraced | undefined;
  await waitFor(
    () => {
      found = baresipMessages(b).find((m) => m.complete && test(m));
      return found !== undefined;
    },
    timeoutMs,
    `${what} in baresip's trace`,
  );
  return found!;
}

/** The first line of a traced message starting with `name:`, or ''. */
export function baresipHeader(m: BaresipTraced, name: string): string {
  return m.lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? '';
}
