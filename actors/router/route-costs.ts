import type { RouteCost } from '../api/observation.js';
import { runTime } from '../wire/loop-words.js';
import type { PendingRequest } from './pending.js';
import { hashKey } from './placement.js';

/**
 * What each route's requests cost their actor, learned from the requests that ended: how long the
 * handler held the loop before it returned (the actor writes it in a shared ring, read when the request
 * ends). Routes are hashed into a fixed table, so a route with a new id in its path (`/users/42`) costs
 * no memory; two routes that share an entry share one estimate, which only makes placement pass an
 * actor by more readily.
 *
 * Placement reads it before the request runs: a request of a route known to hold the loop for tens of
 * milliseconds counts as that much work on its actor from the moment it is sent, so the cheap requests
 * behind it go to another actor at once rather than after the handler has held the loop for a while.
 * A request with no route counts as what requests have cost lately, routed or not.
 */
const ENTRIES = 256;
/** The extra entry every request's time is folded into: what a request of no route, or a new one, costs. */
const ANY = ENTRIES;
/** How many routes a snapshot lists. */
const SHOWN = 32;

export class RouteCosts {
  /** Per entry: the route's recent handler time per request, µs (0: never seen); ANY last. */
  private readonly us = new Float64Array(ENTRIES + 1);
  /** Per entry: the first route seen there, to show (routes that share an entry show as that one). */
  private readonly names: (string | undefined)[] = new Array(ENTRIES).fill(undefined);

  /** The table entry of a route. */
  entry(route: string): number {
    const e = hashKey(route) & (ENTRIES - 1);
    if (this.names[e] === undefined) this.names[e] = route;
    return e;
  }

  /**
   * What a request is expected to hold its actor's loop for, µs: its route's estimate when the route is
   * known, else what requests have cost lately whatever their route (0 before any has ended).
   */
  expected(entry: number): number {
    const known = entry >= 0 ? this.us[entry]! : 0;
    return known > 0 ? known : this.us[ANY]!;
  }

  /**
   * Folds in the time request `id` held the loop (read from `words`, the loop words of the actor it ran
   * on), into its route's entry (-1: none) and ANY's.
   */
  learn(entry: number, words: Int32Array, id: number): void {
    const us = runTime(words, id);
    if (us === 0) return;
    if (entry >= 0) this.fold(entry, us);
    this.fold(ANY, us);
  }

  /**
   * Folds in the time `req`'s handler held the loop, once: at its first chunk for a stream (its handler
   * returned before any chunk left, and a stream may stay open while many later ids reuse its place in
   * the actor's ring), else when it ends.
   */
  learnOnce(req: PendingRequest, words: Int32Array): void {
    if (req.learned) return;
    req.learned = true;
    this.learn(req.route, words, req.id);
  }

  /**
   * An estimate rises a quarter of the way to a longer time and falls half way to a shorter one: the
   * first runs of a handler are slower than the rest (code not yet optimized), and a cheap route that
   * read as heavy while cold would keep waking parked actors.
   */
  private fold(entry: number, us: number): void {
    const old = this.us[entry]!;
    this.us[entry] = old === 0 ? us : old + (us - old) / (us > old ? 4 : 2);
  }

  /**
   * The heaviest routes with an estimate, heaviest first (`snapshot().routes`): at most SHOWN, since
   * every snapshot the inspector and a recording keep carries them.
   */
  list(): RouteCost[] {
    const out: RouteCost[] = [];
    for (let e = 0; e < ENTRIES; e++) {
      const name = this.names[e];
      if (name !== undefined && this.us[e]! > 0) out.push({ route: name, us: Math.round(this.us[e]!) });
    }
    return out.sort((a, b) => b.us - a.us).slice(0, SHOWN);
  }
}
