import {
  AbortError,
  ActorCrashedError,
  ClosedError,
  InvalidArgumentError,
  NoActorError,
  QueueFullError,
  TimeoutError,
} from '../errors.js';
import type { RequestOptions } from '../types.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import { pumpBody } from './body-pump.js';
import { Deque } from './deque.js';
import type { InspectionHub } from './inspection-hub.js';
import type { RequestObserver } from './observer.js';
import { MAX_TIMER_MS, type ResolvedOptions } from './options.js';
import { PendingRequest, ResponseStream } from './pending.js';
import { hashKey, type KeyedChoice, pickKeyed, pickLeastLoaded } from './placement.js';
import type { Slot } from './slot.js';

const noop = () => {};

/** What the request path asks of supervision. */
export interface RequestPathHooks {
  /** The actor served its quota: replace it make-before-break. */
  recycle(slot: Slot): void;
  /** The watchdog: end a thread whose handler ignored its cancel past `killAfter`. */
  kill(h: ActorHandle, reason: string): void;
}

/**
 * The per-request path: submit → place → dispatch → complete, with the master queue, the keyed slot
 * queues and the per-slot loads that placement reads. Plain code over counters: no machine event and no
 * allocation beyond the request's own record. It owns every counter it reads; supervision tells it when a
 * slot gains or loses its actor (`admit`, `detach`, `lost`, `requeue`).
 */
export class RequestPath {
  /** Per slot: requests in flight on its current actor plus keyed requests queued for it. */
  private readonly loads: Int32Array;
  private readonly master = new Deque<PendingRequest>();
  private queued = 0;
  private nextId = 0;
  /** The slot the last unkeyed request went to: ties go back to it while its thread is still awake. */
  private lastSlot = 0;
  private readonly choice: KeyedChoice = { slot: -1, spilled: false };
  private idleWaiters: (() => void)[] = [];
  /** False once close() began: new requests are refused. */
  private open = true;
  /** Set by the dispatcher: metrics and tracing, when on. */
  observer: RequestObserver | undefined;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly slots: readonly Slot[],
    private readonly hub: InspectionHub,
    private readonly hooks: RequestPathHooks,
  ) {
    this.loads = new Int32Array(slots.length);
  }

  // ── entry points ─────────────────────────────────────────────────────────────────────────────────

  request<R = unknown>(payload: unknown, options?: RequestOptions): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.submit(payload, options, resolve as (v: unknown) => void, reject, undefined);
    });
  }

  stream<C = unknown>(payload: unknown, options?: RequestOptions): AsyncIterableIterator<C> {
    const stream = new ResponseStream<C>();
    try {
      this.submit(payload, options, noop, (e) => stream.fail(e), stream as ResponseStream);
    } catch (err) {
      stream.fail(err as Error);
    }
    return stream;
  }

  /** close() began: requests from now on are refused with ClosedError. */
  refuse(): void {
    this.open = false;
  }

  private submit(
    payload: unknown,
    options: RequestOptions | undefined,
    resolve: (v: unknown) => void,
    reject: (e: Error) => void,
    stream: ResponseStream | undefined,
  ): void {
    if (!this.open) throw new ClosedError();
    let keyHash = -1;
    let timeout = this.opts.timeout;
    if (options !== undefined) {
      const { key, signal } = options;
      if (key !== undefined) {
        if (typeof key !== 'string') {
          throw new InvalidArgumentError(`A request key must be a string; got ${typeof key}.`);
        }
        keyHash = hashKey(key);
      }
      if (options.timeout !== undefined) {
        if (
          typeof options.timeout !== 'number' ||
          !(options.timeout >= 0 && options.timeout <= MAX_TIMER_MS)
        ) {
          throw new InvalidArgumentError(
            `A request timeout must be a number of ms ≥ 0 and at most ${MAX_TIMER_MS} (a timer's limit); got ${String(options.timeout)}.`,
          );
        }
        timeout = options.timeout;
      }
      if (signal?.aborted) throw new AbortError(signal.reason);
    }
    const req = new PendingRequest(
      ++this.nextId,
      payload,
      options,
      keyHash,
      timeout,
      resolve,
      reject,
      stream,
    );
    if (stream !== undefined) {
      stream.credit = (n) => {
        if (req.actor !== undefined && !req.actor.exited) req.actor.outbox.push(P.CREDIT, req.id, n);
      };
      stream.cancel = () => this.cancel(req, P.CANCEL_CONSUMER_LEFT, undefined);
    }
    const signal = options?.signal;
    if (signal !== undefined) {
      req.onAbort = () => this.cancel(req, P.CANCEL_ABORT, new AbortError(signal.reason));
      signal.addEventListener('abort', req.onAbort, { once: true });
    }
    if (timeout > 0) req.timer = setTimeout(this.onTimeout, timeout, req);
    this.place(req, false);
  }

  // ── placement and dispatch ───────────────────────────────────────────────────────────────────────

  private readonly keyEligible = (s: number): boolean => !this.slots[s]!.failed;
  private readonly readyEligible = (s: number): boolean => this.slots[s]!.accepting;

  /** Chooses the actor: keyed by bounded-load rendezvous hashing, unkeyed by least in flight. */
  private place(req: PendingRequest, readyOnly: boolean): void {
    const limit = this.opts.concurrency;
    if (req.keyHash >= 0) {
      const eligible = readyOnly ? this.readyEligible : this.keyEligible;
      let choice = pickKeyed(req.keyHash, this.loads, eligible, this.opts.balanceFactor, this.choice);
      // A retry with no ready actor waits in its key's slot queue for the replacement rather than failing.
      if (choice.slot < 0 && readyOnly)
        choice = pickKeyed(req.keyHash, this.loads, this.keyEligible, this.opts.balanceFactor, this.choice);
      if (choice.slot < 0) {
        this.fail(req, new NoActorError());
        return;
      }
      const slot = this.slots[choice.slot]!;
      if (this.hub.active) this.hub.route(req, slot.id, choice.spilled);
      const h = slot.current;
      if (slot.accepting && h !== undefined && h.inFlight < limit && slot.queue.length === 0) {
        this.dispatch(req, h);
        return;
      }
      if (this.queued >= this.opts.maxQueue) {
        this.fail(req, new QueueFullError(this.opts.maxQueue));
        return;
      }
      req.slot = slot.id;
      this.observer?.queued(req);
      slot.queue.push(req);
      this.loads[slot.id]!++;
      this.queued++;
      return;
    }
    const s = pickLeastLoaded(this.loads, this.readyEligible, limit, this.lastSlot);
    if (s >= 0) {
      this.lastSlot = s;
      if (this.hub.active) this.hub.route(req, s, false);
      this.dispatch(req, this.slots[s]!.current!);
      return;
    }
    if (this.slots.every((slot) => slot.failed)) {
      this.fail(req, new NoActorError());
      return;
    }
    if (this.queued >= this.opts.maxQueue) {
      this.fail(req, new QueueFullError(this.opts.maxQueue));
      return;
    }
    this.observer?.queued(req);
    this.master.push(req);
    this.queued++;
  }

  private dispatch(req: PendingRequest, h: ActorHandle): void {
    req.actor = h;
    req.slot = -1;
    h.inFlight++;
    this.loads[h.slot]!++;
    h.requests.set(req.id, req);
    const options = req.options;
    const streamed = req.stream !== undefined;
    const body = options?.body;
    const tag = streamed
      ? body === undefined
        ? P.START_STREAM
        : P.START_STREAM_BODY
      : body === undefined
        ? P.START
        : P.START_BODY;
    this.observer?.started(req, h);
    h.outbox.push(tag, req.id, req.payload, options?.transfer);
    if (options?.retry !== true) req.payload = undefined;
    if (streamed) h.streams++;
    if (this.hub.active) req.startedAt = performance.now();
    if (body !== undefined) void pumpBody(req, h, body);
  }

  /**
   * Frees the request's place on its actor and hands the room to the next waiting request. `ok`: the
   * actor's outcome is the caller's result (not an error, and the caller had not given up before).
   */
  complete(h: ActorHandle, req: PendingRequest, ok: boolean): void {
    this.observer?.finished(h, req, ok);
    h.requests.delete(req.id);
    h.inFlight--;
    h.served++;
    if (req.stream !== undefined) h.streams--;
    if (req.timer !== undefined) clearTimeout(req.timer);
    const wake = req.bodyWake;
    if (wake !== undefined) {
      req.bodyWake = undefined;
      wake();
    }
    const slot = this.slots[h.slot]!;
    if (slot.current === h) {
      this.loads[h.slot]!--;
      if (slot.accepting) this.refill(h);
      if (h.recycleAt > 0 && h.served >= h.recycleAt && !slot.replacing) this.hooks.recycle(slot);
    }
    if (this.hub.active) {
      this.hub.emit({
        type: '@troupe.done',
        at: Date.now(),
        requestId: req.id,
        actorId: h.slot,
        outcome: ok ? 'ok' : 'error',
        ms: performance.now() - req.startedAt,
      });
    }
    if (this.idleWaiters.length > 0) this.checkIdle();
  }

  private refill(h: ActorHandle): void {
    const slot = this.slots[h.slot]!;
    const limit = this.opts.concurrency;
    while (h.inFlight < limit) {
      let next = slot.queue.shift();
      if (next !== undefined) {
        if (next.settled) continue; // its accounting was undone when it was cancelled
        this.loads[slot.id]!--;
      } else {
        next = this.master.shift();
        if (next === undefined) return;
        if (next.settled) continue;
        if (this.hub.active) this.hub.route(next, h.slot, false);
      }
      this.queued--;
      this.dispatch(next, h);
    }
  }

  // ── outcomes ─────────────────────────────────────────────────────────────────────────────────────

  /** Settles a request with an error before or instead of running it. */
  fail(req: PendingRequest, error: Error): void {
    this.observer?.failed(req, error);
    this.settle(req);
    if (req.stream !== undefined) req.stream.fail(error);
    else req.reject(error);
  }

  /** The caller has (or is about to have) its outcome: stop its timer and abort listener. */
  settle(req: PendingRequest): void {
    req.settled = true;
    if (req.timer !== undefined) {
      clearTimeout(req.timer);
      req.timer = undefined;
    }
    if (req.onAbort !== undefined) {
      req.options?.signal?.removeEventListener('abort', req.onAbort);
      req.onAbort = undefined;
    }
  }

  /** Abort, consumer left, or timeout: the caller gets `error` now; a running handler is told to stop. */
  cancel(req: PendingRequest, reason: P.CancelReason, error: Error | undefined): void {
    if (req.settled) return;
    const h = req.actor;
    if (h === undefined) this.unqueue(req);
    if (error !== undefined) this.fail(req, error);
    else this.settle(req);
    if (error === undefined) this.observer?.left(req);
    if (h !== undefined && !h.exited) h.outbox.push(P.CANCEL, req.id, reason);
    if (this.idleWaiters.length > 0) this.checkIdle();
  }

  /** Undoes a queued request's accounting (it stays in its deque, skipped when reached). */
  private unqueue(req: PendingRequest): void {
    this.queued--;
    if (req.slot >= 0) {
      this.loads[req.slot]!--;
      req.slot = -1;
    }
  }

  private readonly onTimeout = (req: PendingRequest): void => {
    req.timer = undefined;
    this.cancel(req, P.CANCEL_TIMEOUT, new TimeoutError(req.timeout));
    const h = req.actor;
    if (h === undefined || h.exited) return;
    // Watchdog: a handler that ignores its signal and holds the thread is cut off after killAfter.
    req.timer = setTimeout(() => {
      req.timer = undefined;
      if (h.requests.get(req.id) !== req || h.exited) return;
      this.hooks.kill(
        h,
        `the watchdog cut it off: a request ran past its ${req.timeout} ms timeout and ignored ctx.signal for ${this.opts.killAfter} ms`,
      );
    }, this.opts.killAfter);
  };

  // ── what supervision tells the request path ──────────────────────────────────────────────────────

  /** The handle became the slot's current actor: it takes requests (its slot's queue first). */
  admit(slot: Slot, h: ActorHandle): void {
    if (slot.caughtUp === h) slot.caughtUp = undefined;
    slot.current = h;
    slot.accepting = true;
    this.loads[slot.id] = slot.queue.count(isLive);
    this.refill(h);
  }

  /**
   * A thread ended with requests on it. At-most-once: each fails with ActorCrashedError, except one the
   * caller marked idempotent, which runs once more on a ready actor. Not a stream (its chunks may be
   * consumed), nor one with a streamed body (partly sent, not replayable), nor one whose buffers were
   * transferred (they moved into the dead thread: a replay would carry empty, detached buffers).
   */
  lost(h: ActorHandle, detail: string, wasCurrent: boolean): void {
    const lost = [...h.requests.values()];
    h.requests.clear();
    h.inFlight = 0;
    h.streams = 0;
    // Only live entries: a request cancelled while queued had its load undone already, and refill
    // skips it without undoing it again (counting it here would leave a ghost load for good).
    if (wasCurrent) this.loads[h.slot] = this.slots[h.slot]!.queue.count(isLive);
    for (const req of lost) {
      if (req.timer !== undefined) clearTimeout(req.timer);
      req.timer = undefined;
      // A body pump waiting for credits is woken to see its actor gone and close the caller's iterator.
      const wake = req.bodyWake;
      req.bodyWake = undefined;
      wake?.();
      if (req.settled) continue;
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

  /** The slot gave up: its queue is placed again (its keys move on); with no slot left, all fail. */
  requeue(slot: Slot): void {
    this.loads[slot.id] = 0;
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
  }

  /** The close grace ran out: everything queued or running on `handles` gets `error()` now. */
  cutOff(handles: Iterable<ActorHandle | undefined>, error: () => Error): void {
    for (const req of [...this.master.drain(), ...this.slots.flatMap((s) => s.queue.drain())]) {
      if (req.settled) continue;
      this.queued--;
      this.fail(req, error());
    }
    for (const h of handles) {
      if (h === undefined) continue;
      for (const req of h.requests.values()) {
        if (req.settled) continue;
        this.fail(req, error());
        if (!h.exited) h.outbox.push(P.CANCEL, req.id, P.CANCEL_DRAIN);
      }
    }
  }

  // ── idleness ─────────────────────────────────────────────────────────────────────────────────────

  /** Requests queued (live ones) outside any slot. */
  masterQueued(): number {
    return this.master.count(isLive);
  }

  busy(): boolean {
    if (this.queued > 0) return true;
    for (const slot of this.slots) if (slot.current !== undefined && slot.current.inFlight > 0) return true;
    return false;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Something ended (a request or a thread): wake close() if that was the last of it. */
  checkIdle(): void {
    if (this.idleWaiters.length === 0 || this.busy()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** A queued request still waiting (a cancelled one stays in its deque until reached, then is skipped). */
export const isLive = (req: PendingRequest): boolean => !req.settled;
