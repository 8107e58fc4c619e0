/**
 * maxfwd: Max-Forwards processing (RFC 3261 §16.3 step 3, §16.6 step 3).
 */
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';

/** The `maxfwd` script API. */
export interface MaxfwdApi {
  /**
   * Decrements Max-Forwards, adding it with `limit` when absent and capping it at `limit`.
   * Returns false when it was already 0: the request must not be forwarded (answer 483).
   */
  process(req: RequestContext, limit?: number): boolean;
  /** True when Max-Forwards is below `limit` (Kamailio's `is_maxfwd_lt`). */
  isBelow(req: RequestContext, limit: number): boolean;
}

export const maxfwdModule = defineModule({
  name: 'maxfwd',
  doc: 'Max-Forwards checks and decrement.',
  params: s.object({
    maxLimit: s.integer({
      min: 1,
      max: 255,
      default: 70,
      doc: 'Highest Max-Forwards value passed on; larger values are lowered to it.',
    }),
  }),
  create(_core, params) {
    const maxLimit = (params.maxLimit as number | undefined) ?? 70;
    const api: MaxfwdApi = {
      process(req, limit = maxLimit) {
        const value = req.msg.maxForwards;
        if (value === undefined) {
          req.msg.setHeader('Max-Forwards', String(limit));
          return true;
        }
        if (value === 0) return false;
        req.msg.setHeader('Max-Forwards', String(Math.min(value - 1, limit)));
        return true;
      },
      isBelow(req, limit) {
        const value = req.msg.maxForwards;
        return value !== undefined && value < limit;
      },
    };
    return { api };
  },
});
