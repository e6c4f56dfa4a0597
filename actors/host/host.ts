/**
 * The request-actor host: the entry of every worker thread. It loads and warms the app (control plane,
 * over Comlink), then serves whole requests from the data plane on its own port, and reports its
 * lifecycle machine's state to the router.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import { createActor } from 'xstate';
import { requestActorMachine } from '../../machines/request-actor.js';
import type { Config } from '../types.js';
import type { ActorControl, HostData } from '../wire/control.js';
import { nodeEndpoint } from '../wire/endpoint.js';
import { IdTable } from '../wire/id-table.js';
import { reduceInspection } from '../wire/inspection.js';
import { BEAT, recordRunTime } from '../wire/loop-words.js';
import { movedBuffers } from '../wire/move.js';
import { Outbox } from '../wire/outbox.js';
import * as P from '../wire/protocol.js';
import { loadApp } from './app-loader.js';
import { BodyQueue, type ConfigVersion, HostRequest } from './host-request.js';
import { Inbox } from './inbox.js';
import { type AnyIterator, isIterator, isThenable, isWhole, iteratorOf } from './results.js';
import { expectTrace, loadTracing, runTraced, takeTrace } from './trace-context.js';

const data = workerData as HostData;
const port = parentPort!;
const actorId = data.actorId;

const outbox = new Outbox<P.ToRouterFields>(port, onCloneFailure);
const SERVING_STATES = new Set(['ready', 'serving', 'streaming']);
/** How late a change between the serving states may reach the router when nothing else is sent. */
const STATE_REPORT_MS = 20;

// The heartbeat: a timer that only runs while the event loop turns, so a handler that blocks the thread
// stops it, and the router sees that without asking. Unref'd: it never keeps the thread alive.
// The first beat also says that this module and everything it imports are loaded.
const words = new Int32Array(data.heartbeat);
Atomics.add(words, BEAT, 1);
if (data.heartbeatEvery > 0) setInterval(() => Atomics.add(words, BEAT, 1), data.heartbeatEvery).unref();
/** The requests in flight, by id (an IdTable, not a Map: see there why). */
const active = new IdTable<HostRequest>();
let streams = 0;
let appState: unknown;
let current: ConfigVersion = { version: 0, config: Object.freeze({}) };
let pending: (ConfigVersion & { change: Config; previous: ConfigVersion }) | undefined;
let handle: ((payload: unknown, ctx: HostRequest) => unknown) | undefined;
let app: Awaited<ReturnType<typeof loadApp>>['app'] | undefined;
let drained: (() => void) | undefined;

const machine = createActor(requestActorMachine, {
  input: { actorId },
  ...(data.inspect
    ? {
        inspect: (ev: unknown) => {
          const reduced = reduceInspection(ev, 'actor', actorId, threadId);
          if (reduced !== undefined) outbox.push(P.INSPECT, reduced, 0);
        },
      }
    : {}),
});
let lastState = 'init';
machine.subscribe((snap) => {
  const state = snap.value as string;
  if (state === lastState) return;
  // Between requests the state only informs snapshots and the inspector: it rides with the next result
  // (or leaves after STATE_REPORT_MS), so a lone request wakes the router once, not three times.
  const routine = SERVING_STATES.has(state) && SERVING_STATES.has(lastState);
  lastState = state;
  if (routine) outbox.pushSoon(P.STATE, state, snap.context.configVersion, STATE_REPORT_MS);
  else outbox.push(P.STATE, state, snap.context.configVersion);
});
machine.start();

/**
 * For the benchmark only (bench/cases/machine-cost): TROUPE_LIFECYCLE=off keeps the machine at init and
 * drain but never tells it about requests, which is the same request path without the machine.
 */
const trackLifecycle = process.env.TROUPE_LIFECYCLE !== 'off';
// Lifecycle edges are reconciled once per loop turn: a burst of requests costs at most two transitions,
// and a request that starts and ends within one turn costs none (a transition costs microseconds, a
// counter nanoseconds: the README's performance section has the figures).
let dirty = false;
/** The state the counters call for; the machine is told only when it differs. */
function wanted(): string {
  return streams > 0 ? 'streaming' : active.size > 0 ? 'serving' : 'ready';
}
function markDirty(): void {
  // A request that starts and ends in one turn leaves the wanted state unchanged: no timer, no event.
  if (dirty || !trackLifecycle || wanted() === lastState) return;
  dirty = true;
  setImmediate(reconcile);
}
function reconcile(): void {
  dirty = false;
  const state = machine.getSnapshot().value;
  if (state !== 'ready' && state !== 'serving' && state !== 'streaming') return;
  const want = wanted();
  if (want === state) return;
  if (want === 'ready') machine.send({ type: 'IDLE' });
  else if (want === 'streaming') machine.send({ type: 'STREAM_OPENED' });
  else if (state === 'streaming') machine.send({ type: 'STREAMS_CLOSED' });
  else machine.send({ type: 'REQUEST_STARTED' });
}

/** Ends the request's accounting, once: a later path that reaches it again (a failed chunk, then the
 * stream's own end) must not count it twice, or the reported state would go wrong. */
function finish(req: HostRequest): boolean {
  if (!active.delete(req.id)) return false;
  if (req.stream) streams--;
  markDirty();
  if (drained !== undefined && active.size === 0) drained();
  return true;
}

function sendResult(req: HostRequest, value: unknown): void {
  let iterator: boolean;
  try {
    iterator = value !== null && typeof value === 'object' && isIterator(value);
  } catch (err) {
    // A value that throws when looked at (a revoked Proxy): its own request fails, nothing else.
    sendError(req, err);
    return;
  }
  if (iterator) {
    sendError(
      req,
      new TypeError('The handler returned an iterator to request(); call dispatcher.stream() for it.'),
    );
    return;
  }
  if (!finish(req)) return;
  outbox.push(P.RESULT, req.id, value);
}

function sendError(req: HostRequest, err: unknown): void {
  if (!finish(req)) return;
  const kind = req.cancelled ? P.E_CANCELLED : P.E_HANDLER;
  outbox.push(P.ERROR, req.id, P.toWireError(kind, err));
}

function onCloneFailure(tag: number, id: number, error: unknown): void {
  if (tag === P.RESULT || tag === P.CHUNK || tag === P.LAST) {
    const req = active.get(id);
    if (req !== undefined) {
      // A chunk that cannot be cloned ends its stream: stop pulling the iterator.
      req.cancel(P.CANCEL_ABORT);
      finish(req);
    }
    const what = tag === P.RESULT ? 'result' : 'stream chunk';
    const wire = P.toWireError(P.E_CLONE, error);
    wire.name = what; // the router rebuilds a DataCloneError naming what could not be sent
    outbox.push(P.ERROR, id, wire);
    return;
  }
  if (tag === P.INSPECT || tag === P.STATE) return; // Reduced to plain data already; nothing to tell.
  // An ERROR whose payload could not be cloned (an exotic thrown value): send a plain one.
  outbox.push(P.ERROR, id, P.toWireError(P.E_HANDLER, new Error(P.toWireError(P.E_HANDLER, error).message)));
}

function start(id: number, payload: unknown, stream: boolean, withBody: boolean): void {
  const traceparent = takeTrace(id);
  if (traceparent === undefined) run(id, payload, stream, withBody, undefined);
  else runTraced(traceparent, () => run(id, payload, stream, withBody, traceparent));
}

function run(
  id: number,
  payload: unknown,
  stream: boolean,
  withBody: boolean,
  traceparent: string | undefined,
): void {
  const req = new HostRequest(id, stream, actorId, current, appState);
  req.traceparent = traceparent;
  if (withBody) req.body = new BodyQueue(id, outbox);
  active.set(req);
  if (stream) streams++;
  let result: unknown;
  const t0 = performance.now();
  try {
    result = handle!(payload, req);
    recordRunTime(words, id, (performance.now() - t0) * 1000);
    if (stream) {
      if (isWhole(result)) sendWhole(req, result[0]);
      else void pump(req, result);
    } else if (isThenable(result)) {
      // `then` is the app's code too: it may throw, or call both callbacks; the first outcome wins.
      (result as PromiseLike<unknown>).then(
        (value) => sendResult(req, value),
        (err) => sendError(req, err),
      );
    } else {
      sendResult(req, result);
      return;
    }
  } catch (err) {
    recordRunTime(words, id, (performance.now() - t0) * 1000);
    sendError(req, err);
    return;
  }
  markDirty();
}

/**
 * The chunk and the stream's end, sent at once and as one message (LAST): the pump would take a promise,
 * an iterator and two microtask turns to send them as two. The request ends here, so no credit is
 * counted for its one chunk.
 */
function sendWhole(req: HostRequest, chunk: unknown): void {
  const transfer = movedBuffers(chunk);
  if (finish(req)) outbox.push(P.LAST, req.id, chunk, transfer);
}

/** Pulls the handler's iterator while the consumer has credit; every chunk on this actor's port. */
async function pump(req: HostRequest, result: unknown): Promise<void> {
  let it: AnyIterator | undefined;
  try {
    const source = await result;
    it = iteratorOf(source);
    // A sync iterator is pulled without an await per chunk: a credit window's worth of chunks is
    // produced in one go and leaves in one message.
    const sync = !(Symbol.asyncIterator in (source as object));
    for (;;) {
      if (req.cancelled) break;
      while (req.blocked && !req.cancelled) {
        await new Promise<void>((resolve) => {
          req.wake = resolve;
        });
      }
      if (req.cancelled) break;
      let step = it.next() as IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
      if (!sync) step = await step;
      const { done, value } = step as IteratorResult<unknown>;
      if (done) break;
      const chunk = sync && isThenable(value) ? await value : value;
      req.sent(P.byteSize(chunk));
      outbox.pushLazy(P.CHUNK, req.id, chunk, movedBuffers(chunk));
    }
    if (req.cancelled) {
      await it.return?.();
      sendError(req, new Error('stream cancelled'));
      return;
    }
    if (finish(req)) outbox.push(P.END, req.id, 0);
  } catch (err) {
    if (it !== undefined && !req.cancelled) {
      try {
        await it.return?.();
      } catch {
        // The iterator already failed; its own error is the one to report.
      }
    }
    if (active.has(req.id)) sendError(req, err);
  }
}

/** One data-plane message; true when it started a request (ran app code). */
function handleOne(wireTag: number, a: unknown, b: unknown): boolean {
  const tag = wireTag as P.ToActorTag;
  switch (tag) {
    case P.START:
    case P.START_STREAM:
    case P.START_BODY:
    case P.START_STREAM_BODY:
      start(
        a as number,
        b,
        tag === P.START_STREAM || tag === P.START_STREAM_BODY,
        tag === P.START_BODY || tag === P.START_STREAM_BODY,
      );
      return true;
    case P.CREDIT:
      active.get(a as number)?.credit(b as number);
      return false;
    case P.CANCEL:
      active.get(a as number)?.cancel(b as P.CancelReason);
      return false;
    case P.BODY_CHUNK:
      active.get(a as number)?.body?.push(b);
      return false;
    case P.BODY_END:
      active.get(a as number)?.body?.end(b as string | undefined);
      return false;
    case P.COMMIT:
      commit(a as number);
      return false;
    case P.PREPARE:
      reply(P.PREPARED, a as number, prepareConfig(b as Config, a as number));
      return false;
    case P.ABORT:
      reply(P.ABORTED, a as number, abortConfig(a as number));
      return false;
    case P.TRACE:
      expectTrace(a as number, b as string);
      return false;
    default:
      P.unhandled(tag);
      return false;
  }
}

/** A batch's requests past this much app time wait for the next loop turn (see inbox.ts). */
const SLICE_MS = 1;
const inbox = new Inbox(handleOne, SLICE_MS, words);

function commit(version: number): void {
  if (pending === undefined || pending.version !== version) return;
  current = { version: pending.version, config: pending.config };
  pending = undefined;
  machine.send({ type: 'CONFIG_APPLIED', configVersion: version });
  outbox.push(P.STATE, lastState, version);
}

async function runConfigure(change: Config, from: ConfigVersion, to: ConfigVersion): Promise<void> {
  await app?.configure?.(change, {
    actorId,
    config: from.config,
    next: to.config,
    configVersion: to.version,
    state: appState,
  });
}

function reply(tag: typeof P.PREPARED | typeof P.ABORTED, version: number, work: Promise<void>): void {
  work.then(
    () => outbox.push(tag, version, 0),
    (err: unknown) => outbox.push(tag, version, P.toWireError(P.E_HANDLER, err)),
  );
}

// Phase one of a rollout: apply the change to live objects, but keep serving the old version until
// COMMIT arrives (so that a rejected change is never seen by a request).
async function prepareConfig(change: Config, version: number): Promise<void> {
  // The router starts a rollout only after the previous one ended, and undoes a rejected one with
  // ABORT; so a version still pending here was committed, its COMMIT not yet delivered (it travels
  // with the next data-plane batch).
  if (pending !== undefined && pending.version < version) commit(pending.version);
  const next: ConfigVersion = { version, config: Object.freeze({ ...current.config, ...change }) };
  await runConfigure(change, current, next);
  pending = { ...next, change, previous: current };
}

// Another actor rejected the change: undo ours by applying the old values of the changed keys.
async function abortConfig(version: number): Promise<void> {
  if (pending === undefined || pending.version !== version) return;
  const { change, previous } = pending;
  pending = undefined;
  const revert: Config = {};
  for (const key of Object.keys(change)) revert[key] = previous.config[key];
  await runConfigure(revert, { version, config: Object.freeze({ ...previous.config, ...change }) }, previous);
}

const control: ActorControl = {
  async init(config, version) {
    try {
      if (data.tracing === true) await loadTracing();
      const loaded = await loadApp(data.appUrl, data.entry);
      app = loaded.app;
      current = { version, config: Object.freeze({ ...config }) };
      appState = await app.init?.({ actorId, config: current.config, configVersion: version });
      handle = loaded.handle as (payload: unknown, ctx: HostRequest) => unknown;
    } catch (err) {
      machine.send({ type: 'INIT_FAILED', error: P.toWireError(P.E_HANDLER, err).message });
      throw err;
    }
    machine.send({ type: 'INIT_DONE', configVersion: version });
    port.on('message', inbox.receive);
    return { threadId };
  },

  async drain() {
    machine.send({ type: 'DRAIN' });
    // Requests still waiting in the inbox start before the drain: they were sent before it.
    if (!inbox.idle) await new Promise<void>((resolve) => inbox.whenIdle(resolve));
    if (active.size > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    }
    outbox.flush();
    try {
      await app?.close?.({ actorId, state: appState });
    } finally {
      machine.send({ type: 'DRAINED' });
      outbox.flush();
    }
  },

  stats() {
    return { heapUsed: getHeapStatistics().used_heap_size, inFlight: active.size };
  },
};

expose(control, nodeEndpoint(data.control));
