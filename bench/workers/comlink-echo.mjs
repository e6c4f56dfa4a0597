// Comlink peer: one exposed `echo` method per worker, through Comlink's own Node adapter.
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';

expose({ echo: (payload) => payload }, nodeEndpoint(parentPort));
