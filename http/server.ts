import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { InvalidArgumentError } from '../actors/errors.js';
import type { Dispatcher } from '../actors/types.js';
import { IdTable } from '../actors/wire/id-table.js';
import {
  canStreamInto,
  Exchange,
  type ExchangeHost,
  type StreamingDispatcher,
  tooLarge,
} from './exchange.js';
import { FastConnection, type FastFront } from './fast/connection.js';
import type { FrontRequest, FrontResponse } from './front-types.js';
import type { MetricsRoute } from './metrics-route.js';
import { type Affinity, type ConnectionTimeouts, DEFAULT_TIMEOUTS } from './options.js';
import type { RequestLog } from './request-log.js';

export interface FrontOptions {
  affinity?: Affinity | undefined;
  /** Largest request body in bytes (413 beyond). */
  maxBody: number;
  /** Path of the health route, or null for none. */
  health: string | null;
  log?: RequestLog | undefined;
  /** The Prometheus route, when on. */
  metrics?: MetricsRoute | undefined;
  /** Where operator-facing lines go (errors worth fixing). Default stderr. */
  report?: (line: string) => void;
  /** Client timeouts in ms. Default DEFAULT_TIMEOUTS. */
  timeouts?: ConnectionTimeouts;
  /** Plain requests on the fast path's own parser (http/fast). Default true. */
  fastPath?: boolean;
}

const LIVE_STATES = new Set(['ready', 'serving', 'streaming']);

/**
 * The HTTP front on the main thread: it parses HTTP and moves bytes, nothing else. Every request that is
 * not the health route becomes an Exchange handed whole to one request actor.
 *
 * Connections start on the fast path, which reads plain requests (a common method, no body or a
 * Content-Length one) itself and writes the answers node:http would write; at the first request it does
 * not take, node:http's own connection handling takes the connection over for good. The common request
 * then skips node:http's parser callbacks and its IncomingMessage and ServerResponse streams.
 */
export class HttpFront implements ExchangeHost, FastFront {
  readonly server: Server;
  readonly affinity: Affinity | undefined;
  readonly maxBody: number;
  readonly log: RequestLog | undefined;
  origin = 'http://localhost';
  private readonly health: string | null;
  private readonly metrics: MetricsRoute | undefined;
  /** Exchanges in flight, by id (an IdTable, not a Set: see there why). */
  private readonly active = new IdTable<Exchange>();
  private draining = false;
  private starting: Exchange[] = [];
  private startScheduled = false;
  private idle: (() => void) | undefined;
  private readonly reportLine: (line: string) => void;
  readonly keepAliveTimeout: number;
  readonly headerTimeout: number;
  /** node:http's handler for a new connection, for the connections the fast path hands over. */
  private readonly nodeConnection: ((socket: Socket) => void) | undefined;
  /** The fast path's connections, by id. */
  private readonly fast = new IdTable<FastConnection>();

  readonly dispatcher: StreamingDispatcher;

  constructor(dispatcher: Dispatcher, options: FrontOptions) {
    if (!canStreamInto(dispatcher)) {
      throw new InvalidArgumentError('The HTTP front needs a dispatcher made by createDispatcher().');
    }
    this.dispatcher = dispatcher;
    this.affinity = options.affinity;
    this.maxBody = options.maxBody;
    this.health = options.health;
    this.metrics = options.metrics;
    this.log = options.log;
    this.reportLine = options.report ?? ((line) => process.stderr.write(`troupe: ${line}\n`));
    const t = options.timeouts ?? DEFAULT_TIMEOUTS;
    this.keepAliveTimeout = t.keepAlive;
    this.headerTimeout = t.header;
    this.server = createServer(
      {
        headersTimeout: t.header,
        requestTimeout: t.request,
        keepAliveTimeout: t.keepAlive,
        // Node checks the header and request timeouts on this interval (30 s by default), so a short
        // header timeout needs a shorter one, or a slowloris client keeps its connection that much longer.
        connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(t.header / 4))),
      },
      this.onRequest,
    );
    // Refuse an oversized upload before the client sends it: answer the Expect with 413, not 100 Continue.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (Number(req.headers['content-length']) > this.maxBody) {
        tooLarge(res);
        return;
      }
      res.writeContinue();
      this.onRequest(req, res);
    });
    if (options.fastPath !== false) {
      const [nodeConnection] = this.server.listeners('connection') as ((socket: Socket) => void)[];
      this.nodeConnection = nodeConnection;
      this.server.removeListener('connection', nodeConnection!);
      this.server.on('connection', (socket: Socket) => this.fast.set(new FastConnection(this, socket)));
      // node:http tracks only the connections its own parser serves. These reach the fast path's too, so
      // that the server serve() returns (and server.close(), which closes idle connections) behaves as
      // node's own does.
      const server = this.server;
      const closeAll = server.closeAllConnections.bind(server);
      const closeIdle = server.closeIdleConnections.bind(server);
      server.closeAllConnections = () => {
        closeAll();
        for (const conn of this.fast.list()) conn.socket.destroy();
      };
      server.closeIdleConnections = () => {
        closeIdle();
        for (const conn of this.fast.list()) conn.closeIfIdle();
      };
    }
  }

  ownRoute(url: string): boolean {
    const health = this.health;
    return (
      (health !== null &&
        url.startsWith(health) &&
        (url.length === health.length || url[health.length] === '?')) ||
      this.metrics?.matches(url) === true
    );
  }

  handOff(socket: Socket, unread: Buffer): void {
    this.nodeConnection!.call(this.server, socket);
    // After node:http listens on the socket, so that these bytes reach its parser before any later ones.
    if (unread.length > 0) socket.unshift(unread);
  }

  forget(conn: FastConnection): void {
    this.fast.delete(conn.id);
  }

  /** Opens the port. Call it only once every actor is ready (the dispatcher resolved). */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address() as AddressInfo;
        const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        this.origin = `http://${h}:${addr.port}`;
        resolve(addr);
      });
    });
  }

  get inFlight(): number {
    return this.active.size;
  }

  report(line: string): void {
    this.reportLine(line);
  }

  ended(exchange: Exchange): void {
    this.active.delete(exchange.id);
    if (this.draining) {
      // Keep-alive connections that just went idle would otherwise hold the drain open.
      this.server.closeIdleConnections();
      if (this.active.size === 0) this.idle?.();
    }
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (this.ownRoute(url)) {
      if (this.metrics?.matches(url)) this.metrics.answer(req, res);
      else this.answerHealth(req, res);
      return;
    }
    this.serve(req, res);
  };

  /** Hands a request that is not the front's own route to an actor (both paths end here). */
  serve(req: FrontRequest, res: FrontResponse): void {
    if (this.draining) res.shouldKeepAlive = false;
    let hasBody = false;
    const common = req.common;
    const length = common !== undefined ? common.length : req.headers['content-length'];
    if (length !== undefined) {
      const n = Number(length);
      if (n > this.maxBody) {
        tooLarge(res);
        return;
      }
      hasBody = n > 0;
    } else if (req.headers['transfer-encoding'] !== undefined) {
      hasBody = true;
    }
    const exchange = new Exchange(this, req, res, hasBody);
    this.active.set(exchange);
    this.starting.push(exchange);
    if (!this.startScheduled) {
      this.startScheduled = true;
      setImmediate(this.startAll);
    }
  }

  /**
   * Requests are handed to the actors once per loop turn, after node:http has parsed everything the
   * sockets delivered: every request of the turn then leaves in one message per actor (a message to a
   * thread costs about the same whatever it holds), instead of one message each.
   */
  private readonly startAll = (): void => {
    this.startScheduled = false;
    const starting = this.starting;
    this.starting = [];
    for (const exchange of starting) {
      // Closed meanwhile (the client left, or the drain cut it off): nothing to run.
      if (!exchange.res.destroyed) exchange.start();
    }
  };

  /** 200 when the router runs and at least one actor takes requests; 503 otherwise (and while draining). */
  private answerHealth(req: IncomingMessage, res: ServerResponse): void {
    const snap = this.dispatcher.snapshot();
    const ready =
      !this.draining && snap.state === 'running' && snap.actors.some((a) => LIVE_STATES.has(a.state));
    const body = JSON.stringify({
      status: ready ? 'ready' : 'not ready',
      state: this.draining ? 'draining' : snap.state,
      degraded: snap.degraded,
      configVersion: snap.configVersion,
      inFlight: this.active.size,
      queued: snap.queued,
      actors: snap.actors.map((a) => ({
        id: a.id,
        state: a.state,
        inFlight: a.inFlight,
        served: a.served,
        restarts: a.restarts,
        configVersion: a.configVersion,
        ...(a.error !== undefined ? { error: a.error } : {}),
      })),
      ...(snap.cluster !== undefined ? { cluster: snap.cluster } : {}),
    });
    res.writeHead(ready ? 200 : 503, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * Stops accepting, lets in-flight exchanges finish for up to `graceMs`, then cuts off the rest.
   * Resolves with how many were cut off (0 is a clean drain).
   */
  async drain(graceMs: number): Promise<number> {
    this.draining = true;
    this.server.close();
    this.server.closeIdleConnections();
    for (const ex of this.active.list()) if (!ex.res.headersSent) ex.res.shouldKeepAlive = false;
    if (this.active.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    const cut = this.active.size;
    for (const ex of this.active.list()) ex.cut();
    this.server.closeAllConnections();
    return cut;
  }

  /** A second signal: cut everything off now. */
  cutAll(): void {
    this.idle?.();
  }
}
