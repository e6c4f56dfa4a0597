import type { App, RequestContext } from '../types.js';
import { move } from '../wire/move.js';

/**
 * Worker side of `troupe serve`: turns a fetch-style app (`app.fetch(request, ctx)`, Hono included) into a
 * troupe stream handler. The payload is the request head, the body arrives on `ctx.body`; the handler
 * streams back the response head first, then the body chunks. Everything here runs in a request actor.
 */

/** What the HTTP front sends for each request: cheap to clone (strings only). */
export interface RequestHead {
  method: string;
  url: string;
  /** Node's `rawHeaders`: names and values in one flat list, repeated names kept (cookies). */
  headers: string[];
}

/** The first chunk of every response stream. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** Flat `[name, value, name, value, ...]`, the form `res.writeHead` takes; one entry per Set-Cookie. */
  headers: string[];
  /** The actor that ran the request, for the access log. */
  actor: number;
  /**
   * The whole body, when it was ready at once (the common case): the front then answers with
   * Content-Length in a single write, and the response costs one data-plane message instead of three.
   */
  body?: Uint8Array;
}

// Framing is the front's job (node:http picks Content-Length or chunked); an app's own value would lie.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade']);
const EMPTY = new Uint8Array(0);
const TICK = Symbol('tick');
const SOON_TURNS = 8;
type Read = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/**
 * Resolves with the read if it settles within a few microtask turns, else with TICK (the read stays
 * pending). A body made from a string, a buffer or JSON is readable in two turns (undici), so it is
 * known whole at once; a stream that waits for I/O or a timer is not, and its head leaves without waiting.
 * Microtasks rather than setImmediate: no timer per response, and no wait for the loop's check phase.
 */
async function readSoon(pending: Promise<Read>): Promise<Read | typeof TICK> {
  let result: Read | undefined;
  let error: unknown;
  let failed = false;
  pending.then(
    (r) => {
      result = r;
    },
    (e: unknown) => {
      failed = true;
      error = e;
    },
  );
  for (let i = 0; i < SOON_TURNS && result === undefined && !failed; i++) await null;
  if (failed) throw error;
  return result ?? TICK;
}

/**
 * A chunk sent between threads: a view into a larger buffer would clone the whole buffer, so it is cut to
 * a copy of its own, which nobody else holds and so may be moved. A whole buffer may still belong to the
 * app (a body it keeps and serves again), so it is copied, never moved.
 */
function own(chunk: Uint8Array): Uint8Array {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : move(chunk.slice());
}

function headOf(response: Response, actor: number): ResponseHead {
  const headers: string[] = [];
  for (const [name, value] of response.headers) {
    if (!HOP_BY_HOP.has(name)) headers.push(name, value);
  }
  return { status: response.status, statusText: response.statusText, headers, actor };
}

const CTX = Symbol('troupe.ctx');

/**
 * The app's Request, whose `signal` is troupe's `ctx.signal` itself (aborted when the client leaves, the
 * request times out or the actor drains). Passing `signal` to the constructor instead would make two
 * AbortSignals and a listener per request, for a signal most handlers never read; `ctx.signal` is only
 * made when read. (undici declares `signal` as a field, hence defineProperty rather than a getter.)
 */
class ActorRequest extends Request {
  [CTX]: RequestContext;
  constructor(url: string, init: RequestInit, ctx: RequestContext) {
    super(url, init);
    this[CTX] = ctx;
  }
}
Object.defineProperty(ActorRequest.prototype, 'signal', {
  configurable: true,
  get(this: ActorRequest) {
    return this[CTX].signal;
  },
});

function toRequest(head: RequestHead, ctx: RequestContext): Request {
  const headers = new Headers();
  const raw = head.headers;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const init: RequestInit & { duplex?: 'half' } = { method: head.method, headers };
  if (ctx.body !== undefined) {
    init.body = ReadableStream.from(ctx.body as AsyncIterable<Uint8Array>);
    init.duplex = 'half';
  }
  return new ActorRequest(head.url, init, ctx);
}

function plain(status: number, text: string, actor: number): ResponseHead {
  const body = new TextEncoder().encode(`${text}\n`);
  return {
    status,
    statusText: '',
    headers: ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.byteLength)],
    actor,
    body,
  };
}

export function adaptFetchApp(app: App) {
  const fetch = app.fetch!.bind(app);
  return async function* handleFetch(head: RequestHead, ctx: RequestContext): AsyncGenerator<unknown> {
    let request: Request;
    try {
      request = toRequest(head, ctx);
    } catch {
      // An unparsable Host or method: the client's fault, not the app's.
      yield plain(400, 'Bad Request', ctx.actorId);
      return;
    }
    const response = await fetch(request, ctx);
    if (!(response instanceof Response)) {
      throw new TypeError(`The app's fetch() must return a Response, got ${typeof response}.`);
    }
    const out = headOf(response, ctx.actorId);
    if (response.body === null || head.method === 'HEAD') {
      // HEAD keeps the app's headers (Content-Length included) but never a body.
      await response.body?.cancel();
      if (response.body === null && head.method !== 'HEAD' && !response.headers.has('content-length')) {
        out.body = EMPTY;
      }
      yield out;
      return;
    }
    const reader = response.body.getReader();
    let complete = false;
    try {
      yield* bodyChunks(reader, out, !response.headers.has('content-length'), ctx);
      complete = true;
    } finally {
      // On an error, or when the front left (client gone), stop the app's stream. A body read to its end
      // needs nothing: releasing the lock costs more than letting the reader go.
      if (!complete) reader.cancel().catch(() => {});
    }
  };
}

/**
 * Yields the head, then the body. If the body is complete within this loop turn it rides in the head
 * (one message, Content-Length); otherwise the head leaves at once so that a stream or an SSE client sees
 * it, and every chunk follows as soon as the app writes it.
 */
async function* bodyChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  out: ResponseHead,
  addLength: boolean,
  ctx: RequestContext,
): AsyncGenerator<unknown> {
  let pending = reader.read();
  const first = await readSoon(pending);
  if (first !== TICK) {
    if (first.done) {
      out.body = EMPTY;
      if (addLength) out.headers.push('content-length', '0');
      yield out;
      return;
    }
    pending = reader.read();
    const second = await readSoon(pending);
    if (second !== TICK && second.done) {
      out.body = own(first.value);
      if (addLength) out.headers.push('content-length', String(first.value.byteLength));
      yield out;
      return;
    }
    yield out;
    if (first.value.byteLength > 0) yield own(first.value);
  } else {
    yield out;
  }
  // A streamed body: a client that leaves aborts ctx.signal, and cancelling the reader at once ends the
  // app's stream (its cancel() runs) even while it waits for its next event, not after that event.
  const onAbort = () => void reader.cancel(ctx.signal.reason).catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await pending;
      if (done) return;
      if (value.byteLength > 0) yield own(value);
      pending = reader.read();
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}
