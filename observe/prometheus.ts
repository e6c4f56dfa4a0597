import { InvalidArgumentError } from '../actors/errors.js';
import type { Dispatcher, DispatcherMetrics, LatencySummary } from '../actors/types.js';

/**
 * The part of a prom-client `Registry` troupe uses: any version's registry has it. Nothing here imports
 * prom-client, so the caller's own copy is the one that formats the scrape.
 */
export interface MetricsRegistry {
  registerMetric(metric: never): void;
}

export interface RegisterMetricsOptions {
  /** Prefix of every metric name. Default `troupe_`. */
  prefix?: string;
  /** Upper bounds of the wait and run histograms' buckets, in seconds. */
  buckets?: readonly number[];
}

/** From 100 µs (a queued request's wait on an idle router) to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export type Labels = Record<string, string | number>;
export interface Value {
  value: number;
  labels?: Labels;
  metricName?: string;
}
export interface MetricValues {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  aggregator: 'sum' | 'max' | 'average';
  values: Value[];
}

/**
 * One metric whose values are read from one `dispatcher.metrics()` per scrape: prom-client asks every
 * metric at once, and they share the reading in flight.
 */
class TroupeMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricValues['type'],
    readonly aggregator: MetricValues['aggregator'],
    private readonly reading: Reading,
    private readonly values: (m: DispatcherMetrics) => Value[],
  ) {}

  async get(): Promise<MetricValues> {
    const m = await this.reading.get();
    const { name, help, type, aggregator } = this;
    return { name, help, type, aggregator, values: this.values(m) };
  }

  /** prom-client calls these on `registry.resetMetrics()`: the figures are the dispatcher's own. */
  reset(): void {}
}

/** One metrics() reading shared by the metrics of one scrape. */
class Reading {
  private pending: Promise<DispatcherMetrics> | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly bucketsMs: number[],
  ) {}

  get(): Promise<DispatcherMetrics> {
    if (this.pending === undefined) {
      this.pending = this.dispatcher.metrics({ buckets: this.bucketsMs });
      // Kept for this turn only: the next scrape reads afresh.
      const clear = () => setImmediate(() => (this.pending = undefined));
      this.pending.then(clear, clear);
    }
    return this.pending;
  }
}

/**
 * Registers troupe's metrics on a prom-client registry (`new Registry()` or prom-client's `register`):
 * requests by outcome and actor, the wait and run time histograms, per-actor run time quantiles, event
 * loop utilization, heap, in-flight and queued requests, restarts, config version and rollouts. Each
 * scrape reads `dispatcher.metrics()` once (without resetting it). Returns the names registered.
 */
export function registerMetrics(
  dispatcher: Dispatcher,
  registry: MetricsRegistry,
  options: RegisterMetricsOptions = {},
): string[] {
  if (registry === null || typeof registry?.registerMetric !== 'function') {
    throw new InvalidArgumentError(
      'registerMetrics(dispatcher, registry): registry must be a prom-client Registry (new Registry() or register).',
    );
  }
  const prefix = options.prefix ?? 'troupe_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
    throw new InvalidArgumentError(`registerMetrics(): prefix must be a metric name prefix; got ${prefix}.`);
  }
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
  if (
    !buckets.every(
      (b, i) => typeof b === 'number' && b > 0 && Number.isFinite(b) && (i === 0 || b > buckets[i - 1]!),
    )
  ) {
    throw new InvalidArgumentError(
      'registerMetrics(): buckets must be increasing finite numbers of seconds > 0.',
    );
  }
  const reading = new Reading(
    dispatcher,
    buckets.map((b) => b * 1000),
  );
  const metrics: TroupeMetric[] = [];
  const add = (
    name: string,
    help: string,
    type: MetricValues['type'],
    values: (m: DispatcherMetrics) => Value[],
    aggregator: MetricValues['aggregator'] = 'sum',
  ) => metrics.push(new TroupeMetric(`${prefix}${name}`, help, type, aggregator, reading, values));

  add(
    'requests_total',
    'Requests by outcome (ok, error with its code, cancelled) and actor.',
    'counter',
    requests,
  );
  add('streams_total', 'Streamed requests started, by actor.', 'counter', (m) =>
    m.actors.map((a) => ({ labels: { actor: a.id }, value: a.streams })),
  );
  add('request_wait_seconds', 'Queue wait: from submit to the start on an actor.', 'histogram', (m) =>
    histogram(`${prefix}request_wait_seconds`, m.wait, buckets),
  );
  add(
    'request_run_seconds',
    'Run time: from the start on an actor to the outcome (result, stream end or error).',
    'histogram',
    (m) => histogram(`${prefix}request_run_seconds`, m.run, buckets),
  );
  add('actor_run_seconds', 'Run time quantiles per actor.', 'summary', (m) =>
    m.actors.flatMap((a) => quantiles(`${prefix}actor_run_seconds`, a.run, { actor: a.id })),
  );
  add(
    'actor_utilization',
    'Share of time the actor’s event loop was busy, since its thread started (or the last metrics reset).',
    'gauge',
    (m) =>
      m.actors.flatMap((a) =>
        a.utilization === null ? [] : [{ labels: { actor: a.id }, value: a.utilization }],
      ),
    'average',
  );
  add(
    'actor_event_loop_active_seconds_total',
    'Busy event-loop time of the actor’s current thread (rate() of it is the utilization).',
    'counter',
    (m) =>
      m.actors.flatMap((a) =>
        a.eventLoop === null ? [] : [{ labels: { actor: a.id }, value: a.eventLoop.active / 1000 }],
      ),
  );
  add('actor_heap_used_bytes', 'Used heap of the actor’s thread.', 'gauge', (m) =>
    m.actors.flatMap((a) => (a.heapUsed === null ? [] : [{ labels: { actor: a.id }, value: a.heapUsed }])),
  );
  add(
    'actor_restarts_total',
    'Replacements of the actor (crash, recycle, reload, rejected config).',
    'counter',
    (m) => m.actors.map((a) => ({ labels: { actor: a.id }, value: a.restarts })),
  );
  add('actor_in_flight', 'Requests running on the actor now.', 'gauge', () =>
    dispatcher.snapshot().actors.map((a) => ({ labels: { actor: a.id }, value: a.inFlight })),
  );
  add(
    'queued_requests',
    'Requests waiting in the router now (master queue and keyed queues).',
    'gauge',
    () => {
      const snap = dispatcher.snapshot();
      return [{ value: snap.queued + snap.actors.reduce((n, a) => n + a.queued, 0) }];
    },
  );
  add(
    'awake_actors',
    'Actors that take unkeyed requests first now; the others are parked until the load needs them.',
    'gauge',
    () => [{ value: dispatcher.snapshot().awake }],
    'max',
  );
  add('config_version', 'The committed config version.', 'gauge', (m) => [{ value: m.configVersion }], 'max');
  add('config_rollouts_total', 'Config changes by result.', 'counter', (m) => [
    { labels: { result: 'committed' }, value: m.rollouts.committed },
    { labels: { result: 'rejected' }, value: m.rollouts.rejected },
  ]);
  for (const metric of metrics) registry.registerMetric(metric as never);
  return metrics.map((m) => m.name);
}

function requests(m: DispatcherMetrics): Value[] {
  const values: Value[] = [];
  const unplaced = new Map(Object.entries(m.failed));
  for (const a of m.actors) {
    values.push({ labels: { actor: a.id, outcome: 'ok', code: '' }, value: a.completed });
    values.push({ labels: { actor: a.id, outcome: 'cancelled', code: '' }, value: a.cancelled });
    for (const [code, n] of Object.entries(a.failed)) {
      values.push({ labels: { actor: a.id, outcome: 'error', code }, value: n });
      unplaced.set(code, (unplaced.get(code) ?? 0) - n);
    }
  }
  // What is left failed before any actor took it (queue full, no actor, timed out while queued).
  for (const [code, n] of unplaced) {
    if (n > 0) values.push({ labels: { actor: 'none', outcome: 'error', code }, value: n });
  }
  return values;
}

function histogram(name: string, s: LatencySummary, bounds: readonly number[]): Value[] {
  return histogramValues(name, bounds, s.buckets ?? [], (s.mean * s.count) / 1000, s.count);
}

/**
 * A histogram's samples in prom-client's form: `cumulative[i]` samples ≤ `bounds[i]`, then +Inf, sum and
 * count, each with `labels` besides `le`.
 */
export function histogramValues(
  name: string,
  bounds: readonly number[],
  cumulative: ArrayLike<number>,
  sum: number,
  count: number,
  labels?: Labels,
): Value[] {
  const values: Value[] = [];
  for (let i = 0; i < bounds.length; i++) {
    values.push({
      metricName: `${name}_bucket`,
      labels: { le: bounds[i]!, ...labels },
      value: cumulative[i] ?? 0,
    });
  }
  values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...labels }, value: count });
  values.push({ metricName: `${name}_sum`, labels: { ...labels }, value: sum });
  values.push({ metricName: `${name}_count`, labels: { ...labels }, value: count });
  return values;
}

function quantiles(name: string, s: LatencySummary, labels: Labels): Value[] {
  return [
    { labels: { ...labels, quantile: 0.5 }, value: s.p50 / 1000 },
    { labels: { ...labels, quantile: 0.9 }, value: s.p90 / 1000 },
    { labels: { ...labels, quantile: 0.99 }, value: s.p99 / 1000 },
    { metricName: `${name}_sum`, labels, value: (s.mean * s.count) / 1000 },
    { metricName: `${name}_count`, labels, value: s.count },
  ];
}
