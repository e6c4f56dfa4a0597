import type { Config } from './options.js';

// The app module's side: what its hooks receive.

/** What a handler sees besides its payload. */
export interface RequestContext<State = unknown, C extends Config = Config> {
  actorId: number;
  /** The id of the cluster node running the request; undefined without a cluster. */
  node: string | undefined;
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
