import type { RequestOptions } from '../types.js';
import { byteSize, STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import type { RequestTrace } from './tracing.js';

/** What a stream's consumer asks of the router: more chunks, or an end to the request. */
export interface StreamControl {
  streamCredit(req: PendingRequest, n: number): void;
  streamLeft(req: PendingRequest): void;
}

/**
 * One request as the router sees it, from `request()`/`stream()` to its single outcome.
 * `settled` turns true the moment the caller has an outcome (result, error, timeout, abort); the record
 * stays attached to its actor until the actor reports the request's end, so that load accounting and the
 * watchdog see the handler that is still running.
 */
export class PendingRequest {
  actor: ActorHandle | undefined;
  /** The slot a keyed request was placed on (its queue), or -1. */
  slot = -1;
  settled = false;
  /** The actor died under it once and the caller allowed a retry: it ran again (at most once). */
  retried = false;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  /** Credits the actor granted for the request body (see body-pump.ts). */
  bodyCredits = STREAM_WINDOW;
  bodyWake: (() => void) | undefined;
  /** The caller's body source while it is being pumped: closed when the request settles. */
  bodyIterator: AsyncIterator<unknown> | undefined;
  startedAt = 0;
  /** When it entered a queue (performance.now()), or 0: dispatched without waiting. */
  queuedAt = 0;
  /** Its span, when requests are traced. */
  trace: RequestTrace | undefined = undefined;
  /** Its route's entry in the router's cost table, or -1: no route given. */
  route = -1;
  /** The work it counts for on its actor while it is there, µs (what its route, or any request, costs). */
  cost = 0;
  /** Its handler's time was folded into its route's estimate (or there is none to fold: it never ran). */
  learned = false;

  constructor(
    readonly id: number,
    /** Kept until dispatch; after that only for a request that may be retried. */
    public payload: unknown,
    readonly options: RequestOptions | undefined,
    readonly keyHash: number,
    readonly timeout: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: Error) => void,
    readonly stream: ResponseStream | undefined,
  ) {}
}

interface Waiter<C> {
  resolve: (r: IteratorResult<C>) => void;
  reject: (e: Error) => void;
}

/**
 * The consumer side of a streamed response: an async iterator over the chunks the actor sends.
 * It keeps at most STREAM_WINDOW chunks; each half window consumed goes back to the actor as credit, so a
 * consumer that stops reading stops the handler's iterator from being pulled.
 */
export class ResponseStream<C = unknown> implements AsyncIterableIterator<C> {
  private readonly chunks: C[] = [];
  private head = 0;
  private done = false;
  private error: Error | undefined;
  /**
   * next() calls waiting for a chunk, oldest first. Async iterators queue their calls: a consumer may call
   * next() again before the last one settled, and each call gets the next outcome in call order.
   */
  private readonly waiting: Waiter<C>[] = [];
  private consumed = 0;
  private consumedBytes = 0;
  private control: StreamControl | undefined;
  private request: PendingRequest | undefined;
  /**
   * The request's route when its caller has no options object to put it in (the HTTP front sets it on
   * its own subclass): requests of one route are taken to cost alike. `options.route` wins.
   */
  route: string | undefined = undefined;

  /** Called by the router at submit: credits and the consumer's leaving go to this request. */
  bind(control: StreamControl, request: PendingRequest): void {
    this.control = control;
    this.request = request;
  }

  /** The slot of the actor that runs (or ran) the request, once it was dispatched. */
  get actorSlot(): number | undefined {
    return this.request?.actor?.slot;
  }

  /** The consumer can take `n` more chunks (CREDIT to the actor). */
  protected credit(n: number): void {
    if (this.request !== undefined) this.control!.streamCredit(this.request, n);
  }

  /** The consumer left: the request is cancelled (CANCEL to the actor, or dropped from its queue). */
  protected cancel(): void {
    if (this.request !== undefined) this.control!.streamLeft(this.request);
  }

  push(chunk: C): void {
    // After return() a chunk already on its way is dropped: a finished iterator yields nothing more.
    if (this.done) return;
    const w = this.waiting.shift();
    if (w !== undefined) {
      this.took(chunk);
      w.resolve({ value: chunk, done: false });
    } else this.chunks.push(chunk);
  }

  end(): void {
    this.done = true;
    this.finishWaiting();
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    // Exactly one outcome: to the oldest call waiting now, else kept for the next call, never both. The
    // calls queued behind it see the finished iterator, as they would had they been made afterwards.
    const w = this.waiting.shift();
    if (w !== undefined) {
      w.reject(error);
      this.finishWaiting();
    } else this.error = error;
  }

  /** Settles every waiting next() with the end of the iteration. */
  private finishWaiting(): void {
    if (this.waiting.length === 0) return;
    const waiting = this.waiting.splice(0);
    for (const w of waiting) w.resolve({ value: undefined, done: true });
  }

  /** Credit goes back per half window of chunks, or of bytes, whichever the actor runs out of first. */
  private took(chunk: C): void {
    this.consumed++;
    const size = byteSize(chunk);
    if (size > 0) this.consumedBytes += size;
    if (this.consumed >= STREAM_WINDOW / 2 || this.consumedBytes >= STREAM_WINDOW_BYTES / 2) {
      this.credit(this.consumed);
      this.consumed = 0;
      this.consumedBytes = 0;
    }
  }

  next(): Promise<IteratorResult<C>> {
    if (this.head < this.chunks.length) {
      const value = this.chunks[this.head]!;
      this.chunks[this.head++] = undefined as C;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      }
      if (!this.done) this.took(value);
      return Promise.resolve({ value, done: false });
    }
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined; // reported once; later calls see a finished iterator
      return Promise.reject(error);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
    });
  }

  /** The consumer left the `for await` early (break, return, throw): end the stream in the actor. */
  return(): Promise<IteratorResult<C>> {
    if (!this.done) {
      this.done = true;
      this.cancel();
    }
    this.chunks.length = 0;
    this.head = 0;
    // The next() calls still waiting (another task called return() meanwhile) end too, rather than hang.
    this.finishWaiting();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
