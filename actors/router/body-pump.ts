import { movedBuffers } from '../wire/move.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import type { PendingRequest } from './pending.js';

/**
 * Feeds a request body to its actor as the actor grants credit (BODY_CREDIT), so a slow handler slows the
 * upload at its source. Stops when the request settles or leaves its actor, and closes the caller's
 * iterator then.
 */
export async function pumpBody(
  req: PendingRequest,
  h: ActorHandle,
  body: AsyncIterable<unknown>,
): Promise<void> {
  const running = () => !req.settled && h.requests.get(req.id) === req;
  let it: AsyncIterator<unknown> | undefined;
  try {
    it = body[Symbol.asyncIterator]();
    req.bodyIterator = it;
    for (;;) {
      if (!running()) break;
      if (req.bodyCredits <= 0) {
        await new Promise<void>((resolve) => {
          req.bodyWake = resolve;
        });
        continue;
      }
      const step = await it.next();
      if (!running()) break;
      if (step.done) {
        req.bodyIterator = undefined;
        h.outbox.push(P.BODY_END, req.id, undefined);
        return;
      }
      req.bodyCredits--;
      h.outbox.push(P.BODY_CHUNK, req.id, step.value, movedBuffers(step.value));
    }
    // Settling the request closed the source already (and cleared the field); otherwise close it here.
    if (req.bodyIterator === it) {
      req.bodyIterator = undefined;
      await it.return?.();
    }
  } catch (err) {
    if (running()) h.outbox.push(P.BODY_END, req.id, String((err as Error)?.message ?? err));
  }
}

/**
 * Closes the caller's body source when its request settles first (timeout, abort), even a source that
 * waits for a chunk that never comes: its `return()` is called, and whatever that throws is ignored.
 */
export function closeBody(req: PendingRequest): void {
  const it = req.bodyIterator;
  req.bodyIterator = undefined;
  try {
    const done = it?.return?.();
    if (done !== undefined && typeof (done as Promise<unknown>).catch === 'function')
      (done as Promise<unknown>).catch(() => {});
  } catch {
    // The source's own return() failed: nothing more to close.
  }
}
