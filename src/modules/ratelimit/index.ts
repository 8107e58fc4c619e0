/**
 * ratelimit: named rate-limit pipes checked from the script (Kamailio's pipelimit `pl_check` and
 * ratelimit `rl_check`), refusals answered 503 with Retry-After (`pl_drop`), pipes changed at runtime
 * through the control API (`pl.*`).
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { ALGORITHMS, type Algorithm, type PipeSpec, PipeTable } from './pipes.js';
import { ratelimitRpc } from './rpc.js';

export type { Algorithm, PipeSpec } from './pipes.js';

/** A pipe as `m.ratelimit.pipe(name)` shows it. */
export interface PipeInfo {
  name: string;
  algorithm: Algorithm;
  /** Requests per slot (`interval`). */
  limit: number;
  /** Requests checked in the current and in the previous slot. */
  counter: number;
  lastCounter: number;
  /** Requests passed and refused since the pipe was created (or reset). */
  passed: number;
  dropped: number;
}

/** The `ratelimit` script API. */
export interface RatelimitApi {
  /**
   * Counts the request in pipe `name` and returns true when it may pass. With `create`, a missing pipe is
   * created with that algorithm and limit (and an existing one takes the limit when above 0): a pipe per
   * user or per source, removed after `cleanUnused` slots without traffic. A missing pipe without
   * `create` answers false (Kamailio's pl_check answers -2).
   */
  check(name: string, create?: PipeSpec): boolean;
  /** Whether pipe `name` exists (Kamailio's `pl_active`). */
  active(name: string): boolean;
  /**
   * Refuses the request statelessly with `replyCode` / `replyReason` (503 Service Unavailable) and a
   * `Retry-After` of `retryAfter` seconds (the module parameter when left out; none when 0): `pl_drop`.
   */
  reply503(req: RequestContext, retryAfter?: number): void;
  /** Creates a pipe or changes its algorithm and limit (kept until removed). */
  setPipe(name: string, algorithm: Algorithm, limit: number): void;
  /** Removes a pipe; false when there was none. */
  removePipe(name: string): boolean;
  /** A pipe's settings and counters, or undefined. */
  pipe(name: string): PipeInfo | undefined;
}

const pipeSchema = s.object(
  {
    limit: s.integer({ min: 0, doc: 'Requests allowed per `interval` (slot).' }),
    algorithm: s.enum(ALGORITHMS, {
      default: 'TAILDROP',
      doc: 'TAILDROP: the first `limit` requests of a slot pass, the rest are refused. RED: the first half pass, then a request is refused with a probability growing to 1 at the limit. NOP: everything passes (counted only).',
    }),
  },
  { doc: 'A pipe.' },
);

export const ratelimitModule = defineModule({
  name: 'ratelimit',
  doc: 'Named rate-limit pipes (TAILDROP, RED) checked from the script; 503 with Retry-After over the limit.',
  params: s.object({
    interval: s.duration({
      min: 100,
      max: 60_000,
      default: '1s',
      doc: 'Length of a slot (Kamailio’s `timer_interval`); limits count requests per slot, slots are aligned on the clock.',
    }),
    pipes: s.record(pipeSchema, {
      // the default script's REGISTER budget (features.registerRateLimit): far above any burst a
      // registrar of one process answers, so only a flood meets it
      default: { register: { limit: 20_000, algorithm: 'TAILDROP' } },
      doc: 'Pipes created at start, by name. The default script checks REGISTERs against `register` when it exists (features.registerRateLimit); giving `pipes` replaces the default, so keep a `register` pipe to keep that limit.',
      example: { register: { limit: 200, algorithm: 'TAILDROP' } },
    }),
    replyCode: s.integer({
      min: 400,
      max: 699,
      default: 503,
      runtime: true,
      doc: 'Status of `reply503`.',
    }),
    replyReason: s.string({
      minLength: 1,
      default: 'Service Unavailable',
      runtime: true,
      doc: 'Reason phrase of `reply503`.',
    }),
    retryAfter: s.integer({
      min: 0,
      max: 86_400,
      default: 5,
      runtime: true,
      doc: 'Seconds in the Retry-After of `reply503` when the script gives none; 0: no Retry-After.',
    }),
    cleanUnused: s.integer({
      min: 1,
      // with interval ≤ 60 s, the sweep (interval × cleanUnused) stays under Node's timer limit (2^31 - 1 ms)
      max: 10_000,
      default: 60,
      doc: 'Pipes the script created (`check(name, { limit })`) are removed after this many slots without a check.',
    }),
    maxDynamicPipes: s.integer({
      min: 1,
      default: 65536,
      doc:
        'Most pipes the script created (`check(name, { limit })`) held at once. Their names often come from ' +
        'the request (a source address, a user), so a flood from many addresses would grow memory without ' +
        'bound: beyond it, a new one evicts the one least recently used (configured pipes are never evicted).',
    }),
  }),
  create(core, params) {
    const interval = (params.interval as number | undefined) ?? 1000;
    const maxDynamicPipes = (params.maxDynamicPipes as number | undefined) ?? 65_536;
    const pipes = new PipeTable(interval, Date.now, Math.random, maxDynamicPipes);
    const configured = (params.pipes ?? {}) as Record<string, { limit: number; algorithm: Algorithm }>;
    for (const [name, p] of Object.entries(configured)) pipes.set(name, p.algorithm, p.limit, false);
    let replyCode = (params.replyCode as number | undefined) ?? 503;
    let replyReason = (params.replyReason as string | undefined) ?? 'Service Unavailable';
    let retryAfter = (params.retryAfter as number | undefined) ?? 5;
    const cleanUnused = (params.cleanUnused as number | undefined) ?? 60;
    const passed = core.stats.counter('ratelimit', 'passed', 'Requests a pipe let pass.');
    const dropped = core.stats.counter('ratelimit', 'dropped', 'Requests a pipe refused.');
    core.stats.gauge('ratelimit', 'pipes', 'Pipes in the table.', () => pipes.size);
    core.stats.counter(
      'ratelimit',
      'evicted_pipes',
      'Script-created pipes evicted to stay within maxDynamicPipes.',
      () => pipes.evicted,
    );
    let sweep: NodeJS.Timeout | undefined;

    const api: RatelimitApi = {
      check(name, create) {
        const pass = pipes.check(name, create);
        if (pass === true) passed.value++;
        else dropped.value++;
        return pass === true;
      },
      active: (name) => pipes.get(name) !== undefined,
      reply503(req, seconds = retryAfter) {
        core.reply(req, replyCode, replyReason, seconds > 0 ? [['Retry-After', String(seconds)]] : undefined);
      },
      setPipe(name, algorithm, limit) {
        pipes.set(name, algorithm, limit, false);
      },
      removePipe: (name) => pipes.remove(name),
      pipe(name) {
        const p = pipes.get(name);
        if (p === undefined) return undefined;
        const { algorithm, limit, counter, lastCounter, passed, dropped } = p;
        return { name, algorithm, limit, counter, lastCounter, passed, dropped };
      },
    };
    return {
      api,
      rpc: ratelimitRpc(pipes),
      setParam(name, value) {
        if (name === 'replyCode') replyCode = value as number;
        else if (name === 'replyReason') replyReason = value as string;
        else if (name === 'retryAfter') retryAfter = value as number;
        else throw new Error(`ratelimit: ${name} cannot be changed at runtime`);
      },
      start() {
        // script-created pipes (one per user or source) would otherwise grow without bound
        sweep = setInterval(() => pipes.removeUnused(cleanUnused), interval * cleanUnused);
        sweep.unref();
      },
      stop() {
        if (sweep !== undefined) clearInterval(sweep);
      },
    };
  },
});
