/**
 * The dashboard's calls to olelo's HTTP server: the session endpoints and JSON-RPC 2.0 over /api/rpc
 * (session cookie + the X-Requested-With header the server requires against cross-site requests).
 */

/** A failed call: the JSON-RPC error code (400, 404, 409, 500, -32601, ...) or the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The session is gone (401): the app goes back to the login form. */
export class Unauthorized extends ApiError {
  constructor() {
    super(401, 'Your session has ended: log in again.');
    this.name = 'Unauthorized';
  }
}

let onUnauthorized: () => void = () => {};

/** What to do when a call answers 401 (the app shows the login form). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: string | { message?: string } };
    const e = body.error;
    if (typeof e === 'string') return e;
    if (e?.message) return e.message;
  } catch {
    // not JSON
  }
  return `HTTP ${response.status} ${response.statusText}`;
}

/** The logged-in user, or undefined when there is no session. */
export async function currentUser(): Promise<string | undefined> {
  const response = await fetch('/api/session', { credentials: 'same-origin' });
  if (response.status === 401) return undefined;
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return ((await response.json()) as { user: string }).user;
}

/** Logs in; resolves with the user name, rejects with the server's reason. */
export async function login(username: string, password: string): Promise<string> {
  const response = await fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return ((await response.json()) as { user: string }).user;
}

export async function logout(): Promise<void> {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
}

let nextId = 1;

/**
 * Calls a control method. Trailing `undefined` parameters are left out (optional parameters). Rejects with
 * {@link Unauthorized} on 401 (after telling the app), {@link ApiError} on a JSON-RPC error.
 */
export async function rpc<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
  while (params.length > 0 && params[params.length - 1] === undefined) params.pop();
  const response = await fetch('/api/rpc', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'olelo-web' },
    body: JSON.stringify({ jsonrpc: '2.0', method, params, id: nextId++ }),
  });
  if (response.status === 401) {
    onUnauthorized();
    throw new Unauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  const body = (await response.json()) as { result?: T; error?: { code: number; message: string } };
  if (body.error !== undefined) throw new ApiError(body.error.code, `${method}: ${body.error.message}`);
  return body.result as T;
}
