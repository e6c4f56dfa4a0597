import { workerData } from 'node:worker_threads';
import type { Outbox } from '../wire/outbox.js';
import type { CancelReason, ToRouterFields } from '../wire/protocol.js';
import {
  BODY_CREDIT,
  CANCEL_ABORT,
  CANCEL_CONSUMER_LEFT,
  CANCEL_DRAIN,
  CANCEL_TIMEOUT,
  STREAM_WINDOW,
  STREAM_WINDOW_BYTES,
} from '../wire/protocol.js';

const CANCEL_WHY: Record<number, string> = {
  [CANCEL_ABORT]: "the caller's signal aborted it",
  [CANCEL_TIMEOUT]: 'it ran past its timeout',
  [CANCEL_CONSUMER_LEFT]: 'the consumer left the stream',
  [CANCEL_DRAIN]: "the dispatcher's close grace ran out",
};

import type { Config, RequestContext } from '../types.js';

/** The cluster node this thread's process is, fixed for the thread's life (undefined without a cluster). */
const nodeId = (workerData as { node?: string } | null)?.node;

/** The frozen config a request runs under; swapped whole on a config commit, never mutated. */
export interface ConfigVersion {
  version: number;
  config: Readonly<Config>;
}

/**
 * One request inside an actor, from START to its single outcome. The AbortController is made only when
 * the handler reads `ctx.signal`: most handlers never do, and one costs more than the rest of the record.
 */
export class HostRequest implements RequestContext {
  readonly actorId: number;
  readonly config: Readonly<Config>;
  readonly configVersion: number;
  readonly state: unknown;
  body: BodyQueue | undefined;
  /** The W3C trace context the request runs under, when the router traces it. */
  traceparent: string | undefined;
  /** Chunks the consumer can still take (stream mode). */
  credits = STREAM_WINDOW;
  /** Bytes sent and not yet consumed, and the size of each such chunk in order (credits free the oldest). */
  outstandingBytes = 0;
  private sizes: number[] | undefined;
  private sizesHead = 0;
  /** Set while a stream waits for credits or a cancel. */
  wake: (() => void) | undefined;
  cancelled = false;
  /** Which CANCEL reason ended it, to report the right error. */
  cancelReason: CancelReason | -1 = -1;
  private controller: AbortController | undefined;

  constructor(
    readonly id: number,
    readonly stream: boolean,
    actorId: number,
    cv: ConfigVersion,
    state: unknown,
  ) {
    this.actorId = actorId;
    this.config = cv.config;
    this.configVersion = cv.version;
    this.state = state;
  }

  /** A getter, not a field: one less write per request for a value fixed per thread. */
  get node(): string | undefined {
    return nodeId;
  }

  /** Accounts a chunk just sent. */
  sent(size: number): void {
    this.credits--;
    if (size === 0 && this.sizes === undefined) return; // object chunks: no byte accounting at all
    (this.sizes ??= []).push(size);
    this.outstandingBytes += size;
  }

  /** The consumer took `n` more chunks: they free their credits and bytes. */
  credit(n: number): void {
    this.credits += n;
    const sizes = this.sizes;
    if (sizes !== undefined) {
      const end = Math.min(this.sizesHead + n, sizes.length);
      for (let i = this.sizesHead; i < end; i++) this.outstandingBytes -= sizes[i]!;
      this.sizesHead = end;
      if (end === sizes.length) {
        sizes.length = 0;
        this.sizesHead = 0;
      }
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The stream must wait for its consumer. */
  get blocked(): boolean {
    return this.credits <= 0 || this.outstandingBytes >= STREAM_WINDOW_BYTES;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.cancelled && !this.controller.signal.aborted) this.controller.abort(this.abortReason());
    return this.controller.signal;
  }

  cancel(reason: CancelReason): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelReason = reason;
    this.controller?.abort(this.abortReason());
    this.body?.fail(new Error('request cancelled'));
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** `ctx.signal.reason`: says why, so a handler can log it. */
  private abortReason(): Error {
    const why = CANCEL_WHY[this.cancelReason] ?? 'it was cancelled';
    const err = new Error(`The request was cancelled: ${why}.`);
    err.name = 'AbortError';
    return err;
  }
}

/**
 * The request body as the handler reads it: an async iterable fed by BODY_CHUNK messages. The router sends
 * at most STREAM_WINDOW chunks ahead; credits go back in halves of the window as the handler reads, so a
 * handler that stops reading stops the upload at the source.
 */
export class BodyQueue implements AsyncIterable<unknown> {
  private readonly chunks: unknown[] = [];
  private ended = false;
  private error: Error | undefined;
  private waiting: (() => void) | undefined;
  private consumed = 0;

  constructor(
    private readonly id: number,
    private readonly outbox: Outbox<ToRouterFields>,
  ) {}

  push(chunk: unknown): void {
    this.chunks.push(chunk);
    this.notify();
  }

  end(errorMessage: string | undefined): void {
    if (errorMessage !== undefined) this.error = new Error(errorMessage);
    this.ended = true;
    this.notify();
  }

  fail(error: Error): void {
    this.error ??= error;
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    for (;;) {
      if (this.chunks.length > 0) {
        const chunk = this.chunks.shift();
        if (++this.consumed >= STREAM_WINDOW / 2) {
          this.outbox.push(BODY_CREDIT, this.id, this.consumed);
          this.consumed = 0;
        }
        yield chunk;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }
}
