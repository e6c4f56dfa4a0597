/**
 * The same CPU work for every server under test: a fixed number of iterations, not a time budget, so
 * that a thread descheduled by the OS still does all of its work (a time-based spin would do less work
 * exactly when the CPU is contended, and flatter whoever is contended most).
 */
export function spin(iterations: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < iterations; i++) {
    h ^= i;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Iterations that take about `ms` on this machine (median of several runs, after JIT warm-up). */
export function calibrate(ms: number): number {
  spin(5_000_000);
  let n = 1_000_000;
  const samples: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    spin(n);
    samples.push((performance.now() - t0) / n);
  }
  samples.sort((a, b) => a - b);
  n = Math.round(ms / samples[3]!);
  return n;
}

/** Routes shared by the baselines and the troupe app: the cheapest possible answers. */
export const HELLO = 'Hello, world!';
