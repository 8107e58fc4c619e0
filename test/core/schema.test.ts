import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  describe as describeSchema,
  formatDuration,
  formatIssue,
  formatPath,
  type Infer,
  type Issue,
  parseDuration,
  type Result,
  s,
  suggest,
  validate,
} from '../../src/core/schema.js';

function issues<T>(result: Result<T>): Issue[] {
  assert.equal(result.ok, false, 'expected validation to fail');
  return (result as { issues: Issue[] }).issues;
}

function value<T>(result: Result<T>): T {
  if (!result.ok) assert.fail(`unexpected issues: ${result.issues.map(formatIssue).join('; ')}`);
  return result.value;
}

const server = s.object({
  name: s.string({ minLength: 1 }),
  port: s.integer({ min: 1, max: 65535, default: 5060 }),
  weight: s.number({ min: 0, max: 1 }).optional(),
  enabled: s.boolean({ default: true }),
  mode: s.enum(['proxy', 'registrar'], { default: 'proxy' }),
  timeout: s.duration({ default: '30s' }),
  tags: s.array(s.string(), { default: [] }),
  log: s.object({ level: s.enum(['info', 'debug'], { default: 'info' }) }),
});

describe('schema types', () => {
  test('infers defaulted fields as present and optional fields as optional', () => {
    type Server = Infer<typeof server>;
    const typed: Server = value(validate(server, { name: 'edge' }));
    // compile-time: these assignments only type-check when the inferred type is right
    const port: number = typed.port;
    const weight: number | undefined = typed.weight;
    const level: 'info' | 'debug' = typed.log.level;
    assert.deepEqual([port, weight, level], [5060, undefined, 'info']);
  });
});

describe('validate', () => {
  test('applies defaults, including those of nested objects left out', () => {
    assert.deepEqual(value(validate(server, { name: 'edge' })), {
      name: 'edge',
      port: 5060,
      enabled: true,
      mode: 'proxy',
      timeout: 30_000,
      tags: [],
      log: { level: 'info' },
    });
  });

  test('treats null as absent, so an empty YAML value takes the default', () => {
    assert.equal(value(validate(server, { name: 'edge', port: null })).port, 5060);
  });

  test('collects every issue, not just the first', () => {
    const found = issues(
      validate(server, { port: 0, enabled: 'yes', mode: 'relay', tags: ['a', 2], log: { level: 1 } }),
    );
    assert.deepEqual(
      found.map((i) => formatPath(i.path)),
      ['name', 'port', 'enabled', 'mode', 'tags[1]', 'log.level'],
    );
  });

  test('reports a missing required field as expected-but-got-nothing', () => {
    const [issue] = issues(validate(server, {}));
    assert.deepEqual(issue, {
      path: ['name'],
      expected: 'a non-empty string',
      got: 'nothing',
      kind: 'missing',
    });
  });

  test('reports integers out of range with the range', () => {
    const [issue] = issues(validate(server, { name: 'a', port: 70000 }));
    assert.equal(formatIssue(issue!), 'expected an integer from 1 to 65535, got 70000');
  });

  test('rejects a fractional number where an integer is expected', () => {
    assert.equal(issues(validate(s.integer(), 1.5))[0]!.kind, 'invalid');
  });

  test('suggests the closest enum value for a near miss', () => {
    const [issue] = issues(validate(server, { name: 'a', mode: 'registrr' }));
    assert.equal(
      formatIssue(issue!),
      `expected one of 'proxy', 'registrar', got "registrr"; did you mean 'registrar'?`,
    );
  });

  test('flags unknown fields and suggests the field meant', () => {
    const [issue] = issues(validate(server, { name: 'a', prot: 5 }));
    assert.equal(issue!.kind, 'unknown');
    assert.deepEqual(issue!.path, ['prot']);
    assert.equal(formatIssue(issue!), "unknown field; did you mean 'port'?");
  });

  test('lists the known fields when an unknown one resembles none', () => {
    const [issue] = issues(validate(s.object({ alpha: s.string().optional() }), { zzzzzz: 1 }));
    assert.equal(formatIssue(issue!), 'unknown field; known: alpha');
  });

  test('names unknown keys with the object’s label', () => {
    const modules = s.object({ tm: s.object({}) }, { unknownLabel: 'module' });
    assert.equal(
      formatIssue(issues(validate(modules, { tn: {} }))[0]!),
      "unknown module; did you mean 'tm'?",
    );
  });

  test('prefixes issue paths with the given path', () => {
    assert.deepEqual(issues(validate(s.string(), 1, ['modules', 'tm']))[0]!.path, ['modules', 'tm']);
  });

  test('checks the minimum number of items in a list', () => {
    const list = s.array(s.integer(), { minItems: 1 });
    assert.equal(
      formatIssue(issues(validate(list, []))[0]!),
      'expected a non-empty list, each an integer, got a list',
    );
  });

  test('validates each value of a record under its key', () => {
    const weights = s.record(s.integer({ min: 0 }));
    assert.deepEqual(value(validate(weights, { a: 1, b: 2 })), { a: 1, b: 2 });
    assert.deepEqual(issues(validate(weights, { a: -1 }))[0]!.path, ['a']);
  });

  test('runs an object’s cross-field check once its fields are valid', () => {
    const range = s.object(
      { low: s.integer(), high: s.integer() },
      { check: (r) => (r.low > r.high ? [{ path: ['low'], message: 'must not exceed high' }] : []) },
    );
    assert.equal(value(validate(range, { low: 1, high: 2 })).high, 2);
    const [issue] = issues(validate(range, { low: 3, high: 2 }));
    assert.deepEqual(issue!.path, ['low']);
    assert.equal(formatIssue(issue!), 'must not exceed high');
    assert.equal(
      issues(validate(range, { low: 'x', high: 2 })).length,
      1,
      'the check does not run on invalid fields',
    );
  });

  test('normalizes valid values with map', () => {
    assert.equal(
      value(
        validate(
          s.string().map((v) => v.toUpperCase()),
          'abc',
        ),
      ),
      'ABC',
    );
  });
});

describe('custom and union schemas', () => {
  const hostPort = s.custom((v) => {
    if (typeof v !== 'string') throw new TypeError();
    const [host, port] = v.split(':');
    if (port === undefined) throw new Error('missing port');
    return { host: host!, port: Number(port) };
  }, 'host:port');
  const either = s.union([hostPort, s.object({ host: s.string(), port: s.integer() })]);

  test('converts values with the parse function', () => {
    assert.deepEqual(value(validate(hostPort, 'a:1')), { host: 'a', port: 1 });
  });

  test('shows the reason a custom parser gives', () => {
    assert.equal(
      formatIssue(issues(validate(hostPort, 'a'))[0]!),
      'expected host:port, got "a" (missing port)',
    );
  });

  test('takes the first union member that accepts the value', () => {
    assert.deepEqual(value(validate(either, 'a:1')), { host: 'a', port: 1 });
    assert.deepEqual(value(validate(either, { host: 'a', port: 1 })), { host: 'a', port: 1 });
  });

  test('reports the issues of the union member whose type matched', () => {
    const [issue] = issues(validate(either, { host: 'a', port: 'x' }));
    assert.deepEqual(issue!.path, ['port']);
    assert.equal(
      formatIssue(issues(validate(either, 'a'))[0]!),
      'expected host:port, got "a" (missing port)',
    );
  });

  test('lists every union member when no type matches', () => {
    assert.equal(
      formatIssue(issues(validate(either, 5))[0]!),
      'expected host:port, or a map with host, port, got 5',
    );
  });
});

describe('durations', () => {
  test('parses numbers as milliseconds and strings with a unit', () => {
    const d = s.duration();
    assert.equal(value(validate(d, 250)), 250);
    assert.equal(value(validate(d, '500ms')), 500);
    assert.equal(value(validate(d, '30s')), 30_000);
    assert.equal(value(validate(d, '2m')), 120_000);
    assert.equal(value(validate(d, '1h')), 3_600_000);
    assert.equal(value(validate(d, '1.5s')), 1500);
    assert.equal(value(validate(d, '1d')), 86_400_000);
  });

  test('rejects durations without a known unit, negative ones, and other types', () => {
    const d = s.duration();
    for (const bad of ['30', '5x', '-1s', 's', -5, true])
      assert.equal(validate(d, bad).ok, false, String(bad));
  });

  test('enforces bounds and states them in the largest whole unit', () => {
    const [issue] = issues(validate(s.duration({ min: 1000, max: 600_000 }), '500ms'));
    assert.match(formatIssue(issue!), /^expected a duration from 1s to 10m .*, got "500ms"$/);
  });

  test('formats and parses back', () => {
    assert.equal(formatDuration(600_000), '10m');
    assert.equal(formatDuration(1500), '1500ms');
    assert.equal(parseDuration(' 10s '), 10_000);
    assert.equal(parseDuration('ten seconds'), undefined);
  });
});

describe('describe', () => {
  test('walks fields with their docs, defaults and runtime flag', () => {
    const level = s.enum(['info', 'debug'], { default: 'info', doc: 'How much to log.', runtime: true });
    const d = describeSchema(s.object({ log: s.object({ level }), name: s.string({ example: 'edge' }) }));
    assert.equal(d.kind, 'object');
    const levelDescription = d.fields!.log!.fields!.level!;
    assert.equal(levelDescription.doc, 'How much to log.');
    assert.equal(levelDescription.default, 'info');
    assert.equal(levelDescription.runtime, true);
    assert.deepEqual(levelDescription.values, ['info', 'debug']);
    assert.equal(d.fields!.name!.required, true);
    assert.equal(d.fields!.name!.example, 'edge');
  });

  test('describes list items and union members', () => {
    const d = describeSchema(s.array(s.union([s.string(), s.integer()])));
    assert.deepEqual(
      d.item!.members!.map((m) => m.kind),
      ['string', 'integer'],
    );
  });
});

describe('formatPath', () => {
  test('writes keys with dots and indexes in brackets', () => {
    assert.equal(formatPath(['listen', 1, 'port']), 'listen[1].port');
    assert.equal(formatPath(['modules', 'my.mod']), 'modules["my.mod"]');
    assert.equal(formatPath([]), '');
  });
});

describe('suggest', () => {
  test('suggests near misses, swapped letters included, but not unrelated short names', () => {
    assert.equal(suggest('lisen', ['listen', 'log']), 'listen');
    assert.equal(suggest('debgu', ['info', 'debug']), 'debug');
    assert.equal(suggest('zz', ['tm', 'rr']), undefined);
    assert.equal(suggest('completely', ['listen', 'log']), undefined);
  });
});
