/**
 * The control server: JSON-RPC over HTTP (`POST /RPC`) and over a Unix socket, Prometheus metrics
 * (`GET /metrics`), and the web dashboard (its static files, its login and its own RPC endpoint).
 *
 * Who may call what:
 * - the Unix socket: anyone who may open the file (it is created mode 0600);
 * - `/RPC` and `/metrics` over TCP: open when the server is bound to a loopback address and no token is
 *   set, else only with the token (`Authorization: Bearer TOKEN`, or Basic with the token as password);
 *   never to a web page (a request with `Origin` or `Sec-Fetch-Site`: cross-site request forgery);
 * - `/api/rpc` (the dashboard): a login session cookie plus the `X-Requested-With: olelo-web` header (a
 *   custom header a cross-site form cannot send), whatever the address.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlListen } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { AdminStore } from '../db/types.js';
import type { RpcRegistry } from './registry.js';

/** Largest request body accepted (JSON-RPC batches included). */
const MAX_BODY = 1024 * 1024;
/** Failed logins allowed per client address and minute. */
const LOGIN_ATTEMPTS_PER_MINUTE = 10;
/** Most client addresses whose failed logins are remembered. */
const MAX_LOGIN_ADDRESSES = 10_000;
const SESSION_COOKIE = 'olelo_session';

/**
 * The key failed logins are counted under: an IPv4 address (an IPv4-mapped IPv6 one counts as IPv4), or
 * the /64 of an IPv6 address, since one client usually holds a whole /64 and could rotate through it.
 */
export function loginKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unix';
  const lower = address.toLowerCase();
  if (!lower.includes(':')) return lower;
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  const [head, tail] = lower.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
const WEB_HEADER = 'olelo-web';

/** The built dashboard: `dist/web/` (this file is dist/src/rpc/control-server.js). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export interface ControlServerOptions {
  registry: RpcRegistry;
  log: Logger;
  http: { listen: ControlListen; token?: string | undefined; sessionTimeout: number };
  /** Unix socket path, or undefined for none. */
  socket: string | undefined;
  /** Administrators for dashboard logins. */
  admins: AdminStore;
  /** The Prometheus text, when metrics are served. */
  metrics?: () => string;
  metricsContentType?: string;
  /** Where the dashboard's built files are; {@link WEB_ROOT} by default. */
  webRoot?: string;
}

interface Session {
  readonly user: string;
  /** The administrator's {@link AdminStore.credentialStamp} at login. */
  readonly stamp: string;
  lastSeen: number;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Whether a request comes from a web page: browsers send `Origin` with every POST and `Sec-Fetch-Site`
 * with every request (`none` only when the user typed the address). A page may POST a "simple" request
 * (text/plain, no preflight) to 127.0.0.1 or rebind its own name to it; machine clients (curl, exporters,
 * `olelo ctl`) send neither header.
 */
export function fromWebPage(headers: IncomingMessage['headers']): boolean {
  const site = headers['sec-fetch-site'];
  return headers.origin !== undefined || (site !== undefined && site !== 'none');
}

/**
 * Whether a call to `/RPC` or `/metrics` over TCP is allowed: with a token, only when the request carries
 * it (`Bearer TOKEN`, or Basic with the token as password); without one, only on a loopback address.
 */
export function machineAccess(
  listen: ControlListen,
  token: string | undefined,
  authorization: string | undefined,
): boolean {
  if (token === undefined) return listen !== 'off' && isLoopback(listen.host);
  const auth = authorization ?? '';
  if (auth.startsWith('Bearer ')) return sameSecret(auth.slice(7).trim(), token);
  if (auth.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon !== -1 && sameSecret(decoded.slice(colon + 1), token);
  }
  return false;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a request body up to {@link MAX_BODY}. A larger one is read to its end and thrown away (so the
 * client gets its 413 rather than a reset connection) unless it goes on past 16 times the limit.
 */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 16 * MAX_BODY) {
        req.destroy();
        reject(new HttpError(413, `request body over ${MAX_BODY} bytes`));
      } else if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('close', () => {
      if (!req.complete) reject(new HttpError(400, 'request body cut short'));
    });
    req.on('end', () =>
      size > MAX_BODY
        ? reject(new HttpError(413, `request body over ${MAX_BODY} bytes`))
        : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

/** The control HTTP server and Unix socket. */
export class ControlServer {
  private http: Server | undefined;
  private unix: Server | undefined;
  private readonly sessions = new Map<string, Session>();
  private readonly failedLogins = new Map<string, { count: number; since: number }>();
  private sweep: NodeJS.Timeout | undefined;
  private readonly webRoot: string;
  /** The bound HTTP address (port resolved when 0 was asked). */
  httpAddress: { host: string; port: number } | undefined;

  constructor(private readonly options: ControlServerOptions) {
    this.webRoot = options.webRoot ?? WEB_ROOT;
  }

  /** The Unix socket path, when one is open. */
  get socketPath(): string | undefined {
    return this.unix === undefined ? undefined : this.options.socket;
  }

  async start(): Promise<void> {
    const { http, socket, log } = this.options;
    if (http.listen !== 'off') {
      const { host, port } = http.listen;
      if (!isLoopback(host) && http.token === undefined)
        log.warn(
          'control.http is bound to a non-loopback address without control.http.token: /RPC and /metrics refuse every call (the dashboard works with its logins)',
          { listen: `${host}:${port}` },
        );
      const server = limitServer(createServer((req, res) => this.serve(req, res, false)));
      await listen(server, (s, cb) => s.listen(port, host, cb));
      this.http = server;
      const address = server.address();
      if (address !== null && typeof address === 'object') this.httpAddress = { host, port: address.port };
      log.info('control API listening', {
        http: `${host.includes(':') ? `[${host}]` : host}:${this.httpAddress?.port}`,
      });
    }
    if (socket !== undefined) {
      await removeStaleSocket(socket);
      const server = limitServer(createServer((req, res) => this.serve(req, res, true)));
      // the file is created by bind(), synchronously inside listen(): with umask 0177 it is 0600 from its
      // first moment, not only after a chmod another local user could race
      await listen(server, (s, cb) => {
        const umask = process.umask(0o177);
        try {
          s.listen(socket, cb);
        } finally {
          process.umask(umask);
        }
      });
      chmodSync(socket, 0o600);
      this.unix = server;
      log.info('control API listening', { socket });
    }
    this.sweep = setInterval(() => this.expireSessions(), 60_000);
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    const close = (s: Server | undefined) =>
      new Promise<void>((resolve) => {
        if (s === undefined) return resolve();
        s.close(() => resolve());
        s.closeAllConnections();
      });
    await Promise.all([close(this.http), close(this.unix)]);
    if (this.unix !== undefined && this.options.socket !== undefined && existsSync(this.options.socket)) {
      try {
        unlinkSync(this.options.socket);
      } catch {
        // gone already
      }
    }
    this.http = undefined;
    this.unix = undefined;
  }

  private expireSessions(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions)
      if (now - s.lastSeen > this.options.http.sessionTimeout) this.sessions.delete(id);
    for (const [ip, f] of this.failedLogins) if (now - f.since > 60_000) this.failedLogins.delete(ip);
  }

  // ---------------------------------------------------------------- requests

  private serve(req: IncomingMessage, res: ServerResponse, trusted: boolean): void {
    this.route(req, res, trusted).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500)
        this.options.log.error('control request failed', { error: e as Error, url: req.url ?? '' });
      if (!res.headersSent) send(res, status, { error: (e as Error).message });
      else res.destroy();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse, trusted: boolean): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    res.setHeader('X-Content-Type-Options', 'nosniff');
    switch (path) {
      case '/RPC':
      case '/rpc':
      case '/jsonrpc':
        if (req.method !== 'POST') throw new HttpError(405, 'POST a JSON-RPC 2.0 request');
        if (!trusted && !this.machineAllowed(req)) return this.refuse(res);
        return this.rpc(req, res);
      case '/metrics':
        if (req.method !== 'GET') throw new HttpError(405, 'GET only');
        if (!trusted && !this.machineAllowed(req)) return this.refuse(res);
        if (this.options.metrics === undefined) throw new HttpError(404, 'metrics are not served');
        res.writeHead(200, {
          'Content-Type': this.options.metricsContentType ?? 'text/plain; version=0.0.4; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(this.options.metrics());
        return;
      case '/api/login':
        if (req.method !== 'POST') throw new HttpError(405, 'POST only');
        return this.login(req, res);
      case '/api/logout':
        if (req.method !== 'POST') throw new HttpError(405, 'POST only');
        this.sessions.delete(this.sessionId(req) ?? '');
        res.writeHead(204, {
          'Set-Cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
        });
        res.end();
        return;
      case '/api/session': {
        const session = await this.session(req);
        if (session === undefined) return send(res, 401, { error: 'not logged in' });
        return send(res, 200, { user: session.user });
      }
      case '/api/rpc': {
        if (req.method !== 'POST') throw new HttpError(405, 'POST only');
        const session = req.headers['x-requested-with'] === WEB_HEADER ? await this.session(req) : undefined;
        if (session === undefined) return send(res, 401, { error: 'not logged in' });
        return this.rpc(req, res, session.user);
      }
      default:
        if (path.startsWith('/api/')) throw new HttpError(404, `no such endpoint ${path}`);
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'GET only');
        return this.staticFile(path, res);
    }
  }

  /** Whether `/RPC` and `/metrics` may answer this TCP request. */
  private machineAllowed(req: IncomingMessage): boolean {
    if (fromWebPage(req.headers))
      throw new HttpError(403, 'web pages may not call /RPC or /metrics: the dashboard uses /api/rpc');
    return machineAccess(this.options.http.listen, this.options.http.token, req.headers.authorization);
  }

  private refuse(res: ServerResponse): void {
    res.setHeader('WWW-Authenticate', 'Bearer realm="olelo"');
    send(res, 401, { error: 'authentication required: Authorization: Bearer <control.http.token>' });
  }

  private async rpc(req: IncomingMessage, res: ServerResponse, user?: string): Promise<void> {
    const body = await readBody(req);
    const answer = await this.options.registry.handle(body, (method, error) => {
      if (this.options.log.enabled('debug'))
        this.options.log.debug('control call failed', {
          method,
          error: (error as Error).message,
          ...(user ? { user } : {}),
        });
    });
    if (answer === undefined) {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(answer);
  }

  // ---------------------------------------------------------------- dashboard sessions

  private sessionId(req: IncomingMessage): string | undefined {
    return cookies(req).get(SESSION_COOKIE);
  }

  /**
   * The login session of a request; it ends after `sessionTimeout` without a request, and as soon as its
   * administrator is removed or given a new password (`olelo admin rm|passwd` from another process).
   */
  private async session(req: IncomingMessage): Promise<Session | undefined> {
    const id = this.sessionId(req);
    const s = id === undefined ? undefined : this.sessions.get(id);
    if (s === undefined) return undefined;
    const now = Date.now();
    if (now - s.lastSeen > this.options.http.sessionTimeout) {
      this.sessions.delete(id!);
      return undefined;
    }
    if ((await this.options.admins.credentialStamp(s.user)) !== s.stamp) {
      this.sessions.delete(id!);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ip = loginKey(req.socket.remoteAddress);
    const now = Date.now();
    let attempts = this.failedLogins.get(ip);
    if (attempts === undefined || now - attempts.since >= 60_000) {
      // bounded: past the cap the oldest address is forgotten (entries also expire after a minute)
      if (attempts === undefined && this.failedLogins.size >= MAX_LOGIN_ADDRESSES)
        this.failedLogins.delete(this.failedLogins.keys().next().value!);
      attempts = { count: 0, since: now };
      this.failedLogins.delete(ip); // re-inserted last: the map stays in age order
      this.failedLogins.set(ip, attempts);
    }
    if (attempts.count >= LOGIN_ATTEMPTS_PER_MINUTE) {
      res.setHeader('Retry-After', String(Math.ceil((60_000 - (now - attempts.since)) / 1000)));
      return send(res, 429, { error: 'too many failed logins; try again later' });
    }
    // counted before the (slow) password check, so logins sent in parallel cannot all pass the limit
    attempts.count++;
    let credentials: { username?: unknown; password?: unknown };
    try {
      credentials = JSON.parse(await readBody(req)) as typeof credentials;
    } catch {
      throw new HttpError(400, 'expected JSON {"username", "password"}');
    }
    const { username, password } = credentials ?? {};
    if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '')
      throw new HttpError(400, 'expected JSON {"username", "password"}');
    if (!(await this.options.admins.verify(username, password))) {
      this.options.log.warn('dashboard login refused', { user: username, from: ip });
      return send(res, 401, { error: 'wrong name or password' });
    }
    this.failedLogins.delete(ip);
    const stamp = await this.options.admins.credentialStamp(username);
    if (stamp === undefined) return send(res, 401, { error: 'wrong name or password' }); // removed meanwhile
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { user: username, stamp, lastSeen: now });
    this.options.log.info('dashboard login', { user: username, from: ip });
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`);
    send(res, 200, { user: username });
  }

  // ---------------------------------------------------------------- static files

  private staticFile(path: string, res: ServerResponse): void {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw new HttpError(400, 'bad path');
    }
    const root = normalize(this.webRoot.endsWith(sep) ? this.webRoot : this.webRoot + sep);
    let file = normalize(join(root, decoded));
    if (!file.startsWith(root)) throw new HttpError(404, 'not found');
    const isFile = (f: string) => existsSync(f) && statSync(f).isFile();
    if (!isFile(file)) {
      // client-side routes (no extension) get the app; missing assets are 404
      if (extname(decoded) !== '') throw new HttpError(404, 'not found');
      file = join(root, 'index.html');
      if (!isFile(file)) throw new HttpError(404, 'the dashboard is not built: run `npm run build`');
    }
    const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
    const immutable = file.includes(`${sep}assets${sep}`);
    res.writeHead(200, {
      'Content-Type': type,
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...(type.startsWith('text/html')
        ? {
            'Content-Security-Policy':
              "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            'X-Frame-Options': 'DENY',
          }
        : {}),
    });
    res.end(readFileSync(file));
  }
}

/**
 * Bounds what one client can hold: headers within 10 s, a whole request within 30 s, idle keep-alive
 * connections closed after 5 s, at most 256 connections at once (the control API is for operators and
 * their tools, not for crowds).
 */
function limitServer(server: Server): Server {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 256;
  return server;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function listen(server: Server, bind: (s: Server, cb: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    bind(server, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * A socket file left by a server that died is removed; one a running server answers on is not (the start
 * fails with EADDRINUSE, naming the path).
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // no file
  }
  if (!isSocket) throw new Error(`control.socket: ${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`control.socket: another server is answering on ${path}`);
  unlinkSync(path);
}
