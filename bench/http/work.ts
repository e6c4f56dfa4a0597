/**
 * The same CPU work for every server under test: a fixed number of iterations, not a time budget, so
 * that a thread descheduled by the OS still does all of its work (a time-based spin would do less work
 * exactly when the CPU is contended, and flatter whoever is contended most). Servers call it through
 * `work`, below.
 */
export function spin(iterations: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < iterations; i++) {
    h ^= i;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function callOutOfLine(f: (n: number) => number, n: number): number {
  return f(n);
}
// A call site that has seen many functions (megamorphic) is never inlined by V8.
const others = [(n: number) => n + 1, (n: number) => n + 2, (n: number) => n + 3, (n: number) => n + 4];
for (let i = 0; i < 1000; i++) callOutOfLine(others[i % others.length]!, i);

/**
 * `spin` in a frame of its own, whoever calls it. A function this small is inlined by V8 into its caller
 * when the caller is optimized, and when that caller is an async function (a framework's request
 * listener, a pool's message handler) its loop runs markedly slower: whether a server's work was inlined
 * where, which can change when V8 re-optimizes mid-run, then decided its figures instead of its design.
 */
export function work(iterations: number): number {
  return callOutOfLine(spin, iterations);
}

/** Iterations that take about `ms` on this machine (median of several runs, after JIT warm-up). */
export function calibrate(ms: number): number {
  work(5_000_000);
  let n = 1_000_000;
  const samples: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    work(n);
    samples.push((performance.now() - t0) / n);
  }
  samples.sort((a, b) => a - b);
  n = Math.round(ms / samples[3]!);
  return n;
}

/** Routes shared by the baselines and the troupe app: the cheapest possible answers. */
export const HELLO = 'Hello, world!';
