// Raw stream baseline: on `{ n, size }`, push n chunks one `postMessage` each, then `null` as the end.
// size 0: a small object chunk; size > 0: a fresh ArrayBuffer of that size, transferred (not copied),
// the same chunks the troupe stream app yields. No credits, no backpressure: the raw port's best case.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', ({ n, size }) => {
  for (let i = 0; i < n; i++) {
    if (size === 0) parentPort.postMessage({ i, v: 'chunk' });
    else {
      const buf = new ArrayBuffer(size);
      parentPort.postMessage(buf, [buf]);
    }
  }
  parentPort.postMessage(null);
});
