import { MessageChannel, type ResourceLimits, Worker } from 'node:worker_threads';
import { type Remote, releaseProxy, wrap } from 'comlink';
import type { RequestActorState } from '../../machines/index.js';
import { HandlerError } from '../errors.js';
import type { Config } from '../types.js';
import type { ActorControl, HostData } from '../wire/control.js';
import { nodeEndpoint } from '../wire/endpoint.js';
import { IdTable } from '../wire/id-table.js';
import { LOOP_WORDS } from '../wire/loop-words.js';
import { type CloneFailure, Outbox } from '../wire/outbox.js';
import type { WireError } from '../wire/protocol.js';
import * as P from '../wire/protocol.js';
import type { PendingRequest } from './pending.js';

interface ConfigCall {
  resolve: () => void;
  reject: (error: Error) => void;
}

const hostUrl = new URL('../host/host.js', import.meta.url);

export interface HandleOptions {
  slot: number;
  appUrl: string;
  inspect: boolean;
  entry: 'handle' | 'fetch' | undefined;
  /** The router traces requests: the actor loads OpenTelemetry's API. */
  tracing?: boolean;
  resourceLimits: ResourceLimits | undefined;
  heartbeatEvery: number;
  node?: string | undefined;
  /** Data-plane batch from the actor (flat triples). */
  onData: (handle: ActorHandle, msg: unknown[]) => void;
  /** A message the router sent could not be cloned. */
  onCloneFailure: (handle: ActorHandle, tag: number, id: number, error: unknown) => void;
  /** The thread ended; `expected` when the router ended it. */
  onExit: (handle: ActorHandle, detail: string) => void;
}

/**
 * The router's handle on one request actor (one worker thread). A slot may hold two for a while: the
 * current one and the one it replaces (make-before-break), so requests remember their handle, not their slot.
 */
export class ActorHandle {
  readonly slot: number;
  readonly worker: Worker;
  /** Held in a long-lived field: a Comlink proxy collected during an await can leave the call hanging. */
  readonly control: Remote<ActorControl>;
  readonly outbox: Outbox<P.ToActorFields>;
  /** Its requests in flight, by id (an IdTable, not a Map: see there why). */
  readonly requests = new IdTable<PendingRequest>();
  /** The words the actor shares without a message: its heartbeat and its current run (loop-words.ts). */
  readonly heartbeat = new Int32Array(new SharedArrayBuffer(4 * LOOP_WORDS));
  state: RequestActorState = 'init';
  configVersion = 0;
  threadId: number;
  inFlight = 0;
  streams = 0;
  served = 0;
  /** Serve this many requests, then be replaced (0 = never). */
  recycleAt = 0;
  /** The router ended (or is ending) this thread on purpose. */
  retiring = false;
  exited = false;
  /** Why the router ended the thread, reported to the requests it held. */
  exitReason: string | undefined;
  readonly exitedPromise: Promise<string>;
  private readonly controlPort: MessageChannel['port1'];
  /** Rejecters of the control calls in flight, settled when the thread exits (see `alive`). */
  private readonly calls = new Set<(error: Error) => void>();
  /** Config prepares awaiting the actor's PREPARED, by version. */
  private readonly prepares = new Map<number, ConfigCall>();
  /** Config aborts awaiting the actor's ABORTED, by version. */
  private readonly aborts = new Map<number, ConfigCall>();

  constructor(options: HandleOptions) {
    this.slot = options.slot;
    const { port1, port2 } = new MessageChannel();
    this.controlPort = port1;
    const workerData: HostData = {
      actorId: options.slot,
      appUrl: options.appUrl,
      control: port2,
      inspect: options.inspect,
      entry: options.entry,
      heartbeat: this.heartbeat.buffer as SharedArrayBuffer,
      heartbeatEvery: options.heartbeatEvery,
      tracing: options.tracing === true,
      node: options.node,
    };
    this.worker = new Worker(hostUrl, {
      workerData,
      transferList: [port2],
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    this.threadId = this.worker.threadId;
    this.control = wrap<ActorControl>(nodeEndpoint(port1));
    const onClone: CloneFailure = (tag, id, error) => options.onCloneFailure(this, tag, id, error);
    this.outbox = new Outbox(this.worker, onClone);
    this.worker.on('message', (msg: unknown[]) => options.onData(this, msg));
    let lastError = '';
    this.worker.on('error', (err) => {
      lastError = `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
    });
    this.exitedPromise = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.exited = true;
        this.closeControl();
        const detail = this.exitReason ?? (lastError || `the thread exited with code ${code}`);
        const error = new Error(`Actor ${this.slot} exited during a control call: ${detail}`);
        for (const reject of this.calls) reject(error);
        this.calls.clear();
        this.prepares.clear();
        this.aborts.clear();
        resolve(detail);
        options.onExit(this, detail);
      });
    });
  }

  /**
   * A control call that settles even if the thread dies under it: Comlink leaves a call pending forever
   * when its port closes, and one such call stalls the config chain and every restart queued behind it.
   * A set of rejecters rather than a Promise.race with the exit: each race would leave a reaction on the
   * long-lived exit promise (a leak for periodic calls such as the heap check).
   */
  alive<T>(call: (control: Remote<ActorControl>) => Promise<T>): Promise<T> {
    // Once the thread is gone its proxy is released, and calling a released proxy throws synchronously.
    if (this.exited) return Promise.reject(new Error(`Actor ${this.slot} has exited.`));
    return new Promise<T>((resolve, reject) => {
      this.calls.add(reject);
      call(this.control)
        .then(resolve, reject)
        .finally(() => this.calls.delete(reject));
    });
  }

  /** Phase one of a config rollout in this actor (see config-rollout.ts); rejects with the app's error. */
  prepareConfig(change: Config, version: number): Promise<void> {
    return this.configCall(this.prepares, version, () => this.outbox.push(P.PREPARE, version, change));
  }

  /** Undoes a prepared change that another actor rejected. */
  abortConfig(version: number): Promise<void> {
    return this.configCall(this.aborts, version, () => this.outbox.push(P.ABORT, version, 0));
  }

  /** The actor's reply to PREPARE or ABORT (PREPARED / ABORTED with 0 or the error). */
  configReply(tag: typeof P.PREPARED | typeof P.ABORTED, version: number, error: WireError | 0): void {
    const calls = tag === P.PREPARED ? this.prepares : this.aborts;
    const call = calls.get(version);
    if (call === undefined) return;
    calls.delete(version);
    this.calls.delete(call.reject);
    if (error === 0) call.resolve();
    else call.reject(new HandlerError(this.slot, error.name, error.message, error.code, error.stack));
  }

  private configCall(calls: Map<number, ConfigCall>, version: number, send: () => void): Promise<void> {
    if (this.exited) return Promise.reject(new Error(`Actor ${this.slot} has exited.`));
    return new Promise<void>((resolve, reject) => {
      calls.set(version, { resolve, reject });
      this.calls.add(reject);
      send();
    });
  }

  /** Ends the thread now (crash path, watchdog, failed init); resolves when it is gone. */
  async terminate(): Promise<void> {
    this.retiring = true;
    if (!this.exited) await this.worker.terminate();
    await this.exitedPromise;
  }

  private closeControl(): void {
    try {
      this.control[releaseProxy]();
    } catch {
      // The proxy may already be released; nothing else holds the port.
    }
    this.controlPort.close();
  }
}
