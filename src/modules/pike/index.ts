/**
 * pike: flood detection (Kamailio's `pike`). Counts requests per source IP over a sampling window and
 * tells the script when a source goes over the threshold; what to do then (drop, ban in an htable, answer
 * 503) is the script's decision.
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { describeMethods, RpcError } from '../../rpc/types.js';
import { type PikeTopEntry, PikeTracker } from './tracker.js';

/** The `pike` script API. */
export interface PikeApi {
  /**
   * Counts the request against its source IP; true while the source is within the limit, false when it
   * is over it (Kamailio's `pike_check_req`). A source stays over while it keeps sending faster than
   * `reqsDensityPerUnit` per `samplingTime`.
   */
  checkRequest(req: RequestContext): boolean;
  /** The same for any IP address (Kamailio's `pike_check_ip`), at the current time. */
  checkIp(ip: string): boolean;
  /** True when `ip` is over the limit (without counting a request). */
  isHot(ip: string): boolean;
  /** The tracked sources, hot ones only by default (what `pike.top` answers). */
  top(filter?: 'HOT' | 'ALL'): PikeTopEntry[];
}

export type { PikeTopEntry } from './tracker.js';

export const pikeModule = defineModule({
  name: 'pike',
  doc: 'Flood detection: requests per source IP over a sampling window, against a threshold.',
  params: s.object({
    samplingTime: s.duration({
      default: '2s',
      min: 100,
      max: 3_600_000,
      runtime: true,
      doc: 'Length of the sampling window (Kamailio’s `sampling_time_unit`).',
    }),
    reqsDensityPerUnit: s.integer({
      default: 30,
      min: 1,
      runtime: true,
      doc:
        'Requests one source IP may send per `samplingTime`; above, `checkRequest` returns false ' +
        '(Kamailio’s `reqs_density_per_unit`). Counted over a sliding window: this window plus the ' +
        'part of the previous one that is less than `samplingTime` ago.',
    }),
    removeLatency: s.duration({
      default: '120s',
      min: 0,
      runtime: true,
      doc:
        'A source is forgotten after this long without a request (Kamailio’s `remove_latency`). It is not ' +
        'a ban time: a source is no longer over the limit as soon as a window passes within it.',
    }),
    maxTrackedIps: s.integer({
      default: 65536,
      min: 1,
      doc:
        'Most source IPs tracked at once (about 150 bytes each). A new source beyond it evicts the oldest ' +
        'one (sources over the limit are evicted last), so a flood from many spoofed addresses cannot grow ' +
        'memory without bound.',
    }),
  }),
  create(core, params) {
    const tracker = new PikeTracker({
      samplingTime: params.samplingTime as number,
      reqsDensityPerUnit: params.reqsDensityPerUnit as number,
      removeLatency: params.removeLatency as number,
      maxTrackedIps: params.maxTrackedIps as number,
    });
    const blocked = core.stats.counter(
      'pike',
      'blocked',
      'Requests checked while their source was over the limit',
    );
    const detected = core.stats.counter('pike', 'detected', 'Times a source went over the limit');
    core.stats.gauge('pike', 'hot_ips', 'Source IPs over the limit now', () => tracker.hot);
    core.stats.gauge('pike', 'tracked_ips', 'Source IPs tracked', () => tracker.size);
    core.stats.counter(
      'pike',
      'evicted_ips',
      'Sources forgotten to stay within maxTrackedIps',
      () => tracker.evicted,
    );
    const log = core.log;
    tracker.onHot = (ip) => {
      detected.value++;
      log.warn('pike: source over the limit', { ip });
    };
    let timer: NodeJS.Timeout | undefined;
    const startSweep = () => {
      clearInterval(timer);
      timer = setInterval(() => tracker.sweep(Date.now()), Math.min(tracker.settings.samplingTime, 10_000));
      timer.unref();
    };

    const api: PikeApi = {
      checkRequest(req) {
        // the receive time of the message: no clock read per request
        const source = req.source;
        if (tracker.check(source.address, source.receivedAt)) return true;
        blocked.value++;
        return false;
      },
      checkIp(ip) {
        if (tracker.check(ip, Date.now())) return true;
        blocked.value++;
        return false;
      },
      isHot: (ip) => tracker.isHot(ip),
      top: (filter) => tracker.top(Date.now(), filter),
    };

    const topResult = (filter?: string) => {
      const list = api.top(topFilter(filter));
      return { list, number_of_rows: list.length };
    };
    const filterParam = {
      name: 'filter',
      type: 'string',
      optional: true,
      doc: 'HOT (the default: sources over the limit) or ALL',
    } as const;
    return {
      api,
      rpc: describeMethods(
        { 'pike.top': topResult, 'pike.list': topResult },
        {
          'pike.top': {
            doc:
              'Tracked source IPs (Kamailio’s pike.top): `list` of { ip_addr, leaf_hits_prev, leaf_hits_curr, ' +
              'expires (s), status HOT|WARM }, most requests first, and `number_of_rows`.',
            params: [filterParam],
          },
          'pike.list': { doc: 'The same as pike.top.', params: [filterParam] },
        },
      ),
      setParam(name, value) {
        const settings = tracker.settings;
        if (name === 'samplingTime') {
          settings.samplingTime = value as number;
          startSweep();
        } else if (name === 'reqsDensityPerUnit') settings.reqsDensityPerUnit = value as number;
        else if (name === 'removeLatency') settings.removeLatency = value as number;
        else throw new Error(`pike: ${name} cannot be changed at runtime`);
      },
      start: startSweep,
      stop() {
        clearInterval(timer);
      },
    };
  },
});

function topFilter(filter: string | undefined): 'HOT' | 'ALL' {
  if (filter === undefined || filter === '') return 'HOT';
  const f = filter.toUpperCase();
  if (f === 'HOT' || f === 'ALL') return f;
  // Kamailio also knows WARM; every source that is not hot is warm here
  throw new RpcError(400, `pike.top: filter must be HOT or ALL, not ${filter}`);
}
