// Reads node's `--trace-gc-nvp` output (one line per collection, each starting `[pid:isolate]`) for the
// GC tools in this folder.

/**
 * The main isolate's line prefix: of the process with the most isolates (a front with its actors, or a
 * node with its actors), the first isolate to print; workers start after their process's main thread has
 * run. (Counting scavenges would not do: a main thread whose request garbage survives scavenges less
 * often than an actor, since its young generation grows.)
 */
export function mainIsolate(out) {
  const isolates = new Map();
  for (const l of out.split('\n')) {
    const m = /^\[(\d+):(0x[0-9a-f]+)\]/.exec(l);
    if (m === null) continue;
    const list = isolates.get(m[1]) ?? [];
    if (!list.includes(m[0])) list.push(m[0]);
    isolates.set(m[1], list);
  }
  return [...isolates.values()].sort((a, b) => b.length - a.length)[0]?.[0];
}

/**
 * The collections of isolate `prefix` in `out`: shares of what the scavenges saw allocated that
 * survived and that was promoted, the mean scavenge pause and the part of it on weak handles (which
 * node's native objects hold), and the mark-compacts. `whole` false: the middle 40% of the scavenges
 * only (the steady state of a run without a warm-up).
 */
export function gcSummary(out, prefix, whole) {
  const mine = out.split('\n').filter((l) => prefix !== undefined && l.startsWith(prefix));
  const field = (l, k) => Number(new RegExp(`(?:^|\\s)${k}=([\\d.]+)`).exec(l)?.[1] ?? 0);
  const scavenges = mine.filter((l) => /\sgc=s\s/.test(l));
  const counted = whole
    ? scavenges
    : scavenges.slice(Math.floor(scavenges.length * 0.3), Math.ceil(scavenges.length * 0.7));
  const sum = (k) => counted.reduce((n, l) => n + field(l, k), 0);
  return {
    survived: (100 * sum('new_space_survived')) / sum('allocated'),
    promoted: (100 * sum('promoted')) / sum('allocated'),
    pause: sum('pause') / counted.length,
    weak: sum('heap.external_weak_global_handles') / counted.length,
    markCompacts: mine.filter((l) => /\sgc=mc\s/.test(l)).length,
  };
}
