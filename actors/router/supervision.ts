import { ActorCrashedError, ClosedError, NoActorError } from '../errors.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import { isLive, noop, RouterCore } from './router-core.js';
import type { Slot } from './slot.js';

/**
 * Supervision, after Erlang's supervisor and the failure contract in design.md: a dead actor's requests
 * fail once (or run once more if idempotent), its slot restarts with backoff and jitter under an
 * intensity limit, replacements are make-before-break, and a hung handler is cut off by the watchdog.
 */
export abstract class SupervisedRouter extends RouterCore {
  protected onExit(h: ActorHandle, detail: string): void {
    const slot = this.slots[h.slot]!;
    const crashed = !h.retiring || h.requests.size > 0;
    const wasCurrent = slot.current === h;
    const lostCount = h.requests.size;
    // Take the dead actor out of placement first: a retried request placed below must not land on it.
    if (wasCurrent) {
      slot.current = undefined;
      slot.accepting = false;
    }
    if (h.requests.size > 0) {
      const lost = [...h.requests.values()];
      h.requests.clear();
      h.inFlight = 0;
      h.streams = 0;
      // Only live entries: a request cancelled while queued had its load undone already, and refill
      // skips it without undoing it again (counting it here would leave a ghost load for good).
      if (wasCurrent) this.loads[slot.id] = slot.queue.count(isLive);
      for (const req of lost) {
        if (req.timer !== undefined) clearTimeout(req.timer);
        req.timer = undefined;
        // A body pump waiting for credits is woken to see its actor gone and close the caller's iterator.
        const wake = req.bodyWake;
        req.bodyWake = undefined;
        wake?.();
        if (req.settled) continue;
        // At-most-once: only a request the caller marked idempotent runs again, once, on a ready actor.
        // Not a stream (its chunks may be consumed), nor one with a streamed body (partly sent, not
        // replayable), nor one whose buffers were transferred (they moved into the dead thread: a replay
        // would silently carry empty, detached buffers).
        if (
          req.options?.retry === true &&
          !req.retried &&
          req.stream === undefined &&
          req.options.body === undefined &&
          (req.options.transfer === undefined || req.options.transfer.length === 0)
        ) {
          req.retried = true;
          req.actor = undefined;
          if (req.timeout > 0) req.timer = setTimeout(this.onTimeout, req.timeout, req);
          this.place(req, true);
        } else {
          this.fail(req, new ActorCrashedError(h.slot, detail));
        }
      }
    }
    if (!wasCurrent) {
      if (this.idleWaiters.length > 0) this.checkIdle();
      return;
    }
    if (!crashed || this.closed) return;
    h.state = 'failed';
    if (this.inspecting) {
      this.emitInspection({
        type: '@troupe.crash',
        at: Date.now(),
        actorId: slot.id,
        error: detail,
        inFlight: lostCount,
      });
    }
    this.scheduleRestart(slot, detail);
    if (this.idleWaiters.length > 0) this.checkIdle();
  }

  protected scheduleRestart(slot: Slot, reason: string): void {
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
  protected warm(slot: Slot): Promise<ActorHandle | Error> {
    const h = this.spawn(slot.id);
    const work = (async (): Promise<ActorHandle | Error> => {
      let failure: Error | undefined;
      try {
        await this.initHandle(h);
        await this.catchUp(h);
      } catch (err) {
        failure = err as Error;
      }
      if (failure === undefined && h.exited)
        failure = new Error(h.exitReason ?? 'the actor died while warming up');
      if (failure === undefined && this.closed) failure = new ClosedError();
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

  protected async restart(slot: Slot, reason: string): Promise<void> {
    if (this.closed) return;
    const h = await this.warm(slot);
    slot.replacing = false;
    if (h instanceof Error) {
      if (!this.closed) this.scheduleRestart(slot, h.message);
      return;
    }
    this.promote(slot, h, reason);
  }

  /** A warm replacement becomes the slot's actor. */
  protected promote(slot: Slot, h: ActorHandle, reason: string): void {
    slot.restarts++;
    if (this.inspecting) {
      this.emitInspection({
        type: '@troupe.restart',
        at: Date.now(),
        actorId: slot.id,
        restarts: slot.restarts,
        reason,
      });
    }
    this.admit(slot, h);
  }

  /** The slot gave up: its keys move to the next slots on their ranking, its queue is placed again. */
  protected giveUp(slot: Slot, error: string): void {
    slot.failed = true;
    slot.error = error;
    slot.replacing = false;
    this.loads[slot.id] = 0;
    if (this.inspecting)
      this.emitInspection({ type: '@troupe.slot-failed', at: Date.now(), actorId: slot.id, error });
    this.machine.send({ type: 'DEGRADED', slot: slot.id });
    for (const req of slot.queue.drain()) {
      if (req.settled) continue;
      this.queued--;
      req.slot = -1;
      this.place(req, false);
    }
    if (this.slots.every((s) => s.failed)) {
      for (const req of this.master.drain()) {
        if (req.settled) continue;
        this.queued--;
        this.fail(req, new NoActorError());
      }
    }
    // Last, and guarded: this runs inside a worker's exit handler, and a throwing listener must neither
    // strand the slot's requests nor take the process down; it is reported as a warning instead.
    try {
      this.emit('degraded', { actorId: slot.id, error });
    } catch (err) {
      process.emitWarning(`A 'degraded' listener threw: ${(err as Error)?.stack ?? err}`, 'TroupeWarning');
    }
  }

  /** Ends a thread now (watchdog): its requests in flight fail as crashed, the slot restarts. */
  protected async kill(h: ActorHandle, reason: string): Promise<void> {
    h.exitReason = reason;
    await h.worker.terminate();
  }

  /**
   * Replaces a slot's actor make-before-break: the new one is warm before the old one stops taking
   * requests; the old one finishes what it holds, then closes. Used by recycling, reload and a rejected
   * config change (`stopNow`: an untrusted actor takes nothing more while its replacement warms up).
   */
  async replace(slot: Slot, reason: string, stopNow = false): Promise<void> {
    if (slot.replacing || slot.failed || this.closed) return;
    const old = slot.current;
    slot.replacing = true;
    if (stopNow) slot.accepting = false;
    const h = await this.warm(slot);
    if (old !== undefined && slot.current !== old) {
      // The old one crashed meanwhile: supervision owns the slot now, its restart and its `replacing`
      // flag. This warm actor is not wanted: left running, its thread would never end.
      if (!(h instanceof Error)) void h.terminate();
      return;
    }
    slot.replacing = false;
    if (h instanceof Error) {
      if (stopNow && old !== undefined && !this.closed) {
        // No replacement could start: end the untrusted actor anyway and let supervision restart the slot.
        await this.kill(old, `its replacement failed to start: ${h.message}`);
      }
      return;
    }
    if (old !== undefined) old.retiring = true;
    this.promote(slot, h, reason);
    if (old !== undefined && !old.exited) this.retire(old);
  }

  /** Lets an actor finish what it holds, close its app, and end. */
  protected retire(h: ActorHandle): void {
    h.retiring = true;
    this.retiringHandles.add(h);
    const done = (async () => {
      try {
        await Promise.race([h.control.drain(), h.exitedPromise]);
      } catch {
        // A failing close hook must not keep the thread alive.
      }
      await h.terminate();
    })();
    this.retirements.add(done);
    void done.finally(() => {
      this.retirements.delete(done);
      this.retiringHandles.delete(h);
    });
  }

  /** Brings an actor started from an older config up to the current version before it is admitted. */
  protected async catchUp(h: ActorHandle): Promise<void> {
    // Serialized with rollouts, so that an actor admitted mid-rollout cannot miss a version.
    const run = this.configChain.then(async () => {
      if (h.exited) return;
      if (h.configVersion < this.version) {
        await h.prepareConfig({ ...this.config }, this.version);
        h.outbox.pushQuiet(P.COMMIT, this.version, 0);
        h.configVersion = this.version;
      }
      // The caller admits it a few microtasks after this chain link resolves: a rollout queued behind
      // this link starts first, and must count this actor as live or it would miss that version.
      this.slots[h.slot]!.caughtUp = h;
    });
    this.configChain = run.catch(noop);
    await run;
  }

  protected async checkHeaps(): Promise<void> {
    const limit = this.opts.maxHeapMB * 1024 * 1024;
    for (const slot of this.slots) {
      const h = slot.current;
      if (h === undefined || !slot.accepting || slot.replacing) continue;
      try {
        const { heapUsed } = await h.alive((c) => c.stats());
        if (heapUsed > limit)
          void this.replace(slot, `heap ${Math.round(heapUsed / 1048576)} MB > maxHeapMB`);
      } catch {
        // The actor is going away; supervision handles it.
      }
    }
  }

  async reload(): Promise<void> {
    if (this.closing !== undefined || this.closed) throw new ClosedError();
    for (const slot of this.slots) {
      if (slot.failed) continue;
      while (slot.replacing) await new Promise((r) => setTimeout(r, 10));
      await this.replace(slot, 'reload');
    }
  }
}
