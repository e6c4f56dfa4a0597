import type { ResourceLimits, TransferListItem } from 'node:worker_threads';
import type { InspectionEvent } from './observation.js';

// The options users pass: to createDispatcher, to a request, to configure and close.

/** A config object: plain JSON-like data. A change replaces some of its top-level keys (shallow merge). */
export type Config = Record<string, unknown>;

export interface DispatcherOptions {
  /** Path or file URL of the app module loaded in every actor. */
  app: string | URL;
  /** Number of request actors (worker threads). Default `os.availableParallelism()`. */
  actors?: number;
  /**
   * Requests one actor serves at once. Default 32: deep enough that the port stays pipelined (a round trip
   * costs as much as a dozen or more messages, doubled for bursts; the README's performance section has
   * the figures), small enough that the router, not the actor, holds the backlog and can still place it
   * on the least-loaded actor.
   */
  concurrency?: number;
  /** Initial config, given to every actor's `init`. */
  config?: Config;
  /** Requests waiting in the router beyond which `request` rejects at once with QueueFullError. Default 10,000. */
  maxQueue?: number;
  /** Default per-request timeout in ms (0 = none, the default). */
  timeout?: number;
  /** How long an actor's `init` may run, in ms. Default 30,000. */
  initTimeout?: number;
  /**
   * Bounded-load factor c for keyed placement: a key stays on its actor while the actor has room under
   * `concurrency`, and past that only while the actor holds less than ⌈c · average load⌉. Default 1.5:
   * tighter bounds balance better but move more keys away from the state their actor built for them.
   */
  balanceFactor?: number;
  /**
   * Park actors that unkeyed traffic does not need: unkeyed requests go to as few actors as keep up with
   * them (their event-loop utilization, sampled every 50 ms, says how many), and the others sleep until
   * the load grows, a handler holds an awake actor's loop, an awake actor is full, or the requests sent
   * to it are expected to hold a millisecond of its time (by what their route costs: see
   * `RequestOptions.route`). Each actor that
   * takes part of a burst is a thread woken for it, which for cheap handlers costs more than the handlers.
   * Keyed requests always go to their key's actor. Default true; false spreads every burst over all actors.
   */
  park?: boolean;
  /** Restarts of one slot allowed within `restartWindow` ms before the slot is marked failed. Default 5. */
  maxRestarts?: number;
  /** Window of the restart intensity limit, in ms. Default 10,000. */
  restartWindow?: number;
  /** First restart backoff in ms (doubles, with jitter, up to 5 s). Default 50. */
  restartBackoff?: number;
  /** Grace in ms after a timeout before a handler that ignores its signal is cut off. Default 1,000. */
  killAfter?: number;
  /** Replace an actor after about this many requests (±10% jitter), make-before-break. Default 0 (never). */
  maxRequestsPerActor?: number;
  /** Replace an actor whose used heap passes this many MB, make-before-break. Default 0 (never). */
  maxHeapMB?: number;
  /** Worker resource limits (an actor that passes them dies and is replaced). */
  resourceLimits?: ResourceLimits;
  /**
   * Which of the app's handlers serves requests: `handle` (payload in, value or iterable out) or `fetch`
   * (a web Request in, a Response out, as `troupe serve` uses it). Default: `handle` when the app has
   * one, else `fetch`.
   */
  entry?: 'handle' | 'fetch';
  /** Roll a config change out to one actor first, then the rest. Default true. */
  canary?: boolean;
  /**
   * How long each actor gets to acknowledge a config change (its `configure` hook), in ms. Past it the
   * change is rejected everywhere and the actor that did not answer is replaced. Default 30,000.
   */
  configTimeout?: number;
  /**
   * How long a retiring actor (replaced, recycled, or closing) gets for its app's `close` hook once its
   * last request has ended, in ms; then its thread is ended. Default 10,000.
   */
  closeTimeout?: number;
  /**
   * An actor whose event loop has not turned for this many ms is stalled (a handler blocking its thread):
   * it takes no new request until its loop turns again. 0 turns the check off. Default 500.
   */
  stallAfter?: number;
  /** An actor stalled this long (ms) is replaced as if it had crashed. Default 30,000. */
  stallTimeout?: number;
  /** Receives JSON-safe inspection events from the router and every actor. */
  inspect?: (event: InspectionEvent) => void;
  /** Serve the live inspector page. */
  inspector?: InspectorOptions;
  /** Record every inspection event and periodic snapshots to a file, for `troupe inspect FILE` later. */
  record?: RecordOptions;
  /**
   * Record request counts and wait / run time histograms for `metrics()`. Default true; false takes the
   * recording off the request path (`metrics()` then reports only restarts, utilization and heap).
   */
  metrics?: boolean;
  /**
   * A `troupe.request` OpenTelemetry span per request, whose context the handler runs in. `'auto'` (the
   * default): when a tracer provider is registered as the dispatcher is created; `true` needs
   * `@opentelemetry/api` installed.
   */
  tracing?: boolean | 'auto';
  /**
   * Join a cluster of troupe nodes over NATS JetStream: one config version line for every node.
   * Without it troupe is one process and never loads a NATS client.
   */
  cluster?: ClusterOptions;
}

export interface RecordOptions {
  /** The JSON-lines file; when it would pass `maxBytes` it is renamed to `<path>.1` and a new one begun. */
  path: string;
  /** Bytes one file may hold before rotation. Default 64 MiB; at least 64 KiB. */
  maxBytes?: number;
  /** Keep request payloads and config values in the recording. Default false (they read `(hidden)`). */
  showPayloads?: boolean;
  /** A snapshot of the whole dispatcher is written at least this often, in ms. Default 1,000. */
  snapshotEvery?: number;
}

/** Who asks for a config change: recorded in `configHistory()`. */
export interface ConfigureOptions {
  /** A short label for who asked (an admin token's label, a user name, `sighup`). */
  by?: string;
}

export interface ClusterOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** The service: nodes with the same name form one cluster (letters, digits, `-`, `_`). */
  name: string;
  /** This node's id, unique in the cluster. Default: hostname and pid. */
  node?: string;
  /** A member silent for this long (ms) drops out of every other node's membership. Default 5,000. */
  nodeTimeout?: number;
  /** How long (ms) each member has to prepare a config change before the change is aborted. Default 5,000. */
  prepareTimeout?: number;
  /** NATS credentials, as the NATS client takes them; never logged. */
  token?: string;
  user?: string;
  pass?: string;
  /** Path of a NATS `.creds` file (JWT and seed). */
  credsFile?: string;
}

export interface InspectorOptions {
  /** Port on the host; 0 picks a free one. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1; any other needs `token`. */
  host?: string;
  /** Required for a non-loopback host: the page and its events then need `?token=`. */
  token?: string;
  /** Show request payloads and header values in the timeline. Default false. */
  showPayloads?: boolean;
  /** Events kept for pause and step back. Default 2,000. */
  history?: number;
  /** Turn on the admin API (`/_troupe/config`) and the page's config editor. */
  admin?: AdminOptions;
}

/** The web-alterable config: who may change it, and what to do once a change is accepted. */
export interface AdminOptions {
  /**
   * Bearer tokens that may read and change the config: `{ label: token }` (the label is recorded as who
   * asked), or one token, labelled `admin`. At least 8 characters, no spaces.
   */
  tokens: Record<string, string> | string;
  /**
   * Runs after each change accepted through the admin API, before the answer (`troupe serve
   * --config-write` writes the config file here). If it throws, the change stays committed and the
   * answer carries `persistError`.
   */
  onAccepted?(config: Config, version: number): void | Promise<void>;
}

export interface RequestOptions {
  /** Affinity key: the same key goes to the same actor while loads allow. */
  key?: string;
  /** Aborts a queued request at once, and a running one through `ctx.signal`. */
  signal?: AbortSignal;
  /** Per-request timeout in ms; overrides the dispatcher's default. 0 = none. */
  timeout?: number;
  /**
   * The request is idempotent: if its actor dies, run it once more on a ready actor. Ignored for streams,
   * requests with a `body` and requests with `transfer` buffers: none of them can be replayed as sent.
   */
  retry?: boolean;
  /** A body streamed into the actor with backpressure; the handler reads it from `ctx.body`. */
  body?: AsyncIterable<unknown>;
  /** Buffers in the payload to transfer rather than copy. */
  transfer?: TransferListItem[];
  /**
   * A W3C `traceparent` to continue: the request's span becomes its child (instead of the caller's active
   * span). `troupe serve` passes the incoming header.
   */
  traceparent?: string;
  /**
   * In a cluster: run on this node, even when another node owns the key (a load balancer in front already
   * chose the node, as for `troupe serve`'s HTTP requests). Ignored without a cluster.
   */
  local?: boolean;
  /**
   * What kind of request this is, for placement: requests of one route are taken to cost alike. The
   * dispatcher learns how long each route's handler holds its actor's loop (until it returns or first
   * awaits), and a request of a heavy route counts as that much work on its actor from the moment it is
   * sent, so cheap requests go elsewhere at once instead of waiting behind it. `troupe serve` uses the
   * method and path, with id segments (digits, UUIDs) as `:id`.
   */
  route?: string;
}

/** `metrics()` options. */
export interface MetricsOptions {
  /** Start a new period after this reading: counters and histograms go back to zero. */
  reset?: boolean;
  /**
   * Upper bounds in ms: each latency summary then carries `buckets`, the cumulative count of samples
   * ≤ each bound (the Prometheus histogram's `le` buckets), exact to the histogram's precision.
   */
  buckets?: readonly number[];
}

export interface CloseOptions {
  /** How long queued and running requests may take to finish, in ms. Default: as long as they need. */
  grace?: number;
}
