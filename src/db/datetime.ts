/**
 * Date and time columns, written the way Kamailio's database drivers write them so both read each other's
 * rows and compare them in SQL:
 *
 * - PostgreSQL and MySQL (DATETIME / TIMESTAMP WITHOUT TIME ZONE): text `YYYY-MM-DD HH:MM:SS` in the
 *   server's local time;
 * - SQLite (declared TIMESTAMP, no date type of its own): a Julian day number (REAL, UTC), with
 *   Kamailio's half-second offset so a whole second survives the float.
 *
 * Records carry Unix seconds.
 */
import type { SqlValue } from './sql.js';
import type { Dialect } from './types.js';

/** Converts between Unix seconds and a dialect's column values. */
export interface DatetimeCodec {
  toSql(unixSeconds: number): SqlValue;
  /** A column value as Unix seconds; 0 when unreadable. */
  fromSql(value: unknown): number;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Unix seconds as `YYYY-MM-DD HH:MM:SS`, local time. */
export function toLocalDatetime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return (
    `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/;

/** `YYYY-MM-DD HH:MM:SS` (local time) as Unix seconds; 0 when it is not that. */
export function fromLocalDatetime(text: string): number {
  const m = DATETIME.exec(text);
  if (m === null) return 0;
  const date = new Date(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  date.setFullYear(Number(m[1])); // years below 100 would otherwise be read as 19xx
  return Math.floor(date.getTime() / 1000);
}

/** The Julian day of the Unix epoch. */
const EPOCH_JULIAN_DAY = 2440587.5;

/** Unix seconds as the Julian day Kamailio's SQLite driver writes (half a second early). */
export function toJulianDay(unixSeconds: number): number {
  return (unixSeconds - 0.5) / 86400 + EPOCH_JULIAN_DAY;
}

/** A Julian day as Unix seconds, rounded to the second. */
export function fromJulianDay(day: number): number {
  return Math.round(86400 * (day - EPOCH_JULIAN_DAY) + 0.5) || 0; // never -0
}

const textCodec: DatetimeCodec = {
  toSql: toLocalDatetime,
  fromSql(value) {
    if (value instanceof Date) return Math.floor(value.getTime() / 1000);
    return typeof value === 'string' ? fromLocalDatetime(value) : 0;
  },
};

const sqliteCodec: DatetimeCodec = {
  toSql: toJulianDay,
  fromSql(value) {
    if (typeof value === 'number') return fromJulianDay(value);
    // the schema's text defaults ('2000-01-01 00:00:01'), or rows another tool wrote as text
    return typeof value === 'string' ? fromLocalDatetime(value) : 0;
  },
};

/** The codec of a dialect. */
export function datetimeCodec(dialect: Dialect): DatetimeCodec {
  return dialect === 'sqlite' ? sqliteCodec : textCodec;
}

/** Now, in Unix seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
