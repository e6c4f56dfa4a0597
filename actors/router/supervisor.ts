import { ClosedError } from '../errors.js';
import type { ActorHandle } from './actor-handle.js';
import type { ActorStarter } from './actor-starter.js';
import type { ConfigRollout } from './config-rollout.js';
import type { InspectionHub } from './inspection-hub.js';
import type { ResolvedOptions } from './options.js';
import type { RequestPath } from './request-path.js';
import type { Slot } from './slot.js';

/** What supervision reports upward: a slot that gave up (the router machine and 'degraded' listeners). */
export interface SupervisorEvents {
  degraded(slot: Slot, error: string): void;
  /** A failed slot came back. */
  recovered(slot: Slot): void;
}

/** A failed slot's first retry comes after this long (ms), doubling up to REVIVE_MAX. */
const REVIVE_FIRST = 30_000;
const REVIVE_MAX = 300_000;

/**
 * Supervision, after Erlang's supervisor: a dead actor's requests fail once (or run once more if
 * idempotent), its slot restarts with backoff and jitter under an intensity limit, replacements are
 * make-before-break, retiring actors finish what they hold, and the heap limit recycles an actor.
 */
export class Supervisor {
  /** Set by close(): no restart, no replacement from now on. */
  private stopped = false;
  private readonly warming = new Set<Promise<unknown>>();
  private readonly retirements = new Set<Promise<void>>();
  /** Actors finishing what they hold before they end (replaced, or closing). */
  readonly retiring = new Set<ActorHandle>();
  private heapTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private heapCheck: Promise<void> | undefined;
  /** Handles being warmed up, so that a close whose grace ran out can end them. */
  private readonly warmingHandles = new Set<ActorHandle>();
  /** Resolves when close()'s grace runs out: whatever still runs is ended, not waited for. */
  private forced: Promise<void> = new Promise(() => {});

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly slots: readonly Slot[],
    private readonly starter: ActorStarter,
    private readonly requests: RequestPath,
    private readonly config: ConfigRollout,
    private readonly hub: InspectionHub,
    private readonly events: SupervisorEvents,
  ) {}

  /** A thread ended (crash, kill, or the end of a retirement): decide what follows. */
  readonly onExit = (h: ActorHandle, detail: string): void => {
    const slot = this.slots[h.slot]!;
    const crashed = !h.retiring || h.requests.size > 0;
    const wasCurrent = slot.current === h;
    const lostCount = h.requests.size;
    // Take the dead actor out of placement first: a retried request placed below must not land on it.
    if (wasCurrent) {
      slot.current = undefined;
      slot.accepting = false;
    }
    if (lostCount > 0) this.requests.lost(h, detail, wasCurrent);
    if (wasCurrent && crashed && !this.stopped) {
      h.state = 'failed';
      if (this.hub.active) {
        this.hub.emit({
          type: '@troupe.crash',
          at: Date.now(),
          actorId: slot.id,
          error: detail,
          inFlight: lostCount,
        });
      }
      this.scheduleRestart(slot, detail);
    }
    this.requests.checkIdle();
  };

  private scheduleRestart(slot: Slot, reason: string): void {
    const delay = slot.policy.next(Date.now());
    if (delay < 0) {
      this.giveUp(
        slot,
        `restarted ${slot.policy.recent} times within ${this.opts.restartWindow} ms; last: ${reason}`,
      );
      return;
    }
    slot.replacing = true;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      void this.restart(slot, reason);
    }, delay);
  }

  /**
   * Starts a new actor for `slot` and warms it (init, then catch-up to the current config version).
   * Resolves with the ready handle, or with the error after its thread has ended. Tracked so that
   * close() can wait for actors still warming up.
   */
  private warm(slot: Slot): Promise<ActorHandle | Error> {
    const h = this.starter.spawn(slot.id);
    this.warmingHandles.add(h);
    const work = (async (): Promise<ActorHandle | Error> => {
      let failure: Error | undefined;
      try {
        const { config, version } = this.config.current();
        await this.starter.init(h, config, version);
        await this.config.catchUp(h, slot);
      } catch (err) {
        failure = err as Error;
      }
      this.warmingHandles.delete(h);
      if (failure === undefined && h.exited)
        failure = new Error(h.exitReason ?? 'the actor died while warming up');
      if (failure === undefined && this.stopped) failure = new ClosedError();
      if (failure !== undefined) {
        await h.terminate();
        return failure;
      }
      return h;
    })();
    this.warming.add(work);
    void work.finally(() => this.warming.delete(work));
    return work;
  }

  private async restart(slot: Slot, reason: string, revived = false): Promise<void> {
    if (this.stopped) return;
    const h = await this.warm(slot);
    slot.replacing = false;
    if (h instanceof Error) {
      if (this.stopped) return;
      // A revived slot that still cannot start goes back to failed, with a longer wait before the next try.
      if (revived) this.giveUp(slot, `still failing after a retry: ${h.message}`);
      else this.scheduleRestart(slot, h.message);
      return;
    }
    if (revived) {
      slot.error = undefined;
      slot.reviveDelay = 0;
      this.events.recovered(slot);
    }
    this.promote(slot, h, reason);
  }

  /** A warm replacement becomes the slot's actor. */
  private promote(slot: Slot, h: ActorHandle, reason: string): void {
    slot.restarts++;
    // The stall was its predecessor's: the replacement starts with a clean record.
    slot.beatOf = undefined;
    if (slot.stalled) this.unstall(slot, Date.now());
    if (this.hub.active) {
      this.hub.emit({
        type: '@troupe.restart',
        at: Date.now(),
        actorId: slot.id,
        restarts: slot.restarts,
        reason,
      });
    }
    this.requests.admit(slot, h);
  }

  /** The slot gave up: its keys move to the next slots on their ranking, its queue is placed again. */
  private giveUp(slot: Slot, error: string): void {
    if (!slot.failed) this.requests.failedSlots++;
    slot.failed = true;
    slot.error = error;
    slot.replacing = false;
    if (this.hub.active)
      this.hub.emit({ type: '@troupe.slot-failed', at: Date.now(), actorId: slot.id, error });
    this.requests.requeue(slot);
    this.scheduleRevive(slot);
    this.events.degraded(slot, error);
  }

  /**
   * A failed slot is tried again after a long backoff that doubles up to a cap, as orchestrators retry a
   * crash loop: a cause that goes away (a database back, a config fixed) heals the service by itself.
   */
  private scheduleRevive(slot: Slot): void {
    slot.reviveDelay = Math.min(REVIVE_MAX, slot.reviveDelay === 0 ? REVIVE_FIRST : slot.reviveDelay * 2);
    slot.retryAt = Date.now() + slot.reviveDelay;
    slot.reviveTimer = setTimeout(() => this.revive(slot, 'retry of a failed slot'), slot.reviveDelay);
    slot.reviveTimer.unref();
  }

  /** Takes a failed slot back into service: a fresh restart record, then an ordinary restart. */
  private revive(slot: Slot, reason: string): void {
    if (!slot.failed || this.stopped) return;
    if (slot.reviveTimer !== undefined) clearTimeout(slot.reviveTimer);
    slot.reviveTimer = undefined;
    slot.failed = false;
    this.requests.failedSlots--;
    slot.retryAt = undefined;
    slot.policy.reset();
    slot.replacing = true;
    if (this.hub.active) this.hub.emit({ type: '@troupe.revive', at: Date.now(), actorId: slot.id, reason });
    void this.restart(slot, reason, true);
  }

  /**
   * The watchdog: a request ignored its cancel. If the thread is blocked (stalled), nothing else can run on
   * it: it is ended like a crash. If its loop still turns, only that request is stuck: the actor takes no
   * new request, its other requests finish, and a replacement takes the slot.
   */
  overdue(h: ActorHandle, reason: string, blocked: boolean): void {
    const slot = this.slots[h.slot]!;
    if (blocked || slot.stalled) void this.kill(h, `the watchdog cut it off: ${reason}`);
    else if (slot.current !== h)
      return; // already retiring: its close bound ends it
    else void this.replace(slot, `the watchdog replaced it: ${reason}`, true);
  }

  /** Ends a thread now (watchdog): its requests in flight fail as crashed, the slot restarts. */
  async kill(h: ActorHandle, reason: string): Promise<void> {
    h.exitReason = reason;
    await h.worker.terminate();
  }

  /**
   * Replaces a slot's actor make-before-break: the new one is warm before the old one stops taking
   * requests; the old one finishes what it holds, then closes. Used by recycling, reload and a rejected
   * config change (`stopNow`: an untrusted actor takes nothing more while its replacement warms up).
   */
  async replace(slot: Slot, reason: string, stopNow = false): Promise<void> {
    if (slot.replacing || slot.failed || this.stopped) return;
    const old = slot.current;
    slot.replacing = true;
    if (stopNow) slot.accepting = false;
    const h = await this.warm(slot);
    if (old !== undefined && slot.current !== old) {
      // The old one crashed meanwhile: supervision's restart owns the slot now, and its `replacing`
      // flag. This warm actor is not wanted: left running, its thread would never end.
      if (!(h instanceof Error)) void h.terminate();
      return;
    }
    slot.replacing = false;
    if (h instanceof Error) {
      if (stopNow && old !== undefined && !this.stopped) {
        // No replacement could start: end the untrusted actor anyway and let the restart take the slot.
        await this.kill(old, `its replacement failed to start: ${h.message}`);
      }
      return;
    }
    if (old !== undefined) old.retiring = true;
    this.promote(slot, h, reason);
    if (old !== undefined && !old.exited) this.retire(old);
  }

  /** Lets an actor finish what it holds, close its app, and end. */
  private retire(h: ActorHandle): void {
    h.retiring = true;
    this.retiring.add(h);
    const done = (async () => {
      try {
        await Promise.race([h.control.drain(), h.exitedPromise, this.closeBound(h), this.forced]);
      } catch {
        // A failing close hook must not keep the thread alive.
      }
      await h.terminate();
    })();
    this.retirements.add(done);
    void done.finally(() => {
      this.retirements.delete(done);
      this.retiring.delete(h);
    });
  }

  /**
   * Resolves when a retiring actor has had `closeTimeout` ms with no caller still waiting on it: its app's
   * close hook (or a handler that ignored its cancel) does not get to hold the thread, or close(), forever.
   */
  private closeBound(h: ActorHandle): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        if (h.exited) return resolve();
        let waited = false;
        for (const req of h.requests.values()) if (!req.settled) waited = true;
        if (waited) setTimeout(check, this.opts.closeTimeout).unref();
        else resolve();
      };
      setTimeout(check, this.opts.closeTimeout).unref();
    });
  }

  /** Recycles an actor whose heap passed maxHeapMB, checked once a second. */
  watchHeaps(): void {
    if (this.opts.maxHeapMB <= 0) return;
    this.heapTimer = setInterval(() => {
      // One check at a time: an actor that never answers must not pile up calls.
      this.heapCheck ??= this.checkHeaps();
    }, 1_000);
    this.heapTimer.unref();
  }

  /** Asks every actor at once: one that does not answer (a blocked loop) delays nobody else's check. */
  private async checkHeaps(): Promise<void> {
    const limit = this.opts.maxHeapMB * 1024 * 1024;
    await Promise.all(
      this.slots.map(async (slot) => {
        const h = slot.current;
        if (h === undefined || !slot.accepting || slot.replacing || slot.stalled) return;
        try {
          const { heapUsed } = await h.alive((c) => c.stats());
          if (heapUsed > limit && slot.current === h)
            void this.replace(slot, `heap ${Math.round(heapUsed / 1048576)} MB > maxHeapMB`);
        } catch {
          // The actor is going away; supervision handles it.
        }
      }),
    );
    this.heapCheck = undefined;
  }

  /**
   * Watches every actor's heartbeat: one that has not moved for `stallAfter` ms is stalled (no new
   * requests), moves again → resumes; stalled for `stallTimeout` → ended and restarted like a crash.
   */
  watchStalls(): void {
    const after = this.opts.stallAfter;
    if (after <= 0) return;
    this.stallTimer = setInterval(() => this.checkStalls(), Math.max(10, Math.floor(after / 4)));
    this.stallTimer.unref();
  }

  private checkStalls(): void {
    const now = Date.now();
    for (const slot of this.slots) {
      const h = slot.current;
      if (h === undefined || h.exited) continue;
      const beat = Atomics.load(h.heartbeat, 0);
      if (beat !== slot.beat || slot.beatOf !== h) {
        slot.beat = beat;
        slot.beatAt = now;
        slot.beatOf = h;
        if (slot.stalled) {
          this.unstall(slot, now);
          this.requests.resume(slot);
        }
        continue;
      }
      const still = now - slot.beatAt;
      if (!slot.stalled && still >= this.opts.stallAfter) {
        slot.stalled = true;
        if (this.hub.active)
          this.hub.emit({ type: '@troupe.stall', at: now, actorId: slot.id, stalled: true });
      }
      if (slot.stalled && still >= this.opts.stallTimeout) {
        void this.kill(h, `its event loop did not turn for ${still} ms (stallTimeout)`);
      }
    }
  }

  private unstall(slot: Slot, now: number): void {
    slot.stalled = false;
    if (this.hub.active) this.hub.emit({ type: '@troupe.stall', at: now, actorId: slot.id, stalled: false });
  }

  /** Replaces every live slot's actor, one after another. */
  async reload(): Promise<void> {
    for (const slot of this.slots) {
      if (slot.failed) {
        this.revive(slot, 'reload');
        continue;
      }
      while (slot.replacing) await new Promise((r) => setTimeout(r, 10));
      await this.replace(slot, 'reload');
    }
  }

  /**
   * close(): no restart from now on; actors still warming up end; every current actor retires. `forced`
   * resolves when close()'s grace runs out: then nothing is waited for any more, threads are ended.
   */
  async stop(forced?: Promise<void>): Promise<void> {
    this.stopped = true;
    if (forced !== undefined) this.forced = forced;
    void this.forced.then(() => {
      for (const h of this.warmingHandles) void h.terminate();
    });
    if (this.heapTimer !== undefined) clearInterval(this.heapTimer);
    if (this.stallTimer !== undefined) clearInterval(this.stallTimer);
    for (const slot of this.slots) {
      if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
      if (slot.reviveTimer !== undefined) clearTimeout(slot.reviveTimer);
      slot.accepting = false;
    }
    await Promise.allSettled([...this.warming]);
    for (const slot of this.slots) if (slot.current !== undefined) this.retire(slot.current);
    await Promise.allSettled([...this.retirements]);
  }

  /** Every thread that may still run a request: the current actors and those retiring. */
  running(): (ActorHandle | undefined)[] {
    return [...this.retiring, ...this.slots.map((s) => s.current)];
  }
}
