// Stream throughput against a raw port pushing the same chunks, interleaved, at the built STREAM_WINDOW.
// To compare windows, change STREAM_WINDOW in actors/protocol.ts, `npm run build`, and run again:
//   node bench/tools/stream-window.mjs
import { Worker } from 'node:worker_threads';
import { STREAM_WINDOW } from '../../dist/actors/protocol.js';
import { createDispatcher } from '../../dist/index.js';

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const w = new Worker(new URL('../workers/raw-chunks.mjs', import.meta.url));
let done;
w.on('message', (m) => {
  if (m === null) done();
});
const raw = (spec) =>
  new Promise((r) => {
    done = r;
    w.postMessage(spec);
  });
const d = await createDispatcher({ app: new URL('../apps/echo.mjs', import.meta.url), actors: 2 });
const drain = async (spec) => {
  for await (const _ of d.stream({ op: 'chunks', ...spec })) {
    // Take each chunk and drop it, as the raw consumer does.
  }
};
for (const spec of [
  { n: 1024, size: 0 },
  { n: 64, size: 65536 },
]) {
  const rs = [];
  const ts = [];
  for (let i = 0; i < 40; i++) {
    let t = performance.now();
    await raw(spec);
    rs.push(performance.now() - t);
    t = performance.now();
    await drain(spec);
    ts.push(performance.now() - t);
  }
  const kind = spec.size ? '64 KiB chunks' : 'small chunks';
  console.log(
    `window ${STREAM_WINDOW}, ${kind}: troupe speed / raw port = ${(median(rs) / median(ts)).toFixed(2)}`,
  );
}
await d.close();
await w.terminate();
