/**
 * One 'abort' listener per AbortSignal, however many requests share it. A signal shared by a whole batch
 * of requests (a server's shutdown signal, a page's controller) would otherwise collect one listener per
 * request, and past ten Node warns `MaxListenersExceededWarning` as if it were a leak. The real listener
 * is removed when the last request using the signal lets go, so a long-lived signal holds no request.
 */

export type AbortListener = (reason: unknown) => void;

interface Fanout {
  readonly listeners: Set<AbortListener>;
  readonly onAbort: () => void;
}

const fanouts = new WeakMap<AbortSignal, Fanout>();

/**
 * Calls `listener(signal.reason)` once when `signal` aborts. Returns false, and adds nothing, when the
 * signal has already aborted (the caller settles that request itself, as the event never fires again).
 * Adding the same function twice for one signal keeps one entry, as with addEventListener.
 */
export function addAbortListener(signal: AbortSignal, listener: AbortListener): boolean {
  if (signal.aborted) return false;
  let fanout = fanouts.get(signal);
  if (fanout === undefined) {
    const listeners = new Set<AbortListener>();
    const onAbort = (): void => {
      // Iterating the live set: a listener removed by an earlier one during this abort is not called.
      for (const l of listeners) {
        try {
          l(signal.reason);
        } catch (err) {
          // One request's failing cancel must not keep the others from theirs; the error is reported
          // the way an EventTarget reports a throwing listener.
          process.nextTick(() => {
            throw err;
          });
        }
      }
      listeners.clear();
      fanouts.delete(signal);
    };
    fanout = { listeners, onAbort };
    fanouts.set(signal, fanout);
    signal.addEventListener('abort', onAbort, { once: true });
  }
  fanout.listeners.add(listener);
  return true;
}

/** Forgets `listener` (its request settled); the last one gone takes the signal's listener with it. */
export function removeAbortListener(signal: AbortSignal, listener: AbortListener): void {
  const fanout = fanouts.get(signal);
  if (fanout === undefined || !fanout.listeners.delete(listener)) return;
  if (fanout.listeners.size === 0 && !signal.aborted) {
    signal.removeEventListener('abort', fanout.onAbort);
    fanouts.delete(signal);
  }
}
