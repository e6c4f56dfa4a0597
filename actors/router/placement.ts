import { runningFor } from '../wire/loop-words.js';

/**
 * Placement: which actor takes a request. Plain code, never a machine event: it runs once per request.
 *
 * Keyed requests use rendezvous (highest-random-weight) hashing with bounded loads. A key hash falls in
 * one of a fixed number of buckets; each slot scores the bucket, and the bucket's keys belong to the
 * highest-scoring slot. A key stays there while that actor has room under `concurrency`: an actor with
 * spare concurrency is not overloaded, and moving a key costs whatever the actor built for it. Past that,
 * the key stays only while its actor holds less than ⌈c · average load⌉ (Mirrokni, Thorup, Zadimoghaddam
 * 2016, applied to HRW), and otherwise spills to the next slot of its ranking that does. Before that, a
 * full actor sheds load through its hot keys only: the router counts requests per key bucket, and a bucket
 * with a large share of the recent traffic goes to its runner-up whenever that actor holds less. A few hot
 * keys then stay warm on two actors, while the many cold keys, whose state a move would rebuild, stay home:
 * whichever key happened to arrive while its actor was at the bound would otherwise land somewhere cold.
 * Rendezvous rather than a ring: with the few actors a machine has, it spreads keys evenly without virtual
 * nodes, and adding or removing a slot moves exactly the keys that slot wins or loses (~1/n).
 * Slots are stable ids, so a restarted actor gets its keys back.
 *
 * The ranking of a bucket depends only on the bucket and the slot count, so it is computed once, on the
 * bucket's first use, and a placement walks it instead of scoring every slot: a key whose actor has room
 * costs a few array reads whatever the actor count, and only a contended actor pays for summing the loads.
 *
 * Unkeyed requests go to the least-loaded ready actor, except one whose loop a long synchronous handler
 * holds right now (read off a word the actor shares, without a message) while another has room.
 */

/** FNV-1a over UTF-16 code units, then a murmur3 finalizer so that similar keys diverge. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix(h);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Key buckets: enough that keys spread over the slots as evenly as per-key scores would, few enough that
 * the rankings of every bucket stay small (buckets × RANKED slot ids).
 */
const BUCKETS = 4096;
/** How much of each bucket's ranking is kept: a spill rarely goes past the first few slots. */
const RANKED = 8;

/** The weight of `slot` for a key bucket: one multiply-xor mix, a few ns. */
export function slotScore(bucket: number, slot: number): number {
  return fmix(bucket ^ Math.imul(slot + 1, 0x9e3779b1));
}

/** The bucket a key hash falls in (the hash's low bits are already mixed). */
export function bucketOf(keyHash: number): number {
  return keyHash & (BUCKETS - 1);
}

/** The first RANKED slots of every bucket's ranking, highest score first, for one slot count. */
class Rankings {
  readonly depth: number;
  readonly slots: Uint16Array;
  private readonly ready: Uint8Array;

  constructor(readonly n: number) {
    this.depth = Math.min(n, RANKED);
    this.slots = new Uint16Array(BUCKETS * this.depth);
    this.ready = new Uint8Array(BUCKETS);
  }

  /** The offset of `bucket`'s ranking in `slots`, ranked on first use. */
  of(bucket: number): number {
    const base = bucket * this.depth;
    if (this.ready[bucket] === 0) {
      this.rank(bucket, base);
      this.ready[bucket] = 1;
    }
    return base;
  }

  /** Keeps the `depth` best slots by insertion into a short sorted list. */
  private rank(bucket: number, base: number): void {
    const depth = this.depth;
    const scores = new Float64Array(depth).fill(-1);
    for (let s = 0; s < this.n; s++) {
      const score = slotScore(bucket, s);
      if (score <= scores[depth - 1]!) continue;
      let i = depth - 1;
      while (i > 0 && scores[i - 1]! < score) {
        scores[i] = scores[i - 1]!;
        this.slots[base + i] = this.slots[base + i - 1]!;
        i--;
      }
      scores[i] = score;
      this.slots[base + i] = s;
    }
  }
}

/** A router has one slot count for its life: keep the last rankings at hand, others in a map. */
let last: Rankings | undefined;
const rankingsByCount = new Map<number, Rankings>();

function rankingsFor(n: number): Rankings {
  if (last !== undefined && last.n === n) return last;
  let r = rankingsByCount.get(n);
  if (r === undefined) {
    if (n > 0xffff) throw new RangeError(`placement supports at most 65,535 slots; got ${n}`);
    r = new Rankings(n);
    rankingsByCount.set(n, r);
  }
  last = r;
  return r;
}

/**
 * The highest-scoring eligible slot past the kept ranking with `load[s] < bound` (any load when `load` is
 * undefined): the rare case where every kept slot is ineligible or full.
 */
function scanAll(
  bucket: number,
  n: number,
  eligible: ((slot: number) => boolean) | undefined,
  load: ArrayLike<number> | undefined,
  bound: number,
): number {
  let best = -1;
  let bestScore = -1;
  for (let s = 0; s < n; s++) {
    if (eligible !== undefined && !eligible(s)) continue;
    if (load !== undefined && load[s]! >= bound) continue;
    const score = slotScore(bucket, s);
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return best;
}

/** The slot a key prefers when it has room (its bucket's highest-scoring eligible slot), or -1. */
export function preferredSlot(keyHash: number, slots: number, eligible?: (slot: number) => boolean): number {
  if (slots <= 0) return -1;
  const bucket = bucketOf(keyHash);
  const r = rankingsFor(slots);
  const base = r.of(bucket);
  for (let i = 0; i < r.depth; i++) {
    const s = r.slots[base + i]!;
    if (eligible === undefined || eligible(s)) return s;
  }
  return r.depth === slots ? -1 : scanAll(bucket, slots, eligible, undefined, 0);
}

export interface KeyedChoice {
  slot: number;
  /** The request did not go to the key's preferred slot: that slot was full and over the load bound. */
  spilled: boolean;
  /** How much of the recent keyed traffic each bucket carried, kept by one router (see `keyedChoice`). */
  heat?: Heat;
  /**
   * The sum of the loads, when the caller keeps it and every slot is eligible: then a contended placement
   * does not sum them itself. -1: not known, the eligible slots' loads are summed here.
   */
  total?: number;
}

/**
 * Requests per key bucket over a sliding window: every placement counts, and every HEAT_WINDOW placements
 * the counts halve, so a bucket's count follows its share of the recent traffic.
 */
export interface Heat {
  counts: Uint32Array;
  total: number;
}

const HEAT_WINDOW = 1 << 16;
/** A bucket is hot when it carries at least 1/HOT_SHARE of the recent keyed traffic. */
const HOT_SHARE = 256;
/** Too few placements to tell a hot bucket from a lucky one. */
const HEAT_MIN = 1024;

/** A choice record that learns which buckets are hot, for one router to reuse across its placements. */
export function keyedChoice(): KeyedChoice {
  return {
    slot: -1,
    spilled: false,
    heat: { counts: new Uint32Array(BUCKETS), total: 0 },
    total: -1,
  };
}

/** Counts a placement in `bucket`; true when the bucket is hot. */
function warm(heat: Heat, bucket: number): boolean {
  const counts = heat.counts;
  const c = ++counts[bucket]!;
  if (++heat.total >= HEAT_WINDOW) {
    for (let b = 0; b < BUCKETS; b++) counts[b] = counts[b]! >>> 1;
    heat.total >>>= 1;
  }
  return heat.total >= HEAT_MIN && c * HOT_SHARE >= heat.total;
}

/**
 * Picks the slot for a keyed request. `load[s]` is the slot's requests in flight plus queued for it;
 * `eligible(s)` says whether the slot can take requests at all (ready, or restarting: its keys wait for it);
 * `concurrency` is how many requests an actor runs at once: below it, a key never moves.
 * Returns slot -1 when no slot is eligible.
 */
export function pickKeyed(
  keyHash: number,
  load: ArrayLike<number>,
  eligible: (slot: number) => boolean,
  balanceFactor: number,
  concurrency: number,
  out: KeyedChoice,
): KeyedChoice {
  const n = load.length;
  out.slot = -1;
  out.spilled = false;
  if (n === 0) return out;
  const bucket = bucketOf(keyHash);
  const r = rankingsFor(n);
  const base = r.of(bucket);
  const depth = r.depth;
  const ranked = r.slots;
  let i = 0;
  let preferred = -1;
  for (; i < depth; i++) {
    const s = ranked[base + i]!;
    if (eligible(s)) {
      preferred = s;
      break;
    }
  }
  if (preferred < 0) {
    if (depth === n) return out;
    preferred = scanAll(bucket, n, eligible, undefined, 0);
    if (preferred < 0) return out;
    i = depth;
  }
  const hot = out.heat !== undefined && warm(out.heat, bucket);
  if (load[preferred]! < concurrency) {
    out.slot = preferred;
    return out;
  }
  // Contended: the preferred actor is full. The bound counts the request being placed, so it exceeds the
  // average and some eligible slot is always under it.
  let total = out.total ?? -1;
  let count = n;
  if (total < 0) {
    total = 0;
    count = 0;
    for (let s = 0; s < n; s++) {
      if (eligible(s)) {
        total += load[s]!;
        count++;
      }
    }
  }
  const bound = Math.max(concurrency, Math.ceil((balanceFactor * (total + 1)) / count));
  // A hot bucket shares the load first: its requests go to its runner-up whenever that actor holds less.
  // Its few keys then stay warm on both actors, and the preferred actor stays under the bound, so the
  // many cold keys, whose state a move would rebuild, need not move at all.
  if (hot) {
    for (let j = i + 1; j < depth; j++) {
      const s = ranked[base + j]!;
      if (!eligible(s)) continue;
      if (load[s]! < load[preferred]! && load[s]! < bound) {
        out.slot = s;
        out.spilled = true;
        return out;
      }
      break;
    }
  }
  if (load[preferred]! < bound) {
    out.slot = preferred;
    return out;
  }
  out.spilled = true;
  for (i++; i < depth; i++) {
    const s = ranked[base + i]!;
    if (load[s]! < bound && eligible(s)) {
      out.slot = s;
      return out;
    }
  }
  out.slot = scanAll(bucket, n, eligible, load, bound);
  return out;
}

/**
 * Least-loaded eligible slot with room under `limit`, or -1. Ties go to the first slot from `from` on:
 * the router passes the slot it used last, so a lone request goes back to a thread that is still awake
 * and warm, while concurrent requests still spread (a busy slot is never a tie with an idle one).
 * Measured with bench/tools/idle-ties.mjs, 2 actors, round trip over raw postMessage: 1.16x with ties
 * going back, 1.23x with ties rotating on the quiet machine; 1.12x against 1.65x while it was loaded.
 */
export function pickLeastLoaded(
  load: ArrayLike<number>,
  eligible: (slot: number) => boolean,
  limit: number,
  from: number,
): number {
  const n = load.length;
  let best = -1;
  let bestLoad = limit;
  for (let i = 0; i < n; i++) {
    const s = (from + i) % n;
    const l = load[s]!;
    if (l < bestLoad && eligible(s)) {
      bestLoad = l;
      best = s;
      if (l === 0) break;
    }
  }
  return best;
}

/**
 * How long an actor's current run of app code must have lasted for placement to treat its loop as held:
 * the clock it is read on counts whole milliseconds, so 2 means at least one.
 */
const HELD_MS = 2;

/** The actor sharing `words` has been running one piece of app code for HELD_MS or more. */
export function isHeld(words: Int32Array): boolean {
  return runningFor(words) >= HELD_MS;
}

/**
 * How much work the requests already sent to an actor may hold before parking sends the next one to a
 * sleeping actor instead (µs): about what a held loop means.
 */
const QUEUED_US = 1_000;

/**
 * The requests sent to an actor hold QUEUED_US or more of its loop's time (`work`: the sum of what each
 * is expected to cost, by its route or by what requests cost lately): a request of a heavy route, or a
 * burst of CPU-bound ones, which the actor's utilization would show only at the next sample.
 */
export function holdsWork(work: number): boolean {
  return work >= QUEUED_US;
}

/** Unkeyed placement: the least loaded ready actor, passing over one whose loop is held (pickTurning). */
export function pickUnkeyed(
  load: ArrayLike<number>,
  eligible: (slot: number) => boolean,
  held: (slot: number) => boolean,
  limit: number,
  from: number,
): number {
  const s = pickLeastLoaded(load, eligible, limit, from);
  return s >= 0 && held(s) ? pickTurning(load, eligible, held, limit, s, s) : s;
}

/**
 * The least loaded slot with room whose loop is not held (`held`: a long synchronous handler is running,
 * and the actor starts nothing until it returns), or `fallback` when every slot with room is held. A
 * request count cannot see that one actor's single request is a 20 ms computation and another's ten are
 * microseconds each; this is what keeps a cheap request from waiting behind the computation.
 */
export function pickTurning(
  load: ArrayLike<number>,
  eligible: (slot: number) => boolean,
  held: (slot: number) => boolean,
  limit: number,
  from: number,
  fallback: number,
): number {
  const s = pickLeastLoaded(load, (slot) => eligible(slot) && !held(slot), limit, from);
  return s >= 0 ? s : fallback;
}
