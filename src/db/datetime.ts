/**
 * Kamailio keeps times in DATETIME / TIMESTAMP WITHOUT TIME ZONE columns as `YYYY-MM-DD HH:MM:SS` in
 * the server's local time; olelo reads and writes them the same way, as Unix seconds in its records.
 */

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Unix seconds as `YYYY-MM-DD HH:MM:SS`, local time. */
export function toSqlDatetime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return (
    `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/;

/** A column value (text, or a Date from a driver that makes one) as Unix seconds; 0 when unreadable. */
export function fromSqlDatetime(value: unknown): number {
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return 0;
  const m = DATETIME.exec(value);
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

/** Now, in Unix seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
