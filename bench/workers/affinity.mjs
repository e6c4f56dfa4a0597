// The affinity case's per-key work, the same in every peer's threads (Piscina and Tinypool load this file
// as their task; the troupe app wraps the same function). Each thread keeps its own LRU of built entries:
// a miss pays for building the key's entry, a hit only for the request's own work. The payload carries the
// key, the LRU's capacity and the two amounts of work as loop counts, calibrated once by the case, so that
// every peer burns exactly the same CPU per hit and per miss.

/** @type {Map<string, number> | undefined} key → its entry, least recently used first. */
let cache;

/** A fixed amount of CPU work whose result depends on `seed`, so that the loop cannot be dropped. */
function burn(iterations, seed) {
  let x = seed | 1;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}

function seedOf(key) {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return h;
}

/**
 * Serves one request: `{ k: key, n: LRU capacity, b: build iterations, w: work iterations }`.
 * Returns 1 when the key's entry was cached in this thread, 0 when it had to be built.
 */
export default function serve(payload) {
  cache ??= new Map();
  const { k, n, b, w } = payload;
  let entry = cache.get(k);
  const hit = entry !== undefined;
  if (hit) {
    // Most recently used goes last: a Map iterates in insertion order.
    cache.delete(k);
  } else {
    entry = burn(b, seedOf(k));
    if (cache.size >= n) cache.delete(cache.keys().next().value);
  }
  cache.set(k, entry);
  burn(w, entry);
  return hit ? 1 : 0;
}

/**
 * Iterations of `burn` per millisecond of CPU, timed with the process's CPU clock rather than the wall
 * clock: on a busy machine the thread is descheduled now and then, and wall time would count that too.
 * Call it where no other thread of the process is busy.
 */
export function burnRate(ms = 20) {
  let iterations = 1 << 16;
  for (;;) {
    const before = process.cpuUsage();
    burn(iterations, 7);
    const used = process.cpuUsage(before);
    const elapsed = (used.user + used.system) / 1000;
    if (elapsed >= ms) return iterations / elapsed;
    iterations *= 2;
  }
}
