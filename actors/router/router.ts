import {
  ClosedError,
  ConfigRejectedError,
  DataCloneError,
  InitError,
  InvalidArgumentError,
} from '../errors.js';
import type { CloseOptions, Config, Dispatcher, DispatcherSnapshot, InspectionEvent } from '../types.js';
import { stateName } from '../wire/inspection.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import { prepareRollout } from './config-rollout.js';
import { findSharedMemory, isPlainObject, MAX_TIMER_MS, sharedConfigMessage } from './options.js';
import { isLive, noop } from './router-core.js';
import { SupervisedRouter } from './supervision.js';

/**
 * The router actor on the main thread, as the Dispatcher users hold: startup, config rollout, snapshots
 * and shutdown. It is built in three layers, one file each: the request path and data plane
 * (router-core.ts), supervision (supervision.ts), and this public lifecycle. The router's machine sees
 * only its own lifecycle; each actor's machine runs in its thread.
 */
export class Router extends SupervisedRouter implements Dispatcher {
  get inspectorUrl(): string | undefined {
    return this.inspector?.url;
  }

  // ── startup ──────────────────────────────────────────────────────────────────────────────────────

  /** Warms every actor; resolves only when all are ready, else ends every thread and throws InitError. */
  async start(): Promise<void> {
    const handles = this.slots.map((slot) => this.spawn(slot.id));
    const results = await Promise.allSettled(handles.map((h) => this.initHandle(h)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    let reason = failed?.reason as Error | undefined;
    // An actor that died after its own init while the others still warmed up was never admitted, so
    // supervision never saw it: admitting it would send requests to a dead thread. A crash at startup
    // fails startup.
    const dead = failed === undefined ? handles.find((h) => h.exited) : undefined;
    if (dead !== undefined) {
      const detail = await dead.exitedPromise;
      reason = new InitError(dead.slot, `Actor ${dead.slot} died during startup, after its init: ${detail}`);
    }
    if (reason !== undefined) {
      this.closed = true;
      await Promise.allSettled(handles.map((h) => h.terminate()));
      this.machine.send({ type: 'START_FAILED', error: reason.message });
      throw reason;
    }
    for (const [i, h] of handles.entries()) this.admit(this.slots[i]!, h);
    if (this.opts.maxHeapMB > 0) {
      this.heapTimer = setInterval(() => void this.checkHeaps(), 1_000);
      this.heapTimer.unref();
    }
    if (this.inspectorOptions !== undefined) {
      try {
        const { startInspector } = await import('../../inspector/live/server.js');
        this.inspector = await startInspector(this, this.inspectorOptions);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    this.machine.send({ type: 'ACTORS_READY' });
  }

  // ── config rollout ───────────────────────────────────────────────────────────────────────────────

  configure(change: Config): Promise<{ version: number }> {
    if (this.closing !== undefined || this.closed) return Promise.reject(new ClosedError());
    if (!isPlainObject(change)) {
      return Promise.reject(
        new InvalidArgumentError(
          'A config change must be a plain object of top-level keys, e.g. { limit: 10 }.',
        ),
      );
    }
    try {
      structuredClone(change);
    } catch (err) {
      return Promise.reject(new DataCloneError('config change', err));
    }
    const shared = findSharedMemory(change, 'The config change');
    if (shared !== undefined) return Promise.reject(new InvalidArgumentError(sharedConfigMessage(shared)));
    const run = this.configChain.then(() => this.rollout(change));
    this.configChain = run.catch(noop);
    return run;
  }

  protected async rollout(change: Config): Promise<{ version: number }> {
    const version = this.version + 1;
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
      for (const { handle } of failures) {
        const slot = this.slots[handle.slot]!;
        if (slot.current === handle) void this.replace(slot, `config version ${version} rejected`, true);
      }
      const first = failures[0]!;
      throw new ConfigRejectedError(first.handle.slot, version, first.error);
    }
    this.version = version;
    this.config = Object.freeze({ ...this.config, ...change });
    for (const h of live) {
      if (h.exited) continue;
      h.outbox.pushQuiet(P.COMMIT, version, 0);
      h.configVersion = version;
    }
    emit?.({ type: '@troupe.config', at: Date.now(), version, phase: 'commit' });
    return { version };
  }

  // ── observation ──────────────────────────────────────────────────────────────────────────────────

  snapshot(): DispatcherSnapshot {
    const routerState = stateName(this.machine.getSnapshot().value).split(
      '.',
    )[0] as DispatcherSnapshot['state'];
    return {
      state: routerState,
      degraded: this.slots.some((s) => s.failed),
      configVersion: this.version,
      config: this.config,
      queued: this.master.count(isLive),
      actors: this.slots.map((slot) => {
        const h = slot.current;
        // A slot whose actor takes no new requests (being replaced) shows as draining until its successor is in.
        const state = slot.failed
          ? 'failed'
          : h === undefined
            ? 'init'
            : !slot.accepting && h.state !== 'init'
              ? 'draining'
              : h.state;
        return {
          id: slot.id,
          state,
          inFlight: h?.inFlight ?? 0,
          queued: slot.queue.count(isLive),
          streams: h?.streams ?? 0,
          served: h?.served ?? 0,
          restarts: slot.restarts,
          configVersion: h?.configVersion ?? 0,
          threadId: h?.threadId ?? -1,
          ...(slot.error !== undefined ? { error: slot.error } : {}),
        };
      }),
    };
  }

  // ── shutdown ─────────────────────────────────────────────────────────────────────────────────────

  close(options?: CloseOptions): Promise<void> {
    if (this.closing === undefined) {
      const grace = options?.grace ?? Number.POSITIVE_INFINITY;
      if (typeof grace !== 'number' || !(grace >= 0) || (Number.isFinite(grace) && grace > MAX_TIMER_MS)) {
        return Promise.reject(
          new InvalidArgumentError(
            `close(): grace must be a number of ms from 0 to ${MAX_TIMER_MS}; got ${grace}.`,
          ),
        );
      }
      this.closing = this.shutdown(grace);
    }
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  protected async shutdown(grace: number): Promise<void> {
    this.machine.send({ type: 'CLOSE' });
    // Requests already accepted (queued or running) finish; new ones are refused by submit().
    if (this.busy()) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      const late = new Promise<void>((resolve) => {
        if (Number.isFinite(grace)) timer = setTimeout(resolve, grace);
      });
      await Promise.race([idle, late]);
      clearTimeout(timer);
    }
    const cut = this.busy();
    if (cut) {
      this.cutOff();
      // Threads still running what was cut off are ended, not drained: that is what the grace bounds.
      const running = [...this.retiringHandles, ...this.slots.map((s) => s.current)];
      await Promise.allSettled(running.map((h) => h?.terminate()));
    }
    await this.configChain;
    if (this.heapTimer !== undefined) clearInterval(this.heapTimer);
    this.closed = true;
    for (const slot of this.slots) {
      if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
      slot.accepting = false;
    }
    await Promise.allSettled([...this.warming]);
    const current = this.slots.map((s) => s.current).filter((h): h is ActorHandle => h !== undefined);
    for (const h of current) this.retire(h);
    await Promise.allSettled([...this.retirements]);
    await this.inspector?.close();
    this.machine.send({ type: 'CLOSED' });
  }

  /** The close grace ran out: every request still queued or running gets ClosedError now. */
  private cutOff(): void {
    const error = () =>
      new ClosedError('The dispatcher closed before this request finished: the close grace ran out.');
    for (const req of [...this.master.drain(), ...this.slots.flatMap((s) => s.queue.drain())]) {
      if (req.settled) continue;
      this.queued--;
      this.fail(req, error());
    }
    for (const h of [...this.retiringHandles, ...this.slots.map((s) => s.current)]) {
      if (h === undefined) continue;
      for (const req of h.requests.values()) {
        if (req.settled) continue;
        this.fail(req, error());
        if (!h.exited) h.outbox.push(P.CANCEL, req.id, P.CANCEL_DRAIN);
      }
    }
  }
}
