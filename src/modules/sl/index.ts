/**
 * sl: stateless replies (Kamailio's `sl_send_reply`).
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import type { HeaderList } from '../../sip/build.js';

/** The `sl` script API. */
export interface SlApi {
  /**
   * Replies statelessly: Via, From, To, Call-ID and CSeq copied, a To-tag added (the same for every
   * retransmission of the request), sent back the way the request came (RFC 3261 §18.2.2, RFC 3581).
   */
  reply(req: RequestContext, status: number, reason?: string, headers?: HeaderList): void;
}

export const slModule = defineModule({
  name: 'sl',
  doc: 'Stateless replies.',
  create(core) {
    const api: SlApi = {
      reply(req, status, reason, headers) {
        core.reply(req, status, reason, headers);
      },
    };
    return { api };
  },
});
