/**
 * Restart policy for one slot, after Erlang's supervisor: at most `maxRestarts` restarts within `window`
 * ms, then the slot gives up (it is marked failed and its keys move on). Between restarts, exponential
 * backoff with full jitter so that actors that crashed together do not come back together.
 */
export class RestartPolicy {
  private readonly times: number[] = [];

  constructor(
    private readonly maxRestarts: number,
    private readonly window: number,
    private readonly baseDelay: number,
    private readonly maxDelay = 5_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** Records a crash at `now`; returns the delay before the restart, or -1 if the slot must give up. */
  next(now: number): number {
    const times = this.times;
    while (times.length > 0 && now - times[0]! > this.window) times.shift();
    if (times.length >= this.maxRestarts) return -1;
    times.push(now);
    const ceiling = Math.min(this.maxDelay, this.baseDelay * 2 ** (times.length - 1));
    // Half fixed, half jitter: never zero, never in lockstep.
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** Forgets past crashes: a slot that healed starts with a clean record. */
  reset(): void {
    this.times.length = 0;
  }

  get recent(): number {
    return this.times.length;
  }
}
