import { ClosedError, ConfigRejectedError, DataCloneError, InvalidArgumentError } from '../actors/errors.js';
import type { ActorHandle } from '../actors/router/actor-handle.js';
import { prepareRollout } from '../actors/router/config-rollout.js';
import {
  findSharedMemory,
  isPlainObject,
  type ResolvedOptions,
  sharedConfigMessage,
} from '../actors/router/options.js';
import { Router } from '../actors/router/router.js';
import { noop } from '../actors/router/router-core.js';
import type { Config, DispatcherSnapshot, InspectionEvent, InspectorOptions } from '../actors/types.js';
import * as P from '../actors/wire/protocol.js';
import { encode } from './codec.js';
import type { LocalNode } from './local-node.js';

/** The cluster side of the adapter: where configure() goes and where snapshot().cluster comes from. */
export interface ClusterSide {
  configure(change: Config): Promise<{ version: number }>;
  snapshot(): NonNullable<DispatcherSnapshot['cluster']>;
  /** Leaves the membership (and undoes a change this node prepared but the cluster never decided). */
  leave(): Promise<void>;
  /** Closes the NATS connection, once the actors are gone. */
  disconnect(): Promise<void>;
}

interface Prepared {
  version: number;
  change: Config;
  live: ActorHandle[];
  release: () => void;
}

/**
 * The router as one node of a cluster. A config change is no longer the router's own decision: the
 * cluster prepares it on every node, commits it by compare-and-set, then tells each node to commit.
 * So this splits the router's one-step rollout into its two phases (LocalNode) and sends `configure()`
 * to the cluster. Everything else (requests, supervision, drain) is the router's, unchanged.
 */
export class ClusterRouter extends Router implements LocalNode {
  cluster: ClusterSide | undefined;
  private prepared: Prepared | undefined;

  constructor(
    opts: ResolvedOptions,
    committed: { version: number; config: Config },
    inspect: ((event: InspectionEvent) => void) | undefined,
    inspector: InspectorOptions | undefined,
  ) {
    super({ ...opts, config: committed.config }, inspect, inspector);
    // Actors start from the cluster's committed version, not from version 1 of this process's options.
    this.version = committed.version;
  }

  // ── LocalNode ────────────────────────────────────────────────────────────────────────────────────

  current(): { version: number; config: Readonly<Config> } {
    return { version: this.version, config: this.config };
  }

  load(): { actors: number; inFlight: number } {
    let inFlight = this.queued;
    for (const s of this.slots) inFlight += s.current?.inFlight ?? 0;
    return { actors: this.slots.filter((s) => !s.failed).length, inFlight };
  }

  prepare(change: Config, version: number): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError());
    let release: () => void = noop;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run = this.configChain.then(() => this.prepareHeld(change, version, release));
    // Held from prepare to commit or abort: an actor restarted meanwhile catches up after the decision,
    // and so cannot miss the version (its catch-up is serialized on the same chain).
    this.configChain = run.then(
      () => held,
      () => undefined,
    );
    return run;
  }

  commit(version: number): void {
    const p = this.prepared;
    if (p === undefined || p.version !== version) return;
    this.prepared = undefined;
    this.version = version;
    this.config = Object.freeze({ ...this.config, ...p.change });
    for (const h of p.live) {
      if (h.exited) continue;
      h.outbox.pushQuiet(P.COMMIT, version, 0);
      h.configVersion = version;
    }
    this.report({ type: '@troupe.config', at: Date.now(), version, phase: 'commit' });
    p.release();
  }

  async abort(version: number): Promise<void> {
    const p = this.prepared;
    if (p === undefined || p.version !== version) return;
    this.prepared = undefined;
    const undone = await Promise.allSettled(p.live.map((h) => h.abortConfig(version)));
    undone.forEach((r, i) => {
      const h = p.live[i]!;
      if (h.exited) return;
      this.report({ type: '@troupe.config', at: Date.now(), version, phase: 'rollback', actorId: h.slot });
      // An actor that cannot undo a change is not trusted any more, as one that rejected it.
      const slot = this.slots[h.slot]!;
      if (r.status === 'rejected' && slot.current === h)
        void this.replace(slot, `config version ${version} aborted`, true);
    });
    p.release();
  }

  private async prepareHeld(change: Config, version: number, release: () => void): Promise<void> {
    const live = this.slots
      .filter((s) => s.accepting && s.current !== undefined && !s.current.exited)
      .map((s) => s.current!);
    for (const s of this.slots) {
      const h = s.caughtUp;
      if (h !== undefined && !h.exited && !live.includes(h)) live.push(h);
    }
    const emit = this.inspecting ? (ev: InspectionEvent) => this.emitInspection(ev) : undefined;
    emit?.({ type: '@troupe.config', at: Date.now(), version, phase: 'start', change });
    const failures = await prepareRollout(live, change, version, this.opts.canary, emit);
    if (failures.length > 0) {
      release();
      for (const { handle } of failures) {
        const slot = this.slots[handle.slot]!;
        if (slot.current === handle) void this.replace(slot, `config version ${version} rejected`, true);
      }
      const first = failures[0]!;
      throw new ConfigRejectedError(first.handle.slot, version, first.error);
    }
    this.prepared = { version, change, live, release };
  }

  private report(event: InspectionEvent): void {
    if (this.inspecting) this.emitInspection(event);
  }

  // ── Dispatcher ───────────────────────────────────────────────────────────────────────────────────

  override configure(change: Config): Promise<{ version: number }> {
    if (this.closing !== undefined || this.closed) return Promise.reject(new ClosedError());
    const invalid = checkChange(change);
    if (invalid !== undefined) return Promise.reject(invalid);
    if (this.cluster === undefined) return super.configure(change);
    return this.cluster.configure(change);
  }

  override snapshot(): DispatcherSnapshot {
    const snap = super.snapshot();
    return this.cluster === undefined ? snap : { ...snap, cluster: this.cluster.snapshot() };
  }

  protected override async shutdown(grace: number): Promise<void> {
    // Leave first: the other nodes stop counting on this one for config changes while it drains.
    await this.cluster?.leave();
    try {
      await super.shutdown(grace);
    } finally {
      await this.cluster?.disconnect();
    }
  }
}

/** The same checks as a local change, plus the serialization that carries it to the other nodes. */
function checkChange(change: Config): Error | undefined {
  if (!isPlainObject(change)) {
    return new InvalidArgumentError(
      'A config change must be a plain object of top-level keys, e.g. { limit: 10 }.',
    );
  }
  const shared = findSharedMemory(change, 'The config change');
  if (shared !== undefined) return new InvalidArgumentError(sharedConfigMessage(shared));
  try {
    encode(change);
  } catch (err) {
    return new DataCloneError('config change', err);
  }
  return undefined;
}
