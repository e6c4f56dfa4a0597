/**
 * The task the Piscina peer runs on its worker threads: the benchmark's CPU work, so the peer pays what a
 * user pays to move a handler's heavy part off the event loop with a pool. `work` keeps the loop in a
 * frame of its own (see work.ts), as in every other server.
 */
export { work as default } from './work.js';
