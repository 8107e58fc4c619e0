/**
 * Rates from counters sampled over time, as Prometheus's `rate()` reads them: a counter that went down was
 * reset (`stats.reset`, a server restart) and has counted its current value since.
 */

/** How much a counter grew between two readings (a reset counts from zero). */
export function counterDelta(previous: number, current: number): number {
  return current >= previous ? current - previous : current;
}

/** The summed growth per second of several counters between two samples taken `seconds` apart. */
export function ratePerSecond(
  previous: Readonly<Record<string, number>>,
  current: Readonly<Record<string, number>>,
  names: readonly string[],
  seconds: number,
): number {
  if (!(seconds > 0)) return 0;
  let delta = 0;
  for (const n of names) delta += counterDelta(previous[n] ?? 0, current[n] ?? 0);
  return delta / seconds;
}
