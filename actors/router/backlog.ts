import { Deque } from './deque.js';
import type { PendingRequest } from './pending.js';
import type { Slot } from './slot.js';

/**
 * Requests that wait for room, and the per-slot loads placement reads. A keyed request waits in its
 * slot's queue (its key stays with its actor), an unkeyed one in the master queue (any actor takes it).
 * A cancelled request stays in its deque until reached, then is skipped: its accounting is undone at once.
 */
export class Backlog {
  /** Per slot: requests in flight on its current actor plus keyed requests queued for it. */
  readonly loads: Int32Array;
  /**
   * The sum of `loads`, kept as they change: with many actors, summing them for every contended keyed
   * placement would cost more than the rest of the choice.
   */
  total = 0;
  private readonly master = new Deque<PendingRequest>();
  private queued = 0;

  constructor(
    private readonly slots: readonly Slot[],
    private readonly maxQueue: number,
  ) {
    this.loads = new Int32Array(slots.length);
  }

  /** Another waiting request would pass maxQueue. */
  get full(): boolean {
    return this.queued >= this.maxQueue;
  }

  /** Live requests waiting anywhere. */
  get size(): number {
    return this.queued;
  }

  /** Live requests in the master queue. */
  masterSize(): number {
    return this.master.count(isLive);
  }

  /** Waits in `slot`'s queue: it counts as load on that slot. */
  pushKeyed(slot: Slot, req: PendingRequest): void {
    req.slot = slot.id;
    slot.queue.push(req);
    this.addLoad(slot.id, 1);
    this.queued++;
  }

  pushUnkeyed(req: PendingRequest): void {
    this.master.push(req);
    this.queued++;
  }

  /**
   * The next live request for `slot`'s actor: its own queue first, then the master queue. `fromMaster`
   * tells the caller it was not placed on this slot before (an inspection route event is due).
   */
  next(slot: Slot): PendingRequest | undefined {
    for (;;) {
      let req = slot.queue.shift();
      if (req !== undefined) {
        if (req.settled) continue; // its accounting was undone when it was cancelled
        this.addLoad(slot.id, -1);
      } else {
        req = this.master.shift();
        if (req === undefined) return undefined;
        if (req.settled) continue;
      }
      this.queued--;
      return req;
    }
  }

  /** Undoes a waiting request's accounting (it stays in its deque, skipped when reached). */
  unqueue(req: PendingRequest): void {
    this.queued--;
    if (req.slot >= 0) {
      this.addLoad(req.slot, -1);
      req.slot = -1;
    }
  }

  /** The slot's load is just its live queue (its actor is new, or gone). */
  resetLoad(slot: Slot): void {
    this.setLoad(slot.id, slot.queue.count(isLive));
  }

  /** A request starts on, or leaves, `slot`'s actor (or its queue). */
  addLoad(slot: number, d: number): void {
    this.loads[slot]! += d;
    this.total += d;
  }

  private setLoad(slot: number, value: number): void {
    this.total += value - this.loads[slot]!;
    this.loads[slot] = value;
  }

  /** Takes every live request out of `slot`'s queue; the slot's load goes to zero. */
  drainSlot(slot: Slot): PendingRequest[] {
    this.setLoad(slot.id, 0);
    return this.take(slot.queue.drain());
  }

  drainMaster(): PendingRequest[] {
    return this.take(this.master.drain());
  }

  drainAll(): PendingRequest[] {
    const all = this.drainMaster();
    for (const slot of this.slots) for (const req of this.drainSlot(slot)) all.push(req);
    return all;
  }

  private take(reqs: Iterable<PendingRequest>): PendingRequest[] {
    const live: PendingRequest[] = [];
    for (const req of reqs) {
      if (req.settled) continue;
      this.queued--;
      req.slot = -1;
      live.push(req);
    }
    return live;
  }
}

/** A queued request still waiting (a cancelled one stays in its deque until reached, then is skipped). */
export const isLive = (req: PendingRequest): boolean => !req.settled;
