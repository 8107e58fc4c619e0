/**
 * Database URLs: which driver a URL selects, where a SQLite file is, and the URL as it may be shown
 * (without its password).
 *
 *   sqlite:FILE              a file, relative to the config file's folder (`sqlite:./data/olelo.db`)
 *   sqlite:///abs/path.db    the same with an absolute path, URL style
 *   sqlite::memory:          an in-memory database (tests)
 *   postgres://user:password@host:port/database      (also postgresql://)
 *   mysql://user:password@host:port/database         (also mariadb://)
 */
import { isAbsolute, join, resolve } from 'node:path';
import { StorageError } from './errors.js';
import type { Dialect } from './types.js';

/** What a URL names. */
export type DatabaseTarget =
  | { dialect: 'sqlite' /** absolute path, or `:memory:` */; file: string; display: string }
  | { dialect: 'postgres' | 'mysql'; url: URL; display: string };

/** The URL forms olelo takes, for messages and the configuration reference. */
export const URL_FORMS =
  'sqlite:FILE, postgres://user:password@host:port/database or mysql://user:password@host:port/database';

const SCHEMES: Readonly<Record<string, Dialect>> = {
  'sqlite:': 'sqlite',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};

/** The URL without its password (also a `password` query parameter), for logs and messages. */
export function redactUrl(text: string): string {
  if (text.startsWith('sqlite:')) return text;
  try {
    const url = new URL(text);
    url.password = '';
    url.searchParams.delete('password');
    return url.toString();
  } catch {
    // not parseable: drop what sits between the scheme's user and '@'
    return text.replace(/(\/\/[^:/@]*):[^@/]*@/, '$1@');
  }
}

/** The dialect a URL selects, from its scheme; `undefined` for any other. */
export function dialectOf(text: string): Dialect | undefined {
  const colon = text.indexOf(':');
  return colon === -1 ? undefined : SCHEMES[text.slice(0, colon + 1).toLowerCase()];
}

/**
 * Parses a database URL. A relative SQLite path is taken from `base` (default: the working folder).
 * Throws a {@link StorageError} `bad-url` saying what is wrong.
 */
export function parseDatabaseUrl(text: string, base = process.cwd()): DatabaseTarget {
  const dialect = dialectOf(text);
  if (dialect === undefined) {
    throw new StorageError('bad-url', `unsupported database URL '${redactUrl(text)}': use ${URL_FORMS}`);
  }
  if (dialect === 'sqlite') {
    const rest = text.slice(text.indexOf(':') + 1);
    if (rest === ':memory:') return { dialect, file: ':memory:', display: 'sqlite::memory:' };
    const path = rest.startsWith('//') ? decodeURIComponent(rest.slice(2)) : rest;
    if (path === '' || path.endsWith('/')) {
      throw new StorageError('bad-url', `database URL '${text}' names no file: use sqlite:path/to/olelo.db`);
    }
    const file = isAbsolute(path) ? path : resolve(base, path);
    return { dialect, file, display: `sqlite:${file}` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new StorageError('bad-url', `malformed database URL '${redactUrl(text)}': use ${URL_FORMS}`);
  }
  const display = redactUrl(text);
  if (url.hostname === '' && url.searchParams.get('host') === null && url.searchParams.get('socket') === null)
    throw new StorageError('bad-url', `database URL '${display}' names no host`);
  if (url.pathname.replace(/^\//, '') === '')
    throw new StorageError('bad-url', `database URL '${display}' names no database (…/database at the end)`);
  return { dialect, url, display };
}

/** Rewrites a relative SQLite URL against `base` (the config file's folder); other URLs are returned as they are. */
export function resolveDatabaseUrl(text: string, base: string): string {
  const target = dialectOf(text) === 'sqlite' ? parseDatabaseUrl(text, base) : undefined;
  return target?.dialect === 'sqlite' ? target.display : text;
}

/** The URL in effect: the configured one, else the embedded SQLite file `olelo.db` in the data folder. */
export function databaseUrl(database: { url?: string | undefined }, dataDir: string): string {
  return database.url ?? `sqlite:${join(dataDir, 'olelo.db')}`;
}
