import { randomBytes } from 'node:crypto';
import * as errors from '../actors/errors.js';
import {
  AbortError,
  ClosedError,
  DataCloneError,
  InvalidArgumentError,
  NodeLostError,
  TimeoutError,
} from '../actors/errors.js';
import { addAbortListener, removeAbortListener } from '../actors/router/abort.js';
import type { LocalRequests, RouteDecision } from '../actors/router/cluster-link.js';
import { ResponseStream } from '../actors/router/pending.js';
import { checkRequestOptions } from '../actors/router/request-options.js';
import type { ClusterNodeSnapshot, InspectionEvent, RequestOptions } from '../actors/types.js';
import { byteSize, STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../actors/wire/protocol.js';
import { decode, encode } from './codec.js';
import type { NatsConnection } from './connection.js';
import { type Candidate, pickNode } from './node-placement.js';
import type { ResolvedCluster } from './options.js';
import { subjects } from './protocol.js';

/** A request for another node: what it runs, and where its answers go. */
interface RequestMessage {
  id: string;
  from: string;
  payload: unknown;
  key?: string;
  timeout: number;
  retry?: boolean;
  stream: boolean;
  /** Its body follows on the runner's control subject, chunk by chunk, as the runner grants credit. */
  body?: boolean;
}

/** What travels back on the caller's reply subject, and from the caller on the runner's control subject. */
type Answer =
  | { id: string; t: 'ok'; v: unknown }
  | { id: string; t: 'err'; e: WireError }
  | { id: string; t: 'chunk'; v: unknown }
  | { id: string; t: 'end' }
  /** The runner is closing and did not run the request: it may go elsewhere, whatever its `retry`. */
  | { id: string; t: 'refused' }
  /** The runner's actor took `n` more body chunks: the caller may send that many more. */
  | { id: string; t: 'bcredit'; n: number };
type Control =
  | { id: string; t: 'cancel'; why: 'abort' | 'timeout' | 'consumer-left' }
  | { id: string; t: 'credit'; n: number }
  /** Are you still there? (asked of a member that left while it drains) */
  | { id: string; t: 'ping' }
  | { id: string; t: 'body'; v: unknown }
  /** The body ended; `error` when the caller's body source threw. */
  | { id: string; t: 'bend'; error?: string };

interface WireError {
  cls: string;
  name: string;
  message: string;
  stack?: string;
  props: Record<string, string | number | boolean>;
}

/** A request this node sent to another one, until its one outcome. */
interface Call {
  id: string;
  node: string;
  payload: unknown;
  options: RequestOptions | undefined;
  timeout: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  stream: RemoteStream | undefined;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  retried: boolean;
  settled: boolean;
  /** Body chunks sent and not yet credited back, and their sizes, oldest first. */
  bodyAhead: number;
  bodyBytesAhead: number;
  bodySizes: number[];
  bodyWake: (() => void) | undefined;
  bodyIterator: AsyncIterator<unknown> | undefined;
}

/** A request another node sent here, while it runs. */
interface Served {
  from: string;
  ac: AbortController;
  /** Streams: chunks sent and not yet credited back, and their sizes, oldest first. */
  ahead: number;
  bytesAhead: number;
  sizes: number[];
  wake: (() => void) | undefined;
  /** The request body as the caller sends it, when it has one. */
  body: BodyFeed | undefined;
}

/** The consumer side of a stream another node runs: credits and the consumer's leaving go over NATS. */
class RemoteStream extends ResponseStream {
  onCredit: (n: number) => void = () => {};
  onLeft: () => void = () => {};
  protected override credit(n: number): void {
    this.onCredit(n);
  }
  protected override cancel(): void {
    this.onLeft();
  }
}

/**
 * A request body arriving from another node, as the local actor's body pump reads it: chunks wait here
 * (at most the window the caller was granted), and each one taken is credited back to the caller.
 */
class BodyFeed implements AsyncIterableIterator<unknown> {
  private readonly chunks: unknown[] = [];
  private waiting: { resolve: (r: IteratorResult<unknown>) => void; reject: (e: Error) => void } | undefined;
  private done = false;
  private error: Error | undefined;
  private taken = 0;

  constructor(private readonly credit: (n: number) => void) {}

  push(chunk: unknown): void {
    if (this.done) return;
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      this.took();
      w.resolve({ value: chunk, done: false });
    } else this.chunks.push(chunk);
  }

  end(error?: string): void {
    if (this.done) return;
    this.done = true;
    if (error !== undefined) this.error = new Error(error);
    const w = this.waiting;
    this.waiting = undefined;
    if (w === undefined) return;
    if (this.error !== undefined && this.chunks.length === 0) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.chunks.length > 0) {
      this.took();
      return Promise.resolve({ value: this.chunks.shift(), done: false });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<unknown>> {
    this.done = true;
    this.chunks.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Credit goes back per half window, so that the caller keeps the pipe full without a message a chunk. */
  private took(): void {
    if (++this.taken >= STREAM_WINDOW / 2) {
      this.credit(this.taken);
      this.taken = 0;
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Every troupe error class by name: an error crosses nodes as data and comes back as its own class. */
const classes = new Map<string, { prototype: Error }>(
  Object.entries(errors).filter(([, v]) => typeof v === 'function') as [string, { prototype: Error }][],
);

function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { cls: 'Error', name: 'Error', message: String(err), props: {} };
  const props: WireError['props'] = {};
  for (const [k, v] of Object.entries(err)) {
    if (k === 'cause') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') props[k] = v;
  }
  return {
    cls: err.constructor?.name ?? 'Error',
    name: err.name,
    message: err.message,
    ...(err.stack !== undefined ? { stack: err.stack } : {}),
    props,
  };
}

function fromWire(wire: WireError): Error {
  const proto = classes.get(wire.cls)?.prototype ?? Error.prototype;
  const err = Object.create(proto) as Error;
  Object.defineProperty(err, 'message', { value: wire.message, writable: true, configurable: true });
  if (wire.stack !== undefined)
    Object.defineProperty(err, 'stack', { value: wire.stack, writable: true, configurable: true });
  Object.assign(err, wire.props);
  if (err.name !== wire.name) err.name = wire.name;
  return err;
}

/**
 * Requests across the cluster. As a caller: picks the node of a keyed request (weighted rendezvous over
 * the ready members with bounded loads) or spills an unkeyed one when this node is saturated, sends it
 * over NATS and settles it exactly once, from the answer, the caller's timeout or signal, or the loss of
 * the node. As a runner: runs what other nodes send on its own actors (their placement picks the actor)
 * and streams chunks back within the same credit window as between threads.
 */
export class RemoteRequests {
  private readonly calls = new Map<string, Call>();
  /** Members that left cleanly while requests of this node were still out on them. */
  private readonly watching = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private readonly served = new Map<string, Served>();
  /** Requests this node has out on each other node: counts until their heartbeats catch up. */
  private readonly outstanding = new Map<string, number>();
  private nextId = 0;
  private readonly replySubject: string;
  private readonly idPrefix: string;
  private open = true;
  readonly counts = { sent: 0, served: 0, spilled: 0, lost: 0, retried: 0 };
  private readonly subs: { unsubscribe(): void }[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly local: LocalRequests,
    private readonly peers: () => Iterable<ClusterNodeSnapshot>,
    /** This node takes part in placement only while it is ready. */
    private readonly selfReady: () => boolean,
    private readonly partitioned: () => boolean,
    private readonly inspect: (event: InspectionEvent) => void,
    private readonly inspecting: () => boolean,
    private readonly balanceFactor: number,
  ) {
    this.replySubject = subjects.reply(cluster.name, cluster.node);
    // A node restarted under the same id must never take an answer meant for its previous process.
    this.idPrefix = `${cluster.node}.${randomBytes(6).toString('hex')}.`;
  }

  start(): void {
    const { name, node } = this.cluster;
    this.subs.push(
      this.nc.subscribe(subjects.requests(name, node), {
        callback: (err, msg) => {
          if (err === null) this.run(msg.data);
        },
      }),
      this.nc.subscribe(subjects.control(name, node), {
        callback: (err, msg) => {
          if (err !== null) return;
          if (msg.reply !== undefined && msg.reply !== '') msg.respond();
          else this.control(msg.data);
        },
      }),
      this.nc.subscribe(this.replySubject, {
        callback: (err, msg) => {
          if (err === null) this.answer(msg.data);
        },
      }),
    );
  }

  /** The cluster's take on a request: undefined means this node runs it. */
  route(options: RequestOptions | undefined, stream: boolean, exclude?: string): RouteDecision | undefined {
    // Cut off from NATS, this node serves what it is asked itself: the others' loads and states are stale.
    if (options?.local === true || this.partitioned()) return undefined;
    const key = options?.key;
    const candidates = this.candidates(exclude);
    if (candidates.length <= 1) return undefined;
    if (typeof key === 'string') {
      const choice = pickNode(key, candidates, this.balanceFactor);
      if (choice === undefined || choice.node === this.cluster.node) return undefined;
      return { node: choice.node, reason: choice.spilled ? 'spill' : 'owner' };
    }
    if (key !== undefined) return undefined; // bad keys fail locally with the local error
    const self = candidates.find((c) => c.id === this.cluster.node);
    const { actors, inFlight, capacity } = this.local.load();
    // Local first: an unkeyed request leaves only when every local actor is busy and as many again
    // wait in the local queues.
    if (self === undefined || inFlight < 2 * capacity) return undefined;
    let best: Candidate | undefined;
    for (const c of candidates) {
      if (c.id === this.cluster.node) continue;
      if (best === undefined || c.load / c.actors < best.load / best.actors) best = c;
    }
    if (best === undefined || best.load / best.actors >= inFlight / Math.max(1, actors)) return undefined;
    void stream;
    return { node: best.id, reason: 'spill' };
  }

  request(payload: unknown, options: RequestOptions | undefined, to: RouteDecision): Promise<unknown> {
    return new Promise((resolve, reject) => this.send(payload, options, to, resolve, reject, undefined));
  }

  stream(
    payload: unknown,
    options: RequestOptions | undefined,
    to: RouteDecision,
  ): AsyncIterableIterator<unknown> {
    const stream = new RemoteStream();
    try {
      this.send(
        payload,
        options,
        to,
        () => {},
        (e) => stream.fail(e),
        stream,
      );
    } catch (err) {
      stream.fail(err as Error);
    }
    return stream;
  }

  /**
   * Member `id` left cleanly: it still drains what it runs for this node and answers it. Its requests stay
   * out while it answers a ping; once it does not (its connection is gone), they are lost.
   */
  left(id: string): void {
    if (this.watching.has(id)) return;
    this.watching.add(id);
    void (async () => {
      try {
        while (this.has(id) && !this.nc.isClosed()) {
          try {
            await this.nc.request(subjects.control(this.cluster.name, id), encode({ id: '', t: 'ping' }), {
              timeout: this.cluster.nodeTimeout,
            });
          } catch {
            this.lost(id, 'it left and stopped answering before its requests finished');
            return;
          }
          await new Promise((r) => setTimeout(r, this.cluster.heartbeat));
        }
      } finally {
        this.watching.delete(id);
      }
    })();
  }

  private has(node: string): boolean {
    return (this.outstanding.get(node) ?? 0) > 0;
  }

  /** Member `id` died or dropped out: its requests fail or, when allowed, run once more. */
  lost(id: string, why: string): void {
    for (const call of [...this.calls.values()]) {
      if (call.node !== id || call.settled) continue;
      this.counts.lost++;
      if (
        call.options?.retry === true &&
        !call.retried &&
        call.stream === undefined &&
        call.options.body === undefined
      ) {
        call.retried = true;
        this.counts.retried++;
        this.forget(call);
        const to = this.route(call.options, false, id);
        this.emitRoute(call, to?.node ?? this.cluster.node, 'retry');
        if (to === undefined || to.node === id) {
          const { resolve, reject } = call;
          this.finish(call);
          this.local.request(call.payload, this.localOptions(call)).then(resolve, reject);
        } else {
          this.dispatch(call, to.node);
        }
        continue;
      }
      this.fail(call, new NodeLostError(id, why));
    }
    // Whatever the lost node was running for us here is no longer wanted.
    for (const [id2, s] of this.served) if (s.from === id) this.stop(id2, 'node-lost');
  }

  snapshot() {
    const out: Record<string, number> = {};
    for (const [node, n] of this.outstanding) if (n > 0) out[node] = n;
    return { ...this.counts, inFlight: out };
  }

  /** Resolves once no request of this node is out on another node. */
  idle(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** This node leaves: requests out on other nodes keep their outcome; no new ones are taken. */
  refuse(): void {
    this.open = false;
  }

  /** Closing: every call still out gets ClosedError, every request served here is cut off. */
  close(): void {
    for (const call of [...this.calls.values()]) {
      // The runner is told, so that a stream it feeds does not wait for credit from a node that is gone.
      this.control_(call, { id: call.id, t: 'cancel', why: 'abort' });
      this.fail(call, new ClosedError('The dispatcher closed before the remote node answered.'));
    }
    for (const id of [...this.served.keys()]) this.stop(id, 'closed');
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
  }

  // ── caller side ─────────────────────────────────────────────────────────────────────────────────

  private candidates(exclude?: string): Candidate[] {
    const out: Candidate[] = [];
    if (this.selfReady()) {
      const { actors, inFlight } = this.local.load();
      if (actors > 0) out.push({ id: this.cluster.node, actors, load: inFlight });
    }
    for (const m of this.peers()) {
      if (m.state !== 'ready' || m.actors <= 0 || m.id === exclude) continue;
      out.push({ id: m.id, actors: m.actors, load: Math.max(m.inFlight, this.outstanding.get(m.id) ?? 0) });
    }
    return out;
  }

  private send(
    payload: unknown,
    options: RequestOptions | undefined,
    to: RouteDecision,
    resolve: (v: unknown) => void,
    reject: (e: Error) => void,
    stream: RemoteStream | undefined,
  ): void {
    if (!this.open) throw new ClosedError();
    // The same checks, and the same errors, as a request this node runs.
    checkRequestOptions(options);
    const body = options?.body;
    if (body !== undefined && (body === null || typeof body[Symbol.asyncIterator] !== 'function'))
      throw new InvalidArgumentError('options.body must be an async iterable of chunks.');
    if (options?.signal?.aborted) throw new AbortError(options.signal.reason);
    const timeout = options?.timeout ?? this.local.timeout;
    const call: Call = {
      id: `${this.idPrefix}${++this.nextId}`,
      node: to.node,
      payload,
      options,
      timeout,
      resolve,
      reject,
      stream,
      timer: undefined,
      onAbort: undefined,
      retried: false,
      settled: false,
      bodyAhead: 0,
      bodyBytesAhead: 0,
      bodySizes: [],
      bodyWake: undefined,
      bodyIterator: undefined,
    };
    if (stream !== undefined) {
      stream.onCredit = (n) => this.control_(call, { id: call.id, t: 'credit', n });
      stream.onLeft = () => {
        if (call.settled) return;
        this.control_(call, { id: call.id, t: 'cancel', why: 'consumer-left' });
        this.finish(call);
      };
    }
    const signal = options?.signal;
    if (signal !== undefined) {
      call.onAbort = () => this.cancel(call, 'abort', new AbortError(signal.reason));
      addAbortListener(signal, call.onAbort);
    }
    if (timeout > 0)
      call.timer = setTimeout(() => this.cancel(call, 'timeout', new TimeoutError(timeout)), timeout);
    this.emitRoute(call, to.node, to.reason);
    if (to.reason === 'spill') this.counts.spilled++;
    this.dispatch(call, to.node);
  }

  private dispatch(call: Call, node: string): void {
    let bytes: Uint8Array;
    try {
      bytes = encode({
        id: call.id,
        from: this.cluster.node,
        payload: call.payload,
        ...(call.options?.key !== undefined ? { key: call.options.key } : {}),
        timeout: call.timeout,
        ...(call.options?.retry === true ? { retry: true } : {}),
        stream: call.stream !== undefined,
        ...(call.options?.body !== undefined ? { body: true } : {}),
      } satisfies RequestMessage);
    } catch (err) {
      this.fail(call, new DataCloneError('payload', err));
      return;
    }
    call.node = node;
    this.calls.set(call.id, call);
    this.outstanding.set(node, (this.outstanding.get(node) ?? 0) + 1);
    this.counts.sent++;
    try {
      this.nc.publish(subjects.requests(this.cluster.name, node), bytes, { reply: this.replySubject });
    } catch (err) {
      this.fail(call, new NodeLostError(node, `cannot publish: ${(err as Error).message}`));
      return;
    }
    const body = call.options?.body;
    if (body !== undefined) void this.pumpBody(call, body);
  }

  /**
   * Sends the caller's body to the runner as the runner grants credit (the same window as between
   * threads, in chunks and in bytes), so a slow handler on another node slows the upload at its source.
   */
  private async pumpBody(call: Call, body: AsyncIterable<unknown>): Promise<void> {
    let it: AsyncIterator<unknown> | undefined;
    try {
      it = body[Symbol.asyncIterator]();
      call.bodyIterator = it;
      for (;;) {
        if (call.settled) break;
        if (call.bodyAhead >= STREAM_WINDOW || call.bodyBytesAhead >= STREAM_WINDOW_BYTES) {
          await new Promise<void>((resolve) => {
            call.bodyWake = resolve;
          });
          continue;
        }
        const step = await it.next();
        if (call.settled) break;
        if (step.done) {
          call.bodyIterator = undefined;
          this.control_(call, { id: call.id, t: 'bend' });
          return;
        }
        let bytes: Uint8Array;
        try {
          bytes = encode({ id: call.id, t: 'body', v: step.value } satisfies Control);
        } catch (err) {
          this.cancel(call, 'abort', new DataCloneError('request body chunk', err));
          break;
        }
        const size = byteSize(step.value);
        call.bodyAhead++;
        call.bodyBytesAhead += size;
        call.bodySizes.push(size);
        this.nc.publish(subjects.control(this.cluster.name, call.node), bytes);
      }
      if (call.bodyIterator === it) {
        call.bodyIterator = undefined;
        await it.return?.();
      }
    } catch (err) {
      if (!call.settled)
        this.control_(call, { id: call.id, t: 'bend', error: String((err as Error)?.message ?? err) });
    }
  }

  private answer(data: Uint8Array): void {
    let a: Answer;
    try {
      a = decode<Answer>(data);
    } catch {
      return;
    }
    const call = this.calls.get(a.id);
    if (call === undefined || call.settled) return;
    switch (a.t) {
      case 'ok': {
        const { resolve } = call;
        this.finish(call);
        resolve(a.v);
        return;
      }
      case 'err':
        this.fail(call, fromWire(a.e));
        return;
      case 'refused':
        this.moveOn(call);
        return;
      case 'chunk':
        call.stream?.push(a.v);
        return;
      case 'end': {
        const s = call.stream;
        this.finish(call);
        s?.end();
        return;
      }
      case 'bcredit': {
        for (let i = 0; i < a.n && call.bodySizes.length > 0; i++)
          call.bodyBytesAhead -= call.bodySizes.shift()!;
        call.bodyAhead = Math.max(0, call.bodyAhead - a.n);
        const w = call.bodyWake;
        call.bodyWake = undefined;
        w?.();
        return;
      }
    }
  }

  /**
   * A request the runner refused before running it (that node is closing): placed again without that
   * node, here if no other member fits. Not a retry: it never ran.
   */
  private moveOn(call: Call): void {
    const from = call.node;
    const closed = () =>
      new ClosedError(`Node ${from} was closing and did not run the request, and no other node can take it.`);
    // Part of a body may be gone already: it cannot be sent again.
    if (call.options?.body !== undefined) {
      this.fail(call, closed());
      return;
    }
    this.forget(call);
    const to = this.route(call.options, call.stream !== undefined, from);
    if (to !== undefined && to.node !== from) {
      this.emitRoute(call, to.node, to.reason);
      this.dispatch(call, to.node);
      return;
    }
    if (call.stream !== undefined || !this.open) {
      this.fail(call, closed());
      return;
    }
    const { resolve, reject } = call;
    this.finish(call);
    this.local.request(call.payload, this.localOptions(call)).then(resolve, reject);
  }

  private cancel(call: Call, why: 'abort' | 'timeout', error: Error): void {
    if (call.settled) return;
    this.control_(call, { id: call.id, t: 'cancel', why });
    this.fail(call, error);
  }

  private control_(call: Call, message: Control): void {
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(subjects.control(this.cluster.name, call.node), encode(message));
    } catch {
      // The connection went: the node loss or the timeout settles the call.
    }
  }

  private fail(call: Call, error: Error): void {
    if (call.settled) return;
    const { reject, stream } = call;
    this.finish(call);
    if (stream !== undefined) stream.fail(error);
    else reject(error);
  }

  /** The call has its outcome: nothing of it stays behind. */
  private finish(call: Call): void {
    call.settled = true;
    const wake = call.bodyWake;
    call.bodyWake = undefined;
    wake?.();
    const it = call.bodyIterator;
    call.bodyIterator = undefined;
    if (it !== undefined) {
      try {
        const done = it.return?.();
        if (done !== undefined && typeof done.catch === 'function') done.catch(() => {});
      } catch {
        // The source's own return() failed: nothing more to close.
      }
    }
    this.forget(call);
    if (call.timer !== undefined) clearTimeout(call.timer);
    call.timer = undefined;
    if (call.onAbort !== undefined) {
      const signal = call.options?.signal;
      if (signal !== undefined) removeAbortListener(signal, call.onAbort);
      call.onAbort = undefined;
    }
  }

  private forget(call: Call): void {
    if (this.calls.delete(call.id)) {
      const n = (this.outstanding.get(call.node) ?? 1) - 1;
      if (n > 0) this.outstanding.set(call.node, n);
      else this.outstanding.delete(call.node);
      if (this.calls.size === 0 && this.idleWaiters.length > 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  private localOptions(call: Call): RequestOptions {
    const { signal, key, retry } = call.options ?? {};
    return {
      ...(key !== undefined ? { key } : {}),
      ...(retry !== undefined ? { retry } : {}),
      ...(signal !== undefined ? { signal } : {}),
      timeout: call.timeout,
    };
  }

  private emitRoute(call: Call, node: string, reason: 'owner' | 'spill' | 'retry'): void {
    if (!this.inspecting()) return;
    const key = call.options?.key;
    this.inspect({
      type: '@troupe.node-route',
      at: Date.now(),
      requestId: call.id,
      node,
      reason,
      ...(key !== undefined ? { key } : {}),
      stream: call.stream !== undefined,
    });
  }

  // ── runner side ─────────────────────────────────────────────────────────────────────────────────

  private run(data: Uint8Array): void {
    let m: RequestMessage;
    try {
      m = decode<RequestMessage>(data);
    } catch {
      return;
    }
    const reply = subjects.reply(this.cluster.name, m.from);
    if (!this.open) {
      this.publish(reply, { id: m.id, t: 'refused' });
      return;
    }
    const s: Served = {
      from: m.from,
      ac: new AbortController(),
      ahead: 0,
      bytesAhead: 0,
      sizes: [],
      wake: undefined,
      body:
        m.body === true ? new BodyFeed((n) => this.publish(reply, { id: m.id, t: 'bcredit', n })) : undefined,
    };
    this.served.set(m.id, s);
    this.counts.served++;
    const options: RequestOptions = {
      signal: s.ac.signal,
      timeout: m.timeout,
      ...(m.key !== undefined ? { key: m.key } : {}),
      ...(m.retry === true ? { retry: true } : {}),
      ...(s.body !== undefined ? { body: s.body } : {}),
    };
    if (!m.stream) {
      let out: Promise<unknown>;
      try {
        out = this.local.request(m.payload, options);
      } catch (err) {
        out = Promise.reject(err);
      }
      out.then(
        (v) => this.reply(reply, m.id, { id: m.id, t: 'ok', v }),
        (e) => this.reply(reply, m.id, { id: m.id, t: 'err', e: toWire(e) }),
      );
      return;
    }
    void this.pump(reply, m, s, options);
  }

  private async pump(reply: string, m: RequestMessage, s: Served, options: RequestOptions): Promise<void> {
    try {
      const it = this.local.stream(m.payload, options);
      try {
        for await (const chunk of it) {
          while ((s.ahead >= STREAM_WINDOW || s.bytesAhead >= STREAM_WINDOW_BYTES) && !s.ac.signal.aborted) {
            await new Promise<void>((w) => {
              s.wake = w;
            });
          }
          if (s.ac.signal.aborted) break;
          const size = byteSize(chunk);
          s.ahead++;
          s.bytesAhead += size;
          s.sizes.push(size);
          if (!this.publish(reply, { id: m.id, t: 'chunk', v: chunk })) break;
        }
      } finally {
        await it.return?.();
      }
      this.reply(reply, m.id, { id: m.id, t: 'end' });
    } catch (e) {
      this.reply(reply, m.id, { id: m.id, t: 'err', e: toWire(e) });
    }
  }

  private control(data: Uint8Array): void {
    let c: Control;
    try {
      c = decode<Control>(data);
    } catch {
      return;
    }
    const s = this.served.get(c.id);
    if (s === undefined) return;
    if (c.t === 'ping') return;
    if (c.t === 'cancel') {
      this.stop(c.id, c.why);
      return;
    }
    if (c.t === 'body') {
      s.body?.push(c.v);
      return;
    }
    if (c.t === 'bend') {
      s.body?.end(c.error);
      return;
    }
    for (let i = 0; i < c.n && s.sizes.length > 0; i++) s.bytesAhead -= s.sizes.shift()!;
    s.ahead = Math.max(0, s.ahead - c.n);
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  /** The caller gave up (or went): the handler's ctx.signal fires, and a waiting stream pump wakes to end. */
  private stop(id: string, why: string): void {
    const s = this.served.get(id);
    if (s === undefined) return;
    this.served.delete(id);
    s.ac.abort(new Error(`remote caller: ${why}`));
    s.body?.end();
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  private reply(subject: string, id: string, answer: Answer): void {
    if (!this.served.delete(id) && answer.t !== 'end' && answer.t !== 'err') return;
    this.publish(subject, answer);
  }

  /** Sends an answer; one that cannot be cloned is reported to the caller as DataCloneError. */
  private publish(subject: string, answer: Answer): boolean {
    let bytes: Uint8Array;
    try {
      bytes = encode(answer);
    } catch (err) {
      const what = answer.t === 'chunk' ? 'stream chunk' : 'result';
      bytes = encode({ id: answer.id, t: 'err', e: toWire(new DataCloneError(what, err)) });
      answer = { id: answer.id, t: 'end' };
      this.served.delete(answer.id);
      if (this.nc.isClosed()) return false;
      this.nc.publish(subject, bytes);
      return false;
    }
    if (this.nc.isClosed()) return false;
    try {
      this.nc.publish(subject, bytes);
      return true;
    } catch {
      return false;
    }
  }
}
