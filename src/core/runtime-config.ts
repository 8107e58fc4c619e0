/**
 * Settings changeable while the server runs (`cfg.get` / `cfg.set`, Kamailio's cfg framework): the
 * schema fields declared `runtime: true`, each with a reader and an applier. A new value is validated by
 * the field's own schema before it is applied, so a bad value is refused with the same message a config
 * file would get, and nothing changes.
 */
import { RpcError } from '../rpc/types.js';
import { type AnySchema, formatIssue, validate } from './schema.js';

/** One changeable setting. */
export interface RuntimeSetting {
  /** `log`, `tm`, `registrar`... (a config section or a module). */
  readonly group: string;
  /** The field name as in the config file (`frInvTimer`). */
  readonly name: string;
  readonly schema: AnySchema;
  get(): unknown;
  /** Applies a validated value. */
  apply(value: unknown): void;
}

/** Names compared without case, `_` or `-`: Kamailio's `fr_inv_timer` finds `frInvTimer`. */
function normalize(name: string): string {
  return name.replace(/[_-]/g, '').toLowerCase();
}

/** The runtime-changeable settings of one server. */
export class RuntimeConfig {
  private readonly settings = new Map<string, RuntimeSetting>();

  add(setting: RuntimeSetting): void {
    this.settings.set(`${normalize(setting.group)}.${normalize(setting.name)}`, setting);
  }

  /**
   * Adds every `runtime: true` field of an object schema, reading values from `values` (kept current)
   * and applying through `apply`.
   */
  addFields(
    group: string,
    schema: AnySchema,
    values: Record<string, unknown>,
    apply: (name: string, value: unknown) => void,
  ): void {
    for (const [name, field] of Object.entries(schema.info.fields ?? {})) {
      if (field.options.runtime !== true) continue;
      this.add({
        group,
        name,
        schema: field,
        get: () => values[name],
        apply: (value) => {
          apply(name, value);
          values[name] = value;
        },
      });
    }
  }

  /** Every setting, sorted by group and name. */
  list(): RuntimeSetting[] {
    return [...this.settings.values()].sort((a, b) =>
      a.group === b.group ? a.name.localeCompare(b.name) : a.group.localeCompare(b.group),
    );
  }

  /** The setting, or an RpcError 404 naming what exists. */
  find(group: string, name: string): RuntimeSetting {
    const s = this.settings.get(`${normalize(group)}.${normalize(name)}`);
    if (s === undefined) {
      const inGroup = this.list().filter((x) => normalize(x.group) === normalize(group));
      throw new RpcError(
        404,
        inGroup.length === 0
          ? `no runtime setting in group ${group} (groups: ${[...new Set(this.list().map((x) => x.group))].join(', ')})`
          : `no runtime setting ${group}.${name} (${group} has ${inGroup.map((x) => x.name).join(', ')})`,
      );
    }
    return s;
  }

  get(group: string, name: string): unknown {
    return this.find(group, name).get();
  }

  /**
   * Validates and applies a value. A string that reads as a number is taken as one (command lines
   * send strings; `cfg.set tm fr_inv_timer 5000` is 5000 ms). Returns the value now in force.
   */
  set(group: string, name: string, raw: unknown): unknown {
    const setting = this.find(group, name);
    const candidates =
      typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))
        ? [Number(raw), raw]
        : [raw];
    let firstIssue = '';
    for (const candidate of candidates) {
      const result = validate(setting.schema, candidate, [setting.group, setting.name]);
      if (result.ok) {
        setting.apply(result.value);
        return setting.get();
      }
      firstIssue ||= result.issues.map(formatIssue).join('; ');
    }
    throw new RpcError(400, `${setting.group}.${setting.name}: ${firstIssue}`);
  }
}
