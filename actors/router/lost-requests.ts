import { ActorCrashedError } from '../errors.js';
import type { PendingRequest } from './pending.js';

/**
 * One request whose thread ended under it gets its one outcome. At-most-once: it fails with
 * ActorCrashedError, unless the caller marked it idempotent (`retry: true`), when it runs once more on a
 * ready actor. Never retried, whatever the option says: a stream (its first chunks may be consumed), a
 * request with a streamed body (partly sent, not replayable), one whose buffers were transferred (they
 * moved into the dead thread: a replay would carry empty, detached buffers), one already retried.
 */
export function settleLost(
  req: PendingRequest,
  actorId: number,
  detail: string,
  retry: (req: PendingRequest) => void,
  path: { fail(req: PendingRequest, error: Error): void },
): void {
  if (req.timer !== undefined) clearTimeout(req.timer);
  req.timer = undefined;
  // A body pump waiting for credits is woken to see its actor gone and close the caller's iterator.
  const wake = req.bodyWake;
  req.bodyWake = undefined;
  wake?.();
  if (req.settled) return;
  const options = req.options;
  if (
    options?.retry === true &&
    !req.retried &&
    req.stream === undefined &&
    options.body === undefined &&
    (options.transfer === undefined || options.transfer.length === 0)
  ) {
    req.retried = true;
    retry(req);
  } else {
    path.fail(req, new ActorCrashedError(actorId, detail));
  }
}
