import { AbortError, ClosedError, NoActorError, QueueFullError, TimeoutError } from '../errors.js';
import type { RequestOptions } from '../types.js';
import * as P from '../wire/protocol.js';
import { addAbortListener, removeAbortListener } from './abort.js';
import type { ActorHandle } from './actor-handle.js';
import { Backlog } from './backlog.js';
import { closeBody, pumpBody } from './body-pump.js';
import { IdleWatch } from './idle-watch.js';
import type { InspectionHub } from './inspection-hub.js';
import { settleLost } from './lost-requests.js';
import type { RequestObserver } from './observer.js';
import type { ResolvedOptions } from './options.js';
import { Parking } from './parking.js';
import { PendingRequest, ResponseStream, type StreamControl } from './pending.js';
import { hashKey, holdsWork, isHeld, type KeyedChoice, keyedChoice, pickKeyed } from './placement.js';
import { checkRequestOptions } from './request-options.js';
import { RouteCosts } from './route-costs.js';
import type { Slot } from './slot.js';
import { watchOverdue } from './watchdog.js';

const noop = () => {};

/** What the request path asks of supervision. */
export interface RequestPathHooks {
  /** The actor served its quota: replace it make-before-break. */
  recycle(slot: Slot): void;
  /**
   * The watchdog: a handler ignored its cancel for `killAfter` ms. A thread that is blocked is ended; one
   * whose loop still turns keeps its other requests, takes no new one, and is replaced.
   */
  overdue(h: ActorHandle, reason: string, blocked: boolean): void;
}

/**
 * The per-request path: submit → place → dispatch → complete, with the master queue, the keyed slot
 * queues and the per-slot loads that placement reads. Plain code over counters: no machine event and no
 * allocation beyond the request's own record. It owns every counter it reads; supervision tells it when a
 * slot gains or loses its actor (`admit`, `detach`, `lost`, `requeue`).
 */
export class RequestPath implements StreamControl {
  private readonly backlog: Backlog;
  /** Per slot: requests in flight on its current actor plus keyed requests queued for it. */
  private readonly loads: Int32Array;
  /** Per slot: what the requests in flight on its current actor are expected to hold its loop for, µs. */
  private readonly work: Float64Array;
  /** What each route's requests cost, learned as they end. */
  readonly routeCosts = new RouteCosts();
  private nextId = 0;
  /** The slot the last light unkeyed request went to: ties go back to it while its thread is still awake. */
  private lastSlot = 0;
  /**
   * The slot the last unkeyed request of a heavy route went to: its ties go back there, not to the light
   * requests' slot. Heavy and light work then keep to their own threads, and the OS keeps each thread on a
   * CPU of its own, where heavy requests sent to whichever slot light traffic used last would trade
   * threads with it at every heavy request, each swap putting a spinning thread on the CPU the front and
   * the light actor had been using, until the scheduler moves one of them away again.
   */
  private lastHeavySlot = 0;
  private readonly choice: KeyedChoice = keyedChoice();
  /** Slots that gave up (the supervisor counts them): while any has, placement sums the eligible loads. */
  failedSlots = 0;
  private readonly idleWatch = new IdleWatch(() => this.busy());
  /** False once close() began: new requests are refused. */
  private open = true;
  /** Set by the dispatcher: metrics and tracing, when on. */
  observer: RequestObserver | undefined;
  /** How many slots take unkeyed requests first (the others sleep until the load needs them). */
  readonly parking: Parking;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly slots: readonly Slot[],
    private readonly hub: InspectionHub,
    private readonly hooks: RequestPathHooks,
  ) {
    this.backlog = new Backlog(slots, opts.maxQueue);
    this.loads = this.backlog.loads;
    this.work = new Float64Array(slots.length);
    this.parking = new Parking(slots, opts.park, this.readyEligible, this.held, this.work);
  }

  request<R = unknown>(payload: unknown, options?: RequestOptions): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.submit(payload, options, resolve as (v: unknown) => void, reject, undefined);
    });
  }

  /**
   * request() settled through callbacks, for a caller that cancels through the returned request
   * (`cancelStarted`) rather than through an AbortSignal: the cluster's runner, where an AbortController
   * and its listener for each request it serves cost more than the rest of its bookkeeping. Throws what
   * request() rejects with at once (bad options, closed).
   */
  start(
    payload: unknown,
    options: RequestOptions,
    resolve: (v: unknown) => void,
    reject: (e: Error) => void,
  ): PendingRequest {
    return this.submit(payload, options, resolve, reject, undefined);
  }

  /** Cancels a request start() began, as an abort of its signal would; nothing once it has settled. */
  cancelStarted(req: PendingRequest, error: Error): void {
    this.cancel(req, P.CANCEL_ABORT, error);
  }

  stream<C = unknown>(payload: unknown, options?: RequestOptions): AsyncIterableIterator<C> {
    const stream = new ResponseStream<C>();
    this.streamInto(payload, options, stream);
    return stream;
  }

  /**
   * stream() into a consumer of the caller's own: a ResponseStream subclass whose push/end/fail take the
   * chunks as they arrive (the HTTP front writes them to the socket), with no promise per chunk.
   */
  streamInto<C>(payload: unknown, options: RequestOptions | undefined, into: ResponseStream<C>): void {
    try {
      // A stream's errors reach it through fail(req), never through reject.
      this.submit(payload, options, noop, noop, into as ResponseStream);
    } catch (err) {
      into.fail(err as Error);
    }
  }

  streamCredit(req: PendingRequest, n: number): void {
    if (req.actor !== undefined && !req.actor.exited) req.actor.outbox.push(P.CREDIT, req.id, n);
  }

  streamLeft(req: PendingRequest): void {
    this.cancel(req, P.CANCEL_CONSUMER_LEFT, undefined);
  }

  /** close() began: requests from now on are refused with ClosedError. */
  refuse(): void {
    this.open = false;
    this.parking.stop();
  }

  private submit(
    payload: unknown,
    options: RequestOptions | undefined,
    resolve: (v: unknown) => void,
    reject: (e: Error) => void,
    stream: ResponseStream | undefined,
  ): PendingRequest {
    if (!this.open) throw new ClosedError();
    checkRequestOptions(options);
    let keyHash = -1;
    let timeout = this.opts.timeout;
    if (options !== undefined) {
      if (options.key !== undefined) keyHash = hashKey(options.key);
      if (options.timeout !== undefined) timeout = options.timeout;
      if (options.signal?.aborted) throw new AbortError(options.signal.reason);
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
    stream?.bind(this, req);
    const route = options?.route ?? stream?.route;
    if (route !== undefined) req.route = this.routeCosts.entry(route);
    const signal = options?.signal;
    if (signal !== undefined) {
      // One listener per signal, however many requests share it (a signal per page load, say).
      req.onAbort = () => this.cancel(req, P.CANCEL_ABORT, new AbortError(signal.reason));
      addAbortListener(signal, req.onAbort);
    }
    if (timeout > 0) req.timer = setTimeout(this.onTimeout, timeout, req);
    this.place(req, false);
    return req;
  }

  private readonly keyEligible = (s: number): boolean => !this.slots[s]!.failed;
  private readonly held = (s: number): boolean => isHeld(this.slots[s]!.current!.heartbeat);
  private readonly readyEligible = (s: number): boolean => {
    const slot = this.slots[s]!;
    return slot.accepting && !slot.stalled;
  };

  /** Chooses the actor: keyed by bounded-load rendezvous hashing, unkeyed by least in flight (awake first). */
  private place(req: PendingRequest, readyOnly: boolean): void {
    const limit = this.opts.concurrency;
    req.cost = this.routeCosts.expected(req.route);
    if (req.keyHash >= 0) {
      const eligible = readyOnly ? this.readyEligible : this.keyEligible;
      // With no failed slot every slot is eligible for a key: the kept total is the eligible slots' sum.
      const kept = this.failedSlots > 0 ? -1 : this.backlog.total;
      this.choice.total = readyOnly ? -1 : kept;
      let choice = pickKeyed(req.keyHash, this.loads, eligible, this.opts.balanceFactor, limit, this.choice);
      // A retry with no ready actor waits in its key's slot queue for the replacement rather than failing.
      if (choice.slot < 0 && readyOnly) {
        this.choice.total = kept;
        choice = pickKeyed(
          req.keyHash,
          this.loads,
          this.keyEligible,
          this.opts.balanceFactor,
          limit,
          this.choice,
        );
      }
      if (choice.slot < 0) {
        this.fail(req, new NoActorError());
        return;
      }
      const slot = this.slots[choice.slot]!;
      if (this.hub.active) this.hub.route(req, slot.id, choice.spilled);
      const h = slot.current;
      if (
        slot.accepting &&
        !slot.stalled &&
        h !== undefined &&
        h.inFlight < limit &&
        slot.queue.length === 0
      ) {
        this.dispatch(req, h);
        return;
      }
      if (this.backlog.full) {
        this.fail(req, new QueueFullError(this.opts.maxQueue));
        return;
      }
      this.observer?.queued(req);
      this.backlog.pushKeyed(slot, req);
      return;
    }
    const heavy = holdsWork(req.cost);
    const s = this.parking.pick(this.loads, limit, heavy ? this.lastHeavySlot : this.lastSlot);
    if (s >= 0) {
      if (heavy) this.lastHeavySlot = s;
      else this.lastSlot = s;
      if (this.hub.active) this.hub.route(req, s, false);
      this.dispatch(req, this.slots[s]!.current!);
      return;
    }
    if (this.slots.every((slot) => slot.failed)) {
      this.fail(req, new NoActorError());
      return;
    }
    if (this.backlog.full) {
      this.fail(req, new QueueFullError(this.opts.maxQueue));
      return;
    }
    this.observer?.queued(req);
    this.backlog.pushUnkeyed(req);
  }

  private dispatch(req: PendingRequest, h: ActorHandle): void {
    req.actor = h;
    req.slot = -1;
    h.inFlight++;
    this.backlog.addLoad(h.slot, 1);
    this.work[h.slot]! += req.cost;
    h.requests.set(req);
    const options = req.options;
    const streamed = req.stream !== undefined;
    const body = options?.body;
    this.observer?.started(req, h);
    h.outbox.push(P.startTag(streamed, body !== undefined), req.id, req.payload, options?.transfer);
    if (options?.retry !== true) req.payload = undefined;
    if (streamed) h.streams++;
    // The metrics observer stamps the start already, on the same clock.
    if (this.hub.active && this.observer === undefined) req.startedAt = this.hub.now();
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
    this.routeCosts.learnOnce(req, h.heartbeat);
    if (req.stream !== undefined) h.streams--;
    if (req.timer !== undefined) clearTimeout(req.timer);
    const wake = req.bodyWake;
    if (wake !== undefined) {
      req.bodyWake = undefined;
      wake();
    }
    const slot = this.slots[h.slot]!;
    if (slot.current === h) {
      this.backlog.addLoad(h.slot, -1);
      // Back to exactly 0 when the actor is empty, so rounding never builds up.
      this.work[h.slot] = h.inFlight === 0 ? 0 : this.work[h.slot]! - req.cost;
      if (slot.accepting && !slot.stalled) this.refill(h);
      if (h.recycleAt > 0 && h.served >= h.recycleAt && !slot.replacing) this.hooks.recycle(slot);
    }
    if (this.hub.active) this.hub.done(req, h.slot, ok);
    if (this.idleWatch.waiting) this.idleWatch.check();
  }

  private refill(h: ActorHandle): void {
    const slot = this.slots[h.slot]!;
    const limit = this.opts.concurrency;
    while (h.inFlight < limit) {
      const next = this.backlog.next(slot);
      if (next === undefined) return;
      if (this.hub.active && next.slot < 0) this.hub.route(next, h.slot, false);
      this.dispatch(next, h);
    }
  }

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
    if (req.bodyIterator !== undefined) closeBody(req);
    if (req.timer !== undefined) {
      clearTimeout(req.timer);
      req.timer = undefined;
    }
    if (req.onAbort !== undefined) {
      const signal = req.options?.signal;
      if (signal !== undefined) removeAbortListener(signal, req.onAbort);
      req.onAbort = undefined;
    }
  }

  /** Abort, consumer left, or timeout: the caller gets `error` now; a running handler is told to stop. */
  cancel(req: PendingRequest, reason: P.CancelReason, error: Error | undefined): void {
    if (req.settled) return;
    const h = req.actor;
    if (h === undefined) this.backlog.unqueue(req);
    if (error !== undefined) this.fail(req, error);
    else this.settle(req);
    if (error === undefined) this.observer?.left(req);
    if (h !== undefined && !h.exited) h.outbox.push(P.CANCEL, req.id, reason);
    if (this.idleWatch.waiting) this.idleWatch.check();
  }

  private readonly onTimeout = (req: PendingRequest): void => {
    req.timer = undefined;
    this.cancel(req, P.CANCEL_TIMEOUT, new TimeoutError(req.timeout));
    const h = req.actor;
    if (h !== undefined && !h.exited) watchOverdue(req, h, this.opts.killAfter, this.hooks);
  };

  /** The handle became the slot's current actor: it takes requests (its slot's queue first). */
  admit(slot: Slot, h: ActorHandle): void {
    if (slot.caughtUp === h) slot.caughtUp = undefined;
    slot.current = h;
    slot.accepting = true;
    this.backlog.resetLoad(slot);
    this.work[slot.id] = 0;
    this.refill(h);
  }

  /** The slot's actor turns its loop again after a stall: it takes requests again. */
  resume(slot: Slot): void {
    const h = slot.current;
    if (h !== undefined && slot.accepting) this.refill(h);
  }

  /** A thread ended with requests on it: each gets its one outcome (at-most-once: see settleLost). */
  lost(h: ActorHandle, detail: string, wasCurrent: boolean): void {
    const lost = [...h.requests.values()];
    h.requests.clear();
    h.inFlight = 0;
    h.streams = 0;
    // Only live entries: a request cancelled while queued had its load undone already, and refill
    // skips it without undoing it again (counting it here would leave a ghost load for good).
    if (wasCurrent) {
      this.backlog.resetLoad(this.slots[h.slot]!);
      this.work[h.slot] = 0;
    }
    for (const req of lost) settleLost(req, h.slot, detail, this.retry, this);
  }

  /** Runs an idempotent request once more, on a ready actor, with its timeout afresh. */
  private readonly retry = (req: PendingRequest): void => {
    req.actor = undefined;
    if (req.timeout > 0) req.timer = setTimeout(this.onTimeout, req.timeout, req);
    this.place(req, true);
  };

  /** The slot gave up: its queue is placed again (its keys move on); with no slot left, all fail. */
  requeue(slot: Slot): void {
    for (const req of this.backlog.drainSlot(slot)) this.place(req, false);
    if (this.slots.every((s) => s.failed)) {
      for (const req of this.backlog.drainMaster()) this.fail(req, new NoActorError());
    }
  }

  /** The close grace ran out: everything queued or running on `handles` gets `error()` now. */
  cutOff(handles: Iterable<ActorHandle | undefined>, error: () => Error): void {
    for (const req of this.backlog.drainAll()) this.fail(req, error());
    for (const h of handles) {
      if (h === undefined) continue;
      for (const req of h.requests.values()) {
        if (req.settled) continue;
        this.fail(req, error());
        if (!h.exited) h.outbox.push(P.CANCEL, req.id, P.CANCEL_DRAIN);
      }
    }
  }

  /** Requests queued (live ones) outside any slot. */
  masterQueued(): number {
    return this.backlog.masterSize();
  }

  busy(): boolean {
    if (this.backlog.size > 0) return true;
    for (const slot of this.slots) if (slot.current !== undefined && slot.current.inFlight > 0) return true;
    return false;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    return this.idleWatch.idle();
  }

  /** Something ended (a request or a thread): wake close() if that was the last of it. */
  checkIdle(): void {
    this.idleWatch.check();
  }
}
