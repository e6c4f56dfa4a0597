import type { ActorHandle } from './actor-handle.js';
import { Deque } from './deque.js';
import type { PendingRequest } from './pending.js';
import { RestartPolicy } from './restart-policy.js';

/**
 * A stable actor id `0..n-1`. The thread behind it may be replaced (crash, recycle, reload, a rejected
 * config change); the slot, its keys and its queue stay.
 */
export class Slot {
  /** The handle that takes new requests; undefined while a replacement starts. */
  current: ActorHandle | undefined;
  /** `current` is warm and admitted: new requests may go to it. */
  accepting = false;
  /** Keyed requests placed on this slot, waiting for room (or for the replacement of a dead actor). */
  readonly queue = new Deque<PendingRequest>();
  /** Gave up after too many restarts: its keys moved to the next slots until it heals. */
  failed = false;
  error: string | undefined;
  /** A failed slot's next try (ms since the epoch), and the delay before the one after it. */
  retryAt: number | undefined;
  reviveDelay = 0;
  reviveTimer: NodeJS.Timeout | undefined;
  /** Its actor's event loop has not turned for stallAfter ms: no new request goes to it. */
  stalled = false;
  /**
   * The heartbeat last read, when it last moved, and whose it was: a replacement counts from zero like
   * the actor before it, so at the same age it can read the very value its predecessor stalled on.
   */
  beat = 0;
  beatAt = 0;
  beatOf: ActorHandle | undefined;
  restarts = 0;
  /** A replacement is being started (crash restart, recycle, reload or config rejection). */
  replacing = false;
  restartTimer: NodeJS.Timeout | undefined;
  /** A replacement that caught up with the config and is about to be admitted (config rollouts include it). */
  caughtUp: ActorHandle | undefined;
  readonly policy: RestartPolicy;

  constructor(
    readonly id: number,
    maxRestarts: number,
    window: number,
    backoff: number,
  ) {
    this.policy = new RestartPolicy(maxRestarts, window, backoff);
  }
}
