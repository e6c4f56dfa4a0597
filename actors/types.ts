import type { ResourceLimits, TransferListItem } from 'node:worker_threads';
import type { RequestActorState, RouterState } from '../machines/index.js';

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
  /** Bounded-load factor c for keyed placement: an actor takes at most ⌈c · average load⌉. Default 1.25. */
  balanceFactor?: number;
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

/** One top-level key of a config change: its committed value before (absent: unset) and after (absent: removed). */
export interface ConfigChange {
  key: string;
  from?: unknown;
  to?: unknown;
}

/** One proposed config version, as `configHistory()` reports it. */
export interface ConfigRecord {
  /** The version it became, or would have become (a rejected proposal's version is reused by the next). */
  version: number;
  /** When its rollout started (ms since the epoch). */
  at: number;
  /** When it was committed or rejected. */
  settledAt?: number;
  by?: string;
  outcome: 'pending' | 'accepted' | 'rejected';
  /** The change as proposed (top-level keys; `undefined` removes a key). */
  change: Config;
  /** What it changed against the config committed when its rollout started. */
  changes: ConfigChange[];
  /** Actors that applied it. */
  acks: number[];
  /** Actors that refused it, with their error (actor -1: the rollout itself failed). */
  rejects: { actorId: number; error: string }[];
  /** Actors that had applied it and undid it because another refused. */
  rolledBack: number[];
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
}

export interface ActorSnapshot {
  id: number;
  state: RequestActorState;
  inFlight: number;
  /** Requests waiting in the router for this actor (keyed placement). */
  queued: number;
  streams: number;
  served: number;
  restarts: number;
  configVersion: number;
  threadId: number;
  /** Why the slot failed, when it did. */
  error?: string;
  /** Its event loop has not turned for `stallAfter` ms: it takes no new request. */
  stalled?: boolean;
  /** A failed slot is tried again at this time (ms since the epoch). */
  retryAt?: number;
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

/** A latency histogram's summary, in milliseconds (two significant digits: within 1%). */
export interface LatencySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  /** Cumulative counts for the `buckets` bounds asked for, in the same order. */
  buckets?: number[];
}

/** How requests ended, since the start of the period. */
export interface RequestCounts {
  /** Requests whose caller got the handler's result or stream end. */
  completed: number;
  /** Requests whose caller got an error, by its `code` (ERR_TROUPE_TIMEOUT, ERR_TROUPE_QUEUE_FULL…; a
   * handler's error counts under the app's own `code` when it set one, else ERR_TROUPE_HANDLER). */
  failed: Record<string, number>;
  /** Streams whose consumer left before their end (no error: the caller chose to stop). */
  cancelled: number;
  /** Streamed requests started on an actor. */
  streams: number;
}

export interface RolloutCounts {
  committed: number;
  rejected: number;
}

export interface ActorMetrics extends RequestCounts {
  id: number;
  /** The slot's actor was replaced after a crash, a recycle, a reload or a rejected config. */
  restarts: number;
  /** Config versions this actor committed, and those it rejected. */
  rollouts: RolloutCounts;
  /** From submit to the start on this actor. */
  wait: LatencySummary;
  /** From the start on this actor to its outcome (result, stream end or error). */
  run: LatencySummary;
  /** Share of time the actor's event loop was busy (0..1), since its thread started or the last reset. */
  utilization: number | null;
  /**
   * The current thread's event-loop time since it started, in ms: busy and idle. Monotone while the
   * thread lives (a replacement starts from 0), so a scraper can take rates of it.
   */
  eventLoop: { active: number; idle: number } | null;
  /** Used heap in bytes, or null when the actor did not answer within a moment (busy, or gone). */
  heapUsed: number | null;
  threadId: number;
}

export interface DispatcherMetrics extends RequestCounts {
  /** Epoch ms when this period began (start, or the last reset). */
  since: number;
  /** Whether requests are recorded (the `metrics` option). */
  recording: boolean;
  configVersion: number;
  restarts: number;
  rollouts: RolloutCounts;
  wait: LatencySummary;
  run: LatencySummary;
  actors: ActorMetrics[];
}

export interface DispatcherSnapshot {
  state: RouterState;
  degraded: boolean;
  configVersion: number;
  config: Readonly<Config>;
  /** Unkeyed requests waiting in the router's master queue. */
  queued: number;
  actors: ActorSnapshot[];
}

/** Where an inspection event came from: the router, or the request actor in slot `actorId`. */
export type InspectionSource = 'router' | 'actor';

/**
 * JSON-safe inspection events. `@xstate.*` are the machines' own inspection events (snapshot, event,
 * actor), reduced to plain data so they cross threads; `@troupe.*` are the router's decisions.
 */
export type InspectionEvent =
  | {
      type: '@xstate.snapshot' | '@xstate.event' | '@xstate.actor';
      source: InspectionSource;
      actorId?: number;
      /** The actor's thread: during a replacement, two threads share one actor id. */
      threadId?: number;
      at: number;
      event?: { type: string; [k: string]: unknown };
      state?: string;
      context?: Record<string, unknown>;
    }
  | {
      type: '@troupe.route';
      at: number;
      requestId: number;
      actorId: number;
      key?: string;
      /** The key's first choice was at its load bound; the request went to the key's next actor. */
      spilled: boolean;
      stream: boolean;
      payload?: unknown;
    }
  | {
      type: '@troupe.done';
      at: number;
      requestId: number;
      actorId: number;
      outcome: 'ok' | 'error';
      ms: number;
    }
  | {
      type: '@troupe.config';
      at: number;
      version: number;
      phase: 'start' | 'ack' | 'reject' | 'commit' | 'rollback';
      actorId?: number;
      error?: string;
      change?: Config;
      /** On `start`: who asked, when the caller said (`configure(change, { by })`). */
      by?: string;
    }
  | { type: '@troupe.crash'; at: number; actorId: number; error: string; inFlight: number }
  | { type: '@troupe.restart'; at: number; actorId: number; restarts: number; reason: string }
  | { type: '@troupe.slot-failed'; at: number; actorId: number; error: string }
  | { type: '@troupe.revive'; at: number; actorId: number; reason: string }
  | { type: '@troupe.stall'; at: number; actorId: number; stalled: boolean };

/** What a handler sees besides its payload. */
export interface RequestContext<State = unknown, C extends Config = Config> {
  actorId: number;
  /** Frozen snapshot of the config version the request started under. */
  config: Readonly<C>;
  configVersion: number;
  /** Aborted when the caller aborts, the request times out, the consumer leaves a stream, or the actor drains past its grace. */
  signal: AbortSignal;
  /** What the app's `init` returned in this actor. */
  state: State;
  /** The streamed request body, when the caller sent one (`RequestOptions.body`). */
  body: AsyncIterable<unknown> | undefined;
  /**
   * The W3C `traceparent` of the request's `troupe.request` span, when the dispatcher traces requests:
   * for propagating the trace onwards (outgoing calls). With OpenTelemetry loaded, the handler already
   * runs in this span's context, so spans it starts are its children.
   */
  traceparent: string | undefined;
}

export interface InitContext<C extends Config = Config> {
  actorId: number;
  config: Readonly<C>;
  configVersion: number;
}

export interface ConfigureContext<State = unknown, C extends Config = Config> {
  actorId: number;
  /** The config before the change. */
  config: Readonly<C>;
  /** The config after the change (previous one with the changed keys replaced). */
  next: Readonly<C>;
  configVersion: number;
  state: State;
}

export interface CloseContext<State = unknown> {
  actorId: number;
  state: State;
}

export type HandlerResult = unknown;

/** The app module's shape: `export default defineApp({ ... })`. Everything but `handle` or `fetch` is optional. */
export interface App<State = unknown, C extends Config = Config, P = unknown> {
  init?(ctx: InitContext<C>): State | Promise<State>;
  handle?(payload: P, ctx: RequestContext<State, C>): HandlerResult;
  /** Web-standard fetch handler (Hono, Bun, Deno style), used by `troupe serve`. */
  fetch?(request: Request, ctx: RequestContext<State, C>): Response | Promise<Response>;
  configure?(change: Partial<C>, ctx: ConfigureContext<State, C>): void | Promise<void>;
  close?(ctx: CloseContext<State>): void | Promise<void>;
}

export interface CloseOptions {
  /** How long queued and running requests may take to finish, in ms. Default: as long as they need. */
  grace?: number;
}

/** The programmatic actor API. */
export interface Dispatcher extends AsyncDisposable {
  /** Runs one whole request on one actor; resolves with the handler's result. */
  request<R = unknown>(payload: unknown, options?: RequestOptions): Promise<R>;
  /**
   * Runs a request whose handler returns an (async) iterable; yields its chunks with credit-based
   * backpressure. Leaving the `for await` early ends the stream in the actor.
   */
  stream<C = unknown>(payload: unknown, options?: RequestOptions): AsyncIterableIterator<C>;
  /** Rolls a change out to every actor (all-or-nothing); resolves when every actor runs the new version. */
  configure(change: Config, options?: ConfigureOptions): Promise<{ version: number }>;
  /** Every proposed config version, oldest first (the initial config is version 1), accepted or not. */
  configHistory(): ConfigRecord[];
  snapshot(): DispatcherSnapshot;
  /**
   * Counters, wait / run time histograms, event-loop utilization and heap, for the dispatcher and each
   * actor, since the start (or the last `reset`).
   */
  metrics(options?: MetricsOptions): Promise<DispatcherMetrics>;
  /** Replaces every actor one at a time, each only after the previous replacement is ready. */
  reload(): Promise<void>;
  /**
   * Takes no new requests, finishes those queued and in flight and the open streams, closes the app,
   * ends every thread. With `grace` (ms), what is still running then is cut off: its caller gets
   * ClosedError, its `ctx.signal` aborts, and the threads are ended without waiting for it.
   */
  close(options?: CloseOptions): Promise<void>;
  /** Receives every inspection event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: InspectionEvent) => void): () => void;
  /** The live inspector page's URL, when `inspector` was given. */
  readonly inspectorUrl: string | undefined;
  on(event: 'degraded', listener: (info: { actorId: number; error: string }) => void): this;
  off(event: 'degraded', listener: (info: { actorId: number; error: string }) => void): this;
}
