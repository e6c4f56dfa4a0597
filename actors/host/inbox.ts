/**
 * The actor's data-plane inbox: runs the router's batches in arrival order, one message at a time, and
 * gives the thread back between two messages of a batch once the app has run for a slice of time.
 *
 * The router sends everything it has for an actor in one message per loop turn, and a result leaves in a
 * microtask after the code that produced it returns. Run in one go, a batch of CPU-bound requests would
 * answer all at once at the end: the first caller waits for the whole batch, and the actor idles while
 * the answers travel and the next requests come back. Yielding after a slice lets the finished results
 * leave and the router hand the actor more work while it runs the rest. A batch of cheap requests never
 * reaches the slice and still runs, and answers, in one turn.
 */

import { loopClock, RUNNING_SINCE } from '../wire/loop-words.js';

/** Handles one message; true when it ran app code (a request start), the only time worth a clock read. */
export type HandleOne = (tag: number, a: unknown, b: unknown) => boolean;

export class Inbox {
  /** Batches not yet fully handled; the first may be partly done (from `at` on). */
  private readonly waiting: unknown[][] = [];
  private at = 0;
  private idleWaiter: (() => void) | undefined;

  constructor(
    private readonly one: HandleOne,
    /** How long the app may run before the rest of a batch waits for the next loop turn, ms. */
    private readonly sliceMs: number,
    /** Shared with the router: RUNNING_SINCE holds when the current run began while one is under way. */
    private readonly words: Int32Array,
  ) {}

  /** No batch waits for its turn. */
  get idle(): boolean {
    return this.waiting.length === 0;
  }

  /** Called once, the next time a waiting remainder has been handled (drain waits for it). */
  whenIdle(then: () => void): void {
    this.idleWaiter = then;
  }

  readonly receive = (msg: unknown[]): void => {
    if (this.waiting.length > 0) {
      this.waiting.push(msg);
      return;
    }
    const stop = this.run(msg, 0, performance.now());
    if (stop >= 0) this.park(msg, stop);
  };

  /**
   * Handles `msg` from `from` on; returns where it stopped for the slice, or -1 when it finished.
   * `started`: when the slice began.
   */
  private run(msg: unknown[], from: number, started: number): number {
    const n = msg.length;
    const words = this.words;
    Atomics.store(words, RUNNING_SINCE, loopClock());
    try {
      for (let i = from; i < n; i += 3) {
        if (this.one(msg[i] as number, msg[i + 1], msg[i + 2])) {
          if (i + 3 < n && performance.now() - started >= this.sliceMs) return i + 3;
        }
      }
      return -1;
    } finally {
      Atomics.store(words, RUNNING_SINCE, 0);
    }
  }

  private park(msg: unknown[], at: number): void {
    this.waiting.push(msg);
    this.at = at;
    setImmediate(this.resume);
  }

  private readonly resume = (): void => {
    const started = performance.now();
    while (this.waiting.length > 0) {
      const msg = this.waiting[0]!;
      const stop = this.run(msg, this.at, started);
      if (stop >= 0) {
        this.at = stop;
        setImmediate(this.resume);
        return;
      }
      this.waiting.shift();
      this.at = 0;
      // The next batch starts on a fresh turn if this one used the slice up.
      if (this.waiting.length > 0 && performance.now() - started >= this.sliceMs) {
        setImmediate(this.resume);
        return;
      }
    }
    const waiter = this.idleWaiter;
    this.idleWaiter = undefined;
    waiter?.();
  };
}
