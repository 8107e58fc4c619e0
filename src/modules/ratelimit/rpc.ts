/**
 * The control commands of ratelimit, named and shaped like Kamailio pipelimit's (`pl.list`, `pl.stats`,
 * `pl.get_pipes`, `pl.set_pipe`, `pl.reset_pipe`, `pl.rm_pipe`). `pl.stats` and `pl.get_pipes` answer
 * Kamailio's text lines (`PIPE: id=register load=12 counter=24`); `pl.list` answers structures, with
 * olelo's `passed` and `dropped` totals added.
 */
import { describeMethods, RpcError, type RpcMethods } from '../../rpc/types.js';
import { isAlgorithm, type Pipe, type PipeTable } from './pipes.js';

/** One pipe in `pl.list`. */
export interface RpcPipe {
  name: string;
  algorithm: string;
  limit: number;
  counter: number;
  last_counter: number;
  passed: number;
  dropped: number;
}

function rpcPipe(p: Pipe): RpcPipe {
  return {
    name: p.name,
    algorithm: p.algorithm,
    limit: p.limit,
    counter: p.counter,
    last_counter: p.lastCounter,
    passed: p.passed,
    dropped: p.dropped,
  };
}

function existing(pipes: PipeTable, name: string): Pipe {
  const pipe = pipes.get(name);
  if (pipe === undefined) throw new RpcError(400, `Unknown pipe id ${name}`);
  return pipe;
}

/** The `pl.*` functions over a pipe table. */
export function ratelimitFunctions(pipes: PipeTable) {
  return {
    'pl.list'(name?: string): RpcPipe[] {
      if (name !== undefined && name !== '') return [rpcPipe(existing(pipes, name))];
      return [...pipes.list()].map(rpcPipe);
    },
    'pl.stats'(): string[] {
      return [...pipes.list()]
        .filter((p) => p.algorithm !== 'NOP')
        .map((p) => `PIPE: id=${p.name} load=${p.load} counter=${p.lastCounter}`);
    },
    'pl.get_pipes'(): string[] {
      return [...pipes.list()]
        .filter((p) => p.algorithm !== 'NOP')
        .map((p) => `PIPE: id=${p.name} algorithm=${p.algorithm} limit=${p.limit} counter=${p.counter}`);
    },
    'pl.set_pipe'(name: string, algorithm: string, limit: number): RpcPipe {
      if (name === '') throw new RpcError(400, 'pipe id missing');
      const algo = algorithm.toUpperCase();
      if (!isAlgorithm(algo)) throw new RpcError(400, `Unknown algorithm ${algorithm}`);
      if (!Number.isInteger(limit) || limit < 0) throw new RpcError(400, `bad limit ${limit}`);
      const pipe = pipes.get(name);
      return rpcPipe(pipes.set(name, algo, limit, pipe?.dynamic ?? false));
    },
    'pl.reset_pipe'(name: string): RpcPipe {
      const pipe = existing(pipes, name);
      pipes.reset(pipe);
      return rpcPipe(pipe);
    },
    'pl.rm_pipe'(name: string): void {
      existing(pipes, name);
      pipes.remove(name);
    },
  };
}

/** The `pl.*` control methods. */
export function ratelimitRpc(pipes: PipeTable): RpcMethods {
  const name = { name: 'name', type: 'string', doc: 'pipe id' } as const;
  return describeMethods(ratelimitFunctions(pipes), {
    'pl.list': {
      doc: 'Every pipe (or the one named): name, algorithm, limit, counter (this slot), last_counter (previous slot), passed and dropped totals.',
      params: [{ ...name, optional: true }],
    },
    'pl.stats': {
      doc: 'One line per pipe: `PIPE: id=NAME load=PERCENT counter=N`, the load being the previous slot’s requests in percent of the limit.',
    },
    'pl.get_pipes': {
      doc: 'One line per pipe: `PIPE: id=NAME algorithm=ALGO limit=N counter=N` (counter: requests of this slot).',
    },
    'pl.set_pipe': {
      doc: 'Sets a pipe’s algorithm (TAILDROP, RED, NOP) and limit per slot, creating the pipe when missing; answers the pipe.',
      params: [name, { name: 'algorithm', type: 'string' }, { name: 'limit', type: 'number' }],
    },
    'pl.reset_pipe': { doc: 'Zeroes a pipe’s counters; answers the pipe.', params: [name] },
    'pl.rm_pipe': { doc: 'Removes a pipe.', params: [name] },
  });
}
