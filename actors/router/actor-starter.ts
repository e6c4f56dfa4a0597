import { AppLoadError, InitError } from '../errors.js';
import type { Config } from '../types.js';
import { ActorHandle } from './actor-handle.js';
import type { ResolvedOptions } from './options.js';

/** Where a new actor's messages and exit go: the request path and supervision. */
export interface ActorWiring {
  onData(handle: ActorHandle, msg: unknown[]): void;
  onCloneFailure(handle: ActorHandle, tag: number, id: number, error: unknown): void;
  onExit(handle: ActorHandle, detail: string): void;
}

/** Starts actor threads and runs the app's init in them: the one place a thread is made. */
export class ActorStarter {
  /** Actors load OpenTelemetry's API and run handlers in their request's trace context. */
  tracing = false;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly inspect: boolean,
    private readonly wiring: ActorWiring,
  ) {}

  spawn(slot: number): ActorHandle {
    const w = this.wiring;
    const h = new ActorHandle({
      slot,
      appUrl: this.opts.appUrl,
      inspect: this.inspect,
      entry: this.opts.entry,
      tracing: this.tracing,
      resourceLimits: this.opts.resourceLimits,
      // Several beats per stall period and per watchdog grace, so that a loop that turns is never
      // mistaken for a blocked one by either.
      heartbeatEvery: Math.max(
        10,
        Math.floor(
          Math.min(this.opts.stallAfter > 0 ? this.opts.stallAfter : 400, this.opts.killAfter || 400) / 4,
        ),
      ),
      node: this.opts.node,
      onData: (handle, msg) => w.onData(handle, msg),
      onCloneFailure: (handle, tag, id, error) => w.onCloneFailure(handle, tag, id, error),
      onExit: (handle, detail) => w.onExit(handle, detail),
    });
    const max = this.opts.maxRequestsPerActor;
    // ±10% jitter so that actors started together are not all recycled together.
    if (max > 0) h.recycleAt = Math.max(1, Math.round(max * (0.9 + Math.random() * 0.2)));
    return h;
  }

  /** Runs the app's init in the actor under `config`, bounded by initTimeout and by the thread dying. */
  async init(h: ActorHandle, config: Readonly<Config>, version: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ms = this.opts.initTimeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(async () => {
        await hostLoaded(h);
        reject(new InitError(h.slot, `Actor ${h.slot}: init did not finish within ${ms} ms (initTimeout).`));
      }, ms);
    });
    const died = h.exitedPromise.then((detail) => {
      throw new InitError(h.slot, `Actor ${h.slot} died during init: ${detail}`);
    });
    try {
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
}

/**
 * Waits (up to 2 s) until the actor's own modules are loaded (its first heartbeat). A thread ended while
 * Node is still reading its module files leaves one of their file descriptors open for good, so a short
 * initTimeout must not end a thread mid-load: the failure waits for the load, then the thread ends.
 */
async function hostLoaded(h: ActorHandle): Promise<void> {
  for (let waited = 0; waited < 2_000 && !h.exited && Atomics.load(h.heartbeat, 0) === 0; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
