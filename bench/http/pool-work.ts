/**
 * The task the Piscina peer runs on its worker threads: the benchmark's CPU work, nothing else, so the
 * peer pays what a user pays to move a handler's heavy part off the event loop with a pool.
 */
import { spin } from './work.js';

export default function work(iterations: number): number {
  return spin(iterations);
}
