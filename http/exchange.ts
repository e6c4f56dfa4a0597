import {
  HEAD_ACTOR,
  HEAD_BODY,
  HEAD_HEADERS,
  HEAD_STATUS,
  HEAD_TEXT,
  type RequestHead,
  type ResponseHead,
} from '../actors/host/heads.js';
import { ResponseStream } from '../actors/router/pending.js';
import type { Dispatcher, RequestOptions } from '../actors/types.js';
import { move } from '../actors/wire/move.js';
import { STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../actors/wire/protocol.js';
import type { FrontRequest, FrontResponse } from './front-types.js';
import type { Affinity } from './options.js';
import type { RequestLog } from './request-log.js';
import { routeOf } from './route-of.js';
import { answerFor, describe } from './status.js';

/** What an exchange needs from the front that owns it. */
export interface ExchangeHost {
  readonly dispatcher: StreamingDispatcher;
  readonly affinity: Affinity | undefined;
  readonly maxBody: number;
  readonly origin: string;
  readonly log: RequestLog | undefined;
  report(line: string): void;
  ended(exchange: Exchange): void;
}

const HOST = /^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

/** nginx's code for "the client closed the connection before the answer": only in the access log. */
const CLIENT_GONE = 499;

/** The internal entry point the front needs: the dispatcher fills the exchange, no promise per chunk. */
export interface StreamingDispatcher extends Dispatcher {
  streamInto(payload: unknown, options: RequestOptions | undefined, into: ResponseStream<unknown>): void;
}

export function canStreamInto(d: Dispatcher): d is StreamingDispatcher {
  return typeof (d as Partial<StreamingDispatcher>).streamInto === 'function';
}

const EXCHANGE = Symbol('troupe.exchange');
type Tagged = FrontResponse & { [EXCHANGE]: Exchange };

// One listener function for every response (no closure per request): the exchange rides on the response.
function onResponseClose(this: Tagged): void {
  this[EXCHANGE].closed();
}
function onResponseDrain(this: Tagged): void {
  this[EXCHANGE].drained();
}

/**
 * One HTTP request, from its head to its last byte, handed whole to one request actor. The exchange is
 * the response stream itself: the router pushes the actor's chunks into it as they arrive, the first one
 * the response head (with the whole body when it was ready at once), the others body chunks, written
 * as they come. Backpressure: chunks are credited back to the actor only as the socket takes them, so a
 * slow client slows the actor.
 */
export class Exchange extends ResponseStream<unknown> {
  /** Its number on this front, for the table of exchanges in flight. */
  readonly id = ++exchanges;
  private readonly t0: number;
  private actor: number | undefined;
  private overLimit = false;
  /** The client closed the connection before the response was complete. */
  private left = false;
  private logged = false;
  private headDone = false;
  /** What the log says when it is not what the client got: an abort after the head went out. */
  private logStatus: number | undefined;
  /** Chunks (and their bytes) written since the last credit went back. */
  private owed = 0;
  private owedBytes = 0;
  private blocked = false;

  constructor(
    private readonly host: ExchangeHost,
    private readonly req: FrontRequest,
    readonly res: FrontResponse,
    private readonly hasBody: boolean,
  ) {
    super();
    this.t0 = host.log === undefined ? 0 : performance.now();
    (res as Tagged)[EXCHANGE] = this;
    res.on('close', onResponseClose);
  }

  start(): void {
    const { req, host } = this;
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const head: RequestHead = [
      method,
      url.startsWith('/') ? `${this.origin()}${url}` : url,
      req.rawHeaders,
      req.socket.remoteAddress,
      req.socket.remotePort,
    ];
    // No options object (and no AbortSignal: a client that leaves is handled by closed()) unless needed.
    let options: RequestOptions | undefined;
    const key = this.key();
    if (key !== undefined) options = { key };
    // An incoming trace continues: the request's span becomes a child of the caller's.
    const common = req.common;
    const traceparent = common !== undefined ? common.traceparent : req.headers.traceparent;
    if (typeof traceparent === 'string') (options ??= {}).traceparent = traceparent;
    if (this.hasBody) (options ??= {}).body = this.body();
    // Requests of one route (method and path, ids as :id) cost alike: the router learns what each costs
    // and keeps cheap requests off an actor that a heavy one is about to hold.
    this.route = routeOf(method, url);
    host.dispatcher.streamInto(head, options, this);
  }

  /**
   * 'close' before 'finish': the client left. Leaving the stream cancels the request (queued: dropped;
   * running: the actor's ctx.signal aborts and its response stream is ended).
   */
  closed(): void {
    if (!this.res.writableFinished) {
      this.left = true;
      this.leave();
    }
    this.finish();
    // Counted out only now that every byte went to the socket (or the socket is gone): a drain that
    // closed connections at the last end() could cut off a response still being flushed.
    this.host.ended(this);
  }

  private leave(): void {
    void this.return();
  }

  /** Cuts the exchange off (grace expired): the client sees an aborted connection, the actor a cancel. */
  cut(): void {
    // The log says what happened to the request, not the 200 of a head that went out before the cut.
    if (!this.res.writableEnded) this.logStatus ??= answerFor({ code: 'ERR_TROUPE_CLOSED' }).status;
    this.res.destroy();
    this.leave();
  }

  // ── what the router pushes ───────────────────────────────────────────────────────────────────────

  override push(chunk: unknown): void {
    if (!this.headDone) {
      this.headDone = true;
      this.writeHead(chunk as ResponseHead);
      return;
    }
    const res = this.res;
    if (res.destroyed) return;
    const bytes = chunk as Uint8Array;
    this.owed++;
    this.owedBytes += bytes.byteLength;
    if (res.write(bytes)) this.release();
    else this.blocked = true;
  }

  override end(): void {
    if (!this.headDone) {
      this.fail(new Error('The app ended its response before sending a response head.'));
      return;
    }
    const res = this.res;
    if (!res.writableEnded && !res.destroyed) res.end();
    this.finish();
  }

  override fail(err: Error): void {
    this.answerError(err);
    this.finish();
  }

  /** The socket took what was written: credit the actor once half a window was written. */
  drained(): void {
    this.blocked = false;
    this.release();
  }

  private release(): void {
    if (this.blocked || (this.owed < STREAM_WINDOW / 2 && this.owedBytes < STREAM_WINDOW_BYTES / 2)) return;
    this.credit(this.owed);
    this.owed = 0;
    this.owedBytes = 0;
  }

  private writeHead(h: ResponseHead): void {
    if (!Array.isArray(h) || typeof h[HEAD_STATUS] !== 'number' || !Array.isArray(h[HEAD_HEADERS])) {
      // An app with handle() and no fetch(): the actor ran handle() with the request head as payload.
      this.leave();
      this.fail(
        new TypeError(
          'The app did not answer with a response: troupe serve needs an app whose default export has fetch(request, ctx).',
        ),
      );
      return;
    }
    this.actor = h[HEAD_ACTOR];
    const res = this.res;
    if (res.destroyed || this.overLimit) {
      this.leave();
      return;
    }
    const text = h[HEAD_TEXT];
    if (text) res.writeHead(h[HEAD_STATUS], text, h[HEAD_HEADERS]);
    else res.writeHead(h[HEAD_STATUS], h[HEAD_HEADERS]);
    const body = h[HEAD_BODY];
    if (body !== undefined) res.end(body);
    else res.on('drain', onResponseDrain);
  }

  /**
   * The request URL's origin comes from the Host header, as apps expect (virtual hosts, absolute links),
   * but only a well-formed one: `Host: a.com/x?` would otherwise move the path the app routes on.
   */
  private origin(): string {
    const common = this.req.common;
    const h = common !== undefined ? common.host : this.req.headers.host;
    if (h === undefined) return this.host.origin;
    if (h === lastHost) return lastOrigin;
    if (!HOST.test(h)) return this.host.origin;
    lastHost = h;
    lastOrigin = `http://${h}`;
    return lastOrigin;
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

  private answerError(err: unknown): void {
    const res = this.res;
    // Answered already (413, or the whole body was out before the stream's end failed), or nobody to answer.
    if (this.overLimit || this.left || res.destroyed || res.writableEnded) return;
    // A handler's error names its actor: the log line says where it failed.
    if (this.actor === undefined && typeof (err as { actorId?: unknown })?.actorId === 'number')
      this.actor = (err as { actorId: number }).actorId;
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
    const log = this.host.log;
    if (log === undefined) return;
    const res = this.res;
    const status = this.logStatus ?? (res.writableEnded ? res.statusCode : CLIENT_GONE);
    // An error before the head still ran on an actor (or was queued for one): say which.
    log.write(
      this.req.method ?? '-',
      this.req.url ?? '/',
      status,
      performance.now() - this.t0,
      this.actor ?? this.actorSlot,
    );
  }
}

let exchanges = 0;

/** The last well-formed Host header and its origin: a front mostly sees one host. */
let lastHost: string | undefined;
let lastOrigin = '';

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
export function tooLarge(res: FrontResponse): void {
  const body = 'Payload Too Large: the request body is larger than the server accepts\n';
  res.shouldKeepAlive = false;
  res.writeHead(413, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
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
