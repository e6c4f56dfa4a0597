import type {
  ClusterSnapshot,
  Config,
  Dispatcher,
  DispatcherOptions,
  InspectionEvent,
  RequestOptions,
} from '../types.js';
import type { ConfigRollout } from './config-rollout.js';
import type { DispatcherDeps } from './dispatcher.js';
import type { ResolvedOptions } from './options.js';
import type { PendingRequest } from './pending.js';
import type { ForwardTrace } from './tracing.js';

/**
 * What the dispatcher needs from a cluster it is a node of. The cluster decides config changes (every
 * node prepares, the change commits by compare-and-set, then each node commits) and says who is a member;
 * the dispatcher keeps its actors, requests and supervision to itself.
 */
export interface ClusterMember {
  configure(change: Config): Promise<{ version: number }>;
  snapshot(): ClusterSnapshot;
  /** Leaves the membership, undoing a change this node prepared that the cluster never decided. */
  leave(): Promise<void>;
  /** Closes the connection, once the actors are gone. */
  disconnect(): Promise<void>;
  /** Requests across nodes: where one goes, and how it gets there. */
  readonly remote: RemoteRouter;
}

/** Where the cluster sends a request that this node does not run. */
export interface RouteDecision {
  node: string;
  /** `owner`: the node owns the key; `spill`: the owner (or this node) was at its load bound. */
  reason: 'owner' | 'spill';
}

export interface RemoteRouter {
  /** Undefined: this node runs the request. */
  route(options: RequestOptions | undefined, stream: boolean): RouteDecision | undefined;
  request(payload: unknown, options: RequestOptions | undefined, to: RouteDecision): Promise<unknown>;
  stream(
    payload: unknown,
    options: RequestOptions | undefined,
    to: RouteDecision,
  ): AsyncIterableIterator<unknown>;
  /** Leaving: no new request goes out; those out keep their outcome. */
  refuse(): void;
  /** Resolves once no request of this node is out on another node. */
  idle(): Promise<void>;
  /** Closed: whatever is still out or served here ends. */
  close(): void;
}

/** This node's own request path, for requests the cluster decided it runs (its own placement picks the actor). */
export interface LocalRequests {
  request(payload: unknown, options: RequestOptions): Promise<unknown>;
  /**
   * request() settled through callbacks and cancelled through `cancel(started, error)`, with no
   * AbortSignal per request. Throws what request() would reject with at once.
   */
  start(
    payload: unknown,
    options: RequestOptions,
    resolve: (v: unknown) => void,
    reject: (e: Error) => void,
  ): StartedRequest;
  /** Stops a request start() began, as an abort of its signal would (nothing once it has settled). */
  cancel(started: StartedRequest, error: Error): void;
  stream(payload: unknown, options: RequestOptions): AsyncIterableIterator<unknown>;
  /** Live actors, requests held (running or queued), and how many run at once when every actor is busy. */
  load(): { actors: number; inFlight: number; capacity: number };
  /** The default request timeout (ms, 0 for none). */
  timeout: number;
  /** A span for a request sent to `node`, while the dispatcher traces (undefined otherwise). */
  forward?(options: RequestOptions | undefined, id: string, node: string): ForwardTrace | undefined;
}

/** A request LocalRequests.start() began: only ever handed back to LocalRequests.cancel(). */
export type StartedRequest = PendingRequest;

/** Given to the dispatcher of a node: where its config line starts, and how to join. */
export interface ClusterAttachment {
  /** The committed version `options.config` is. */
  version: number;
  /**
   * Called once, in the dispatcher's constructor, with its config collaborator, a load gauge and the
   * way to its inspection listeners.
   */
  attach(
    config: ConfigRollout,
    load: () => { actors: number; inFlight: number },
    inspect: (event: InspectionEvent) => void,
    local: LocalRequests,
    inspecting: () => boolean,
  ): ClusterMember;
}

/** Starts a dispatcher that is a node of `options.cluster` (the cluster code is loaded only then). */
export type JoinCluster = (
  resolved: ResolvedOptions,
  options: DispatcherOptions,
  deps: DispatcherDeps,
) => Promise<Dispatcher>;
