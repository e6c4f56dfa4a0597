import { IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestContext } from '../types.js';
import { move } from '../wire/move.js';
import { httpContext } from './fetch-app.js';
import { HEAD_BODY, type RequestHead, type ResponseHead } from './heads.js';
import { nodeHeaders } from './node-headers.js';
import { ActorSocket, type SocketSink } from './node-socket.js';

/**
 * Worker side of `troupe serve` for Node-style apps, written against `(req, res)`: a `node:http` request
 * listener, an Express app, `koa.callback()` (or the Koa app), a Fastify instance. Inside the actor the
 * request is a real `IncomingMessage` fed from the streamed body, and the response a real
 * `ServerResponse` whose socket hands the bytes to the actor's response stream; both keep Node's
 * backpressure (`push()` / `_read()`, `write()` / 'drain'). The app runs unchanged.
 */

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Finds the request listener of a Node-style app, or undefined when `candidate` is none. */
export async function nodeListenerOf(candidate: unknown): Promise<RequestListener | undefined> {
  if (candidate instanceof Server) {
    const [listener] = candidate.listeners('request');
    return listener as RequestListener | undefined;
  }
  // An Express app, `koa.callback()`, or any `(req, res)` function.
  if (typeof candidate === 'function') return candidate as RequestListener;
  if (candidate === null || typeof candidate !== 'object') return undefined;
  const app = candidate as Record<string, unknown>;
  // Fastify: routes are registered once ready(); `routing` is what its own server calls.
  if (typeof app.routing === 'function' && typeof app.ready === 'function') {
    await (app.ready as () => Promise<unknown>).call(app);
    return (app.routing as RequestListener).bind(app);
  }
  // Koa: callback() builds the listener (and composes the middleware once).
  if (typeof app.callback === 'function' && Array.isArray(app.middleware)) {
    return (app.callback as () => RequestListener).call(app);
  }
  return undefined;
}

/** Connection-level headers are the front's to write; Date too (it adds its own). */
const DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'date']);
/** Bytes the app may write ahead of the actor's response stream before `write()` returns false. */
const HIGH_WATER = 64 * 1024;

const storeHeader = (ServerResponse.prototype as unknown as Record<string, (...a: unknown[]) => void>)
  ._storeHeader!;

/** Stores the head as Node does, then leaves the body unframed: the front frames it (chunked or not). */
function storeHeaderUnframed(this: ServerResponse & { chunkedEncoding: boolean }, ...args: unknown[]): void {
  storeHeader.apply(this, args);
  this.chunkedEncoding = false;
}

/**
 * A ServerResponse whose framing is left to the front: the head is read from what Node stored, and the
 * body leaves unframed (the front picks Content-Length or chunked, as it does for fetch apps). The hook
 * is an own property: Express swaps the prototype of every response for its own.
 */
class ActorResponse extends ServerResponse {
  constructor(req: IncomingMessage) {
    super(req);
    this.sendDate = false;
    (this as unknown as Record<string, unknown>)._storeHeader = storeHeaderUnframed;
  }
}

/**
 * A chunk to send: a view into a larger buffer (Node's pooled Buffers) is cut to a copy of its own, which
 * nobody else holds and so is moved; a whole buffer may still be the app's, so it is copied on the way.
 */
function own(chunk: Uint8Array): Uint8Array {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : move(chunk.slice());
}

function pathOf(url: string): string {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash === -1 ? '/' : url.slice(slash);
}

type Step = IteratorResult<unknown>;

/**
 * The response as the actor's stream sees it: the socket's bytes in, `[head, chunk, ...]` out. The head
 * comes from the header Node stored; when the app ended the response in the same turn as it began it
 * (`res.end(body)`, `res.json()`, `ctx.body = ...`), the whole body rides in the head.
 */
class NodeResponseStream implements SocketSink, AsyncIterator<unknown> {
  private head: ResponseHead | undefined;
  private headTaken = false;
  /** Chars of the stored header not yet seen on the socket (it may arrive with the first body bytes). */
  private headerLeft = -1;
  private readonly chunks: (string | Uint8Array)[] = [];
  private readonly encodings: (BufferEncoding | undefined)[] = [];
  private queued = 0;
  private needDrain = false;
  private ended = false;
  private error: Error | undefined;
  private waiting: { resolve: (s: Step) => void; reject: (e: Error) => void } | undefined;
  private scheduled = false;
  private watching = false;

  constructor(
    readonly res: ServerResponse,
    private readonly socket: ActorSocket,
    private readonly ctx: RequestContext,
  ) {
    res.once('finish', () => {
      this.ended = true;
      this.schedule();
      // Node emits 'close' after 'finish' once the response left; frameworks wait for it.
      process.nextTick(() => {
        (res as unknown as { destroyed: boolean }).destroyed = true;
        res.emit('close');
      });
    });
  }

  write(
    data: string | Uint8Array,
    encoding: BufferEncoding | undefined,
    done: (() => void) | undefined,
  ): boolean {
    if (done !== undefined) process.nextTick(done);
    if (this.head === undefined) {
      const header = (this.res as unknown as { _header: string | null })._header;
      // Written before the head: an informational answer (100 Continue, 103), which the front does not relay.
      if (header === null || header === undefined) return true;
      this.head = this.parseHead(header);
      this.headerLeft = header.length;
    }
    if (this.headerLeft > 0) {
      const n = typeof data === 'string' ? data.length : data.byteLength;
      const skip = Math.min(this.headerLeft, n);
      this.headerLeft -= skip;
      if (skip === n) {
        this.schedule();
        return true;
      }
      data = data.slice(skip);
    }
    const size = typeof data === 'string' ? data.length : data.byteLength;
    if (size === 0) return true;
    this.chunks.push(data);
    this.encodings.push(encoding);
    this.queued += size;
    this.schedule();
    if (this.queued < HIGH_WATER) return true;
    this.needDrain = true;
    return false;
  }

  room(): number {
    return HIGH_WATER - this.queued;
  }

  destroyed(error: Error | undefined): void {
    if (!this.ended) this.error ??= error ?? new Error('The app destroyed the response before it ended.');
    this.ended = true;
    this.schedule();
  }

  private parseHead(header: string): ResponseHead {
    const res = this.res;
    const headers: string[] = [];
    const lines = header.split('\r\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') break;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      if (DROPPED.has(name.toLowerCase())) continue;
      headers.push(name, line.slice(colon + 1).trim());
    }
    const status = res.statusCode;
    const text = res.statusMessage;
    return [status, text === STATUS_CODES[status] ? '' : text, headers, this.ctx.actorId];
  }

  /** Results are handed over after the current tick: by then a `res.end(body)` has finished too. */
  private schedule(): void {
    if (this.scheduled || this.waiting === undefined) return;
    this.scheduled = true;
    process.nextTick(this.deliver);
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const w = this.waiting;
    if (w === undefined) return;
    const step = this.take();
    if (step === undefined) return;
    this.waiting = undefined;
    if (step instanceof Error) w.reject(step);
    else w.resolve(step);
  };

  /** The next step if there is one now (an Error to throw), else undefined. */
  private take(): Step | Error | undefined {
    if (!this.headTaken) {
      if (this.error !== undefined && this.head === undefined) return this.error;
      if (this.head === undefined) return undefined;
      this.headTaken = true;
      const head = this.head;
      // end() has run (it writes synchronously): everything the app will write is here.
      if (this.res.writableEnded && this.error === undefined) {
        this.ended = true;
        if (this.res.req?.method !== 'HEAD') head[HEAD_BODY] = this.whole();
      }
      return { value: head, done: false };
    }
    if (this.chunks.length > 0) {
      const data = this.chunks.shift()!;
      const encoding = this.encodings.shift();
      this.queued -= typeof data === 'string' ? data.length : data.byteLength;
      if (this.needDrain && this.queued < HIGH_WATER / 2) {
        this.needDrain = false;
        process.nextTick(() => this.res.emit('drain'));
      }
      const bytes = typeof data === 'string' ? move(new Uint8Array(Buffer.from(data, encoding))) : own(data);
      return { value: bytes, done: false };
    }
    if (this.error !== undefined) return this.error;
    if (this.ended) return { value: undefined, done: true };
    return undefined;
  }

  /** Everything written, as one string when it was one utf8 string (the front writes it with the head). */
  private whole(): string | Uint8Array {
    const chunks = this.chunks;
    const encodings = this.encodings;
    let body: string | Uint8Array;
    if (chunks.length === 0) body = new Uint8Array(0);
    else if (chunks.length === 1 && typeof chunks[0] === 'string' && isUtf8(encodings[0])) body = chunks[0];
    else {
      const parts = chunks.map((c, i) => (typeof c === 'string' ? Buffer.from(c, encodings[i]) : c));
      body = own(Buffer.concat(parts));
    }
    if (typeof body !== 'string') body = own(body);
    chunks.length = 0;
    encodings.length = 0;
    this.queued = 0;
    return body;
  }

  next(): Promise<Step> {
    const step = this.take();
    if (step instanceof Error) return Promise.reject(step);
    if (step !== undefined) return Promise.resolve(step);
    this.watchCancel();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** The actor's stream was left (client gone, timeout): the app sees its socket close. */
  return(): Promise<Step> {
    this.abandon(undefined);
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  /**
   * Only a response that has to wait watches ctx.signal (reading it makes an AbortController): a client
   * that leaves, or a timeout, closes the app's socket and ends the stream.
   */
  private watchCancel(): void {
    if (this.watching) return;
    this.watching = true;
    const signal = this.ctx.signal;
    const onAbort = () => {
      this.error ??= signal.reason instanceof Error ? signal.reason : new Error('The request was cancelled.');
      this.abandon(this.error);
      this.ended = true;
      this.schedule();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  /** As node:http does when a client goes: the request is aborted, the socket (and response) closed. */
  private abandon(error: Error | undefined): void {
    const req = this.res.req;
    if (req !== undefined && !req.destroyed) {
      const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      req.destroy(aborted);
    }
    this.socket.destroy(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function isUtf8(encoding: BufferEncoding | undefined): boolean {
  return encoding === undefined || encoding === 'utf8' || encoding === 'utf-8';
}

/** The IncomingMessage the app reads: head from the front, body fed from ctx.body with backpressure. */
function toIncoming(head: RequestHead, ctx: RequestContext, socket: ActorSocket): IncomingMessage {
  const [method, url, raw] = head;
  const req = new IncomingMessage(socket as unknown as Socket);
  req.method = method;
  req.url = pathOf(url);
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  req.rawHeaders = raw;
  req.headers = nodeHeaders(raw);
  const body = ctx.body as AsyncIterable<Uint8Array> | undefined;
  if (body === undefined) {
    req.complete = true;
    req.push(null);
  } else {
    void feed(req, body);
  }
  return req;
}

async function feed(req: IncomingMessage, body: AsyncIterable<Uint8Array>): Promise<void> {
  let wake: (() => void) | undefined;
  // IncomingMessage asks its socket for more; here, more is the next chunk from the front.
  req._read = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  try {
    for await (const chunk of body) {
      if (req.destroyed) return;
      if (!req.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    }
    req.complete = true;
    req.push(null);
  } catch (err) {
    req.destroy(err as Error);
  }
}

/**
 * The stream handler for a Node-style app. Each request gets its own IncomingMessage, ServerResponse and
 * socket; the handler returns the response stream at once and the app writes into it when it likes.
 */
export function adaptNodeApp(listener: RequestListener) {
  return function handleNode(head: RequestHead, req: RequestContext): unknown {
    const ctx = httpContext(req);
    const [, , , address, port] = head;
    let stream: NodeResponseStream | undefined;
    const socket = new ActorSocket(
      {
        write: (data, encoding, done) => stream!.write(data, encoding, done),
        destroyed: (error) => stream?.destroyed(error),
        room: () => stream!.room(),
      },
      address,
      port,
    );
    const incoming = toIncoming(head, ctx, socket);
    const res = new ActorResponse(incoming);
    stream = new NodeResponseStream(res, socket, ctx);
    res.assignSocket(socket as unknown as Socket);
    const result = listener(incoming, res);
    // An async listener that rejects: answer as for a throw, rather than leave the response open.
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as Promise<unknown>).then === 'function'
    ) {
      (result as Promise<unknown>).then(undefined, (err: unknown) => {
        if (!res.headersSent) stream!.destroyed(err instanceof Error ? err : new Error(String(err)));
        else socket.destroy(err as Error);
      });
    }
    return stream;
  };
}
