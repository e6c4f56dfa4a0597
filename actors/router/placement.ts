/**
 * Placement: which actor takes a request. Plain code, never a machine event: it runs once per request.
 *
 * Keyed requests use rendezvous (highest-random-weight) hashing with bounded loads. Each slot scores the
 * key; the key belongs to the highest-scoring slot, unless that slot already holds ⌈c · average load⌉,
 * in which case it spills to the next-highest (Mirrokni, Thorup, Zadimoghaddam 2016, applied to HRW).
 * Rendezvous rather than a ring: with the few actors a machine has, it spreads keys evenly without virtual
 * nodes, and adding or removing a slot moves exactly the keys that slot wins or loses (~1/n).
 * Slots are stable ids, so a restarted actor gets its keys back.
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

/** The weight of `slot` for a key hash: one multiply-xor mix, a few ns. */
export function slotScore(keyHash: number, slot: number): number {
  return fmix(keyHash ^ Math.imul(slot + 1, 0x9e3779b1));
}

/** The slot a key prefers when loads are even (its highest score among the given slots). */
export function preferredSlot(keyHash: number, slots: number, eligible?: (slot: number) => boolean): number {
  let best = -1;
  let bestScore = -1;
  for (let s = 0; s < slots; s++) {
    if (eligible !== undefined && !eligible(s)) continue;
    const score = slotScore(keyHash, s);
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return best;
}

export interface KeyedChoice {
  slot: number;
  /** The preferred slot was at its load bound. */
  spilled: boolean;
}

/**
 * Picks the slot for a keyed request. `load[s]` is the slot's requests in flight plus queued for it;
 * `eligible(s)` says whether the slot can take requests at all (ready, or restarting: its keys wait for it).
 * Returns slot -1 when no slot is eligible.
 */
export function pickKeyed(
  keyHash: number,
  load: ArrayLike<number>,
  eligible: (slot: number) => boolean,
  balanceFactor: number,
  out: KeyedChoice,
): KeyedChoice {
  const n = load.length;
  let total = 0;
  let count = 0;
  for (let s = 0; s < n; s++) {
    if (eligible(s)) {
      total += load[s]!;
      count++;
    }
  }
  out.slot = -1;
  out.spilled = false;
  if (count === 0) return out;
  // The bound counts the request being placed, so it is at least 1 and some slot is always under it.
  const bound = Math.ceil((balanceFactor * (total + 1)) / count);
  let preferred = -1;
  let preferredScore = -1;
  let chosen = -1;
  let chosenScore = -1;
  for (let s = 0; s < n; s++) {
    if (!eligible(s)) continue;
    const score = slotScore(keyHash, s);
    if (score > preferredScore) {
      preferredScore = score;
      preferred = s;
    }
    if (load[s]! < bound && score > chosenScore) {
      chosenScore = score;
      chosen = s;
    }
  }
  out.slot = chosen;
  out.spilled = chosen !== preferred;
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
