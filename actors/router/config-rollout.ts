import {
  ClosedError,
  ConfigRejectedError,
  DataCloneError,
  InvalidArgumentError,
  NoActorError,
  TimeoutError,
} from '../errors.js';
import type { Config, InspectionEvent } from '../types.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import type { InspectionHub } from './inspection-hub.js';
import type { Metrics } from './metrics.js';
import { findSharedMemory, isPlainObject, sharedConfigMessage } from './options.js';
import type { Slot } from './slot.js';

export interface RolloutFailure {
  handle: ActorHandle;
  error: unknown;
}

/** What the rollout asks of supervision: an actor that rejected a change is not trusted any more. */
export interface RolloutHooks {
  distrust(slot: Slot, version: number): void;
  /** Sees every rollout event, watched or not (the config history). */
  observe?(event: Extract<InspectionEvent, { type: '@troupe.config' }>): void;
}

const noop = () => {};

/** Versions whose change is remembered for catch-ups. */
const KEEP_CHANGES = 256;

/**
 * An actor's answer to a prepare or abort, bounded: the thread dying or `ms` passing is a rejection too,
 * so one stuck or dead actor rejects the change instead of stalling it (and every change after it).
 */
function bounded(work: Promise<void>, h: ActorHandle, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TimeoutError(
            ms,
            `Actor ${h.slot} did not answer a config change within ${ms} ms (configTimeout).`,
          ),
        ),
      ms,
    );
  });
  const died = h.exitedPromise.then((detail) => {
    throw new Error(`Actor ${h.slot} exited during the config change: ${detail}`);
  });
  return Promise.race([work, late, died]).finally(() => clearTimeout(timer));
}

/**
 * Config versions and their rollout to the actors. A change is version n+1, applied in two phases:
 * every live actor prepares it (applies it to its live objects, keeps serving n), then it is committed
 * everywhere, or aborted everywhere if any actor rejected it. Rollouts, and the catch-up of actors
 * started from an older version, run one at a time on one chain, so no actor misses a version.
 */
export class ConfigRollout {
  private version: number;
  private config: Readonly<Config>;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The change each recent version made: a catch-up sends only what changed since the actor's version. */
  private readonly changes = new Map<number, Config>();
  /** Set by the dispatcher: counts committed and rejected versions. */
  metrics: Metrics | undefined;
  /** A change prepared by prepare() and waiting for commit() or abort(). */
  private prepared: { version: number; change: Config; live: ActorHandle[]; release: () => void } | undefined;

  constructor(
    initial: Config,
    private readonly slots: readonly Slot[],
    private readonly canary: boolean,
    /** How long each actor gets to answer a prepare or an abort. */
    private readonly timeout: number,
    private readonly hub: InspectionHub,
    private readonly hooks: RolloutHooks,
    /** The version `initial` is: 1, or a cluster's committed version for a node that joins it. */
    initialVersion = 1,
  ) {
    this.config = Object.freeze({ ...initial });
    this.version = initialVersion;
  }

  /** The committed version and its config: what a new actor starts from. */
  current(): { version: number; config: Readonly<Config> } {
    return { version: this.version, config: this.config };
  }

  /** Checks a change, then queues its rollout behind the ones before it. */
  configure(change: Config): Promise<{ version: number }> {
    if (this.closed) return Promise.reject(new ClosedError());
    const invalid = checkChange(change);
    if (invalid !== undefined) return Promise.reject(invalid);
    return this.enqueue(() => this.rollout(change));
  }

  /**
   * Phase one alone, for a change decided elsewhere (a cluster commits it only once every node has
   * prepared it): every live actor applies `change` as `version` and keeps serving the current one.
   * Rejects with ConfigRejectedError, undone everywhere, if an actor rejects. The chain stays held until
   * commit() or abort(), so neither a catch-up nor another change runs in between.
   */
  prepare(change: Config, version: number): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError());
    let release = noop;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run = this.chain.then(async () => {
      try {
        const live = await this.prepareLive(change, version);
        this.prepared = { version, change, live, release };
      } catch (err) {
        release();
        throw err;
      }
    });
    this.chain = run.then(() => held, noop);
    return run;
  }

  /** Phase two of a prepared change: every request dispatched from now on runs under `version`. */
  commit(version: number): void {
    const p = this.prepared;
    if (p === undefined || p.version !== version) return;
    this.prepared = undefined;
    this.apply(version, p.change, p.live);
    p.release();
  }

  /** Undoes a prepared change on every actor that applied it. */
  async abort(version: number): Promise<void> {
    const p = this.prepared;
    if (p === undefined || p.version !== version) return;
    this.prepared = undefined;
    const undone = await Promise.allSettled(
      p.live.map((h) => bounded(h.abortConfig(version), h, this.timeout)),
    );
    undone.forEach((r, i) => {
      const h = p.live[i]!;
      if (h.exited) return;
      this.emit({ type: '@troupe.config', at: Date.now(), version, phase: 'rollback', actorId: h.slot });
      // An actor that cannot undo the change is as untrusted as one that rejected it.
      const slot = this.slots[h.slot]!;
      if (r.status === 'rejected' && slot.current === h) this.hooks.distrust(slot, version);
    });
    p.release();
  }

  /** close(): no new change from now on; resolves when the chain has run out. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work);
    this.chain = run.catch(noop);
    return run;
  }

  /** The actors a rollout must reach: every admitted one, and any caught up and about to be admitted. */
  private live(): ActorHandle[] {
    const live = this.slots
      .filter((s) => s.accepting && s.current !== undefined && !s.current.exited)
      .map((s) => s.current!);
    for (const s of this.slots) {
      const h = s.caughtUp;
      if (h !== undefined && !h.exited && !live.includes(h)) live.push(h);
    }
    return live;
  }

  private async rollout(change: Config): Promise<{ version: number }> {
    const version = this.version + 1;
    const live = await this.prepareLive(change, version);
    this.apply(version, change, live);
    return { version };
  }

  private readonly emit = (ev: InspectionEvent): void => {
    if (ev.type === '@troupe.config') this.hooks.observe?.(ev);
    if (this.hub.active) this.hub.emit(ev);
  };

  /** Prepares on every live actor; throws ConfigRejectedError (undone everywhere) if one rejects. */
  private async prepareLive(change: Config, version: number): Promise<ActorHandle[]> {
    const live = this.live();
    // With every slot failed no actor can acknowledge a change, and none is committed on nobody. (Slots
    // that are restarting take it before they are admitted: their catch-up is this change.)
    if (this.slots.every((s) => s.failed)) throw new NoActorError();
    const emit = this.emit;
    emit({ type: '@troupe.config', at: Date.now(), version, phase: 'start', change });
    const failures = await prepareRollout(live, change, version, this.canary, this.timeout, emit);
    if (failures.length > 0) {
      for (const { handle } of failures) {
        const slot = this.slots[handle.slot]!;
        if (slot.current === handle) this.hooks.distrust(slot, version);
      }
      this.metrics?.rejectedBy(failures.map((f) => f.handle.slot));
      const first = failures[0]!;
      throw new ConfigRejectedError(first.handle.slot, version, first.error);
    }
    return live;
  }

  /** Commits a prepared version: COMMIT rides each actor's data port, ahead of any later request. */
  private apply(version: number, change: Config, live: readonly ActorHandle[]): void {
    this.version = version;
    this.config = Object.freeze({ ...this.config, ...change });
    this.changes.set(version, change);
    this.changes.delete(version - KEEP_CHANGES);
    for (const h of live) {
      if (h.exited) continue;
      h.outbox.pushQuiet(P.COMMIT, version, 0);
      h.configVersion = version;
    }
    this.metrics?.committedOn(live.filter((h) => !h.exited).map((h) => h.slot));
    this.emit({ type: '@troupe.config', at: Date.now(), version, phase: 'commit' });
  }

  /**
   * What changed after `version`: the keys of every later change, at their current values. The whole
   * config only when the versions in between are no longer remembered.
   */
  private since(version: number): Config {
    const change: Config = {};
    for (let v = version + 1; v <= this.version; v++) {
      const step = this.changes.get(v);
      if (step === undefined) return { ...this.config };
      for (const key of Object.keys(step)) change[key] = this.config[key];
    }
    return change;
  }

  /** Brings an actor started from an older config up to the current version before it is admitted. */
  catchUp(h: ActorHandle, slot: Slot): Promise<void> {
    return this.enqueue(async () => {
      if (h.exited) return;
      if (h.configVersion < this.version) {
        await bounded(h.prepareConfig(this.since(h.configVersion), this.version), h, this.timeout);
        h.outbox.pushQuiet(P.COMMIT, this.version, 0);
        h.configVersion = this.version;
      }
      // The caller admits it a few microtasks after this chain link resolves: a rollout queued behind
      // this link starts first, and must count this actor as live or it would miss that version.
      slot.caughtUp = h;
    });
  }
}

/** Why `change` cannot be a config change, or undefined when it can. */
export function checkChange(change: Config): Error | undefined {
  if (!isPlainObject(change)) {
    return new InvalidArgumentError(
      'A config change must be a plain object of top-level keys, e.g. { limit: 10 }.',
    );
  }
  try {
    structuredClone(change);
  } catch (err) {
    return new DataCloneError('config change', err);
  }
  const shared = findSharedMemory(change, 'The config change');
  return shared === undefined ? undefined : new InvalidArgumentError(sharedConfigMessage(shared));
}

/**
 * Phase one of a config change: every live actor applies `change` to its live objects and keeps serving
 * the old version until COMMIT. With `canary`, one actor goes first and a bad change touches only it.
 * If any actor rejects, the actors that had applied it undo it, and the rejecting ones are returned so the
 * router can replace them (an actor whose configure hook threw is not trusted any more).
 * Commit is the caller's job: it queues COMMIT on each actor's data port, so every request dispatched
 * after `configure()` resolves is ordered after it on the same port.
 */
export async function prepareRollout(
  handles: readonly ActorHandle[],
  change: Config,
  version: number,
  canary: boolean,
  timeout: number,
  emit: ((event: InspectionEvent) => void) | undefined,
): Promise<RolloutFailure[]> {
  const phases = canary && handles.length > 1 ? [handles.slice(0, 1), handles.slice(1)] : [handles];
  const prepared: ActorHandle[] = [];
  const failures: RolloutFailure[] = [];
  for (const phase of phases) {
    const results = await Promise.allSettled(
      phase.map((h) => bounded(h.prepareConfig(change, version), h, timeout)),
    );
    results.forEach((r, i) => {
      const handle = phase[i]!;
      // An actor that died or did not answer gave no acknowledgement: that rejects the change like a
      // refusal would, and its replacement starts from the last good version.
      if (r.status === 'fulfilled') {
        prepared.push(handle);
        emit?.({ type: '@troupe.config', at: Date.now(), version, phase: 'ack', actorId: handle.slot });
      } else {
        failures.push({ handle, error: r.reason });
        emit?.({
          type: '@troupe.config',
          at: Date.now(),
          version,
          phase: 'reject',
          actorId: handle.slot,
          error: String((r.reason as Error)?.message ?? r.reason),
        });
      }
    });
    if (failures.length > 0) break;
  }
  if (failures.length === 0) return failures;
  const undone = await Promise.allSettled(prepared.map((h) => bounded(h.abortConfig(version), h, timeout)));
  undone.forEach((r, i) => {
    const handle = prepared[i]!;
    if (handle.exited) return;
    emit?.({ type: '@troupe.config', at: Date.now(), version, phase: 'rollback', actorId: handle.slot });
    // An actor that cannot undo the change is as untrusted as one that rejected it.
    if (r.status === 'rejected') failures.push({ handle, error: r.reason });
  });
  return failures;
}
