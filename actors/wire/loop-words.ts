/**
 * The words an actor shares with the router in one small SharedArrayBuffer, read without a message:
 * - BEAT, bumped by a timer while the actor's event loop turns (a word that stops moving: a handler is
 *   blocking the thread; supervision acts on it);
 * - RUNNING_SINCE, when the app code the actor is running now began (0: none), so that placement can
 *   tell an actor whose loop is held by a long synchronous handler from one that is merely busy;
 * - RUN_COST, a moving average of the time the actor's loop spends per request it starts, µs (0 before
 *   the first), so that placement can tell how much work the requests it sent there hold in all.
 */
export const BEAT = 0;
export const RUNNING_SINCE = 1;
export const RUN_COST = 2;
export const LOOP_WORDS = 3;

/** The actor's recent loop time per request started, µs. */
export function runCost(words: Int32Array): number {
  return Atomics.load(words, RUN_COST);
}

/** Folds one run's time per request into the shared average (a quarter of the way each time). */
export function recordRunCost(words: Int32Array, us: number): void {
  const old = Atomics.load(words, RUN_COST);
  Atomics.store(words, RUN_COST, old === 0 ? Math.ceil(us) : Math.ceil(old + (us - old) / 4));
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
