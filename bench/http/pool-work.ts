/**
 * The task the Piscina peer runs on its worker threads: the benchmark's CPU work, so the peer pays what a
 * user pays to move a handler's heavy part off the event loop with a pool.
 *
 * The work runs in a frame of its own. Called directly, V8 inlines a function this small into Piscina's
 * async message handler, where its loop runs markedly slower than in the other servers (the pool's
 * threads then spend far more CPU per task than the work takes elsewhere; `--no-turbo-inlining` on the
 * peer's process removes the difference). A user's real task is rarely small enough to be inlined, so
 * the peer would be measured on a JIT accident of the benchmark's work function instead of on its
 * design. A call site that has seen many functions (megamorphic) is never inlined by V8.
 */
import { spin } from './work.js';

function callOutOfLine(f: (n: number) => number, n: number): number {
  return f(n);
}
const others = [(n: number) => n + 1, (n: number) => n + 2, (n: number) => n + 3, (n: number) => n + 4];
for (let i = 0; i < 1000; i++) callOutOfLine(others[i % others.length]!, i);
callOutOfLine(spin, 1);

export default function work(iterations: number): number {
  return callOutOfLine(spin, iterations);
}
