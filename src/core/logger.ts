/**
 * Structured logging: readable text by default, one JSON object per line with `format: 'json'`.
 * Lines about a message carry its Call-ID, method and source (see {@link Logger.child}).
 */

/** Log levels, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
/** Output formats. */
export type LogFormat = 'text' | 'json';

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Where log lines go (stderr by default; tests capture them). */
export type LogSink = (line: string) => void;

/** Shared, changeable-at-runtime settings of every logger made from one root. */
class LogSettings {
  level: number;
  constructor(
    level: LogLevel,
    readonly format: LogFormat,
    readonly sink: LogSink,
  ) {
    this.level = LEVELS[level];
  }
}

/** A logger; `child(fields)` gives one that adds `fields` to every line. */
export class Logger {
  private constructor(
    private readonly settings: LogSettings,
    private readonly fields: LogFields | undefined,
  ) {}

  /** A root logger. */
  static create(options: { level?: LogLevel; format?: LogFormat; sink?: LogSink } = {}): Logger {
    const sink = options.sink ?? ((line: string) => process.stderr.write(`${line}\n`));
    return new Logger(new LogSettings(options.level ?? 'info', options.format ?? 'text', sink), undefined);
  }

  /** A logger adding `fields` to every line. */
  child(fields: LogFields): Logger {
    return new Logger(this.settings, this.fields === undefined ? fields : { ...this.fields, ...fields });
  }

  /** The current level. */
  get level(): LogLevel {
    return (Object.keys(LEVELS) as LogLevel[]).find((l) => LEVELS[l] === this.settings.level) ?? 'info';
  }

  /** Changes the level of this logger and every logger sharing its root (runtime `log.level`). */
  setLevel(level: LogLevel): void {
    this.settings.level = LEVELS[level];
  }

  /** True when lines at `level` are written (check before building expensive fields). */
  enabled(level: LogLevel): boolean {
    return LEVELS[level] <= this.settings.level;
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  private write(level: LogLevel, msg: string, extra: LogFields | undefined): void {
    if (LEVELS[level] > this.settings.level) return;
    const fields =
      this.fields === undefined ? extra : extra === undefined ? this.fields : { ...this.fields, ...extra };
    const time = new Date().toISOString();
    if (this.settings.format === 'json') {
      this.settings.sink(JSON.stringify({ time, level, msg, ...fields }, jsonReplacer));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
    if (fields !== undefined) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        line += ` ${k}=${formatText(v)}`;
      }
    }
    this.settings.sink(line);
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function formatText(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.stack ?? v.message);
  if (typeof v === 'string') return /^[\w.:@/[\]+-]+$/.test(v) ? v : JSON.stringify(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
