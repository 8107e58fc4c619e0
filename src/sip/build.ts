/**
 * Building requests and responses from scratch (RFC 3261 §8.1.1, §8.2.6).
 */
import { randomFillSync } from 'node:crypto';
import { SipParseError } from './errors.js';
import { canonicalHeaderName } from './header-names.js';
import { textToLatin1 } from './lexer.js';
import type { SipMessage, SipRequest, SipResponse } from './message.js';
import { parseMessage } from './parser.js';
import { formatUri, type Uri } from './uri.js';

/** Standard reason phrases (RFC 3261 §21 and extensions). */
export const REASON_PHRASES: Readonly<Record<number, string>> = Object.freeze({
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  412: 'Conditional Request Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  423: 'Interval Too Brief',
  429: 'Provide Referrer Identity',
  430: 'Flow Failed',
  439: 'First Hop Lacks Outbound Support',
  440: 'Max-Breadth Exceeded',
  470: 'Consent Needed',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
  607: 'Unwanted',
});

/** The standard reason phrase for a status code, or a generic one for its class. */
export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? REASON_PHRASES[Math.floor(status / 100) * 100] ?? 'Unknown';
}

// Random identifiers come from a pool refilled in blocks: one syscall per 256 identifiers.
const POOL = Buffer.allocUnsafe(4096);
let poolPos = POOL.length;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.'; // token chars

/** A random token of `length` characters (about 6 bits of entropy each). */
export function randomToken(length = 16): string {
  if (poolPos + length > POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[POOL[poolPos++]! & 63];
  return out;
}

/** A new Via branch with the RFC 3261 magic cookie (§8.1.1.7). */
export function generateBranch(): string {
  return `z9hG4bK${randomToken(22)}`;
}

/** A new From/To tag (§19.3: at least 32 bits of randomness). */
export function generateTag(): string {
  return randomToken(12);
}

/** A new Call-ID, optionally `@host`. */
export function generateCallId(host?: string): string {
  const id = randomToken(24);
  return host === undefined ? id : `${id}@${host}`;
}

/** Extra header fields: a list of `[name, value]` pairs, written in order. */
export type HeaderList = ReadonlyArray<readonly [string, string]>;

/** Options for {@link createResponse}. */
export interface ResponseOptions {
  /** Reason phrase; defaults to the standard one. */
  reason?: string;
  /** To-tag to add when the request's To has none (a random one is generated otherwise; never for 100). */
  toTag?: string;
  /** Copy Record-Route (RFC 3261 §12.1.1, for responses that establish a dialog). */
  copyRecordRoute?: boolean;
  /** Additional header fields. */
  headers?: HeaderList;
  body?: Buffer | string;
  contentType?: string;
}

/**
 * A response to `req` (RFC 3261 §8.2.6): Via (all values, in order), From, To, Call-ID and CSeq copied
 * from the request; a To-tag added when the request's To lacks one, except for 100 (§8.2.6.2).
 */
export function createResponse(req: SipRequest, status: number, options: ResponseOptions = {}): SipResponse {
  return parseBuilt(createResponseBytes(req, status, options)) as SipResponse;
}

/**
 * The bytes of {@link createResponse}'s response, without parsing them back: for a server that only sends
 * the response (stateless and transaction replies).
 */
export function createResponseBytes(req: SipRequest, status: number, options: ResponseOptions = {}): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 699)
    throw new RangeError('status must be 100-699');
  const reason = options.reason ?? reasonPhrase(status);
  let text = `SIP/2.0 ${status} ${textToLatin1(reason)}\r\n`;
  for (const f of req.headers) {
    const key = f.key;
    if (key === 'via' || key === 'from' || key === 'call-id' || key === 'cseq') {
      text += `${canonicalHeaderName(key)}: ${f.value}\r\n`;
    } else if (key === 'to') {
      text += `To: ${f.value}${status > 100 && !hasTag(req) ? `;tag=${options.toTag ?? generateTag()}` : ''}\r\n`;
    } else if (key === 'record-route' && options.copyRecordRoute === true) {
      text += `Record-Route: ${f.value}\r\n`;
    }
  }
  return finish(text, options.headers, options.body, options.contentType);
}

function hasTag(req: SipRequest): boolean {
  try {
    return req.to?.params.has('tag') ?? false;
  } catch (e) {
    if (e instanceof SipParseError) return true; // unreadable To: copy it untouched
    throw e;
  }
}

/** Options for {@link createRequest}. */
export interface RequestOptions {
  method: string;
  uri: Uri | string;
  /** From value; a tag is added when it has none. */
  from: string;
  /** To value. */
  to: string;
  /** Via values, top first; without them the request has no Via (a transaction layer adds one). */
  via?: readonly string[];
  callId?: string;
  /** CSeq number; the method is the request's. Default 1. */
  cseq?: number;
  /** Default 70 (RFC 3261 §8.1.1.6). */
  maxForwards?: number;
  contact?: string;
  headers?: HeaderList;
  body?: Buffer | string;
  contentType?: string;
}

/** A request built from scratch (RFC 3261 §8.1.1). */
export function createRequest(options: RequestOptions): SipRequest {
  const uri = typeof options.uri === 'string' ? options.uri : formatUri(options.uri);
  let text = `${options.method} ${uri} SIP/2.0\r\n`;
  for (const v of options.via ?? []) text += `Via: ${v}\r\n`;
  text += `Max-Forwards: ${options.maxForwards ?? 70}\r\n`;
  const from = options.from.indexOf(';tag=') === -1 ? `${options.from};tag=${generateTag()}` : options.from;
  text += `From: ${from}\r\nTo: ${options.to}\r\n`;
  text += `Call-ID: ${options.callId ?? generateCallId()}\r\nCSeq: ${options.cseq ?? 1} ${options.method}\r\n`;
  if (options.contact !== undefined) text += `Contact: ${options.contact}\r\n`;
  return parseBuilt(finish(text, options.headers, options.body, options.contentType)) as SipRequest;
}

function finish(
  text: string,
  headers: HeaderList | undefined,
  body: Buffer | string | undefined,
  contentType?: string,
): Buffer {
  if (headers !== undefined) {
    for (const [name, value] of headers) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value))
        throw new RangeError('header must not contain CR or LF');
      text += `${name}: ${value}\r\n`;
    }
  }
  const bodyBuf =
    body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (bodyBuf !== undefined && bodyBuf.length > 0 && contentType !== undefined)
    text += `Content-Type: ${contentType}\r\n`;
  text += `Content-Length: ${bodyBuf?.length ?? 0}\r\n\r\n`;
  const head = Buffer.from(text, 'latin1');
  return bodyBuf === undefined || bodyBuf.length === 0 ? head : Buffer.concat([head, bodyBuf]);
}

function parseBuilt(buf: Buffer) {
  return parseMessage(buf, { limits: { maxMessageSize: Math.max(buf.length, 65535) } });
}

/** The message as bytes (same as `msg.toBuffer()`). */
export function serializeMessage(msg: SipMessage): Buffer {
  return msg.toBuffer();
}
