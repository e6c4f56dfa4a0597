import type { ConfigRecord, DispatcherMetrics, DispatcherSnapshot, InspectionEvent } from './observation.js';
import type { CloseOptions, Config, ConfigureOptions, MetricsOptions, RequestOptions } from './options.js';

// The Dispatcher users hold.

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
