import type { Dispatcher } from '../../actors/types.js';

/**
 * Bucket bounds for the page's charts, in ms: powers of two from 10 µs to about 84 s. Coarse on purpose
 * (each bound costs a few histogram reads per poll); fine enough for a chart, and the exact percentiles
 * come with the reading.
 */
export const PAGE_BOUNDS: readonly number[] = Array.from({ length: 24 }, (_, k) => 0.01 * 2 ** k);

/**
 * `GET api/metrics`: `dispatcher.metrics()` with cumulative counts on the page's bucket grid. The page
 * polls it and takes differences between readings for its live per-actor charts (utilization from the
 * event-loop times, p50 / p99 from the bucket counts), so the dispatcher's own figures are never reset.
 */
export async function metricsJson(dispatcher: Dispatcher): Promise<string> {
  const metrics = await dispatcher.metrics({ buckets: PAGE_BOUNDS });
  return JSON.stringify({ at: Date.now(), bounds: PAGE_BOUNDS, metrics });
}
