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
   * is ~25 µs, one message ~1.5 µs, so ~16 messages cover the trip, doubled for bursts), small enough that
   * the router, not the actor, holds the backlog and can still place it on the least-loaded actor.
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
   * `concurrency`, and past that only while the actor holds less than ⌈c · average load⌉. Default 1.25.
   */
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
  /** Receives JSON-safe inspection events from the router and every actor. */
  inspect?: (event: InspectionEvent) => void;
  /** Serve the live inspector page. */
  inspector?: InspectorOptions;
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
    }
  | { type: '@troupe.crash'; at: number; actorId: number; error: string; inFlight: number }
  | { type: '@troupe.restart'; at: number; actorId: number; restarts: number; reason: string }
  | { type: '@troupe.slot-failed'; at: number; actorId: number; error: string };

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
  configure(change: Config): Promise<{ version: number }>;
  snapshot(): DispatcherSnapshot;
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
