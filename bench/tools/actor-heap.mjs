// What `--no-incremental-marking` would do to an actor whose app churns a large heap: a worker thread
// fills a cache of 1.5 million entries, then for 12 s makes request garbage and replaces a third of what
// it makes in the cache (old objects die, new ones live on). Prints its heap at the end, its full
// collections (the longest three) and its event-loop delay, once with node's settings and once with the
// flag given to this process, in a child each: V8 flags are the whole process's, actors included.
//   node bench/tools/actor-heap.mjs
import { spawnSync } from 'node:child_process';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const here = fileURLToPath(import.meta.url);

if (!isMainThread) {
  const cache = new Map();
  for (let i = 0; i < 1_500_000; i++) cache.set(i, { id: i, name: `item-${i}`, tags: [i, i + 1] });
  const fullPauses = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.detail?.kind === 4) fullPauses.push(e.duration);
  }).observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const end = Date.now() + 12_000;
  let n = 0;
  const turn = () => {
    for (let j = 0; j < 200; j++, n++) {
      const garbage = { a: new Array(20).fill(n), s: `req-${n}` };
      if (n % 3 === 0) cache.set(1_500_000 + (n % 200_000), garbage);
    }
    if (Date.now() < end) {
      setImmediate(turn);
      return;
    }
    fullPauses.sort((a, b) => b - a);
    parentPort.postMessage(
      `heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB; full collections ${fullPauses.length}` +
        ` (longest ${
          fullPauses
            .slice(0, 3)
            .map((p) => `${p.toFixed(1)} ms`)
            .join(', ') || '—'
        });` +
        ` event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`,
    );
  };
  turn();
} else if (process.argv[2] === 'child') {
  const w = new Worker(here);
  w.once('message', (line) => {
    console.log(`${process.execArgv.join(' ') || "node's settings"}: ${line}`);
    process.exit(0);
  });
} else {
  for (const flags of [[], ['--no-incremental-marking']]) {
    spawnSync(process.execPath, [...flags, here, 'child'], { stdio: 'inherit' });
  }
}
