/**
 * Generates docs/configuration.md from the config schema, so the reference cannot drift from the code:
 * `npm run docs:config` rewrites it, and a test fails when the committed file differs.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { coreSchema, envVariableName } from './config.js';
import { describe, type SchemaDescription } from './schema.js';

/** The example configuration shown in the reference (a test loads it, so it stays valid). */
export const EXAMPLE_CONFIG = `# olelo.yaml
listen:
  - udp:10.0.0.5:5060 advertise 203.0.113.7
  - tcp:10.0.0.5:5060 advertise 203.0.113.7
  - tls:10.0.0.5:5061 advertise 203.0.113.7
  - wss:0.0.0.0:8443

domains: [example.com, sip.example.com]

tls:
  certificate: /etc/olelo/tls/fullchain.pem
  key: /etc/olelo/tls/privkey.pem

limits:
  maxConnectionsPerIp: 50
  connectionIdleTimeout: 5m

log:
  level: info
  format: json

script: routes.ts
dataDir: /var/lib/olelo
`;

const INTRO = `# Configuration reference

<!-- Generated from src/core/config.ts by \`npm run docs:config\`; edit the schema, not this file. -->

olelo reads one YAML file, given with \`olelo --config FILE\` or the \`OLELO_CONFIG\` variable. Every
setting has a default, so the file holds only what differs, and olelo runs with no file at all. An
empty value (\`key:\`) also means "use the default".

\`\`\`yaml
${EXAMPLE_CONFIG}\`\`\`

Relative paths in the file (\`script\`, \`dataDir\`, \`tls.*\`), and the default paths, are taken from the
file's folder; relative paths in environment variables, from the working directory.

Durations are a number of milliseconds or a number with a unit: \`500ms\`, \`30s\`, \`2m\`, \`1h\`, \`1d\`.

## Environment variables

Every setting can be overridden by an environment variable, which wins over the file (for containers):
\`OLELO_\` followed by the setting's path, with \`__\` between levels and \`_\` between the words of a
camel-case name.

| Setting                 | Variable                            |
| ----------------------- | ----------------------------------- |
| \`log.level\`             | \`OLELO_LOG__LEVEL=debug\`            |
| \`limits.maxConnections\` | \`OLELO_LIMITS__MAX_CONNECTIONS=500\` |
| \`dataDir\`               | \`OLELO_DATA_DIR=/var/lib/olelo\`     |
| \`modules.tm.fr_timer\`   | \`OLELO_MODULES__TM__FR_TIMER=30s\`   |

Lists are comma-separated (\`OLELO_LISTEN=udp:0.0.0.0:5060,tcp:0.0.0.0:5060\`) or JSON
(\`OLELO_DOMAINS=["a.example","b.example"]\`); a whole section can be given as JSON
(\`OLELO_LOG={"level":"debug"}\`). Numbers and booleans (\`true\`/\`false\`, \`yes\`/\`no\`, \`on\`/\`off\`, \`1\`/\`0\`)
are converted to the setting's type. An empty variable unsets the setting, so its default applies. An
\`OLELO_\` variable that names no setting is an error (typo protection); only \`OLELO_CONFIG\` (the config
file) is exempt.

## Errors

olelo checks the whole configuration before starting and lists every problem, each with its file, line
and column (or its variable), then exits:

\`\`\`text
olelo.yaml:3:5: listen[1]: expected 'proto:address:port' with proto udp|tcp|tls|ws|wss, got "udpp:10.0.0.5"
olelo.yaml:9:1: lissen: unknown field; did you mean 'listen'?
OLELO_LOG__LEVEL: log.level: expected one of 'error', 'warn', 'info', 'debug', got "verbose"
\`\`\`

\`olelo --check\` validates the configuration and the route script without starting.

## Settings
`;

function inline(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${text}\``;
}

/** Nests `value` under `path` and renders it as YAML, for examples. */
function yamlAt(path: readonly string[], value: unknown): string {
  let nested = value;
  for (let i = path.length - 1; i >= 0; i--) nested = { [path[i]!]: nested };
  return stringify(nested, { lineWidth: 0 });
}

function section(path: string[], description: SchemaDescription, lines: string[]): void {
  const depth = Math.min(path.length + 2, 4);
  lines.push(`${'#'.repeat(depth)} \`${path.join('.')}\``, '');
  if (description.doc !== undefined) lines.push(description.doc, '');
  if (description.kind === 'object' && path.length < 3 && description.fields !== undefined) {
    lines.push(`Environment: \`${envVariableName(path)}\` (JSON) or the variables of its fields.`, '');
    for (const [name, field] of Object.entries(description.fields)) section([...path, name], field, lines);
    return;
  }
  lines.push(`- Type: ${description.expected}`);
  const fallback = description.default;
  const blockDefault = Array.isArray(fallback) && fallback.length > 0;
  if (blockDefault) lines.push('- Default: see below');
  else if (fallback !== undefined) lines.push(`- Default: ${inline(fallback)}`);
  else if (description.required) lines.push('- Required');
  else lines.push('- Default: unset');
  const variable = envVariableName(path);
  if (description.kind === 'record')
    lines.push(`- Environment: \`${variable}\` (JSON) or \`${variable}__<NAME>__<FIELD>\``);
  else lines.push(`- Environment: \`${variable}\``);
  if (description.runtime) lines.push('- Changeable at runtime');
  lines.push('');
  if (blockDefault) lines.push('Default:', '', '```yaml', yamlAt(path, fallback).trimEnd(), '```', '');
  if (description.example !== undefined) {
    lines.push('Example:', '', '```yaml', yamlAt(path, description.example).trimEnd(), '```', '');
  }
}

/** The Markdown configuration reference: a hand-written introduction, then every setting. */
export function configReference(): string {
  const lines: string[] = [INTRO];
  for (const [name, field] of Object.entries(describe(coreSchema).fields ?? {}))
    section([name], field, lines);
  return `${lines.join('\n').trimEnd()}\n`;
}

// `node dist/src/core/config-doc.js > docs/configuration.md`
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) process.stdout.write(configReference());
