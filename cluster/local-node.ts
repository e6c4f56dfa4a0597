import type { Config } from '../actors/types.js';

/**
 * What the cluster needs from this process's dispatcher: the committed config and the two phases of a
 * config change across its own actors. The cluster decides *when* (after every member prepared, after
 * the compare-and-set on the bucket); the local node only applies.
 */
export interface LocalNode {
  /** The version and config every actor of this node runs. */
  current(): { version: number; config: Readonly<Config> };
  /**
   * Phase one on every local actor: they apply `change` and keep serving the old version. Throws
   * ConfigRejectedError (and has undone it everywhere) when an actor rejects. Until `commit` or `abort`
   * for this version, no other change starts on this node.
   */
  prepare(change: Config, version: number): Promise<void>;
  /** Every request dispatched from now on runs under `version`. */
  commit(version: number): void;
  /** Undoes a prepared change on every actor that applied it. */
  abort(version: number): Promise<void>;
  /** What the membership heartbeat reports about this node. */
  load(): { actors: number; inFlight: number };
}
