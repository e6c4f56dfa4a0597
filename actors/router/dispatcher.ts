import { EventEmitter } from 'node:events';
import { createActor } from 'xstate';
import { routerMachine } from '../../machines/router.js';
import { ClosedError, InitError, InvalidArgumentError } from '../errors.js';
import type {
  CloseOptions,
  Config,
  ConfigRecord,
  ConfigureOptions,
  Dispatcher as DispatcherApi,
  DispatcherMetrics,
  DispatcherSnapshot,
  InspectorOptions,
  MetricsOptions,
  RecordOptions,
  RequestOptions,
} from '../types.js';
import { reduceInspection, stateName } from '../wire/inspection.js';
import { ActorStarter } from './actor-starter.js';
import { isLive } from './backlog.js';
import type { ClusterAttachment, ClusterMember, JoinCluster, RemoteRouter } from './cluster-link.js';
import { ConfigHistory } from './config-history.js';
import { ConfigRollout, checkChange } from './config-rollout.js';
import { DataPlane } from './data-plane.js';
import { InspectionHub, type Listener } from './inspection-hub.js';
import { Metrics } from './metrics.js';
import { both } from './observer.js';
import { MAX_TIMER_MS, type ResolvedOptions } from './options.js';
import type { ResponseStream } from './pending.js';
import { RequestPath } from './request-path.js';
import { Slot } from './slot.js';
import { Supervisor } from './supervisor.js';
import { Tracing } from './tracing.js';

/** A live inspector server for one dispatcher, started by whoever builds the dispatcher. */
export interface InspectorServer {
  url: string;
  close(): Promise<void>;
}
export type StartInspector = (
  dispatcher: DispatcherApi,
  options: InspectorOptions,
) => Promise<InspectorServer>;

/** A recording of inspection events to a file, started with the dispatcher and closed last. */
export interface RecordingHandle {
  close(): Promise<void>;
}

export interface DispatcherDeps {
  /** Starts the live inspector when `inspector` options are given (injected: the core knows no server). */
  startInspector?: StartInspector;
  /** Starts recording when `record` options are given; throws on bad options (injected: the core writes no files). */
  startRecording?: (dispatcher: DispatcherApi, options: RecordOptions) => RecordingHandle;
  /** Starts a node of a cluster when `cluster` options are given (injected: the core knows no NATS). */
  joinCluster?: JoinCluster;
  /** This dispatcher is a node of a cluster (set by joinCluster). */
  cluster?: ClusterAttachment;
}

/**
 * The router actor as users hold it: a thin facade over its collaborators, each with its own state.
 * - RequestPath: placement, loads, queues, dispatch and outcomes (the hot path);
 * - DataPlane: reads the actors' message batches;
 * - Supervisor: restarts, replacements, retirement, the heap limit;
 * - ConfigRollout: versions, prepare / commit / abort, catch-up of new actors;
 * - InspectionHub: listeners of inspection events.
 * The router's own machine sees only its lifecycle; each actor's machine runs in its thread.
 */
export class Dispatcher extends EventEmitter implements DispatcherApi {
  private readonly slots: Slot[];
  private readonly hub: InspectionHub;
  private readonly starter: ActorStarter;
  private readonly requests: RequestPath;
  private readonly config: ConfigRollout;
  private readonly history: ConfigHistory;
  private readonly supervisor: Supervisor;
  private readonly recorder: Metrics;
  private readonly machine;
  private closing: Promise<void> | undefined;
  private inspector: InspectorServer | undefined;
  private readonly recording: RecordingHandle | undefined;
  /** Set at start() when the dispatcher traces: the cluster opens spans for forwarded requests with it. */
  private tracing: Tracing | undefined;
  private readonly cluster: ClusterMember | undefined;
  /** Set only on a node of a cluster: without one, a request costs one field read more. */
  private readonly remote: RemoteRouter | undefined;

  constructor(
    private readonly opts: ResolvedOptions,
    inspect: Listener | undefined,
    private readonly inspectorOptions: InspectorOptions | undefined,
    private readonly deps: DispatcherDeps = {},
    record?: RecordOptions,
  ) {
    super();
    this.slots = Array.from(
      { length: opts.actors },
      (_, i) => new Slot(i, opts.maxRestarts, opts.restartWindow, opts.restartBackoff),
    );
    this.hub = new InspectionHub(inspectorOptions?.showPayloads === true || record?.showPayloads === true);
    if (inspect !== undefined) this.hub.subscribe(inspect);
    this.requests = new RequestPath(opts, this.slots, this.hub, {
      recycle: (slot) => void this.supervisor.replace(slot, 'recycle'),
      overdue: (h, reason, blocked) => this.supervisor.overdue(h, reason, blocked),
    });
    const data = new DataPlane(this.requests, this.hub);
    const watched = inspect !== undefined || inspectorOptions !== undefined || record !== undefined;
    this.recorder = new Metrics(this.slots, opts.metrics);
    this.starter = new ActorStarter(opts, watched, {
      onData: opts.metrics ? this.recorder.readBatches(data.onData) : data.onData,
      onCloneFailure: data.onCloneFailure,
      onExit: (h, detail) => this.supervisor.onExit(h, detail),
    });
    this.history = new ConfigHistory(opts.config);
    this.config = new ConfigRollout(
      opts.config,
      this.slots,
      opts.canary,
      opts.configTimeout,
      this.hub,
      {
        distrust: (slot, version) =>
          void this.supervisor.replace(slot, `config version ${version} rejected`, true),
        observe: (event) => this.history.observe(event),
      },
      deps.cluster?.version,
    );
    if (opts.metrics) this.requests.observer = this.recorder;
    this.config.metrics = this.recorder;
    this.supervisor = new Supervisor(opts, this.slots, this.starter, this.requests, this.config, this.hub, {
      degraded: (slot, error) => this.degraded(slot.id, error),
      recovered: (slot) =>
        this.machine.send({
          type: 'RECOVERED',
          slot: slot.id,
          failed: this.slots.filter((s) => s.failed).length,
        }),
    });
    this.cluster = deps.cluster?.attach(
      this.config,
      () => this.load(),
      (event) => {
        if (this.hub.active) this.hub.emit(event);
      },
      {
        request: (payload, options) => this.requests.request(payload, options),
        start: (payload, options, resolve, reject) => this.requests.start(payload, options, resolve, reject),
        cancel: (started, error) => this.requests.cancelStarted(started, error),
        stream: (payload, options) => this.requests.stream(payload, options),
        load: () => {
          const load = this.load();
          return { ...load, capacity: load.actors * opts.concurrency };
        },
        timeout: opts.timeout,
        forward: (options, id, node) => this.tracing?.forward(options, id, node),
      },
      () => this.hub.active,
    );
    this.remote = this.cluster?.remote;
    this.machine = createActor(routerMachine, {
      inspect: (ev) => {
        if (!this.hub.active) return;
        const reduced = reduceInspection(ev, 'router');
        if (reduced !== undefined) this.hub.emit(reduced);
      },
    });
    this.machine.start();
    if (record !== undefined) {
      if (deps.startRecording === undefined)
        throw new InvalidArgumentError('This build of the dispatcher cannot record.');
      this.recording = deps.startRecording(this, record);
    }
  }

  get inspectorUrl(): string | undefined {
    return this.inspector?.url;
  }

  /** Warms every actor; resolves only when all are ready, else ends every thread and throws InitError. */
  async start(): Promise<void> {
    const tracing = await Tracing.load(this.opts.tracing);
    if (tracing !== undefined) {
      this.tracing = tracing;
      this.starter.tracing = true;
      const m = this.requests.observer;
      this.requests.observer = m === undefined ? tracing : both(m, tracing);
    }
    const handles = this.slots.map((slot) => this.starter.spawn(slot.id));
    const { config, version } = this.config.current();
    const results = await Promise.allSettled(handles.map((h) => this.starter.init(h, config, version)));
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
      this.requests.refuse();
      await this.supervisor.stop();
      await Promise.allSettled(handles.map((h) => h.terminate()));
      this.machine.send({ type: 'START_FAILED', error: reason.message });
      await this.recording?.close();
      throw reason;
    }
    for (const [i, h] of handles.entries()) this.requests.admit(this.slots[i]!, h);
    this.supervisor.watchHeaps();
    this.supervisor.watchStalls();
    this.requests.parking.start();
    if (this.inspectorOptions !== undefined) {
      try {
        if (this.deps.startInspector === undefined)
          throw new InvalidArgumentError('This build of the dispatcher has no live inspector.');
        this.inspector = await this.deps.startInspector(this, this.inspectorOptions);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    this.machine.send({ type: 'ACTORS_READY' });
  }

  request<R = unknown>(payload: unknown, options?: RequestOptions): Promise<R> {
    const remote = this.remote;
    if (remote !== undefined) {
      const to = this.closing === undefined ? remote.route(options, false) : undefined;
      if (to !== undefined) return remote.request(payload, options, to) as Promise<R>;
    }
    return this.requests.request<R>(payload, options);
  }

  stream<C = unknown>(payload: unknown, options?: RequestOptions): AsyncIterableIterator<C> {
    const remote = this.remote;
    if (remote !== undefined) {
      const to = this.closing === undefined ? remote.route(options, true) : undefined;
      if (to !== undefined) return remote.stream(payload, options, to) as AsyncIterableIterator<C>;
    }
    return this.requests.stream<C>(payload, options);
  }

  /** @internal stream() into the caller's own ResponseStream subclass (the HTTP front): no promise per chunk. */
  streamInto<C>(payload: unknown, options: RequestOptions | undefined, into: ResponseStream<C>): void {
    this.requests.streamInto(payload, options, into);
  }

  configure(change: Config, options?: ConfigureOptions): Promise<{ version: number }> {
    if (this.closing !== undefined) return Promise.reject(new ClosedError());
    const cluster = this.cluster;
    if (cluster === undefined)
      return this.history.track(change, options, () => this.config.configure(change));
    const invalid = checkChange(change);
    if (invalid !== undefined) return Promise.reject(invalid);
    return this.history.track(change, options, () => cluster.configure(change));
  }

  configHistory(): ConfigRecord[] {
    return this.history.list();
  }

  subscribe(listener: Listener): () => void {
    return this.hub.subscribe(listener);
  }

  async reload(): Promise<void> {
    if (this.closing !== undefined) throw new ClosedError();
    await this.supervisor.reload();
  }

  snapshot(): DispatcherSnapshot {
    const routerState = stateName(this.machine.getSnapshot().value).split(
      '.',
    )[0] as DispatcherSnapshot['state'];
    const { version, config } = this.config.current();
    return {
      state: routerState,
      degraded: this.slots.some((s) => s.failed),
      configVersion: version,
      config,
      queued: this.requests.masterQueued(),
      awake: this.requests.parking.width,
      routes: this.requests.routeCosts.list(),
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
          ...(slot.stalled ? { stalled: true } : {}),
          ...(this.requests.parking.isParked(slot) ? { parked: true } : {}),
          ...(slot.retryAt !== undefined ? { retryAt: slot.retryAt } : {}),
        };
      }),
      ...(this.cluster !== undefined ? { cluster: this.cluster.snapshot() } : {}),
    };
  }

  /**
   * What this node's membership heartbeat reports: live actors and requests held (running or queued).
   * The cluster asks it for each request it places, too: one pass, no array.
   */
  private load(): { actors: number; inFlight: number } {
    let inFlight = this.requests.masterQueued();
    let actors = 0;
    for (const s of this.slots) {
      inFlight += (s.current?.inFlight ?? 0) + s.queue.length;
      if (!s.failed) actors++;
    }
    return { actors, inFlight };
  }

  metrics(options?: MetricsOptions): Promise<DispatcherMetrics> {
    if (options !== undefined && (options === null || typeof options !== 'object'))
      return Promise.reject(
        new InvalidArgumentError('metrics(): options must be an object such as { reset: true }.'),
      );
    const bounds = options?.buckets;
    if (
      bounds !== undefined &&
      (!Array.isArray(bounds) || !bounds.every((b) => typeof b === 'number' && b > 0 && Number.isFinite(b)))
    )
      return Promise.reject(
        new InvalidArgumentError(
          'metrics(): buckets must be an array of upper bounds in ms, each a finite number > 0.',
        ),
      );
    return this.recorder.read(this.config.current().version, options);
  }

  /** A slot gave up: the router is degraded. Listeners run last and guarded (we are in an exit handler). */
  private degraded(actorId: number, error: string): void {
    this.machine.send({ type: 'DEGRADED', slot: actorId });
    try {
      this.emit('degraded', { actorId, error });
    } catch (err) {
      process.emitWarning(`A 'degraded' listener threw: ${(err as Error)?.stack ?? err}`, 'TroupeWarning');
    }
  }

  close(options?: CloseOptions): Promise<void> {
    const grace = options?.grace ?? Number.POSITIVE_INFINITY;
    if (typeof grace !== 'number' || !(grace >= 0) || (Number.isFinite(grace) && grace > MAX_TIMER_MS)) {
      return Promise.reject(
        new InvalidArgumentError(
          `close(): grace must be a number of ms from 0 to ${MAX_TIMER_MS}; got ${grace}.`,
        ),
      );
    }
    // A later close() with a grace bounds the close already under way too.
    if (Number.isFinite(grace)) setTimeout(this.endGrace, grace).unref();
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Ends the close grace now (its timer), and resolves `graceOver`. */
  private endGrace: () => void = () => {};
  /** Resolves when a close() grace runs out. */
  private readonly graceOver = new Promise<void>((resolve) => {
    this.endGrace = resolve;
  });

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Requests already accepted (queued or running) finish, new ones are refused; when the grace runs out,
   * what is still running is cut off and every wait ends: a rollout, an actor warming up, a close hook.
   */
  private async shutdown(): Promise<void> {
    this.machine.send({ type: 'CLOSE' });
    // Refused at once, in the same tick as close(): a request made right after it must not get in.
    this.requests.refuse();
    // Then leave: the other nodes stop counting on this one for config changes while it drains.
    this.remote?.refuse();
    if (this.cluster !== undefined) await this.cluster.leave();
    if (this.requests.busy()) await Promise.race([this.requests.idle(), this.graceOver]);
    if (this.remote !== undefined) await Promise.race([this.remote.idle(), this.graceOver]);
    if (this.requests.busy()) {
      const running = this.supervisor.running();
      this.requests.cutOff(
        running,
        () => new ClosedError('The dispatcher closed before this request finished: the close grace ran out.'),
      );
      // Threads still running what was cut off are ended, not drained: that is what the grace bounds.
      await Promise.allSettled(running.map((h) => h?.terminate()));
    }
    await Promise.race([this.config.close(), this.graceOver]);
    await this.supervisor.stop(this.graceOver);
    await this.inspector?.close();
    this.remote?.close();
    if (this.cluster !== undefined) await this.cluster.disconnect();
    this.machine.send({ type: 'CLOSED' });
    await this.recording?.close();
  }
}
