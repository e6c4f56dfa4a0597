import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { LatencySummary } from '../types.js';

/** One hour in ns: a longer wait or run is recorded as one hour (the histogram's range ends there). */
const HIGHEST_NS = 3_600_000_000_000;
const NS_PER_MS = 1_000_000;

/**
 * A latency histogram in nanoseconds, in Node's HDR histogram. Two significant digits keep each value
 * within 1% and the histogram small (a few thousand counters), which keeps percentile reads cheap: a
 * scrape reads dozens of them.
 */
export function latencyHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: HIGHEST_NS, figures: 2 });
}

/** Records a duration given in ms. HDR counts integers ≥ 1: below 1 ns counts as 1 ns. */
export function recordMs(h: RecordableHistogram, ms: number): void {
  const ns = Math.round(ms * NS_PER_MS);
  h.record(ns < 1 ? 1 : Math.min(ns, HIGHEST_NS));
}

/**
 * Count, extremes, mean and percentiles in ms; with `bounds` (ms), the cumulative count ≤ each bound.
 * `zeros` are samples of exactly 0 kept as a plain count beside the histogram (a request dispatched at
 * once waited 0: most requests, and not worth a histogram call each), merged in here by rank.
 */
export function summarize(
  h: RecordableHistogram,
  bounds: readonly number[] | undefined,
  zeros = 0,
): LatencySummary {
  const recorded = h.count;
  const count = recorded + zeros;
  const ms = (ns: number) => ns / NS_PER_MS;
  /** The value at rank ⌈p·count/100⌉ of zeros followed by the histogram's samples. */
  const at = (p: number): number => {
    const rank = Math.max(1, Math.floor((p / 100) * count + 0.5));
    return rank <= zeros ? 0 : ms(h.percentile(((rank - zeros) / recorded) * 100));
  };
  const summary: LatencySummary =
    count === 0
      ? { count, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0 }
      : {
          count,
          min: zeros > 0 ? 0 : ms(h.min),
          max: recorded > 0 ? ms(h.max) : 0,
          mean: recorded > 0 ? (ms(h.mean) * recorded) / count : 0,
          p50: at(50),
          p90: at(90),
          p99: at(99),
          p999: at(99.9),
        };
  if (bounds !== undefined) summary.buckets = bounds.map((b) => zeros + countAtMost(h, b * NS_PER_MS));
  return summary;
}

/**
 * How many samples are ≤ `bound` ns. Node's histogram has no bucket iterator, only `percentile(p)`, the
 * value at rank ⌈p·count/100⌉ (monotone in the rank): so the answer is the largest rank whose value is
 * ≤ bound, found by bisection over the ranks.
 */
function countAtMost(h: RecordableHistogram, bound: number): number {
  const count = h.count;
  if (count === 0 || h.min > bound) return 0;
  if (h.max <= bound) return count;
  let lo = 1; // value at rank lo is ≤ bound (the minimum is)
  let hi = count; // value at rank hi is > bound (the maximum is)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (h.percentile((mid / count) * 100) <= bound) lo = mid;
    else hi = mid;
  }
  return lo;
}
