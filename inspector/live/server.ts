import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../../actors/errors.js';
import type { Dispatcher, InspectorOptions } from '../../actors/types.js';
import { allowed, cookieName, isLoopback } from './access.js';
import { AdminApi, sendAnswer } from './admin.js';
import { Assets } from './assets.js';
import { configView } from './config-view.js';
import { metricsJson } from './metrics-api.js';
import { type Frame, Recorder } from './recorder.js';

/** A viewer that reads slower than events arrive is dropped past this much unsent data; its page reconnects. */
const MAX_BACKLOG = 4 * 1024 * 1024;
/** Proxies and idle timeouts end quiet connections; a comment line every so often keeps the stream open. */
const HEARTBEAT_MS = 15_000;

export const securityHeaders = {
  // The page loads nothing but its own files, and nobody can frame it.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  // The URL may carry the token: never send it on as a referrer.
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * Serves the live inspector page for one dispatcher. Started by `createDispatcher` when
 * `createDispatcher({ inspector })` is given; closed with it.
 *
 * On 127.0.0.1 by default. Any other interface needs a token: the page shows the dispatcher's
 * inner workings, and the event stream can be read by anyone who can reach the port.
 */
export async function startInspector(
  dispatcher: Dispatcher,
  options: InspectorOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token === undefined || options.token === '' ? undefined : options.token;
  if (!isLoopback(host) && token === undefined) {
    throw new InvalidArgumentError(
      `The inspector would listen on ${host}, which other machines can reach, without a token. ` +
        'Set inspector.token (the page then needs ?token=…), or leave inspector.host unset for 127.0.0.1.',
    );
  }
  const history = options.history ?? 2_000;
  if (!Number.isInteger(history) || history < 10) {
    throw new InvalidArgumentError(`inspector.history must be an integer of at least 10, not ${history}.`);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`inspector.port must be an integer from 0 to 65535, not ${port}.`);
  }
  const showPayloads = options.showPayloads === true;

  const admin = options.admin === undefined ? undefined : new AdminApi(dispatcher, options.admin);
  const recorder = new Recorder(dispatcher, history, showPayloads);
  const assets = new Assets();
  const viewers = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, 'text/plain; charset=utf-8', `inspector error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://inspector.invalid');
    // The admin API has its own bearer tokens and nothing else: the page's cookie never changes config.
    if (admin !== undefined && AdminApi.handles(url.pathname)) {
      sendAnswer(res, await admin.answer(req, url.pathname), req.method === 'HEAD', securityHeaders);
      return;
    }
    if (!gate(req, res, url, token, (server.address() as AddressInfo).port, 'the inspector is read-only'))
      return;
    switch (url.pathname) {
      case '/api/events':
        return openStream(req, res);
      case '/api/snapshot':
        return send(res, 200, 'application/json', JSON.stringify(recorder.snapshot()));
      case '/api/history':
        return send(res, 200, 'application/json', JSON.stringify(recorder.history()));
      case '/api/config':
        return send(
          res,
          200,
          'application/json',
          JSON.stringify(configView(dispatcher, showPayloads, admin)),
        );
      case '/api/metrics':
        return send(res, 200, 'application/json', await metricsJson(dispatcher));
    }
    const asset = assets.get(url.pathname);
    if (asset === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'Not found.\n');
    const { type, body } = await asset;
    send(res, 200, type, req.method === 'HEAD' ? '' : body);
  }

  /** Server-sent events: `hello` (everything recorded so far), then `frames` batches as they happen. */
  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const { base, frames } = recorder.history();
    res.write('retry: 1000\n\n');
    res.write(
      sse('hello', {
        history,
        showPayloads,
        base,
        frames,
        snapshot: recorder.snapshot(),
        pid: process.pid,
        admin: admin !== undefined,
      }),
    );
    viewers.add(res);
    const stop = recorder.onFrames((batch: Frame[]) => {
      if (res.writableLength > MAX_BACKLOG) {
        // Dropping the viewer is simpler and more honest than skipping frames: it reconnects and resyncs.
        res.end();
        return;
      }
      res.write(sse('frames', batch));
    });
    const beat = setInterval(() => res.write(': beat\n\n'), HEARTBEAT_MS);
    beat.unref();
    const done = (): void => {
      stop();
      clearInterval(beat);
      viewers.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    recorder.close();
    throw err;
  });

  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`;

  return {
    url,
    async close(): Promise<void> {
      recorder.close();
      for (const viewer of viewers) viewer.end();
      viewers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets would hold close() open until they time out.
        server.closeAllConnections();
      });
    },
  };
}

/**
 * The page's door, for the live inspector and a replay alike: the token (or loopback), the token's cookie
 * for the page's own requests, and reads only. Answers the refusal itself and returns false.
 */
export function gate(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  token: string | undefined,
  port: number,
  readOnly: string,
): boolean {
  const cookie = cookieName(port);
  if (!allowed(req, url, token, cookie)) {
    send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: this inspector needs its token (?token=…).\n');
    return false;
  }
  if (token !== undefined && url.searchParams.has('token')) {
    res.setHeader('set-cookie', `${cookie}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', `Method not allowed: ${readOnly}.\n`);
    return false;
  }
  return true;
}

export function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    ...securityHeaders,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
