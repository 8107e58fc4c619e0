/**
 * SRV target selection (RFC 2782, "Usage rules").
 */

/** The fields of an SRV record that order it. */
export interface SrvOrderable {
  priority: number;
  weight: number;
}

/**
 * Orders SRV records for trying: ascending priority; within one priority, a weighted random order
 * (RFC 2782): repeatedly, with the weight-0 records placed first, draw a number in `0..sum` of the
 * remaining weights and take the first record whose running sum reaches it.
 *
 * The draw is over `0..sum` only when a weight-0 record remains, which gives that record a small chance
 * (`1/(sum+1)`) as the RFC intends; otherwise it is over `1..sum`, so every record's chance is exactly
 * its share of the weights. When all remaining weights are 0 the pick is uniform.
 *
 * Returns a new array; `records` is not modified. `random` returns a number in [0, 1).
 */
export function orderSrv<T extends SrvOrderable>(
  records: readonly T[],
  random: () => number = Math.random,
): T[] {
  const sorted = records.slice().sort((a, b) => a.priority - b.priority);
  const out: T[] = [];
  let start = 0;
  while (start < sorted.length) {
    let end = start + 1;
    while (end < sorted.length && sorted[end]!.priority === sorted[start]!.priority) end++;
    if (end - start === 1) out.push(sorted[start]!);
    else weightedOrder(sorted.slice(start, end), random, out);
    start = end;
  }
  return out;
}

/** Appends the records of one priority to `out` in RFC 2782 weighted random order. */
function weightedOrder<T extends SrvOrderable>(group: T[], random: () => number, out: T[]): void {
  // Weight-0 records first, otherwise in the order received.
  const remaining: T[] = [];
  let sum = 0;
  for (const r of group) if (r.weight === 0) remaining.push(r);
  for (const r of group) {
    if (r.weight !== 0) {
      remaining.push(r);
      sum += r.weight;
    }
  }
  while (remaining.length > 1) {
    let index: number;
    if (sum === 0) {
      index = Math.min(remaining.length - 1, Math.floor(random() * remaining.length));
    } else {
      const hasZero = remaining[0]!.weight === 0;
      const draw = hasZero ? Math.floor(random() * (sum + 1)) : 1 + Math.floor(random() * sum);
      let running = 0;
      index = remaining.length - 1;
      for (let i = 0; i < remaining.length; i++) {
        running += remaining[i]!.weight;
        if (running >= draw) {
          index = i;
          break;
        }
      }
    }
    const [chosen] = remaining.splice(index, 1);
    sum -= chosen!.weight;
    out.push(chosen!);
  }
  if (remaining.length === 1) out.push(remaining[0]!);
}
