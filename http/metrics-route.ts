import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from '../actors/types.js';
import { registerMetrics } from '../observe/prometheus.js';
import type { RequestLog } from './request-log.js';
import { StatusDurations } from './status-durations.js';

/** The parts of prom-client this route uses, loaded only when the route is on. */
type PromClient = typeof import('prom-client');
type Registry = import('prom-client').Registry;

const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_SAMPLE_MS = 100;

/**
 * `GET <path>` in the Prometheus text format: troupe's metrics, the HTTP front's request durations by
 * status class, and prom-client's default process metrics, on a registry of this front's own (two
 * fronts in one process do not collide). It also sees each finished exchange, as a RequestLog.
 */
export class MetricsRoute implements RequestLog {
  private constructor(
    readonly path: string,
    readonly registry: Registry,
    private readonly durations: StatusDurations,
  ) {}

  static async create(dispatcher: Dispatcher, path: string): Promise<MetricsRoute> {
    const prom = await loadPromClient();
    const registry = new prom.Registry();
    // prom-client samples the event-loop delay every 10 ms unless told otherwise: on a front that sleeps
    // between requests that is 100 wake-ups a second, a measurable share of its CPU at a few hundred
    // requests a second. Ten samples a second still see every stall of 100 ms or more, most shorter ones.
    prom.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: LAG_SAMPLE_MS });
    registerMetrics(dispatcher, registry);
    const durations = new StatusDurations(
      'troupe_http_request_duration_seconds',
      'HTTP exchanges from head to last byte (or the client leaving), by status class.',
      HTTP_BUCKETS,
    );
    registry.registerMetric(durations as never);
    return new MetricsRoute(path, registry, durations);
  }

  /** The path exactly, or followed by a query string. */
  matches(url: string): boolean {
    const p = this.path;
    return url.startsWith(p) && (url.length === p.length || url[p.length] === '?');
  }

  answer(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      res.end();
      return;
    }
    this.registry.metrics().then(
      (text) => {
        res.writeHead(200, {
          'content-type': this.registry.contentType,
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(text),
        });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        const body = `metrics failed: ${(err as Error)?.message ?? err}\n`;
        res.writeHead(500, {
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      },
    );
  }

  write(_method: string, _url: string, status: number, ms: number): void {
    this.durations.record(status, ms / 1000);
  }

  flush(): void {}
}

async function loadPromClient(): Promise<PromClient> {
  try {
    const mod = (await import('prom-client')) as PromClient & { default?: PromClient };
    return mod.default ?? mod;
  } catch (err) {
    throw new Error(
      `the metrics route needs prom-client (npm install prom-client), or turn it off with --metrics off: ${(err as Error)?.message ?? err}`,
    );
  }
}
