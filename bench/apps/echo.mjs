// The troupe app every bench case loads: an echo, plus the few extra behaviours the cases need, chosen by
// the payload's `op` so that one warmed-up app serves every case. The plain echo is checked first and
// does nothing else, so that the round trip measures troupe, not the app.
import { getHeapStatistics } from 'node:v8';
import { move } from 'troupe';

/** 64 KiB of fresh memory per large chunk, given away with move() so it is transferred, as the raw chunk pusher does. */
function* chunks(n, size) {
  for (let i = 0; i < n; i++) yield size === 0 ? { i, v: 'chunk' } : move(new ArrayBuffer(size));
}

function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

export default {
  init() {
    return { configured: 0 };
  },

  handle(payload, ctx) {
    const op = payload.op;
    if (op === 'echo') return payload;
    switch (op) {
      // Busy work, to keep actors loaded while a config change rolls out.
      case 'spin':
        spin(payload.ms);
        return payload;
      // Stays in flight until `ms` pass, to count the memory a request in flight holds.
      case 'hold':
        return new Promise((resolve) => setTimeout(resolve, payload.ms, 0));
      // The actor's own heap, collected first when the bench exposed gc (it sets --expose-gc for the process).
      case 'heap':
        globalThis.gc?.();
        return getHeapStatistics().used_heap_size;
      // Stream mode: dispatcher.stream({ op: 'chunks', n, size }).
      case 'chunks':
        return chunks(payload.n, payload.size);
      case 'config':
        return { version: ctx.configVersion, configured: ctx.state.configured };
      default:
        throw new Error(`echo app: unknown op ${op}`);
    }
  },

  configure(_change, ctx) {
    ctx.state.configured++;
  },
};
