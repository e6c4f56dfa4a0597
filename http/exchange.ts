import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHead, ResponseHead } from '../actors/host/fetch-app.js';
import type { Dispatcher, RequestOptions } from '../actors/types.js';
import { move } from '../actors/wire/move.js';
import type { Affinity } from './options.js';
import type { RequestLog } from './request-log.js';
import { answerFor, describe } from './status.js';

/** What an exchange needs from the front that owns it. */
export interface ExchangeHost {
  readonly dispatcher: Dispatcher;
  readonly affinity: Affinity | undefined;
  /** A node of a cluster: the load balancer in front chose this node, so requests run here. */
  readonly pinned: boolean;
  readonly maxBody: number;
  readonly origin: string;
  readonly log: RequestLog | undefined;
  report(line: string): void;
  ended(exchange: Exchange): void;
}

const HOST = /^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

/** nginx's code for "the client closed the connection before the answer": only in the access log. */
const CLIENT_GONE = 499;

/**
 * One HTTP request, from its head to its last byte: handed whole to one request actor through
 * `dispatcher.stream()`. The first chunk back is the response head; every other chunk is body. The
 * response is written with backpressure (a slow client slows the actor, through the stream's credits).
 */
export class Exchange {
  private readonly t0 = performance.now();
  private actor: number | undefined;
  private overLimit = false;
  /** The client closed the connection before the response was complete. */
  private left = false;
  private logged = false;
  private it: AsyncIterator<unknown> | undefined;
  /** What the log says when it is not what the client got: an abort after the head went out. */
  private logStatus: number | undefined;

  constructor(
    private readonly host: ExchangeHost,
    private readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {}

  start(hasBody: boolean): void {
    const { req, host } = this;
    const url = req.url ?? '/';
    const head: RequestHead = {
      method: req.method ?? 'GET',
      url: url.startsWith('/') ? `${this.origin()}${url}` : url,
      headers: req.rawHeaders,
    };
    // No options object (and no AbortSignal: a client that leaves is handled by onClose) unless needed.
    let options: RequestOptions | undefined;
    const key = this.key();
    if (key !== undefined) options = { key };
    if (this.host.pinned) (options ??= {}).local = true;
    // An incoming trace continues: the request's span becomes a child of the caller's.
    const traceparent = req.headers.traceparent;
    if (typeof traceparent === 'string') (options ??= {}).traceparent = traceparent;
    if (hasBody) (options ??= {}).body = this.body();
    this.it = host.dispatcher.stream<unknown>(head, options);
    this.res.once('close', this.onClose);
    void this.run(this.it);
  }

  /**
   * 'close' before 'finish': the client left. Leaving the stream cancels the request (queued: dropped;
   * running: the actor's ctx.signal aborts and its response stream is ended). The exchange ends here,
   * not in run(): a stream left while a next() is pending may never settle that next().
   */
  private readonly onClose = (): void => {
    if (!this.res.writableFinished) {
      this.left = true;
      this.leave();
    }
    this.finish();
    // Counted out only now that every byte went to the socket (or the socket is gone): a drain that
    // closed connections at the last end() could cut off a response still being flushed.
    this.host.ended(this);
  };

  private leave(): void {
    void this.it?.return?.()?.catch(() => {});
  }

  /** Cuts the exchange off (grace expired): the client sees an aborted connection, the actor a cancel. */
  cut(): void {
    this.res.destroy();
    this.leave();
  }

  /**
   * The request URL's origin comes from the Host header, as apps expect (virtual hosts, absolute links),
   * but only a well-formed one: `Host: a.com/x?` would otherwise move the path the app routes on.
   */
  private origin(): string {
    const h = this.req.headers.host;
    return h !== undefined && HOST.test(h) ? `http://${h}` : this.host.origin;
  }

  private key(): string | undefined {
    const a = this.host.affinity;
    if (a === undefined) return undefined;
    if (a.from === 'header') {
      const v = this.req.headers[a.name];
      return typeof v === 'string' && v !== '' ? v : undefined;
    }
    return cookie(this.req.headers.cookie, a.name);
  }

  /**
   * The request body, pulled only as fast as the actor reads it: the router takes the next chunk when it
   * has credit, and an unpulled IncomingMessage stops reading its socket, so TCP slows the client down.
   */
  private async *body(): AsyncGenerator<Uint8Array> {
    let total = 0;
    // destroyOnReturn false: an app that answers without reading its body must not kill the connection.
    for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      if (total > this.host.maxBody) {
        this.refuseBody();
        throw new Error('The request body is larger than --max-body.');
      }
      // A copy of exactly this chunk: Node's chunks are views into a larger socket buffer, which would
      // be cloned whole (or pinned); the copy is ours alone, so it is moved rather than copied again.
      yield move(new Uint8Array(chunk));
    }
  }

  private refuseBody(): void {
    this.overLimit = true;
    if (!this.res.headersSent) tooLarge(this.res);
    else this.res.destroy();
    this.leave();
  }

  private async run(it: AsyncIterator<unknown>): Promise<void> {
    const res = this.res;
    try {
      let step = await it.next();
      if (step.done) throw new Error('The app ended its response before sending a response head.');
      const h = step.value as ResponseHead;
      if (typeof h?.status !== 'number' || !Array.isArray(h.headers)) {
        // An app with handle() and no fetch(): the actor ran handle() with the request head as payload.
        throw new TypeError(
          'The app did not answer with a response: troupe serve needs an app whose default export has fetch(request, ctx).',
        );
      }
      this.actor = h.actor;
      if (res.destroyed || this.overLimit) {
        await it.return?.();
        return;
      }
      if (h.statusText) res.writeHead(h.status, h.statusText, h.headers);
      else res.writeHead(h.status, h.headers);
      if (h.body !== undefined) {
        res.end(h.body);
        await it.next(); // the stream's end, already on its way in the same batch
        return;
      }
      for (;;) {
        step = await it.next();
        if (step.done) break;
        if (!res.write(step.value as Uint8Array)) await drainOrClose(res);
        if (res.destroyed) {
          await it.return?.();
          return;
        }
      }
      res.end();
    } catch (err) {
      this.fail(err);
      void it.return?.()?.catch(() => {});
    } finally {
      this.finish();
    }
  }

  private fail(err: unknown): void {
    const res = this.res;
    // A handler's error names its actor: the log line says where it failed.
    if (this.actor === undefined && typeof (err as { actorId?: unknown })?.actorId === 'number')
      this.actor = (err as { actorId: number }).actorId;
    // Answered already (413, or the whole body was out before the stream's end failed), or nobody to answer.
    if (this.overLimit || this.left || res.destroyed || res.writableEnded) return;
    const answer = answerFor(err);
    if (answer.report) {
      this.host.report(`${this.req.method} ${this.req.url} → ${answer.status}: ${describe(err)}`);
    }
    if (res.headersSent) {
      this.logStatus = answer.status;
      // Part of the body is out: end the connection abruptly (no final chunk, or short of Content-Length),
      // so that no client can take a truncated body for a complete one.
      res.destroy();
      return;
    }
    const body = `${answer.status === 500 ? 'Internal Server Error' : statusText(answer.status)}\n`;
    res.writeHead(answer.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...answer.headers,
    });
    res.end(body);
  }

  private finish(): void {
    if (this.logged) return;
    this.logged = true;
    const res = this.res;
    const status = this.logStatus ?? (res.writableEnded ? res.statusCode : CLIENT_GONE);
    this.host.log?.write(
      this.req.method ?? '-',
      this.req.url ?? '/',
      status,
      performance.now() - this.t0,
      this.actor,
    );
  }
}

function statusText(status: number): string {
  switch (status) {
    case 502:
      return 'Bad Gateway: the request actor was lost';
    case 503:
      return 'Service Unavailable: try again later';
    case 504:
      return 'Gateway Timeout: the request took too long';
    default:
      return String(status);
  }
}

/** 413 with Connection: close: the rest of the body is not worth reading. */
export function tooLarge(res: ServerResponse): void {
  const body = 'Payload Too Large: the request body is larger than the server accepts\n';
  res.shouldKeepAlive = false;
  res.writeHead(413, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The value of one cookie, without a full parser: names are exact, values may be quoted. */
export function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v === '' ? undefined : v;
  }
  return undefined;
}
