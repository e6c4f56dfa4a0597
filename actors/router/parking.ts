import type { EventLoopUtilization } from 'node:perf_hooks';
import { runningFor } from '../wire/loop-words.js';
import type { ActorHandle } from './actor-handle.js';
import { holdsWork, pickLeastLoaded, pickUnkeyed } from './placement.js';
import type { Slot } from './slot.js';

/**
 * Parking: unkeyed requests go to as few actors as keep up with them, and the rest sleep.
 *
 * Every actor that takes part of a loop turn's requests is a thread the front wakes, and on a machine
 * where a wake-up costs tens of microseconds a cheap route spends more on waking actors than on its
 * handlers. So unkeyed placement looks only at the awake actors (the first `width` slots that take
 * requests) while they have room and are not held by a long handler; past that it takes any ready actor,
 * as before. The width follows the awake actors' event-loop utilization, sampled every few tens of
 * milliseconds from the router's side (no message): it grows at once to what the measured work needs
 * when the awake actors are busy, and shrinks one actor at a time when the work would fit in one fewer.
 *
 * Keyed requests ignore parking: a key's actor holds its state. Heavy traffic is never held back for long:
 * a full actor, a held loop, or requests that already hold a millisecond of the actor's time (by what
 * their routes cost: route-costs.ts) send the request past the awake slots at once, and the next sample
 * widens.
 */

/** How often the width is reconsidered. */
export const PARK_EVERY_MS = 50;
/** Grow when the awake actors are busier than this on average. */
const BUSY = 0.5;
/** What each awake actor should carry after growing. */
const TARGET = 0.35;
/** Shrink when the awake actors' work would keep one fewer at most this busy. */
const ROOM = 0.3;

export class Parking {
  /** How many actors take unkeyed requests first. */
  width: number;
  /**
   * Per slot: 1 while it is one of the awake actors. Set at each sample: a slot that stops taking
   * requests in between is passed over by placement's own checks.
   */
  private readonly awake: Uint8Array;
  private timer: NodeJS.Timeout | undefined;
  /** Each slot's last reading, with the thread it was read from (a replaced actor starts afresh). */
  private readonly last: ({ handle: ActorHandle; elu: EventLoopUtilization } | undefined)[];

  constructor(
    private readonly slots: readonly Slot[],
    readonly enabled: boolean,
    /** The slot takes new requests (its actor is admitted and not stalled). */
    private readonly ready: (slot: number) => boolean,
    /** A long synchronous handler holds the slot's loop. */
    private readonly held: (slot: number) => boolean,
    /** Per slot: what the requests sent to its actor are expected to hold its loop for, µs. */
    private readonly work: Float64Array,
  ) {
    this.awake = new Uint8Array(slots.length);
    this.left = new Float64Array(slots.length);
    this.width = slots.length;
    this.last = slots.map(() => undefined);
    this.mark(enabled ? 1 : slots.length);
  }

  /** Scratch for pick(): each slot's work left, µs. */
  private readonly left: Float64Array;

  private readonly awakeReady = (s: number): boolean => this.awake[s] === 1 && this.ready(s);
  /** Held by a long handler, or already sent a millisecond of work: a cheap request would wait there. */
  private readonly busy = (s: number): boolean => this.held(s) || holdsWork(this.work[s]!);

  /**
   * The unkeyed choice: the least loaded awake actor that is not busy (held, or sent requests that hold
   * a millisecond of its time, by what their routes cost); else the least loaded
   * ready actor that is not busy; else, every one being busy, the one with room that has the least work
   * left: what its requests are expected to hold its loop for, less how long the run of app code it is in
   * now has lasted (a loop that reads as held only because its thread waits for a CPU has less than one
   * holding a known 300 ms request, and of two actors each running a 20 ms request, the one that started
   * first frees its loop first). -1: none has room under `limit`.
   */
  pick(loads: Int32Array, limit: number, from: number): number {
    if (this.parks) {
      const s = pickUnkeyed(loads, this.awakeReady, this.busy, limit, from);
      if (s >= 0 && !this.busy(s)) return s;
    }
    const s = pickUnkeyed(loads, this.ready, this.busy, limit, from);
    if (s < 0 || !this.busy(s)) return s;
    const left = this.left;
    for (let x = 0; x < left.length; x++) {
      const words = this.slots[x]!.current?.heartbeat;
      const ran = words === undefined ? 0 : runningFor(words) * 1000;
      left[x] = ran < this.work[x]! ? this.work[x]! - ran : 0;
    }
    return pickLeastLoaded(left, (x) => loads[x]! < limit && this.ready(x), Number.POSITIVE_INFINITY, from);
  }

  /** Whether placement should look at the awake actors first: false while every actor is awake. */
  get parks(): boolean {
    return this.width < this.slots.length;
  }

  isAwake(slot: number): boolean {
    return this.awake[slot] === 1;
  }

  /** Takes requests, but unkeyed ones only when the awake actors cannot. */
  isParked(slot: Slot): boolean {
    return this.parks && this.awake[slot.id] === 0 && this.ready(slot.id);
  }

  start(): void {
    if (!this.enabled || this.slots.length < 2 || this.timer !== undefined) return;
    this.mark(this.width);
    this.timer = setInterval(() => this.sample(), PARK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.mark(this.slots.length);
  }

  /** Reads each awake actor's utilization since the last sample and sets the width from their sum. */
  sample(): void {
    const n = this.slots.length;
    let busy = 0;
    let counted = 0;
    for (let s = 0; s < n; s++) {
      const h = this.slots[s]!.current;
      if (h === undefined || h.exited) {
        this.last[s] = undefined;
        continue;
      }
      const now = h.worker.performance.eventLoopUtilization();
      const before = this.last[s];
      this.last[s] = { handle: h, elu: now };
      if (this.awake[s] === 0 || before === undefined || before.handle !== h) continue;
      busy += h.worker.performance.eventLoopUtilization(now, before.elu).utilization;
      counted++;
    }
    this.mark(nextWidth(this.width, busy, counted, n));
  }

  /** Wakes the first `width` slots that take requests (a restarting slot 0 leaves its turn to slot 1). */
  private mark(width: number): void {
    this.width = width;
    let left = width;
    for (let s = 0; s < this.slots.length; s++) {
      const up = left > 0 && (width === this.slots.length || this.ready(s));
      this.awake[s] = up ? 1 : 0;
      if (up) left--;
    }
  }
}

/**
 * The width after a sample: `busy` is the summed utilization of the `counted` awake actors that could be
 * read (a restarting slot is not). Pure, for the tests.
 */
export function nextWidth(width: number, busy: number, counted: number, n: number): number {
  if (counted === 0) return width;
  if (busy / counted > BUSY) return Math.min(n, Math.max(width + 1, Math.ceil(busy / TARGET)));
  if (width > 1 && busy / (width - 1) < ROOM) return width - 1;
  return width;
}
