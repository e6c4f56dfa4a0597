/**
 * The baselines: the same routes on `node:http` in one process, single-threaded or under `node:cluster`.
 *   node dist/bench/http/baseline.js <single|cluster> <fetch|raw> <port> <processes> <cpuIterations> <heavyIterations>
 * `fetch` runs the very app troupe serves (app.ts) through the very adapter the actors use
 * (http/fetch-app.ts), in-process: the same handler, minus the thread hop. `raw` answers with
 * `res.end()` directly, the floor of what node:http costs. Prints `listening <port>` once every process
 * accepts connections.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { adaptFetchApp, type RequestHead, type ResponseHead } from '../../actors/host/fetch-app.js';
import type { RequestContext } from '../../actors/types.js';
import app from './app.js';
import { HELLO, spin } from './work.js';

const [mode = 'single', handler = 'fetch', portText = '0', procsText = '1', cpuText = '0', heavyText = '0'] =
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

const handleFetch = adaptFetchApp(app);

async function viaFetch(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const head: RequestHead = {
    method: req.method ?? 'GET',
    url: `http://${req.headers.host}${req.url}`,
    headers: req.rawHeaders,
  };
  const ctx = {
    actorId: 0,
    config,
    configVersion: 1,
    state: undefined,
    body: undefined,
    signal: abort.signal,
  };
  let first = true;
  for await (const item of handleFetch(head, ctx as unknown as RequestContext)) {
    if (first) {
      first = false;
      const h = item as ResponseHead;
      res.writeHead(h.status, h.headers);
      if (h.body !== undefined) {
        res.end(h.body);
        return;
      }
    } else if (!res.write(item as Uint8Array)) {
      await new Promise((r) => res.once('drain', r));
    }
  }
  res.end();
}

function serve(onListening: () => void): void {
  const onRequest =
    handler === 'raw' ? raw : (req: IncomingMessage, res: ServerResponse) => void viaFetch(req, res);
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
