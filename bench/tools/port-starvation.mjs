// Shows why a control message can wait behind a busy data port in the same worker: Node drains a
// MessagePort's queue, messages that arrive meanwhile included, up to max(queue, 1000) per wakeup before
// it lets another port (or anything else) run. A data port that never empties starves the control port.
//
//   node bench/tools/port-starvation.mjs [in-flight on the data port, default 4]
//
// A worker echoes data messages after a 0.1 ms busy spin (a request) and control messages at once; the
// main thread keeps `n` data messages in flight and times control pings, idle and with the data port busy.
import { MessageChannel, Worker } from 'node:worker_threads';

const worker = `
  const { parentPort, workerData } = require('node:worker_threads');
  parentPort.on('message', (m) => {
    const end = performance.now() + 0.1;
    while (performance.now() < end);
    parentPort.postMessage(m);
  });
  workerData.control.on('message', (m) => workerData.control.postMessage(m));
`;

const inFlight = Number(process.argv[2] ?? 4);
const { port1, port2 } = new MessageChannel();
const w = new Worker(worker, { eval: true, workerData: { control: port2 }, transferList: [port2] });
let running = true;
w.on('message', (m) => {
  if (running) w.postMessage(m);
});
const ping = () =>
  new Promise((resolve) => {
    const t = performance.now();
    port1.once('message', () => resolve(performance.now() - t));
    port1.postMessage(1);
  });
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1].toFixed(3);

for (let i = 0; i < 20; i++) await ping();
const idle = [];
for (let i = 0; i < 50; i++) idle.push(await ping());
for (let i = 0; i < inFlight; i++) w.postMessage(i);
await new Promise((resolve) => setTimeout(resolve, 50));
const busy = [];
for (let i = 0; i < 30; i++) busy.push(await ping());
running = false;
console.log(
  `control ping median: idle ${median(idle)} ms; data port busy (${inFlight} × 0.1 ms requests in flight) ${median(busy)} ms`,
);
process.exit(0);
