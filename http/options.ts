import { parseArgs } from 'node:util';

/** Where the affinity key of a request comes from. */
export interface Affinity {
  from: 'header' | 'cookie';
  /** Header names are lower-cased (Node lower-cases incoming names); cookie names are kept as given. */
  name: string;
}

/** Everything `troupe serve` was asked for, validated. */
export interface ServeArgs {
  app: string;
  actors: number | undefined;
  concurrency: number | undefined;
  /** Spread unkeyed requests over every actor instead of parking the ones the load does not need. */
  spread: boolean;
  /** Every request through node:http's parser (no fast path for plain requests). */
  nodeParser: boolean;
  maxQueue: number | undefined;
  port: number;
  host: string;
  config: string | undefined;
  affinity: Affinity | undefined;
  maxBody: number;
  /** Per-request timeout in ms; 0 = none. */
  timeout: number;
  /** Seconds to finish in-flight requests after SIGTERM / SIGINT. */
  grace: number;
  /** Connection timeouts, in ms (see ConnectionTimeouts). */
  timeouts: ConnectionTimeouts;
  /** Path of the built-in health route, or null when it is off. */
  health: string | null;
  /** Path of the Prometheus route, or null when it is off. */
  metrics: string | null;
  /** Access and lifecycle lines as text, or as pino-compatible JSON objects. */
  logFormat: 'text' | 'json';
  quiet: boolean;
  inspectPort: number | undefined;
  /** `--admin-token`: `TOKEN` or `LABEL:TOKEN` (TROUPE_ADMIN_TOKEN when absent). */
  adminToken: string | undefined;
  configWrite: boolean;
  record: string | undefined;
  /** Join a cluster: NATS URL(s), the service name and this node's id. */
  cluster: { servers: string[]; name: string; node: string | undefined } | undefined;
}

/**
 * How long a client may take, in ms: to send a request's headers (a slowloris client trickles them to
 * hold a connection), to send the whole request, and to send the next request on a kept-alive connection.
 */
export interface ConnectionTimeouts {
  header: number;
  request: number;
  keepAlive: number;
}

export const DEFAULT_TIMEOUTS: ConnectionTimeouts = { header: 10_000, request: 300_000, keepAlive: 5_000 };

/** Throws UsageError unless 0 < header ≤ request (0 = no request limit) and keep-alive ≥ 0. */
export function checkTimeouts(t: ConnectionTimeouts): ConnectionTimeouts {
  if (!(t.header > 0)) throw new UsageError(`--header-timeout: must be more than 0 s`);
  if (t.request > 0 && t.header > t.request) {
    throw new UsageError('--header-timeout: must not be longer than --request-timeout');
  }
  return t;
}

export const usage = `Usage: troupe serve <app> [options]

Serves an HTTP app over HTTP: a fetch-style app (export default { fetch } / defineApp({ fetch }) / a
Hono app), or a Node-style one (a node:http request listener, an Express, Koa or Fastify app), as is.
Each whole request, body in and body out, runs on one request actor (a worker thread).
A TypeScript app (app.ts) runs through tsx when it is installed, or Node's own type stripping.

Options:
  --actors N             request actors (worker threads)       default: available CPUs
  --concurrency N        requests one actor serves at once     default: 32
  --spread               send unkeyed requests to every actor (default: as few actors as
                         keep up, the others sleep until the load needs them)
  --node-parser          read every request with node:http's parser (default: plain
                         requests on troupe's own, which writes the same bytes for less CPU)
  --max-queue N          requests waiting beyond which the answer is 503   default: 10000
  --port N               port to listen on (0 = any free one)  default: 3000
  --host ADDR            interface to listen on                default: 127.0.0.1
  --config FILE          JSON config given to every actor's init; re-read on SIGHUP
  --affinity SRC         sticky key: header:NAME or cookie:NAME (same key, same actor)
  --max-body SIZE        largest request body (b, kb, mb, gb)  default: 1mb  (larger: 413)
  --timeout MS           per-request timeout, 0 = none (larger: 504)        default: 0
  --grace S              seconds to finish in-flight requests on SIGTERM    default: 10
  --header-timeout S     seconds a client may take to send its request headers   default: 10
  --request-timeout S    seconds a client may take to send a whole request (0 = none)   default: 300
  --keep-alive-timeout S seconds an idle kept-alive connection stays open    default: 5
  --health PATH|off      readiness route                       default: /_troupe/health
  --metrics PATH|off     Prometheus metrics route              default: /_troupe/metrics
  --log-format FMT       text, or json (pino-compatible lines on stdout)   default: text
  --inspect-port N       serve the live inspector on this port
  --admin-token TOKEN    admin API on the inspector's port: GET/PATCH /_troupe/config,
                         GET /_troupe/config/history (Bearer TOKEN; LABEL:TOKEN names who
                         asked; or TROUPE_ADMIN_TOKEN)
  --config-write         write each change accepted there back to --config (temp file and
                         rename; the previous file kept as FILE.bak)
  --record FILE          record inspection events and snapshots as JSON lines, for
                         troupe inspect FILE (rotated to FILE.1 past 64mb)
  --quiet                no access log
  --cluster URL          join a cluster over NATS (comma-separated URLs); needs --cluster-name
  --cluster-name NAME    the service: nodes with the same name share one config version line
  --node-id ID           this node's id in the cluster         default: hostname-pid
                         (NATS credentials from NATS_TOKEN, NATS_USER + NATS_PASSWORD or NATS_CREDS)
  -h, --help             this text

Signals: SIGHUP re-reads --config and rolls it out as a config change (a bad file is rejected,
the last good config keeps serving); SIGTERM / SIGINT stop accepting, finish what is in flight
within --grace, then exit 0 (a second signal cuts the rest off at once).
`;

export class UsageError extends Error {}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/** `1mb` → 1048576. Binary units, as body-parser and nginx's client_max_body_size use. */
export function parseSize(text: string): number {
  const m = SIZE.exec(text.trim());
  if (m === null) throw new UsageError(`--max-body: '${text}' is not a size (e.g. 512kb, 1mb, 2gb)`);
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

export function parseAffinity(text: string): Affinity {
  const m = /^(header|cookie):(.+)$/.exec(text);
  if (m === null) throw new UsageError(`--affinity: '${text}' must be header:NAME or cookie:NAME`);
  const from = m[1] as Affinity['from'];
  return { from, name: from === 'header' ? m[2]!.toLowerCase() : m[2]! };
}

function int(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name}: '${text}' must be an integer ≥ ${min}`);
  return n;
}

function seconds(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name}: '${text}' must be seconds ≥ 0`);
  }
  return n;
}

/** Returns null for --help. Throws UsageError with a message fit for the terminal. */
export function parseServeArgs(argv: string[]): ServeArgs | null {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return null;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? 'missing <app>' : `one <app> only, got: ${positionals.join(' ')}`,
    );
  }
  const grace = seconds('grace', v.grace, 10);
  const timeouts = checkTimeouts({
    header: seconds('header-timeout', v['header-timeout'], DEFAULT_TIMEOUTS.header / 1000) * 1000,
    request: seconds('request-timeout', v['request-timeout'], DEFAULT_TIMEOUTS.request / 1000) * 1000,
    keepAlive:
      seconds('keep-alive-timeout', v['keep-alive-timeout'], DEFAULT_TIMEOUTS.keepAlive / 1000) * 1000,
  });
  if ((v.cluster === undefined) !== (v['cluster-name'] === undefined))
    throw new UsageError('--cluster and --cluster-name go together');
  if (v['node-id'] !== undefined && v.cluster === undefined)
    throw new UsageError('--node-id needs --cluster');
  const health = v.health ?? '/_troupe/health';
  if (health !== 'off' && !health.startsWith('/'))
    throw new UsageError(`--health: '${health}' must be a path or off`);
  const metrics = v.metrics ?? '/_troupe/metrics';
  if (metrics !== 'off' && !metrics.startsWith('/'))
    throw new UsageError(`--metrics: '${metrics}' must be a path or off`);
  if (metrics !== 'off' && metrics === health) throw new UsageError('--metrics: the same path as --health');
  const logFormat = v['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json')
    throw new UsageError(`--log-format: '${logFormat}' must be text or json`);
  return {
    app: positionals[0]!,
    actors: int('actors', v.actors, 1),
    concurrency: int('concurrency', v.concurrency, 1),
    spread: v.spread ?? false,
    nodeParser: v['node-parser'] ?? false,
    maxQueue: int('max-queue', v['max-queue'], 0),
    port: int('port', v.port, 0) ?? 3000,
    host: v.host ?? '127.0.0.1',
    config: v.config,
    affinity: v.affinity === undefined ? undefined : parseAffinity(v.affinity),
    maxBody: parseSize(v['max-body'] ?? '1mb'),
    timeout: int('timeout', v.timeout, 0) ?? 0,
    grace,
    timeouts,
    health: health === 'off' ? null : health,
    metrics: metrics === 'off' ? null : metrics,
    logFormat,
    quiet: v.quiet ?? false,
    inspectPort: int('inspect-port', v['inspect-port'], 0),
    adminToken: v['admin-token'],
    configWrite: v['config-write'] ?? false,
    record: v.record,
    cluster:
      v.cluster === undefined
        ? undefined
        : { servers: v.cluster.split(','), name: v['cluster-name']!, node: v['node-id'] },
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      actors: { type: 'string' },
      concurrency: { type: 'string' },
      spread: { type: 'boolean' },
      'node-parser': { type: 'boolean' },
      'max-queue': { type: 'string' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      config: { type: 'string', short: 'c' },
      affinity: { type: 'string' },
      'max-body': { type: 'string' },
      timeout: { type: 'string' },
      grace: { type: 'string' },
      'header-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      'keep-alive-timeout': { type: 'string' },
      health: { type: 'string' },
      metrics: { type: 'string' },
      'log-format': { type: 'string' },
      'inspect-port': { type: 'string' },
      'admin-token': { type: 'string' },
      'config-write': { type: 'boolean' },
      record: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      cluster: { type: 'string' },
      'cluster-name': { type: 'string' },
      'node-id': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
