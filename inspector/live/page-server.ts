import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { allowed, cookieName } from './access.js';
import { Assets } from './assets.js';

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

export interface PageSource {
  host: string;
  port: number;
  token: string | undefined;
  /** Why a write is refused (405), e.g. "a recording is read-only". */
  readOnly: string;
  /** Routes with their own access rules, answered before the page's door; true when it answered. */
  before?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** The page's JSON API by path: each answer's body. */
  api: Record<string, () => string | Promise<string>>;
  /** The event stream's first message (`hello`). */
  hello(): unknown;
  /** Live frames after the hello: calls `send` with each batch, returns how to stop; none for a recording. */
  follow?(send: (batch: unknown) => void): () => void;
}

export interface PageServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The inspector page's server, for the live inspector and a recording alike: the page's own files, its
 * JSON API, the event stream, and one door (token or loopback, the token's cookie, reads only). Nothing is
 * fetched from anywhere else: the page works on machines with no way out.
 */
export async function servePage(source: PageSource): Promise<PageServer> {
  const { token } = source;
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
    if (source.before !== undefined && (await source.before(req, res, url))) return;
    if (!gate(req, res, url)) return;
    if (url.pathname === '/api/events') return openStream(req, res);
    const api = source.api[url.pathname];
    if (api !== undefined) return send(res, 200, 'application/json', await api());
    const asset = assets.get(url.pathname);
    if (asset === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'Not found.\n');
    const { type, body } = await asset;
    send(res, 200, type, req.method === 'HEAD' ? '' : body);
  }

  /** The token (or loopback), the token's cookie for the page's own requests, and reads only. */
  function gate(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const cookie = cookieName((server.address() as AddressInfo).port);
    if (!allowed(req, url, token, cookie)) {
      send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: this inspector needs its token (?token=…).\n');
      return false;
    }
    if (token !== undefined && url.searchParams.has('token')) {
      res.setHeader(
        'set-cookie',
        `${cookie}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      );
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', `Method not allowed: ${source.readOnly}.\n`);
      return false;
    }
    return true;
  }

  /** Server-sent events: `hello`, then (live) `frames` batches as they happen. */
  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    res.write(sse('hello', source.hello()));
    viewers.add(res);
    const stop = source.follow?.((batch) => {
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
      stop?.();
      clearInterval(beat);
      viewers.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(source.port, source.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`,
    async close(): Promise<void> {
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
