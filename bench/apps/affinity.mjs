// The troupe app of the affinity case: the same per-key work and per-thread LRU as the pools' task.
import serve from '../workers/affinity.mjs';

export default {
  handle: serve,
};
