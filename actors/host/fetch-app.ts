import type { App, RequestContext } from '../types.js';
import { move } from '../wire/move.js';
import { HEAD_BODY, HEAD_HEADERS, HEAD_STATUS, type RequestHead, type ResponseHead } from './heads.js';
import { installLightRequest, LightRequest } from './light-request.js';
import { installLightResponse, LightResponse } from './light-response.js';

export type { RequestHead, ResponseHead } from './heads.js';

const NativeResponse = globalThis.Response;

/**
 * Worker side of `troupe serve`: turns a fetch-style app (`app.fetch(request, ctx)`, Hono included) into a
 * troupe stream handler. The payload is the request head, the body arrives on `ctx.body`; the handler
 * streams back the response head first, then the body chunks. Everything here runs in a request actor.
 */

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
  return [response.status, response.statusText, headers, actor];
}

/**
 * What a fetch-style app gets as `ctx` (Hono's `c.env`): the documented RequestContext fields, not the
 * actor's own record of the request (its credits, its stream, its wake-up), which an app must not see
 * or change.
 */
class HttpContext implements RequestContext {
  readonly actorId: number;
  readonly config: RequestContext['config'];
  readonly configVersion: number;
  readonly state: unknown;
  readonly body: AsyncIterable<unknown> | undefined;
  readonly traceparent: string | undefined;
  readonly #req: RequestContext;

  constructor(req: RequestContext) {
    this.#req = req;
    this.actorId = req.actorId;
    this.config = req.config;
    this.configVersion = req.configVersion;
    this.state = req.state;
    this.body = req.body;
    this.traceparent = req.traceparent;
  }

  get signal(): AbortSignal {
    return this.#req.signal;
  }

  get node(): string | undefined {
    return this.#req.node;
  }
}

/** The context an HTTP app sees for the actor's request record. */
export function httpContext(req: RequestContext): RequestContext {
  return new HttpContext(req);
}

/** Responses made by this thread's `new Response()` / `Response.json()` are light; the rest are real. */
export function installWebObjects(): void {
  installLightRequest();
  installLightResponse();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The stream handler for a fetch-style app. A response whose body is whole when it is made comes back as
 * a one-element array: the host sends it without an await, in one message with Content-Length. Only a
 * streamed body goes through an async generator.
 */
export function adaptFetchApp(app: App) {
  const fetch = app.fetch!.bind(app);
  return function handleFetch(head: RequestHead, req: RequestContext): unknown {
    const ctx = new HttpContext(req);
    const result = fetch(new LightRequest(head, ctx) as unknown as Request, ctx);
    if (isThenable(result)) return result.then((response) => answer(response, head, ctx));
    return answer(result, head, ctx);
  };
}

function answer(
  response: unknown,
  head: RequestHead,
  ctx: RequestContext,
): Iterable<unknown> | AsyncIterable<unknown> {
  if (!(response instanceof NativeResponse)) {
    throw new TypeError(`The app's fetch() must return a Response, got ${typeof response}.`);
  }
  const whole = LightResponse.whole(response);
  if (whole === undefined) return streamed(response, head, ctx);
  const headers = whole.headers;
  const out: ResponseHead = [whole.status, '', headers, ctx.actorId];
  // HEAD keeps the app's headers (Content-Length included) but never a body.
  const [method] = head;
  if (method === 'HEAD') return [out];
  const body = whole.body;
  if (!hasLength(headers) && !NO_BODY.has(whole.status)) {
    headers.push(
      'content-length',
      String(body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength),
    );
  }
  out[HEAD_BODY] = body ?? EMPTY;
  return [out];
}

const NO_BODY = new Set([204, 304]);

function hasLength(flat: string[]): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'content-length') return true;
  return false;
}

/** A real Response (a stream, a Blob, one from fetch()...): read through its body stream. */
async function* streamed(
  response: Response,
  head: RequestHead,
  ctx: RequestContext,
): AsyncGenerator<unknown> {
  const out = headOf(response, ctx.actorId);
  const [method] = head;
  if (response.body === null || method === 'HEAD') {
    await response.body?.cancel();
    if (response.body === null && method !== 'HEAD') {
      // No body: Content-Length 0 (as for a light response), unless the status has no body at all.
      const headers = out[HEAD_HEADERS];
      if (!hasLength(headers) && !NO_BODY.has(out[HEAD_STATUS])) headers.push('content-length', '0');
      out[HEAD_BODY] = EMPTY;
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
      out[HEAD_BODY] = EMPTY;
      if (addLength) out[HEAD_HEADERS].push('content-length', '0');
      yield out;
      return;
    }
    pending = reader.read();
    const second = await readSoon(pending);
    if (second !== TICK && second.done) {
      out[HEAD_BODY] = own(first.value);
      if (addLength) out[HEAD_HEADERS].push('content-length', String(first.value.byteLength));
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
