import type { Server } from 'node:http';
import { InvalidArgumentError } from '../actors/errors.js';
import type { Dispatcher } from '../actors/types.js';
import { AccessLog } from './access-log.js';
import { ERROR, JsonLog } from './json-log.js';
import { MetricsRoute } from './metrics-route.js';
import {
  type Affinity,
  type ConnectionTimeouts,
  checkTimeouts,
  DEFAULT_TIMEOUTS,
  parseAffinity,
  parseSize,
  UsageError,
} from './options.js';
import { teeLog } from './request-log.js';
import { HttpFront } from './server.js';

export interface ServeOptions {
  /** Port; 0 picks a free one (read it from `url`). Default 3000. */
  port?: number;
  /** Interface. Default 127.0.0.1. */
  host?: string;
  /** Sticky key source: `header:NAME` or `cookie:NAME`. */
  affinity?: string;
  /** Largest request body: bytes, or a size such as '1mb'. Default 1 MiB. */
  maxBody?: number | string;
  /** Health route path, or null for none. Default '/_troupe/health'. */
  health?: string | null;
  /** One access-log line per request on stdout. Default false. */
  log?: boolean;
  /** Ms a client may take to send its request headers. Default 10,000. */
  headerTimeout?: number;
  /** Ms a client may take to send a whole request; 0 = none. Default 300,000. */
  requestTimeout?: number;
  /** Ms an idle kept-alive connection stays open. Default 5,000. */
  keepAliveTimeout?: number;
  /** Access-log lines as text, or as pino-compatible JSON objects. Default 'text'. */
  logFormat?: 'text' | 'json';
  /** Prometheus metrics route path, or null for none. Default '/_troupe/metrics'. */
  metrics?: string | null;
  /**
   * Plain requests (a common method, no body or a Content-Length one) read by troupe's own HTTP/1.1
   * parser and answered with the bytes node:http would write; everything else goes through node:http.
   * false: every request through node:http. Default true.
   */
  fastPath?: boolean;
}

export interface HttpServer {
  readonly url: string;
  readonly server: Server;
  /** Stops accepting, lets requests finish within `graceMs` (default 10 s), cuts off the rest; returns how many were cut. The dispatcher stays open. */
  close(graceMs?: number): Promise<number>;
}

/**
 * `troupe serve` as a function: an HTTP front on this thread for a dispatcher whose app has `fetch`
 * (create it with `entry: 'fetch'` if the app also has `handle`). Resolves once the port is open.
 */
export async function serve(dispatcher: Dispatcher, options: ServeOptions = {}): Promise<HttpServer> {
  let affinity: Affinity | undefined;
  let maxBody = 1024 * 1024;
  let timeouts: ConnectionTimeouts;
  try {
    timeouts = checkTimeouts({
      header: ms('headerTimeout', options.headerTimeout, DEFAULT_TIMEOUTS.header),
      request: ms('requestTimeout', options.requestTimeout, DEFAULT_TIMEOUTS.request),
      keepAlive: ms('keepAliveTimeout', options.keepAliveTimeout, DEFAULT_TIMEOUTS.keepAlive),
    });
    if (options.affinity !== undefined) affinity = parseAffinity(options.affinity);
    if (options.maxBody !== undefined) {
      maxBody = typeof options.maxBody === 'number' ? options.maxBody : parseSize(options.maxBody);
    }
  } catch (err) {
    throw new InvalidArgumentError(`serve(): ${(err as Error).message}`);
  }
  const { logFormat = 'text', metrics: metricsPath = '/_troupe/metrics' } = options;
  if (logFormat !== 'text' && logFormat !== 'json')
    throw new InvalidArgumentError(`serve(): logFormat must be 'text' or 'json'; got ${String(logFormat)}.`);
  if (metricsPath !== null && (typeof metricsPath !== 'string' || !metricsPath.startsWith('/')))
    throw new InvalidArgumentError(
      `serve(): metrics must be a path starting with / or null; got ${String(metricsPath)}.`,
    );
  const json = logFormat === 'json' ? new JsonLog() : undefined;
  const access = options.log === true ? (json ?? new AccessLog()) : undefined;
  const metrics = metricsPath === null ? undefined : await MetricsRoute.create(dispatcher, metricsPath);
  const log = teeLog(access, metrics);
  const front = new HttpFront(dispatcher, {
    affinity,
    maxBody,
    health: options.health === undefined ? '/_troupe/health' : options.health,
    log,
    timeouts,
    metrics,
    fastPath: options.fastPath !== false,
    ...(json === undefined ? {} : { report: (line: string) => json.line(ERROR, line) }),
  });
  await front.listen(options.port ?? 3000, options.host ?? '127.0.0.1');
  return {
    url: front.origin,
    server: front.server,
    async close(graceMs = 10_000) {
      const cut = await front.drain(graceMs);
      log?.flush();
      return cut;
    },
  };
}

function ms(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`${name} must be a number of ms ≥ 0; got ${String(value)}`);
  }
  return value;
}
