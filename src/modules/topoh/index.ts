/**
 * topoh: topology hiding (Kamailio's topoh). Via, Contact, Record-Route and Call-ID of the inside are
 * masked in every message sent to the outside and restored in every message that comes back, so the
 * outside never sees an internal address. Transparent to the route script: it sees the real values.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { defineModule } from '../../core/module.js';
import type { Pipeline } from '../../core/pipeline.js';
import { s } from '../../core/schema.js';
import { Masker } from './mask.js';
import { type Network, type Side, TopologyHider } from './topoh.js';

/** The `topoh` script API. */
export interface TopohApi {
  /** True when topology hiding is on (`modules.topoh.enabled`). */
  readonly enabled: boolean;
  /** `i` when an address is in the `inside` networks, else `o` (every address, when there are none). */
  sideOf(address: string): Side;
}

/** An IP address or network (`10.0.0.0/8`, `192.0.2.7`, `fd00::/8`). */
export function parseNetwork(value: unknown): Network {
  if (typeof value !== 'string') throw new TypeError();
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family === 0) throw new Error(`${address} is not an IP address`);
  const max = family === 4 ? 32 : 128;
  const prefix = slash === -1 ? max : Number(value.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`prefix must be 0-${max}`);
  return { address, prefix, family: family as 4 | 6 };
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

export const topohModule = defineModule({
  name: 'topoh',
  doc: 'Topology hiding: Via, Contact, Record-Route and Call-ID of the inside masked toward the outside.',
  params: s.object({
    enabled: s.boolean({
      default: false,
      doc: 'Mask every message sent to the outside and restore every masked message received. Off: nothing is registered and it costs nothing.',
    }),
    maskKey: s.string({
      default: '',
      doc: 'Secret the masks are encrypted and authenticated with. Empty: a random one at each start, so dialogs set up before a restart cannot be restored after it; set it (the same on every server of a cluster) to keep them.',
    }),
    maskIp: s.string({
      default: '',
      doc: 'Host written in masked Contact and Record-Route URIs. Empty: the advertised address of the listener the message leaves on. In-dialog requests are sent to it, so it must reach this server.',
    }),
    maskCallId: s.boolean({
      default: true,
      doc: 'Mask the Call-ID toward the side that did not originate the call. Needs `inside`: with every address outside there is no other side.',
    }),
    inside: s.array(s.custom(parseNetwork, 'an IP address or network (10.0.0.0/8)'), {
      default: [],
      doc: 'Networks of the inside: messages sent there are not masked. Empty: every destination is outside, every message sent is masked (Kamailio’s topoh).',
      example: ['10.0.0.0/8', '192.168.0.0/16'],
    }),
    uriParam: s.string({
      default: 'line',
      doc: 'URI parameter holding the mask in Contact and Record-Route URIs.',
    }),
    uriPrefix: s.string({
      default: 'sr-',
      doc: 'Prefix of the mask in that parameter (the marker of a masked URI).',
    }),
    viaParam: s.string({
      default: 'th',
      doc: 'Via parameter holding the masked Via values below ours. `<viaParam>-side` marks, on a received request’s Via, the side that originated the call.',
    }),
    callIdPrefix: s.string({ default: '!!:', doc: 'Prefix of a masked Call-ID.' }),
  }),
  create(core, params) {
    const enabled = params.enabled as boolean;
    const inside = params.inside as Network[];
    for (const name of ['uriParam', 'viaParam'] as const) {
      if (!TOKEN.test(params[name] as string)) throw new Error(`topoh.${name} must be a token`);
    }
    const maskIp = (params.maskIp as string) || undefined;
    const key = (params.maskKey as string) || randomBytes(32);
    const c = (name: string, doc: string) => core.stats.counter('topoh', name, doc);
    const counters = {
      masked: c('masked', 'messages sent to the outside with masked headers'),
      unmasked: c('unmasked', 'messages received with masks, restored'),
      badMasks: c(
        'bad_masks',
        'messages dropped: a mask that does not decode (forged, mangled, another key)',
      ),
    };
    const hider = new TopologyHider(
      {
        maskIp,
        maskCallId: params.maskCallId as boolean,
        inside,
        uriParam: params.uriParam as string,
        uriPrefix: params.uriPrefix as string,
        viaParam: params.viaParam as string,
        callIdPrefix: params.callIdPrefix as string,
      },
      new Masker(key),
      core.myself,
      () => core.listeners,
      counters,
      core.log,
    );
    if (enabled) {
      (core as Pipeline).addMessageFilter(hider);
      if (params.maskCallId === true && inside.length === 0)
        core.log.warn('topoh: maskCallId needs inside networks; Call-IDs are not masked');
    }
    const api: TopohApi = {
      enabled,
      sideOf: (address) => hider.sideOf(address),
    };
    return { api };
  },
});
