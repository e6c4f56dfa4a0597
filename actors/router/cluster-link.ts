import type { ClusterSnapshot, Config, Dispatcher, DispatcherOptions, InspectionEvent } from '../types.js';
import type { ConfigRollout } from './config-rollout.js';
import type { DispatcherDeps } from './dispatcher.js';
import type { ResolvedOptions } from './options.js';

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
}

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
  ): ClusterMember;
}

/** Starts a dispatcher that is a node of `options.cluster` (the cluster code is loaded only then). */
export type JoinCluster = (
  resolved: ResolvedOptions,
  options: DispatcherOptions,
  deps: DispatcherDeps,
) => Promise<Dispatcher>;
