// Where an idle dispatcher sends a lone request: back to the actor used last, or the next one.
// Interleaves raw postMessage ping-pong and troupe request in blocks of 500 and prints median ratios,
// for actors: 1 and 2. Run after `npm run build`: node bench/tools/idle-ties.mjs
// (To see the alternative, make pickLeastLoaded's `from` rotate in actors/router-core.ts and rebuild.)
import { Worker } from 'node:worker_threads';
import { createDispatcher } from '../../dist/index.js';

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const payload = { op: 'echo', a: 1, b: 'hello' };

for (const actors of [1, 2]) {
  const w = new Worker(new URL('../workers/raw-echo.mjs', import.meta.url));
  let reply;
  w.on('message', (m) => reply(m));
  const raw = (p) =>
    new Promise((r) => {
      reply = r;
      w.postMessage(p);
    });
  const d = await createDispatcher({ app: new URL('../apps/echo.mjs', import.meta.url), actors });
  const block = async (f, n) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await f(payload);
    return ((performance.now() - t) / n) * 1000;
  };
  const ratios = [];
  for (let b = 0; b < 60; b++) {
    const r = await block(raw, 500);
    ratios.push((await block((p) => d.request(p), 500)) / r);
  }
  console.log(`actors ${actors}: troupe round trip / raw, median of 60 blocks: ${median(ratios).toFixed(3)}`);
  await d.close();
  await w.terminate();
}
