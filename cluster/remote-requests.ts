import { randomBytes } from 'node:crypto';
import {
  AbortError,
  ClosedError,
  DataCloneError,
  InvalidArgumentError,
  NodeLostError,
  PayloadTooLargeError,
  TimeoutError,
} from '../actors/errors.js';
import { addAbortListener } from '../actors/router/abort.js';
import type { LocalRequests, RouteDecision } from '../actors/router/cluster-link.js';
import { checkRequestOptions } from '../actors/router/request-options.js';
import type { ClusterNodeSnapshot, InspectionEvent, RequestOptions } from '../actors/types.js';
import { IdTable } from '../actors/wire/id-table.js';
import { Batcher, unbatch } from './batcher.js';
import { encode } from './codec.js';
import { maxPayload, type NatsConnection } from './connection.js';
import type { ResolvedCluster } from './options.js';
import { subjects } from './protocol.js';
import {
  type BodyOut,
  bodyCredited,
  type Call,
  localOptions,
  newCall,
  pumpBody,
  RemoteStream,
  requestMessage,
  retryable,
  settle,
  watchLeaving,
} from './remote-call.js';
import { RemoteRoutes } from './remote-routes.js';
import { RemoteRunner } from './remote-runner.js';
import { type Answer, type Control, fromWire } from './remote-wire.js';

const noop = () => {};

/**
 * Requests across the cluster, the caller's side: sends a request to the node RemoteRoutes picked and
 * settles it exactly once, from the answer, the caller's timeout or signal, or the loss of the node.
 * What other nodes send here runs through its RemoteRunner.
 */
export class RemoteRequests {
  /**
   * Calls in flight by their number (an IdTable, not a Map by id: a table that adds and deletes an entry
   * a request keeps those entries alive past their time once it is old; see IdTable).
   */
  private readonly calls = new IdTable<Call>();
  /** Members that left cleanly while requests of this node were still out on them. */
  private readonly watching = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private readonly runner: RemoteRunner;
  private readonly routes: RemoteRoutes;
  private nextId = 0;
  private readonly replySubject: string;
  private readonly idPrefix: string;
  private open = true;
  readonly counts = { sent: 0, served: 0, spilled: 0, lost: 0, retried: 0 };
  private readonly subs: { unsubscribe(): void }[] = [];
  /** Requests leave per node and loop turn, one NATS message each (see Batcher). */
  private readonly out: Batcher<Call>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly local: LocalRequests,
    peers: () => Iterable<ClusterNodeSnapshot>,
    /** This node takes part in placement only while it is ready. */
    selfReady: () => boolean,
    partitioned: () => boolean,
    private readonly inspect: (event: InspectionEvent) => void,
    private readonly inspecting: () => boolean,
    balanceFactor: number,
  ) {
    this.replySubject = subjects.reply(cluster.name, cluster.node);
    // A node restarted under the same id must never take an answer meant for its previous process.
    this.idPrefix = `${cluster.node}.${randomBytes(6).toString('hex')}.`;
    this.runner = new RemoteRunner(nc, cluster, local, () => this.open, this.counts);
    this.routes = new RemoteRoutes(cluster, local, peers, selfReady, partitioned, balanceFactor);
    this.out = new Batcher<Call>({
      // A call settled, or placed again on another node, since it was queued stays behind.
      message: (call, subject) =>
        call.settled || subject !== subjects.requests(cluster.name, call.node)
          ? undefined
          : requestMessage(call, cluster.node),
      publish: (subject, bytes) => nc.publish(subject, bytes, { reply: this.replySubject }),
      maxBytes: () => maxPayload(nc),
      unclonable: (call, err) => {
        this.counts.sent--;
        this.fail(call, new DataCloneError('payload', err));
      },
      tooLarge: (call, bytes, limit) => {
        this.counts.sent--;
        this.fail(call, new PayloadTooLargeError('payload', bytes, limit));
      },
      unsent: (calls, err) => {
        for (const call of calls) {
          this.fail(call, new NodeLostError(call.node, `cannot publish: ${(err as Error).message}`));
        }
      },
    });
  }

  start(): void {
    const { name, node } = this.cluster;
    const on = (
      subject: string,
      fn: (msg: { data: Uint8Array; reply?: string; respond(): boolean }) => void,
    ) =>
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err === null) fn(msg);
        },
      });
    this.subs.push(
      on(subjects.requests(name, node), (msg) => this.runner.run(msg.data)),
      // A ping (it wants a reply) only asks whether this node is still there.
      on(subjects.control(name, node), (msg) => {
        if (msg.reply !== undefined && msg.reply !== '') msg.respond();
        else this.runner.control(msg.data);
      }),
      on(this.replySubject, (msg) => this.answers(msg.data)),
    );
  }

  /** The cluster's take on a request: undefined means this node runs it. */
  route(options: RequestOptions | undefined, stream: boolean): RouteDecision | undefined {
    return this.routes.route(options, stream);
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
      this.send(payload, options, to, noop, (e) => stream.fail(e), stream);
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
    const ping = () =>
      this.nc.request(subjects.control(this.cluster.name, id), encode({ id: '', t: 'ping' }), {
        timeout: this.cluster.nodeTimeout,
      });
    void watchLeaving(() => this.routes.has(id) && !this.nc.isClosed(), ping, this.cluster.heartbeat)
      .then((gone) => {
        if (gone) this.lost(id, 'it left and stopped answering before its requests finished');
      })
      .finally(() => this.watching.delete(id));
  }

  /** Member `id` died or dropped out: its requests fail or, when allowed, run once more. */
  lost(id: string, why: string): void {
    for (const call of this.calls.values()) {
      if (call.node !== id || call.settled) continue;
      this.counts.lost++;
      if (retryable(call)) {
        call.retried = true;
        this.counts.retried++;
        this.forget(call);
        const to = this.routes.route(call.options, false, id);
        this.emitRoute(call, to?.node ?? this.cluster.node, 'retry');
        if (to === undefined || to.node === id) {
          this.runHere(call);
        } else {
          this.dispatch(call, to.node);
        }
        continue;
      }
      this.fail(call, new NodeLostError(id, why));
    }
    // Whatever the lost node was running for us here is no longer wanted.
    this.runner.stopFrom(id, 'node-lost');
  }

  snapshot() {
    return { ...this.counts, inFlight: this.routes.inFlight() };
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
    for (const call of this.calls.values()) {
      this.fail(call, new ClosedError('The dispatcher closed before the remote node answered.'));
      // The runner is told, so that a stream it feeds does not wait for credit from a node that is gone.
      this.control_(call, { id: call.wireId, t: 'cancel', why: 'abort' });
    }
    this.runner.stopAll('closed');
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
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
    const seq = ++this.nextId;
    const call = newCall(`${this.idPrefix}${seq}`, seq, to.node, payload, options, timeout, resolve, reject);
    call.stream = stream;
    // Opened here, in the caller's own call: its active context is the span's parent.
    call.trace = this.local.forward?.(options, call.wireId, to.node);
    if (stream !== undefined) {
      stream.onCredit = (n) => this.control_(call, { id: call.wireId, t: 'credit', n });
      stream.onLeft = () => {
        if (call.settled) return;
        this.finish(call, 'cancelled');
        this.control_(call, { id: call.wireId, t: 'cancel', why: 'consumer-left' });
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
    if (call.node !== node) call.trace?.moved(node);
    call.node = node;
    this.calls.set(call);
    this.routes.sent(node);
    this.counts.sent++;
    this.out.push(subjects.requests(this.cluster.name, node), call);
    const body = call.options?.body;
    if (body !== undefined) void pumpBody(call, body, this.bodyOut);
  }

  private answers(data: Uint8Array): void {
    let all: Answer[];
    try {
      all = unbatch<Answer>(data);
    } catch {
      return;
    }
    for (const a of all) this.answer(a);
  }

  private answer(a: Answer): void {
    const prefix = this.idPrefix;
    if (typeof a !== 'object' || a === null || typeof a.id !== 'string' || !a.id.startsWith(prefix)) return;
    const call = this.calls.get(Number(a.id.slice(prefix.length)));
    if (call === undefined || call.settled) return;
    switch (a.t) {
      case 'ok': {
        const { resolve } = call;
        this.finish(call, 'ok');
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
        this.finish(call, 'ok');
        s?.end();
        return;
      }
      case 'bcredit':
        bodyCredited(call, a.n);
        return;
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
    const to = this.routes.route(call.options, call.stream !== undefined, from);
    if (to !== undefined && to.node !== from) {
      this.emitRoute(call, to.node, to.reason);
      this.dispatch(call, to.node);
      return;
    }
    if (call.stream !== undefined || !this.open) {
      this.fail(call, closed());
      return;
    }
    this.runHere(call);
  }

  /** The call runs on this node's own actors after all; its span ends with that run's outcome. */
  private runHere(call: Call): void {
    const { resolve, reject, trace } = call;
    call.trace = undefined;
    this.finish(call);
    trace?.moved(this.cluster.node);
    this.local.request(call.payload, localOptions(call, trace?.traceparent)).then(
      (v) => {
        trace?.end('ok');
        resolve(v);
      },
      (e: Error) => {
        trace?.end(e);
        reject(e);
      },
    );
  }

  /**
   * Settled first: a call still waiting in its batch then never leaves (the runner drops the cancel of an
   * id it does not serve), and one that left is cancelled on its runner.
   */
  private cancel(call: Call, why: 'abort' | 'timeout', error: Error): void {
    if (call.settled) return;
    this.fail(call, error);
    this.control_(call, { id: call.wireId, t: 'cancel', why });
  }

  private control_(call: Call, message: Control): void {
    if (this.nc.isClosed()) return;
    try {
      this.publishControl(call.node, encode(message));
    } catch {
      // The connection went: the node loss or the timeout settles the call.
    }
  }

  /** After the requests still waiting for `node`: a cancel or body chunk must not overtake its request. */
  private publishControl(node: string, bytes: Uint8Array): void {
    this.out.flush(subjects.requests(this.cluster.name, node));
    this.nc.publish(subjects.control(this.cluster.name, node), bytes);
  }

  private fail(call: Call, error: Error): void {
    if (call.settled) return;
    const { reject, stream } = call;
    this.finish(call, error);
    if (stream !== undefined) stream.fail(error);
    else reject(error);
  }

  /** The call has its outcome: nothing of it stays behind. `outcome` ends its span, if it has one. */
  private finish(call: Call, outcome?: 'ok' | 'cancelled' | Error): void {
    settle(call, outcome);
    this.forget(call);
  }

  private forget(call: Call): void {
    if (this.calls.delete(call.id)) {
      this.routes.done(call.node);
      if (this.calls.size === 0 && this.idleWaiters.length > 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  private readonly bodyOut: BodyOut = {
    control: (call, message) => this.control_(call, message),
    publish: (call, bytes) => this.publishControl(call.node, bytes),
    abort: (call, error) => this.cancel(call, 'abort', error),
    maxBytes: () => maxPayload(this.nc),
  };

  private emitRoute(call: Call, node: string, reason: 'owner' | 'spill' | 'retry'): void {
    if (!this.inspecting()) return;
    const key = call.options?.key;
    this.inspect({
      type: '@troupe.node-route',
      at: Date.now(),
      requestId: call.wireId,
      node,
      reason,
      ...(key !== undefined ? { key } : {}),
      stream: call.stream !== undefined,
    });
  }
}
