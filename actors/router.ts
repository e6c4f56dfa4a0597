import { EventEmitter } from 'node:events';
import { createActor } from 'xstate';
import { routerMachine } from '../machines/router.js';
import { ActorHandle } from './actor-handle.js';
import { prepareRollout } from './config-rollout.js';
import { Deque } from './deque.js';
import {
  AbortError,
  ActorCrashedError,
  AppLoadError,
  ClosedError,
  ConfigRejectedError,
  DataCloneError,
  HandlerError,
  InitError,
  InvalidArgumentError,
  NoActorError,
  QueueFullError,
  TimeoutError,
  type TroupeError,
} from './errors.js';
import { reduceInspection, stateName } from './inspection.js';
import {
  findSharedMemory,
  isPlainObject,
  MAX_TIMER_MS,
  type ResolvedOptions,
  sharedConfigMessage,
} from './options.js';
import { PendingRequest, ResponseStream } from './pending.js';
import { hashKey, type KeyedChoice, pickKeyed, pickLeastLoaded } from './placement.js';
import * as P from './protocol.js';
import { Slot } from './slot.js';
import type {
  Config,
  Dispatcher,
  DispatcherSnapshot,
  InspectionEvent,
  InspectorOptions,
  RequestOptions,
} from './types.js';

type Listener = (event: InspectionEvent) => void;

const noop = () => {};

/**
 * The router actor: owns placement, the master queue, config rollout and supervision, on the main thread.
 * The per-request path (submit → place → dispatch → complete) is plain code over counters; the router's
 * machine only sees its own lifecycle, and each actor's machine runs in its thread.
 */
export class Router extends EventEmitter implements Dispatcher {
  private readonly slots: Slot[];
  /** Per slot: requests in flight on its current actor plus keyed requests queued for it. */
  private readonly loads: Int32Array;
  private readonly master = new Deque<PendingRequest>();
  private queued = 0;
  private nextId = 0;
  /** The slot the last unkeyed request went to: ties go back to it while its thread is still awake. */
  private lastSlot = 0;
  private readonly choice: KeyedChoice = { slot: -1, spilled: false };
  private readonly inspectors = new Set<Listener>();
  /** True while anyone listens: the only check the hot path pays for inspection. */
  private inspecting = false;
  private readonly inspectActors: boolean;
  /** Route events carry payloads only when the inspector's user opted in. */
  private readonly showPayloads: boolean;
  private readonly machine;
  private version = 1;
  private config: Readonly<Config>;
  private configChain: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private retirements = new Set<Promise<void>>();
  private warming = new Set<Promise<unknown>>();
  private heapTimer: NodeJS.Timeout | undefined;
  private inspector: { url: string; close(): Promise<void> } | undefined;

  constructor(
    private readonly opts: ResolvedOptions,
    inspect: Listener | undefined,
    private readonly inspectorOptions: InspectorOptions | undefined,
  ) {
    super();
    this.config = Object.freeze({ ...opts.config });
    this.slots = Array.from(
      { length: opts.actors },
      (_, i) => new Slot(i, opts.maxRestarts, opts.restartWindow, opts.restartBackoff),
    );
    this.loads = new Int32Array(opts.actors);
    if (inspect !== undefined) this.subscribe(inspect);
    this.inspectActors = inspect !== undefined || inspectorOptions !== undefined;
    this.showPayloads = inspectorOptions?.showPayloads === true;
    this.machine = createActor(routerMachine, {
      inspect: (ev) => {
        if (!this.inspecting) return;
        const reduced = reduceInspection(ev, 'router');
        if (reduced !== undefined) this.emitInspection(reduced);
      },
    });
    this.machine.start();
  }

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
        const { startInspector } = await import('../inspector/server.js');
        this.inspector = await startInspector(this, this.inspectorOptions);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    this.machine.send({ type: 'ACTORS_READY' });
  }

  private spawn(slot: number): ActorHandle {
    const h = new ActorHandle({
      slot,
      appUrl: this.opts.appUrl,
      inspect: this.inspectActors,
      resourceLimits: this.opts.resourceLimits,
      onData: this.onData,
      onCloneFailure: this.onCloneFailure,
      onExit: this.onExit,
    });
    const max = this.opts.maxRequestsPerActor;
    // ±10% jitter so that actors started together are not all recycled together.
    if (max > 0) h.recycleAt = Math.max(1, Math.round(max * (0.9 + Math.random() * 0.2)));
    return h;
  }

  /** Runs the app's init in the actor, bounded by initTimeout and by the thread dying. */
  private async initHandle(h: ActorHandle): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ms = this.opts.initTimeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new InitError(h.slot, `Actor ${h.slot}: init did not finish within ${ms} ms (initTimeout).`),
          ),
        ms,
      );
    });
    const died = h.exitedPromise.then((detail) => {
      throw new InitError(h.slot, `Actor ${h.slot} died during init: ${detail}`);
    });
    try {
      const config = this.config;
      const version = this.version;
      const { threadId } = await Promise.race([h.control.init(config, version), timeout, died]);
      h.threadId = threadId;
      h.configVersion = version;
      // The actor's own STATE report travels on the data port and may trail the control-plane reply.
      if (h.state === 'init') h.state = 'ready';
    } catch (err) {
      if (err instanceof InitError) throw err;
      const e = err as Error;
      // Comlink rebuilds the actor's error as a plain Error that keeps its name: a module that cannot be
      // loaded or has no handler is the caller's mistake, not an init failure, so it keeps its own class.
      if (e?.name === 'AppLoadError') throw new AppLoadError(e.message, { cause: err });
      throw new InitError(h.slot, `Actor ${h.slot}: init failed: ${e?.name ?? 'Error'}: ${e?.message ?? e}`, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The handle becomes the slot's current actor and takes requests (its slot's queue first). */
  private admit(slot: Slot, h: ActorHandle): void {
    if (slot.caughtUp === h) slot.caughtUp = undefined;
    slot.current = h;
    slot.accepting = true;
    this.loads[slot.id] = slot.queue.count(isLive);
    this.refill(h);
  }

  // ── the request path ─────────────────────────────────────────────────────────────────────────────

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

  private submit(
    payload: unknown,
    options: RequestOptions | undefined,
    resolve: (v: unknown) => void,
    reject: (e: Error) => void,
    stream: ResponseStream | undefined,
  ): void {
    if (this.closing !== undefined || this.closed) throw new ClosedError();
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
      if (this.inspecting) this.emitRoute(req, slot.id, choice.spilled);
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
      slot.queue.push(req);
      this.loads[slot.id]!++;
      this.queued++;
      return;
    }
    const s = pickLeastLoaded(this.loads, this.readyEligible, limit, this.lastSlot);
    if (s >= 0) {
      this.lastSlot = s;
      if (this.inspecting) this.emitRoute(req, s, false);
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
    let tag = P.START;
    let body: AsyncIterable<unknown> | undefined;
    if (options !== undefined) {
      body = options.body;
      if (req.stream !== undefined) tag = body === undefined ? P.START_STREAM : P.START_STREAM_BODY;
      else if (body !== undefined) tag = P.START_BODY;
      h.outbox.push(tag, req.id, req.payload, options.transfer);
      if (options.retry !== true) req.payload = undefined;
    } else {
      if (req.stream !== undefined) tag = P.START_STREAM;
      h.outbox.push(tag, req.id, req.payload);
      req.payload = undefined;
    }
    if (req.stream !== undefined) h.streams++;
    if (this.inspecting) req.startedAt = performance.now();
    if (body !== undefined) void this.pumpBody(req, h, body);
  }

  /** Frees the request's place on its actor and hands the room to the next waiting request. */
  private complete(h: ActorHandle, req: PendingRequest): void {
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
      if (h.recycleAt > 0 && h.served >= h.recycleAt && !slot.replacing) void this.replace(slot, 'recycle');
    }
    if (this.inspecting) {
      this.emitInspection({
        type: '@troupe.done',
        at: Date.now(),
        requestId: req.id,
        actorId: h.slot,
        outcome: req.settled ? 'error' : 'ok',
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
        if (this.inspecting) this.emitRoute(next, h.slot, false);
      }
      this.queued--;
      this.dispatch(next, h);
    }
  }

  /** Settles a request with an error before or instead of running it. */
  private fail(req: PendingRequest, error: Error): void {
    this.settle(req);
    if (req.stream !== undefined) req.stream.fail(error);
    else req.reject(error);
  }

  /** The caller has (or is about to have) its outcome: stop its timer and abort listener. */
  private settle(req: PendingRequest): void {
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

  /** Undoes a queued request's accounting (it stays in its deque, skipped when reached). */
  private unqueue(req: PendingRequest): void {
    this.queued--;
    if (req.slot >= 0) {
      this.loads[req.slot]!--;
      req.slot = -1;
    }
  }

  /** Abort, consumer left, or timeout: the caller gets `error` now; a running handler is told to stop. */
  private cancel(req: PendingRequest, reason: number, error: Error | undefined): void {
    if (req.settled) return;
    const h = req.actor;
    if (h === undefined) this.unqueue(req);
    if (error !== undefined) this.fail(req, error);
    else this.settle(req);
    if (h !== undefined && !h.exited) h.outbox.push(P.CANCEL, req.id, reason);
    if (this.idleWaiters.length > 0) this.checkIdle();
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
      void this.kill(
        h,
        `the watchdog cut it off: a request ran past its ${req.timeout} ms timeout and ignored ctx.signal for ${this.opts.killAfter} ms`,
      );
    }, this.opts.killAfter);
  };

  /** Feeds a request body to the actor as it grants credit, so a slow handler slows the upload. */
  private async pumpBody(req: PendingRequest, h: ActorHandle, body: AsyncIterable<unknown>): Promise<void> {
    const running = () => !req.settled && h.requests.get(req.id) === req;
    let it: AsyncIterator<unknown> | undefined;
    try {
      it = body[Symbol.asyncIterator]();
      for (;;) {
        if (!running()) break;
        if (req.bodyCredits <= 0) {
          await new Promise<void>((resolve) => {
            req.bodyWake = resolve;
          });
          continue;
        }
        const step = await it.next();
        if (!running()) break;
        if (step.done) {
          h.outbox.push(P.BODY_END, req.id, undefined);
          return;
        }
        req.bodyCredits--;
        h.outbox.push(P.BODY_CHUNK, req.id, step.value, P.transferablesOf(step.value));
      }
      await it.return?.();
    } catch (err) {
      if (running()) h.outbox.push(P.BODY_END, req.id, String((err as Error)?.message ?? err));
    }
  }

  // ── the actors' messages ─────────────────────────────────────────────────────────────────────────

  private readonly onData = (h: ActorHandle, msg: unknown[]): void => {
    const requests = h.requests;
    for (let i = 0; i < msg.length; i += 3) {
      const tag = msg[i] as number;
      switch (tag) {
        case P.RESULT: {
          const req = requests.get(msg[i + 1] as number);
          if (req === undefined) break;
          this.complete(h, req);
          if (req.settled) break;
          this.settle(req);
          req.resolve(msg[i + 2]);
          break;
        }
        case P.CHUNK: {
          const req = requests.get(msg[i + 1] as number);
          if (req !== undefined && !req.settled) req.stream!.push(msg[i + 2]);
          break;
        }
        case P.END: {
          const req = requests.get(msg[i + 1] as number);
          if (req === undefined) break;
          this.complete(h, req);
          if (req.settled) break;
          this.settle(req);
          req.stream!.end();
          break;
        }
        case P.ERROR: {
          const req = requests.get(msg[i + 1] as number);
          if (req === undefined) break;
          this.complete(h, req);
          if (!req.settled) this.fail(req, decodeError(h.slot, msg[i + 2] as P.WireError));
          break;
        }
        case P.BODY_CREDIT: {
          const req = requests.get(msg[i + 1] as number);
          if (req === undefined) break;
          req.bodyCredits += msg[i + 2] as number;
          const wake = req.bodyWake;
          req.bodyWake = undefined;
          wake?.();
          break;
        }
        case P.STATE:
          h.state = msg[i + 1] as ActorHandle['state'];
          // An actor reports the version it last applied; a commit it has not received yet is newer.
          if ((msg[i + 2] as number) > h.configVersion) h.configVersion = msg[i + 2] as number;
          break;
        case P.INSPECT:
          if (this.inspecting) this.emitInspection(msg[i + 1] as InspectionEvent);
          break;
      }
    }
  };

  private readonly onCloneFailure = (h: ActorHandle, tag: number, id: number, error: unknown): void => {
    const req = h.requests.get(id);
    if (req === undefined) return;
    if (tag >= P.START && tag <= P.START_STREAM_BODY) {
      // The actor never saw this request: give its room back and tell the caller why.
      this.complete(h, req);
      h.served--;
      if (!req.settled) this.fail(req, new DataCloneError('payload', error));
    } else if (tag === P.BODY_CHUNK) {
      this.cancel(req, P.CANCEL_ABORT, new DataCloneError('request body chunk', error));
    }
  };

  // ── supervision ──────────────────────────────────────────────────────────────────────────────────

  private readonly onExit = (h: ActorHandle, detail: string): void => {
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

  private async restart(slot: Slot, reason: string): Promise<void> {
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
  private promote(slot: Slot, h: ActorHandle, reason: string): void {
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
  private giveUp(slot: Slot, error: string): void {
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
  private async kill(h: ActorHandle, reason: string): Promise<void> {
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
  private retire(h: ActorHandle): void {
    h.retiring = true;
    const done = (async () => {
      try {
        await Promise.race([h.control.drain(), h.exitedPromise]);
      } catch {
        // A failing close hook must not keep the thread alive.
      }
      await h.terminate();
    })();
    this.retirements.add(done);
    void done.finally(() => this.retirements.delete(done));
  }

  /** Brings an actor started from an older config up to the current version before it is admitted. */
  private async catchUp(h: ActorHandle): Promise<void> {
    // Serialized with rollouts, so that an actor admitted mid-rollout cannot miss a version.
    const run = this.configChain.then(async () => {
      if (h.exited) return;
      if (h.configVersion < this.version) {
        await h.alive((c) => c.prepareConfig({ ...this.config }, this.version));
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

  private async checkHeaps(): Promise<void> {
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

  private async rollout(change: Config): Promise<{ version: number }> {
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

  subscribe(listener: Listener): () => void {
    this.inspectors.add(listener);
    this.inspecting = true;
    return () => {
      this.inspectors.delete(listener);
      this.inspecting = this.inspectors.size > 0;
    };
  }

  private emitInspection(event: InspectionEvent): void {
    for (const l of this.inspectors) {
      try {
        l(event);
      } catch {
        // A listener's bug must not break dispatch.
      }
    }
  }

  private emitRoute(req: PendingRequest, actorId: number, spilled: boolean): void {
    const key = req.options?.key;
    this.emitInspection({
      type: '@troupe.route',
      at: Date.now(),
      requestId: req.id,
      actorId,
      ...(key !== undefined ? { key } : {}),
      spilled,
      stream: req.stream !== undefined,
      ...(this.showPayloads ? { payload: req.payload } : {}),
    });
  }

  // ── shutdown ─────────────────────────────────────────────────────────────────────────────────────

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private busy(): boolean {
    if (this.queued > 0) return true;
    for (const slot of this.slots) if (slot.current !== undefined && slot.current.inFlight > 0) return true;
    return false;
  }

  private checkIdle(): void {
    if (this.busy()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async shutdown(): Promise<void> {
    this.machine.send({ type: 'CLOSE' });
    // Requests already accepted (queued or running) finish; new ones are refused by submit().
    if (this.busy()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
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
}

/** A queued request still waiting (a cancelled one stays in its deque until reached, then is skipped). */
const isLive = (req: PendingRequest): boolean => !req.settled;

/** Rebuilds an actor's error on the main thread as the right TroupeError class. */
function decodeError(actorId: number, wire: P.WireError): TroupeError {
  switch (wire.kind) {
    case P.E_CLONE:
      return new DataCloneError(wire.name, new Error(wire.message));
    case P.E_CANCELLED:
      return new AbortError(wire.message);
    default:
      return new HandlerError(actorId, wire.name, wire.message, wire.code, wire.stack);
  }
}
