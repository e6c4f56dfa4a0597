// Raw baseline: a bare worker that echoes every message back on its parent port. Nothing between the
// two `postMessage` calls, so it is the floor that every other peer (troupe included) is measured against.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (msg) => parentPort.postMessage(msg));
