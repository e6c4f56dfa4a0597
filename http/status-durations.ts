import { histogramValues, type MetricValues, type Value } from '../observe/prometheus.js';

/** Status classes as labelled; 499 (the client left) counts as 4xx, as nginx logs it. */
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];
const OTHER = CLASSES.length - 1;

/**
 * The HTTP front's exchange durations by status class, as a Prometheus histogram: a metric object a
 * prom-client registry takes (`registerMetric`), with counts kept here in plain arrays. Recording one is a
 * bucket search and three additions. prom-client's own `observe` validates and hashes its label object
 * on every call, which on a cheap route showed in the front's CPU profile; here the labels are built
 * only at scrape time.
 */
export class StatusDurations {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Per class: samples in each bucket (not cumulative), the last slot past the highest bound. */
  private readonly counts: Float64Array;
  private readonly sums = new Float64Array(CLASSES.length);
  private readonly totals = new Float64Array(CLASSES.length);

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds in seconds, increasing. */
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(CLASSES.length * (bounds.length + 1));
  }

  record(status: number, seconds: number): void {
    const c = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : OTHER;
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && seconds > bounds[b]!) b++;
    this.counts[c * (bounds.length + 1) + b]!++;
    this.sums[c]! += seconds;
    this.totals[c]!++;
  }

  /** What prom-client's registry formats at scrape: the classes seen so far, with cumulative buckets. */
  get(): MetricValues {
    const n = this.bounds.length;
    const values: Value[] = [];
    const cumulative = new Float64Array(n);
    for (let c = 0; c < CLASSES.length; c++) {
      if (this.totals[c] === 0) continue;
      let running = 0;
      for (let b = 0; b < n; b++) {
        running += this.counts[c * (n + 1) + b]!;
        cumulative[b] = running;
      }
      const labels = { status_class: CLASSES[c]! };
      values.push(
        ...histogramValues(this.name, this.bounds, cumulative, this.sums[c]!, this.totals[c]!, labels),
      );
    }
    const { name, help, type, aggregator } = this;
    return { name, help, type, aggregator, values };
  }

  /** `registry.resetMetrics()`. */
  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
    this.totals.fill(0);
  }
}
