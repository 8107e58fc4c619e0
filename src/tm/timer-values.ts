/**
 * The timer values of RFC 3261 §17 (Table 4) and RFC 6026, from the configured T1, T2 and T4.
 */

/** Base timer values in milliseconds. */
export interface TimerSettings {
  /** RTT estimate, default 500 ms (RFC 3261 §17.1.1.1). */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  t2: number;
  /** Maximum time a message stays in the network, default 5 s. */
  t4: number;
  /**
   * How long a finished transaction stays to absorb retransmissions, ms: Timers J, L, M and D (Kamailio's
   * `wt_timer`). Unset: what RFC 3261 and RFC 6026 say (64×T1; D at least 32 s).
   */
  wait?: number | undefined;
}

/** The RFC 3261 defaults. */
export const DEFAULT_TIMERS: Readonly<TimerSettings> = Object.freeze({ t1: 500, t2: 4000, t4: 5000 });

/** Timer J (non-INVITE server), L (INVITE server, Accepted) and M (INVITE client, Accepted), ms. */
export function waitTime(settings: TimerSettings): number {
  return settings.wait ?? 64 * settings.t1;
}

/** Timer D (INVITE client, Completed after a non-2xx): at least 32 s over unreliable transports, ms. */
export function timerD(settings: TimerSettings): number {
  return settings.wait ?? Math.max(32000, 64 * settings.t1);
}

/** Timer kinds, named as in RFC 3261 Table 4 and RFC 6026 §8.11. */
export const TimerKind = {
  A: 1, // INVITE retransmit (client, unreliable)
  B: 2, // INVITE transaction timeout (client)
  D: 3, // wait for response retransmits (client INVITE, Completed)
  E: 4, // non-INVITE retransmit (client, unreliable)
  F: 5, // non-INVITE transaction timeout (client)
  G: 6, // INVITE final response retransmit (server, unreliable)
  H: 7, // wait for ACK (server INVITE, Completed)
  I: 8, // wait for ACK retransmits (server INVITE, Confirmed)
  J: 9, // wait for request retransmits (server non-INVITE, Completed)
  K: 10, // wait for response retransmits (client non-INVITE, Completed)
  L: 11, // RFC 6026: server INVITE, Accepted
  M: 12, // RFC 6026: client INVITE, Accepted
  FR: 13, // proxy final-response timer (Kamailio fr_timer / fr_inv_timer), per branch
} as const;

/** A timer kind. */
export type TimerKind = (typeof TimerKind)[keyof typeof TimerKind];
