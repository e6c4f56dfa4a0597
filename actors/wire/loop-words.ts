/**
 * The words an actor shares with the router in one small SharedArrayBuffer, read without a message:
 * - BEAT, bumped by a timer while the actor's event loop turns (a word that stops moving: a handler is
 *   blocking the thread; supervision acts on it);
 * - RUNNING_SINCE, when the app code the actor is running now began (0: none), so that placement can
 *   tell an actor whose loop is held by a long synchronous handler from one that is merely busy;
 * - RUN_TIMES, a ring of the time each request's handler held the loop before it returned, µs, at the
 *   request id's place: the router reads it when the request ends and learns what its route costs.
 *   Written before the outcome is posted, so the outcome's message orders the read after the write; a
 *   request still open when 1024 later ids have come and gone may read a later request's time.
 */
export const BEAT = 0;
export const RUNNING_SINCE = 1;
export const RUN_TIMES = 2;
const RUN_TIME_MASK = 1023;
export const LOOP_WORDS = RUN_TIMES + RUN_TIME_MASK + 1;

/** Notes how long request `id`'s handler held the loop (at least 1 µs, so 0 means never written). */
export function recordRunTime(words: Int32Array, id: number, us: number): void {
  Atomics.store(words, RUN_TIMES + (id & RUN_TIME_MASK), us < 1 ? 1 : Math.ceil(us));
}

/** How long request `id`'s handler held the loop, µs (0: not known). */
export function runTime(words: Int32Array, id: number): number {
  return Atomics.load(words, RUN_TIMES + (id & RUN_TIME_MASK));
}

/** Wall-clock ms folded into a positive Int32 (both threads read the same clock); never 0. */
const FOLD = 0x7fffffff;

export function loopClock(now = Date.now()): number {
  return now % FOLD || 1;
}

/**
 * How long the actor has been running the same app code, ms (0 when it is between runs). The clock is
 * read only when a run is under way: placement asks on every request, and mostly the answer is 0.
 */
export function runningFor(words: Int32Array): number {
  const since = Atomics.load(words, RUNNING_SINCE);
  return since === 0 ? 0 : (loopClock() - since + FOLD) % FOLD;
}
