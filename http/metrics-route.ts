import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from '../actors/types.js';
import { registerMetrics } from '../observe/prometheus.js';
import type { RequestLog } from './request-log.js';

/** The parts of prom-client this route uses, loaded only when the route is on. */
type PromClient = typeof import('prom-client');
type Registry = import('prom-client').Registry;
type Histogram = import('prom-client').Histogram<'status_class'>;

const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
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
    private readonly duration: Histogram,
  ) {}

  static async create(dispatcher: Dispatcher, path: string): Promise<MetricsRoute> {
    const prom = await loadPromClient();
    const registry = new prom.Registry();
    // prom-client samples the event-loop delay every 10 ms unless told otherwise: on a front that sleeps
    // between requests that is 100 wake-ups a second, a measurable share of its CPU at a few hundred
    // requests a second. Ten samples a second still see every stall of 100 ms or more, most shorter ones.
    prom.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: LAG_SAMPLE_MS });
    registerMetrics(dispatcher, registry);
    const duration = new prom.Histogram({
      name: 'troupe_http_request_duration_seconds',
      help: 'HTTP exchanges from head to last byte (or the client leaving), by status class.',
      labelNames: ['status_class'],
      buckets: HTTP_BUCKETS,
      registers: [registry],
    });
    return new MetricsRoute(path, registry, duration);
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
    // 499 (the client left) counts as 4xx, as nginx logs it.
    const c = CLASSES[Math.floor(status / 100) - 1] ?? 'other';
    this.duration.observe({ status_class: c }, ms / 1000);
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
