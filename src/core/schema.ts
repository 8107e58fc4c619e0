/**
 * A small schema language for configuration: one definition gives the runtime validation, the
 * TypeScript type of the validated value (`Infer<S>`), and the documentation (`describe`).
 *
 * Rules every schema follows:
 * - `undefined` and `null` mean "absent" (YAML's `key:` with nothing after it). An absent value takes
 *   the schema's `default` (written in input form and validated like user input), else `undefined`
 *   for `.optional()` schemas, else `{}` for objects (so their fields' defaults apply), else it is a
 *   "missing" issue.
 * - Validation collects every issue, never only the first.
 */

/** One step into a value: an object key or an array index. */
export type PathSegment = string | number;

/** Where a value sits inside the validated document. */
export type Path = PathSegment[];

/**
 * What went wrong with one value. `kind` says whether the value had the wrong type, a bad value of the
 * right type, was missing, or is an unknown field (the locator points at its key).
 */
export interface Issue {
  path: Path;
  /** What the schema wanted, as a phrase: `an integer from 1 to 65535`. */
  expected: string;
  /** What it found, as a phrase: `70000`, `"udpp:1.2.3.4"`, `a list`, `nothing`. */
  got: string;
  kind: 'type' | 'invalid' | 'missing' | 'unknown';
  /** The full sentence when "expected …, got …" does not fit (unknown fields, cross-field checks). */
  message?: string;
}

/** The outcome of {@link validate}. */
export type Result<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

/** The kinds of schema, as {@link describe} reports them. */
export type SchemaKind =
  | 'string'
  | 'path'
  | 'integer'
  | 'number'
  | 'boolean'
  | 'enum'
  | 'duration'
  | 'array'
  | 'record'
  | 'object'
  | 'union'
  | 'custom';

/** Options every schema takes. `default` is written in input form (`'10m'`, listener strings). */
export interface CommonOptions<In> {
  default?: In;
  /** One or two sentences for the reference documentation. */
  doc?: string;
  /** A value in input form shown in the documentation. */
  example?: In;
  /** Changeable while running (through the control interface); documentation only for now. */
  runtime?: boolean;
}

/** A cross-field rule of an object: returns problems with paths relative to the object. */
export type ObjectCheck<T> = (value: T) => Array<{ path: Path; message: string }>;

const INVALID: unique symbol = Symbol('invalid');
type Parsed<T> = T | typeof INVALID;
type Parser<T> = (value: unknown, path: Path, issues: Issue[]) => Parsed<T>;

/** Kind-specific facts kept for {@link describe} and for walking a schema (the env mapping). */
interface SchemaInfo {
  min?: number;
  max?: number;
  minLength?: number;
  minItems?: number;
  values?: readonly string[];
  fields?: Readonly<Record<string, AnySchema>>;
  item?: AnySchema;
  members?: readonly AnySchema[];
  unknownLabel?: string;
}

/**
 * A schema: `Out` is the validated value, `In` what may be written (typing `default` and `example`),
 * `Opt` whether an object field of this schema may be left out of the value.
 */
export class Schema<Out = unknown, In = unknown, Opt extends boolean = boolean> {
  declare readonly _out: Out;
  declare readonly _in: In;
  declare readonly _optional: Opt;

  constructor(
    readonly kind: SchemaKind,
    /** What a valid value is, as a phrase used in issues and documentation. */
    readonly expected: string,
    readonly options: CommonOptions<In>,
    readonly info: SchemaInfo,
    readonly isOptional: Opt,
    /** @internal Parses a present (not absent) value. */
    readonly parse: Parser<Out>,
  ) {}

  /** The same schema, but absent (without a default) validates to `undefined`. */
  optional(): Schema<Out, In, true> {
    return new Schema(this.kind, this.expected, this.options, this.info, true, this.parse);
  }

  /** The same schema with its valid values passed through `fn` (normalisation, not validation). */
  map<U>(fn: (value: Out) => U): Schema<U, In, Opt> {
    const inner = this.parse;
    return new Schema(
      this.kind,
      this.expected,
      this.options,
      this.info,
      this.isOptional,
      (value, path, issues) => {
        const parsed = inner(value, path, issues);
        return parsed === INVALID ? INVALID : fn(parsed);
      },
    );
  }
}

/** Any schema, for constraints. */
export type AnySchema = Schema<unknown, unknown, boolean>;

/** The validated value type of a schema. */
export type Infer<S> = S extends { readonly _out: infer O } ? O : never;

/** The input type of a schema (what a config file may hold). */
export type InferInput<S> = S extends { readonly _in: infer I } ? I : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Shape = Record<string, AnySchema>;
type OptionalKeys<F extends Shape> = {
  [K in keyof F]: F[K] extends { readonly _optional: true } ? K : never;
}[keyof F];
type ObjectOut<F extends Shape> = Simplify<
  { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }
>;
type ObjectIn<F extends Shape> = { [K in keyof F]?: InferInput<F[K]> };

// ---------------------------------------------------------------------------------------------------
// Running a schema

function isAbsent(value: unknown): boolean {
  return value === undefined || value === null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function run<T>(schema: Schema<T, unknown, boolean>, value: unknown, path: Path, issues: Issue[]): Parsed<T> {
  if (isAbsent(value)) {
    if (schema.options.default !== undefined) value = schema.options.default;
    else if (schema.isOptional) return undefined as T;
    else if (schema.kind === 'object') value = {};
    else {
      issues.push({ path, expected: schema.expected, got: 'nothing', kind: 'missing' });
      return INVALID;
    }
  }
  return schema.parse(value, path, issues);
}

/**
 * Validates `value` against `schema`, applying defaults. Returns the value typed by the schema, or every
 * issue found; `path` prefixes the issues' paths.
 */
export function validate<S extends AnySchema>(schema: S, value: unknown, path: Path = []): Result<Infer<S>> {
  const issues: Issue[] = [];
  const parsed = run(schema, value, path, issues);
  if (issues.length > 0 || parsed === INVALID) return { ok: false, issues };
  return { ok: true, value: parsed as Infer<S> };
}

/** A short phrase for a value found in a document. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  return String(value);
}

function typeIssue(issues: Issue[], path: Path, expected: string, value: unknown): typeof INVALID {
  issues.push({ path, expected, got: describeValue(value), kind: 'type' });
  return INVALID;
}

function invalidIssue(issues: Issue[], path: Path, expected: string, value: unknown): typeof INVALID {
  issues.push({ path, expected, got: describeValue(value), kind: 'invalid' });
  return INVALID;
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), case-insensitive. */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, beforePrevious[j - 2]! + 1);
      }
      current[j] = distance;
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/** The candidate closest to `name`, when it is close enough to be a likely typo. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------
// Builders

function rangePhrase(
  noun: string,
  min: number | string | undefined,
  max: number | string | undefined,
): string {
  if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
  if (min !== undefined) return `${noun} of at least ${min}`;
  if (max !== undefined) return `${noun} of at most ${max}`;
  return noun;
}

function numeric(kind: 'integer' | 'number', options: NumberOptions): Schema<number, number, false> {
  const { min, max } = options;
  const expected = rangePhrase(kind === 'integer' ? 'an integer' : 'a number', min, max);
  return new Schema(kind, expected, options, { min, max }, false, (value, path, issues) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return typeIssue(issues, path, expected, value);
    if (kind === 'integer' && !Number.isInteger(value)) return invalidIssue(issues, path, expected, value);
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      return invalidIssue(issues, path, expected, value);
    }
    return value;
  });
}

/** Options of `s.integer` and `s.number`; bounds are inclusive. */
export interface NumberOptions extends CommonOptions<number> {
  min?: number;
  max?: number;
}

/** Options of `s.duration`; bounds in milliseconds, `default` and `example` as a number or `'30s'`. */
export interface DurationOptions extends CommonOptions<number | string> {
  min?: number;
  max?: number;
}

/** Options of `s.string`. */
export interface StringOptions extends CommonOptions<string> {
  minLength?: number;
}

/** Options of `s.array`. */
export interface ArrayOptions<In> extends CommonOptions<In> {
  minItems?: number;
}

/** Options of `s.object`. */
export interface ObjectOptions<Out, In> extends CommonOptions<In> {
  /** Cross-field rules, run once every field is valid. */
  check?: ObjectCheck<Out>;
  /** What an unknown key is called in issues: `field` (default), `module`, ... */
  unknownLabel?: string;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_SYNTAX = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses `500ms`, `30s`, `2m`, `1.5h`, `1d` to milliseconds; `undefined` when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_SYNTAX.exec(text.trim());
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]!]!);
}

/** Formats milliseconds with the largest unit that divides them: `600000` → `10m`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The schema builders. */
export const s = {
  /** A string; `minLength` bounds it from below. */
  string(options: StringOptions = {}): Schema<string, string, false> {
    const minLength = options.minLength ?? 0;
    const expected = minLength > 0 ? 'a non-empty string' : 'a string';
    return new Schema('string', expected, options, { minLength }, false, (value, path, issues) => {
      if (typeof value !== 'string') return typeIssue(issues, path, expected, value);
      if (value.length < minLength) return invalidIssue(issues, path, expected, value);
      return value;
    });
  },

  /** A file or directory path (a non-empty string); the config loader resolves it to an absolute path. */
  path(options: CommonOptions<string> = {}): Schema<string, string, false> {
    const expected = 'a file path';
    return new Schema('path', expected, options, {}, false, (value, path, issues) => {
      if (typeof value !== 'string') return typeIssue(issues, path, expected, value);
      if (value.length === 0) return invalidIssue(issues, path, expected, value);
      return value;
    });
  },

  /** A whole number within the inclusive bounds. */
  integer(options: NumberOptions = {}): Schema<number, number, false> {
    return numeric('integer', options);
  },

  /** A finite number within the inclusive bounds. */
  number(options: NumberOptions = {}): Schema<number, number, false> {
    return numeric('number', options);
  },

  /** `true` or `false`. */
  boolean(options: CommonOptions<boolean> = {}): Schema<boolean, boolean, false> {
    const expected = 'true or false';
    return new Schema('boolean', expected, options, {}, false, (value, path, issues) =>
      typeof value === 'boolean' ? value : typeIssue(issues, path, expected, value),
    );
  },

  /** One of the listed strings; a near miss gets a "did you mean" hint. */
  enum<const V extends readonly string[]>(
    values: V,
    options: CommonOptions<V[number]> = {},
  ): Schema<V[number], V[number], false> {
    const expected = `one of ${values.map((v) => `'${v}'`).join(', ')}`;
    return new Schema('enum', expected, options, { values }, false, (value, path, issues) => {
      if (typeof value === 'string' && values.includes(value)) return value as V[number];
      if (typeof value !== 'string') return typeIssue(issues, path, expected, value);
      const hint = suggest(value, values);
      const got = describeValue(value);
      issues.push({
        path,
        expected,
        got,
        kind: 'invalid',
        ...(hint === undefined
          ? {}
          : { message: `expected ${expected}, got ${got}; did you mean '${hint}'?` }),
      });
      return INVALID;
    });
  },

  /**
   * A duration in milliseconds: a number (ms) or a string with a unit — `500ms`, `30s`, `2m`, `1h`, `1d`.
   * Bounds are in milliseconds.
   */
  duration(options: DurationOptions = {}): Schema<number, number | string, false> {
    const { min, max } = options;
    const fmt = (ms: number | undefined) => (ms === undefined ? undefined : formatDuration(ms));
    const expected = `${rangePhrase('a duration', fmt(min), fmt(max))} (like 500ms, 30s, 2m, 1h; a bare number is milliseconds)`;
    return new Schema('duration', expected, options, { min, max }, false, (value, path, issues) => {
      let ms: number | undefined;
      if (typeof value === 'number')
        ms = Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
      else if (typeof value === 'string') ms = parseDuration(value);
      else return typeIssue(issues, path, expected, value);
      if (ms === undefined || (min !== undefined && ms < min) || (max !== undefined && ms > max)) {
        return invalidIssue(issues, path, expected, value);
      }
      return ms;
    });
  },

  /** A list of `item`s. */
  array<I extends AnySchema>(
    item: I,
    options: ArrayOptions<readonly InferInput<I>[]> = {},
  ): Schema<Infer<I>[], readonly InferInput<I>[], false> {
    const minItems = options.minItems ?? 0;
    const size =
      minItems === 0 ? 'a list' : minItems === 1 ? 'a non-empty list' : `a list of at least ${minItems}`;
    const expected = `${size}, each ${item.expected}`;
    return new Schema('array', expected, options, { item, minItems }, false, (value, path, issues) => {
      if (!Array.isArray(value)) return typeIssue(issues, path, expected, value);
      if (value.length < minItems) return invalidIssue(issues, path, expected, value);
      const out: Infer<I>[] = [];
      let failed = false;
      for (let i = 0; i < value.length; i++) {
        const parsed = run(item, value[i], [...path, i], issues);
        if (parsed === INVALID) failed = true;
        else out.push(parsed as Infer<I>);
      }
      return failed ? INVALID : out;
    });
  },

  /** A map from any string key to `value`s. */
  record<V extends AnySchema>(
    value: V,
    options: CommonOptions<Record<string, InferInput<V>>> = {},
  ): Schema<Record<string, Infer<V>>, Record<string, InferInput<V>>, false> {
    const expected = `a map of names to ${value.expected}`;
    return new Schema('record', expected, options, { item: value }, false, (input, path, issues) => {
      if (!isPlainObject(input)) return typeIssue(issues, path, expected, input);
      const out: Record<string, Infer<V>> = {};
      let failed = false;
      for (const [key, entry] of Object.entries(input)) {
        const parsed = run(value, entry, [...path, key], issues);
        if (parsed === INVALID) failed = true;
        else out[key] = parsed as Infer<V>;
      }
      return failed ? INVALID : out;
    });
  },

  /** A map with the given fields; other keys are "unknown field" issues with a suggestion. */
  object<F extends Shape>(
    fields: F,
    options: ObjectOptions<ObjectOut<F>, ObjectIn<F>> = {},
  ): Schema<ObjectOut<F>, ObjectIn<F>, false> {
    const names = Object.keys(fields);
    const label = options.unknownLabel ?? 'field';
    const expected = names.length > 0 ? `a map with ${names.join(', ')}` : 'a map';
    const info = { fields, unknownLabel: label };
    return new Schema('object', expected, options, info, false, (input, path, issues) => {
      if (!isPlainObject(input)) return typeIssue(issues, path, expected, input);
      const before = issues.length;
      const out: Record<string, unknown> = {};
      for (const name of names) {
        const parsed = run(fields[name]!, input[name], [...path, name], issues);
        if (parsed !== INVALID && parsed !== undefined) out[name] = parsed;
      }
      for (const key of Object.keys(input)) {
        if (Object.hasOwn(fields, key)) continue;
        const hint = suggest(key, names);
        const known = `; known: ${names.length > 0 ? names.join(', ') : 'none'}`;
        issues.push({
          path: [...path, key],
          expected,
          got: `unknown ${label} '${key}'`,
          kind: 'unknown',
          message:
            hint === undefined ? `unknown ${label}${known}` : `unknown ${label}; did you mean '${hint}'?`,
        });
      }
      if (issues.length > before) return INVALID;
      const value = out as ObjectOut<F>;
      for (const problem of options.check?.(value) ?? []) {
        issues.push({
          path: [...path, ...problem.path],
          expected,
          got: '',
          kind: 'invalid',
          message: problem.message,
        });
      }
      return issues.length > before ? INVALID : value;
    });
  },

  /**
   * The first member that accepts the value. When none does, the issues of a member whose type matched
   * are reported (a listener string with a bad protocol), else one "expected A, or B" issue.
   */
  union<const M extends readonly AnySchema[]>(
    members: M,
    options: CommonOptions<InferInput<M[number]>> = {},
  ): Schema<Infer<M[number]>, InferInput<M[number]>, false> {
    const expected = members.map((m) => m.expected).join(', or ');
    return new Schema('union', expected, options, { members }, false, (value, path, issues) => {
      let candidate: Issue[] | undefined;
      for (const member of members) {
        const scratch: Issue[] = [];
        const parsed = run(member, value, path, scratch);
        if (scratch.length === 0 && parsed !== INVALID) return parsed as Infer<M[number]>;
        const wrongType =
          scratch.length === 1 && scratch[0]!.kind === 'type' && scratch[0]!.path.length === path.length;
        if (!wrongType && candidate === undefined) candidate = scratch;
      }
      if (candidate !== undefined) issues.push(...candidate);
      else typeIssue(issues, path, expected, value);
      return INVALID;
    });
  },

  /**
   * A value checked and converted by `parse`, which throws to reject it: a `TypeError` means the wrong
   * kind of value, any other error a bad value; a non-empty error message is shown as the reason.
   * `description` is the phrase for "expected …".
   */
  custom<T, In = unknown>(
    parse: (value: unknown) => T,
    description: string,
    options: CommonOptions<In> & {
      /** Shows a rejected value in the issue (e.g. a URL without its password); `describeValue` by default. */
      show?: (value: unknown) => string;
    } = {},
  ): Schema<T, In, false> {
    return new Schema('custom', description, options, {}, false, (value, path, issues) => {
      try {
        return parse(value);
      } catch (error) {
        const reason = error instanceof Error ? error.message : '';
        const got = (options.show ?? describeValue)(value);
        issues.push({
          path,
          expected: description,
          got,
          kind: error instanceof TypeError ? 'type' : 'invalid',
          ...(reason === '' ? {} : { message: `expected ${description}, got ${got} (${reason})` }),
        });
        return INVALID;
      }
    });
  },
};

// ---------------------------------------------------------------------------------------------------
// Describing

/** A walkable description of a schema, for generated documentation. */
export interface SchemaDescription {
  kind: SchemaKind;
  /** What a valid value is, as a phrase. */
  expected: string;
  doc?: string;
  default?: unknown;
  example?: unknown;
  runtime: boolean;
  optional: boolean;
  /** Required: no default, not optional, not an object (objects fill from their fields' defaults). */
  required: boolean;
  min?: number;
  max?: number;
  minItems?: number;
  values?: readonly string[];
  fields?: Record<string, SchemaDescription>;
  /** The item schema of an array, the value schema of a record. */
  item?: SchemaDescription;
  members?: SchemaDescription[];
}

/** Describes a schema and, recursively, the schemas inside it. */
export function describe(schema: AnySchema): SchemaDescription {
  const { options, info } = schema;
  const out: SchemaDescription = {
    kind: schema.kind,
    expected: schema.expected,
    runtime: options.runtime === true,
    optional: schema.isOptional,
    required: options.default === undefined && !schema.isOptional && schema.kind !== 'object',
  };
  if (options.doc !== undefined) out.doc = options.doc;
  if (options.default !== undefined) out.default = options.default;
  if (options.example !== undefined) out.example = options.example;
  if (info.min !== undefined) out.min = info.min;
  if (info.max !== undefined) out.max = info.max;
  if (info.minItems !== undefined && info.minItems > 0) out.minItems = info.minItems;
  if (info.values !== undefined) out.values = info.values;
  if (info.fields !== undefined) {
    out.fields = {};
    for (const [name, field] of Object.entries(info.fields)) out.fields[name] = describe(field);
  }
  if (info.item !== undefined) out.item = describe(info.item);
  if (info.members !== undefined) out.members = info.members.map(describe);
  return out;
}

/** Formats a path the way a reader writes it: `listen[1]`, `limits.maxConnections`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** The sentence for an issue, without its location: `expected an integer from 1 to 10, got 11`. */
export function formatIssue(issue: Issue): string {
  return issue.message ?? `expected ${issue.expected}, got ${issue.got}`;
}
