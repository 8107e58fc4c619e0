/**
 * Date (RFC 3261 §20.17): only the rfc1123-date form, always in GMT.
 *
 * ```
 * SIP-date = rfc1123-date
 * rfc1123-date = wkday "," SP date1 SP time SP "GMT"
 * date1 = 2DIGIT SP month SP 4DIGIT   ; day month year (e.g., 02 Jun 1982)
 * time  = 2DIGIT ":" 2DIGIT ":" 2DIGIT ; 00:00:00 - 23:59:59
 * ```
 */
import { SipParseError } from '../errors.js';

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function indexOf3(list: readonly string[], s: string, i: number): number {
  const w = s.slice(i, i + 3);
  for (let k = 0; k < list.length; k++) if (list[k] === w) return k;
  return -1;
}

function digits(s: string, i: number, count: number, what: string): number {
  let v = 0;
  for (let k = i; k < i + count; k++) {
    const c = s.charCodeAt(k) - 0x30;
    if (!(c >= 0 && c <= 9))
      throw new SipParseError(`Date ${what} must be ${count} digits`, Math.min(k, s.length));
    v = v * 10 + c;
  }
  return v;
}

function expectChar(s: string, i: number, code: number, what: string): void {
  if (s.charCodeAt(i) !== code) throw new SipParseError(`Date needs ${what}`, Math.min(i, s.length));
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}

/**
 * Parses a Date value such as `Sat, 13 Nov 2010 23:29:00 GMT`. Any other shape, a zone other than `GMT`
 * (RFC 4475 §3.1.2.12 baddate: `EST`), an impossible date or time, or a weekday that does not match the
 * date is an error. Names are case-sensitive and separators are single spaces, as the grammar says.
 */
export function parseDate(value: string): Date {
  const s = value;
  const wkday = indexOf3(WEEKDAYS, s, 0);
  if (wkday < 0) throw new SipParseError('Date must start with a weekday (Mon-Sun)', 0);
  expectChar(s, 3, 0x2c, "',' after the weekday");
  expectChar(s, 4, 0x20, "a space after ','");
  const day = digits(s, 5, 2, 'day');
  expectChar(s, 7, 0x20, 'a space after the day');
  const month = indexOf3(MONTHS, s, 8);
  if (month < 0) throw new SipParseError('Date month must be one of Jan-Dec', 8);
  expectChar(s, 11, 0x20, 'a space after the month');
  const year = digits(s, 12, 4, 'year');
  expectChar(s, 16, 0x20, 'a space after the year');
  const hour = digits(s, 17, 2, 'hour');
  expectChar(s, 19, 0x3a, "':' after the hour");
  const minute = digits(s, 20, 2, 'minute');
  expectChar(s, 22, 0x3a, "':' after the minute");
  const second = digits(s, 23, 2, 'second');
  expectChar(s, 25, 0x20, 'a space before the time zone');
  // RFC 3261 §20.17: "the time zone MUST be GMT"
  if (
    s.length !== 29 ||
    s.charCodeAt(26) !== 0x47 ||
    s.charCodeAt(27) !== 0x4d ||
    s.charCodeAt(28) !== 0x54
  ) {
    throw new SipParseError('Date must be in GMT', Math.min(26, s.length));
  }
  if (day < 1 || day > daysInMonth(year, month)) throw new SipParseError('Date day is out of range', 5);
  if (hour > 23) throw new SipParseError('Date hour is out of range', 17);
  if (minute > 59) throw new SipParseError('Date minute is out of range', 20);
  // 60 is a leap second (RFC 7231 §7.1.1.1 time-of-day)
  if (second > 60) throw new SipParseError('Date second is out of range', 23);
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  if (d.getUTCDay() !== wkday) throw new SipParseError('Date weekday does not match the date', 0);
  d.setUTCHours(hour, minute, second, 0);
  return d;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * Writes `d` as an rfc1123-date in GMT (`Sat, 13 Nov 2010 23:29:00 GMT`); milliseconds are dropped.
 * Throws a `RangeError` for an invalid date or a year outside 0-9999, which the format cannot express.
 */
export function formatDate(d: Date): string {
  const t = d.getTime();
  const year = d.getUTCFullYear();
  if (Number.isNaN(t) || year < 0 || year > 9999)
    throw new RangeError('date cannot be written as an rfc1123-date');
  return (
    `${WEEKDAYS[d.getUTCDay()]}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ` +
    `${String(year).padStart(4, '0')} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} GMT`
  );
}
