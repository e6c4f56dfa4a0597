import { EventEmitter } from 'node:events';
import { createActor } from 'xstate';
import { routerMachine } from '../../machines/router.js';
import {
  AbortError,
  AppLoadError,
  ClosedError,
  DataCloneError,
  HandlerError,
  InitError,
  InvalidArgumentError,
  NoActorError,
  QueueFullError,
  TimeoutError,
  type TroupeError,
} from '../errors.js';
import type { Config, InspectionEvent, InspectorOptions, RequestOptions } from '../types.js';
import { reduceInspection } from '../wire/inspection.js';
import * as P from '../wire/protocol.js';
import { ActorHandle } from './actor-handle.js';
import { Deque } from './deque.js';
import { MAX_TIMER_MS, type ResolvedOptions } from './options.js';
import { PendingRequest, ResponseStream } from './pending.js';
import { hashKey, type KeyedChoice, pickKeyed, pickLeastLoaded } from './placement.js';
import { Slot } from './slot.js';

export type Listener = (event: InspectionEvent) => void;

export const noop = () => {};

/**
 * The router actor's core: its state, the per-request path (submit → place → dispatch → complete) and the
 * actors' data-plane messages. Plain code over counters: no machine event and no allocation beyond the
 * request's own record. Supervision (supervision.ts) and the public lifecycle (router.ts) build on it.
 */
export abstract class RouterCore extends EventEmitter {
  protected readonly slots: Slot[];
  /** Per slot: requests in flight on its current actor plus keyed requests queued for it. */
  protected readonly loads: Int32Array;
  protected readonly master = new Deque<PendingRequest>();
  protected queued = 0;
  protected nextId = 0;
  /** The slot the last unkeyed request went to: ties go back to it while its thread is still awake. */
  protected lastSlot = 0;
  protected readonly choice: KeyedChoice = { slot: -1, spilled: false };
  protected readonly inspectors = new Set<Listener>();
  /** True while anyone listens: the only check the hot path pays for inspection. */
  protected inspecting = false;
  protected readonly inspectActors: boolean;
  /** Route events carry payloads only when the inspector's user opted in. */
  protected readonly showPayloads: boolean;
  protected readonly machine;
  protected version = 1;
  protected config: Readonly<Config>;
  protected configChain: Promise<unknown> = Promise.resolve();
  protected closing: Promise<void> | undefined;
  protected closed = false;
  protected idleWaiters: (() => void)[] = [];
  protected retirements = new Set<Promise<void>>();
  /** Actors finishing what they hold before they end (replaced, or closing). */
  protected readonly retiringHandles = new Set<ActorHandle>();
  protected warming = new Set<Promise<unknown>>();
  protected heapTimer: NodeJS.Timeout | undefined;
  protected inspector: { url: string; close(): Promise<void> } | undefined;

  constructor(
    protected readonly opts: ResolvedOptions,
    inspect: Listener | undefined,
    protected readonly inspectorOptions: InspectorOptions | undefined,
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

  protected spawn(slot: number): ActorHandle {
    const h = new ActorHandle({
      slot,
      appUrl: this.opts.appUrl,
      inspect: this.inspectActors,
      entry: this.opts.entry,
      resourceLimits: this.opts.resourceLimits,
      onData: this.onData,
      onCloneFailure: this.onCloneFailure,
      onExit: (handle, detail) => this.onExit(handle, detail),
    });
    const max = this.opts.maxRequestsPerActor;
    // ±10% jitter so that actors started together are not all recycled together.
    if (max > 0) h.recycleAt = Math.max(1, Math.round(max * (0.9 + Math.random() * 0.2)));
    return h;
  }

  /** Runs the app's init in the actor, bounded by initTimeout and by the thread dying. */
  protected async initHandle(h: ActorHandle): Promise<void> {
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
  protected admit(slot: Slot, h: ActorHandle): void {
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

  protected submit(
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

  protected readonly keyEligible = (s: number): boolean => !this.slots[s]!.failed;
  protected readonly readyEligible = (s: number): boolean => this.slots[s]!.accepting;

  /** Chooses the actor: keyed by bounded-load rendezvous hashing, unkeyed by least in flight. */
  protected place(req: PendingRequest, readyOnly: boolean): void {
    const limit = this.opts.concurrency;
    if (req.keyHash >= 0) {
      const eligible = readyOnly ? this.readyEligible : this.keyEligible;
      let choice = pickKeyed(req.keyHash, this.loads, eligible, this.opts.balanceFactor, limit, this.choice);
      // A retry with no ready actor waits in its key's slot queue for the replacement rather than failing.
      if (choice.slot < 0 && readyOnly)
        choice = pickKeyed(
          req.keyHash,
          this.loads,
          this.keyEligible,
          this.opts.balanceFactor,
          limit,
          this.choice,
        );
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

  protected dispatch(req: PendingRequest, h: ActorHandle): void {
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

  /**
   * Frees the request's place on its actor and hands the room to the next waiting request. `ok`: the
   * actor's outcome is the caller's result (not an error, and the caller had not given up before).
   */
  protected complete(h: ActorHandle, req: PendingRequest, ok: boolean): void {
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
        outcome: ok ? 'ok' : 'error',
        ms: performance.now() - req.startedAt,
      });
    }
    if (this.idleWaiters.length > 0) this.checkIdle();
  }

  protected refill(h: ActorHandle): void {
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
  protected fail(req: PendingRequest, error: Error): void {
    this.settle(req);
    if (req.stream !== undefined) req.stream.fail(error);
    else req.reject(error);
  }

  /** The caller has (or is about to have) its outcome: stop its timer and abort listener. */
  protected settle(req: PendingRequest): void {
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
  protected unqueue(req: PendingRequest): void {
    this.queued--;
    if (req.slot >= 0) {
      this.loads[req.slot]!--;
      req.slot = -1;
    }
  }

  /** Abort, consumer left, or timeout: the caller gets `error` now; a running handler is told to stop. */
  protected cancel(req: PendingRequest, reason: number, error: Error | undefined): void {
    if (req.settled) return;
    const h = req.actor;
    if (h === undefined) this.unqueue(req);
    if (error !== undefined) this.fail(req, error);
    else this.settle(req);
    if (h !== undefined && !h.exited) h.outbox.push(P.CANCEL, req.id, reason);
    if (this.idleWaiters.length > 0) this.checkIdle();
  }

  protected readonly onTimeout = (req: PendingRequest): void => {
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
  protected async pumpBody(req: PendingRequest, h: ActorHandle, body: AsyncIterable<unknown>): Promise<void> {
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

  protected readonly onData = (h: ActorHandle, msg: unknown[]): void => {
    const requests = h.requests;
    for (let i = 0; i < msg.length; i += 3) {
      const tag = msg[i] as number;
      switch (tag) {
        // A request's single outcome: its result, its stream's end, or its error.
        case P.RESULT:
        case P.END:
        case P.ERROR: {
          const req = requests.get(msg[i + 1] as number);
          if (req === undefined) break;
          const failed = tag === P.ERROR;
          this.complete(h, req, !failed && !req.settled);
          if (req.settled) break; // the caller already has its outcome (timeout, abort, consumer left)
          if (failed) {
            this.fail(req, decodeError(h.slot, msg[i + 2] as P.WireError));
          } else {
            this.settle(req);
            if (tag === P.RESULT) req.resolve(msg[i + 2]);
            else req.stream!.end();
          }
          break;
        }
        case P.CHUNK: {
          const req = requests.get(msg[i + 1] as number);
          if (req !== undefined && !req.settled) req.stream!.push(msg[i + 2]);
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
        case P.PREPARED:
        case P.ABORTED:
          h.configReply(tag, msg[i + 1] as number, msg[i + 2] as P.WireError | 0);
          break;
        case P.INSPECT:
          if (this.inspecting) this.emitInspection(msg[i + 1] as InspectionEvent);
          break;
      }
    }
  };

  protected readonly onCloneFailure = (h: ActorHandle, tag: number, id: number, error: unknown): void => {
    const req = h.requests.get(id);
    if (req === undefined) return;
    if (tag >= P.START && tag <= P.START_STREAM_BODY) {
      // The actor never saw this request: give its room back and tell the caller why.
      this.complete(h, req, false);
      h.served--;
      if (!req.settled) this.fail(req, new DataCloneError('payload', error));
    } else if (tag === P.BODY_CHUNK) {
      this.cancel(req, P.CANCEL_ABORT, new DataCloneError('request body chunk', error));
    }
  };

  subscribe(listener: Listener): () => void {
    this.inspectors.add(listener);
    this.inspecting = true;
    return () => {
      this.inspectors.delete(listener);
      this.inspecting = this.inspectors.size > 0;
    };
  }

  protected emitInspection(event: InspectionEvent): void {
    for (const l of this.inspectors) {
      try {
        l(event);
      } catch {
        // A listener's bug must not break dispatch.
      }
    }
  }

  protected emitRoute(req: PendingRequest, actorId: number, spilled: boolean): void {
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

  protected busy(): boolean {
    if (this.queued > 0) return true;
    for (const slot of this.slots) if (slot.current !== undefined && slot.current.inFlight > 0) return true;
    return false;
  }

  protected checkIdle(): void {
    if (this.busy()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** A thread ended (crash, kill, or the end of a retirement): supervision decides what follows. */
  protected abstract onExit(h: ActorHandle, detail: string): void;

  /** Ends a thread now (the watchdog): its requests fail as crashed and the slot restarts. */
  protected abstract kill(h: ActorHandle, reason: string): Promise<void>;

  /** Replaces a slot's actor make-before-break (recycling). */
  protected abstract replace(slot: Slot, reason: string, stopNow?: boolean): Promise<void>;
}

/** A queued request still waiting (a cancelled one stays in its deque until reached, then is skipped). */
export const isLive = (req: PendingRequest): boolean => !req.settled;

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
