/**
 * The peers: the same routes on `node:http` in one process, single-threaded or under `node:cluster`.
 *   node dist/bench/http/baseline.js <single|cluster> <hono|raw> <port> <processes> <cpuIterations> <heavyIterations>
 * `hono` runs the very app troupe serves (app.ts) on `@hono/node-server`, what a user of a fetch-style
 * app runs without troupe. `raw` answers with `res.end()` directly, the floor of what node:http costs.
 * Prints `listening <port>` once every process accepts connections.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { RequestContext } from '../../actors/types.js';
import app from './app.js';
import { HELLO, spin } from './work.js';

const [mode = 'single', handler = 'hono', portText = '0', procsText = '1', cpuText = '0', heavyText = '0'] =
  process.argv.slice(2);
const port = Number(portText);
const config = Object.freeze({ cpuIterations: Number(cpuText), heavyIterations: Number(heavyText) });
const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

function raw(req: IncomingMessage, res: ServerResponse): void {
  switch (req.url) {
    case '/hello':
    case '/cheap':
      res.writeHead(200, TEXT);
      res.end(HELLO);
      return;
    case '/cpu':
      res.writeHead(200, TEXT);
      res.end(String(spin(config.cpuIterations)));
      return;
    case '/heavy':
      res.writeHead(200, TEXT);
      res.end(String(spin(config.heavyIterations)));
      return;
    default:
      res.writeHead(404);
      res.end();
  }
}

/** What the app reads from its context: the same frozen config troupe gives its actors. */
const ctx = {
  actorId: 0,
  config,
  configVersion: 1,
  state: undefined,
  body: undefined,
} as unknown as RequestContext;

function serve(onListening: () => void): void {
  // getRequestListener is what @hono/node-server's serve() puts on createServer.
  const onRequest =
    handler === 'raw' ? raw : getRequestListener((request) => app.fetch!(request, ctx as never));
  createServer(onRequest).listen(port, '127.0.0.1', onListening);
}

if (mode === 'cluster' && cluster.isPrimary) {
  const n = Number(procsText);
  let ready = 0;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++ready === n) process.stdout.write(`listening ${port}\n`);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else if (mode === 'cluster') {
  serve(() => {});
} else {
  serve(() => process.stdout.write(`listening ${port}\n`));
}
