/**
 * The peers: the same routes on `node:http` in one process, single-threaded or under `node:cluster`.
 *   node dist/bench/http/baseline.js <single|cluster> <hono|raw|pool|socket> <port> <processes> <cpuIterations> <heavyIterations>
 * `hono` runs the very app troupe serves (app.ts) on `@hono/node-server`, what a user of a fetch-style
 * app runs without troupe. `raw` answers with `res.end()` directly, the floor of what node:http costs.
 * `pool` is `hono` with the CPU work of /cpu and /heavy sent to a Piscina pool of <processes> threads:
 * what a user runs to keep heavy handlers off the event loop without troupe. `socket` is no HTTP server
 * at all: node:net reads each request head and writes fixed response bytes (hello only), the least a
 * Node process can spend per request on this machine's sockets.
 * Prints `listening <port>` once every process accepts connections.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createSocketServer, type Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Piscina } from 'piscina';
import type { RequestContext } from '../../actors/types.js';
import app from './app.js';
import { HELLO, work } from './work.js';

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
      res.end(String(work(config.cpuIterations)));
      return;
    case '/heavy':
      res.writeHead(200, TEXT);
      res.end(String(work(config.heavyIterations)));
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

/** The hello answer as node:http writes it, bytes fixed once (the Date header is left out). */
const FIXED = Buffer.from(
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(HELLO)}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n${HELLO}`,
);

/** One fixed answer per request head; enough for the load generator's GETs, which carry no body. */
function socket(conn: Socket): void {
  let pending = '';
  conn.setNoDelay(true);
  conn.on('error', () => {});
  conn.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
      pending = pending.slice(end + 4);
      conn.write(FIXED);
    }
  });
}

function pooled(): (req: IncomingMessage, res: ServerResponse) => void {
  const threads = Number(procsText);
  const pool = new Piscina({
    filename: new URL('./pool-work.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
  });
  const offload = async (iterations: number) =>
    new Response(String(await pool.run(iterations)), { headers: TEXT });
  return getRequestListener((request) => {
    const path = request.url.slice(request.url.indexOf('/', 8));
    if (path === '/cpu') return offload(config.cpuIterations);
    if (path === '/heavy') return offload(config.heavyIterations);
    return app.fetch!(request, ctx as never);
  });
}

function serve(onListening: () => void): void {
  if (handler === 'socket') {
    createSocketServer(socket).listen(port, '127.0.0.1', onListening);
    return;
  }
  // getRequestListener is what @hono/node-server's serve() puts on createServer.
  const onRequest =
    handler === 'raw'
      ? raw
      : handler === 'pool'
        ? pooled()
        : getRequestListener((request) => app.fetch!(request, ctx as never));
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
