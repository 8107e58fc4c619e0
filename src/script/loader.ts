/**
 * Loading a route script: the operator's TypeScript file (and what it imports) is bundled by esbuild
 * into one ES module in memory and imported — no build step for the operator. `olelo` imports inside
 * the script resolve to this running server's own modules.
 */
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin, stop as stopEsbuild } from 'esbuild';
import type { Routes } from './api.js';

/** A script that failed to load: compile errors or a wrong shape. */
export class ScriptError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'ScriptError';
  }
}

/** Where the `olelo` package's public entry points are, for scripts that import them. */
const OLELO_ENTRIES: Record<string, string> = {
  olelo: fileURLToPath(new URL('../index.js', import.meta.url)),
  'olelo/script': fileURLToPath(new URL('./api.js', import.meta.url)),
  'olelo/sip': fileURLToPath(new URL('../sip/index.js', import.meta.url)),
};

const oleloPlugin: Plugin = {
  name: 'olelo',
  setup(b) {
    b.onResolve({ filter: /^olelo(\/.*)?$/ }, (args) => {
      const path = OLELO_ENTRIES[args.path];
      if (path === undefined) return { errors: [{ text: `unknown olelo entry point '${args.path}'` }] };
      return { path: pathToFileURL(path).href, external: true };
    });
  },
};

/** The default route script shipped with olelo. */
export const BUNDLED_DEFAULT_SCRIPT = fileURLToPath(new URL('../../../scripts/default.ts', import.meta.url));

/**
 * The script to load: `file`, or the bundled default script when `file` is the default path
 * (`scripts/default.ts`) and does not exist where it was resolved (olelo run from another folder).
 */
export function resolveScriptPath(file: string): string {
  if (!existsSync(file) && file.replaceAll('\\', '/').endsWith('scripts/default.ts'))
    return BUNDLED_DEFAULT_SCRIPT;
  return file;
}

/** Loads compiling at the moment (several servers may share a process, as the tests do). */
let building = 0;

/** Compiles and imports a route script; throws {@link ScriptError} naming the file, line and problem. */
export async function loadScript(path: string): Promise<Routes> {
  const file = resolveScriptPath(path);
  if (!existsSync(file)) throw new ScriptError(`route script not found: ${file}`, file);
  let code: string;
  building++;
  try {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      logLevel: 'silent',
      external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
      plugins: [oleloPlugin],
    });
    code = result.outputFiles[0]!.text;
  } catch (e) {
    const errors = (
      e as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } }> }
    ).errors;
    const detail =
      errors
        ?.map((m) =>
          m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text,
        )
        .join('\n') ?? String(e);
    throw new ScriptError(`route script does not compile:\n${detail}`, file);
  } finally {
    // esbuild's service is a child process that would otherwise live as long as the server; the next
    // load (a script reload) starts it again. Stopped only when no other load is compiling.
    if (--building === 0) void stopEsbuild();
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as {
      default?: unknown;
    };
  } catch (e) {
    throw new ScriptError(`route script failed while loading: ${(e as Error).stack ?? String(e)}`, file);
  }
  const routes = mod.default as Partial<Routes> | undefined;
  if (routes === undefined || typeof routes !== 'object') {
    throw new ScriptError(
      'route script must `export default defineRoutes({ request(req, m) { ... } })`',
      file,
    );
  }
  if (typeof routes.request !== 'function')
    throw new ScriptError('route script has no request route (`request(req, m)`)', file);
  for (const name of ['reply', 'onsend'] as const) {
    if (routes[name] !== undefined && typeof routes[name] !== 'function') {
      throw new ScriptError(`route script: '${name}' must be a function`, file);
    }
  }
  return routes as Routes;
}
