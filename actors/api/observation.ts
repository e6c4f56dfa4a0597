import type { RequestActorState, RouterState } from '../../machines/index.js';
import type { Config } from './options.js';

// What users read back: snapshots, metrics, config history and inspection events.

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

/** How one node sees one member: `behind` while it catches up a committed config version. */
export interface ClusterNodeSnapshot {
  id: string;
  state: 'joining' | 'ready' | 'behind' | 'left';
  configVersion: number;
  actors: number;
  inFlight: number;
  /** When this node last heard from it (ms since the epoch). */
  lastSeen: number;
}

export interface ClusterSnapshot {
  name: string;
  node: string;
  /** True while this node is cut off from NATS: it keeps serving its last committed version. */
  partitioned: boolean;
  /** Every member this node sees, itself included. */
  nodes: ClusterNodeSnapshot[];
  /** Requests across nodes: sent to others (spilled among them), served for others, lost with a node, retried. */
  requests?: {
    sent: number;
    served: number;
    spilled: number;
    lost: number;
    retried: number;
    /** Requests out on each other node now, by node id. */
    inFlight: Record<string, number>;
  };
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
  /** Parked: unkeyed requests go to it only when the awake actors are full or held (the `park` option). */
  parked?: boolean;
  /** A failed slot is tried again at this time (ms since the epoch). */
  retryAt?: number;
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

export interface RouteCost {
  route: string;
  /** The handler's recent time per request before it returned, µs. */
  us: number;
}

export interface DispatcherSnapshot {
  state: RouterState;
  degraded: boolean;
  configVersion: number;
  config: Readonly<Config>;
  /** Unkeyed requests waiting in the router's master queue. */
  queued: number;
  /**
   * How many actors take unkeyed requests first; the others are parked (asleep) until the load needs
   * them (the `park` option; every actor when it is off).
   */
  awake: number;
  /**
   * What each route's requests have cost lately, as placement expects them to (`RequestOptions.route`;
   * the method and path under `troupe serve`): how long the handler held its actor's loop before it
   * returned, µs. The 32 heaviest, heaviest first; routes that share an entry of the fixed table show
   * as one (the first seen there).
   */
  routes: RouteCost[];
  actors: ActorSnapshot[];
  /** The cluster as this node sees it; absent without `cluster`. */
  cluster?: ClusterSnapshot;
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
      /** A request went to another node of the cluster: the key's owner, a spill, or a retry after a node was lost. */
      type: '@troupe.node-route';
      at: number;
      requestId: string;
      node: string;
      reason: 'owner' | 'spill' | 'retry';
      key?: string;
      stream: boolean;
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
  | { type: '@troupe.stall'; at: number; actorId: number; stalled: boolean }
  | {
      type: '@troupe.cluster';
      at: number;
      /** This node. */
      node: string;
      /** A member joined, left or dropped out (silent past nodeTimeout); this node lost or regained NATS or caught up. */
      change: 'joined' | 'left' | 'dropped' | 'partitioned' | 'reconnected' | 'caught-up';
      /** The member that joined, left or dropped out. */
      member?: string;
      /** The config version this node runs after the change. */
      version?: number;
    };
