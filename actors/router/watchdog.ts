import type { ActorHandle } from './actor-handle.js';
import type { PendingRequest } from './pending.js';

/** Supervision's side: what it does with a handler that ignored its cancel (RequestPathHooks). */
interface OverdueHook {
  overdue(h: ActorHandle, reason: string, blocked: boolean): void;
}

/**
 * Arms the watchdog of a request that timed out on `h`: a handler that ignores its signal for
 * `killAfter` ms is handed to `hooks.overdue`. Whether it blocks its thread is read off the heartbeat:
 * a word that did not move in all that time means a blocked loop.
 */
export function watchOverdue(
  req: PendingRequest,
  h: ActorHandle,
  killAfter: number,
  hooks: OverdueHook,
): void {
  const beat = Atomics.load(h.heartbeat, 0);
  req.timer = setTimeout(() => {
    req.timer = undefined;
    if (h.requests.get(req.id) !== req || h.exited) return;
    hooks.overdue(
      h,
      `a request ran past its ${req.timeout} ms timeout and ignored ctx.signal for ${killAfter} ms`,
      Atomics.load(h.heartbeat, 0) === beat,
    );
  }, killAfter);
}
