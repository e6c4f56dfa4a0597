/**
 * The data plane: small tagged messages with integer ids on each actor's own port.
 *
 * Every message is a triple `[tag, a, b]`, and a batch is those triples laid end to end in one flat array:
 * cloning one flat array costs less than an array of objects, and one `postMessage` per event-loop turn
 * carries everything that turn produced (design.md: a message costs ~1.5 µs whatever it holds).
 * A request's start, chunks, credits, cancel and end all travel on the same port, which is what keeps
 * them ordered (there is no ordering across ports).
 */

// main → actor
export const START = 1; // [START, id, payload]            request mode
export const START_STREAM = 2; // [START_STREAM, id, payload]  stream mode: the handler returns an iterable
export const START_BODY = 3; // [START_BODY, id, payload]      request mode with a streamed body (ctx.body)
export const START_STREAM_BODY = 4; // stream mode with a streamed body
export const CREDIT = 5; // [CREDIT, id, n]                  the consumer can take n more chunks
export const CANCEL = 6; // [CANCEL, id, reason]             abort ctx.signal, end the iterator
export const BODY_CHUNK = 7; // [BODY_CHUNK, id, chunk]
export const BODY_END = 8; // [BODY_END, id, errorMessage | undefined]
export const COMMIT = 9; // [COMMIT, version, 0]            the prepared config version is now current
export const PREPARE = 10; // [PREPARE, version, change]     apply a config change, keep serving the old version
export const ABORT = 11; // [ABORT, version, 0]              undo a prepared change another actor rejected

// actor → main
export const RESULT = 20; // [RESULT, id, value]
export const ERROR = 21; // [ERROR, id, WireError]
export const CHUNK = 22; // [CHUNK, id, chunk]
export const END = 23; // [END, id, 0]
export const BODY_CREDIT = 24; // [BODY_CREDIT, id, n]        the handler can take n more body chunks
export const STATE = 25; // [STATE, stateName, configVersion]
export const INSPECT = 26; // [INSPECT, event, 0]
export const PREPARED = 27; // [PREPARED, version, WireError | 0]
export const ABORTED = 28; // [ABORTED, version, WireError | 0]

/**
 * Chunks a stream may run ahead of its consumer; credits come back in halves of this. Measured with
 * bench/tools/stream-window.mjs on the 2-core machine (small object chunks, one stream, speed against a
 * raw port): a window of 16 gave 0.40x, 64 gave 0.76-0.89x (128: 0.9x in one run). 64 keeps a stopped
 * consumer's backlog small while the port stays busy.
 */
export const STREAM_WINDOW = 64;

/** Bytes of binary chunks a stream may run ahead of its consumer: caps a slow consumer's backlog at 1 MiB. */
export const STREAM_WINDOW_BYTES = 1024 * 1024;

/** Size of a binary chunk (0 for other values): what counts against STREAM_WINDOW_BYTES. */
export function byteSize(chunk: unknown): number {
  if (chunk instanceof ArrayBuffer) return chunk.byteLength;
  if (ArrayBuffer.isView(chunk)) return chunk.byteLength;
  return 0;
}

/** Why a request was cancelled (the CANCEL reason). */
export const CANCEL_ABORT = 0;
export const CANCEL_TIMEOUT = 1;
export const CANCEL_CONSUMER_LEFT = 2;
export const CANCEL_DRAIN = 3;

/** What kind of failure an ERROR carries, so the router rebuilds the right error class. */
export const E_HANDLER = 0;
export const E_CLONE = 1;
export const E_CANCELLED = 2;

export interface WireError {
  kind: number;
  name: string;
  message: string;
  code: string | undefined;
  stack: string | undefined;
}

export function toWireError(kind: number, err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      kind,
      name: err.name,
      message: err.message,
      code: typeof code === 'string' ? code : undefined,
      stack: err.stack,
    };
  }
  return { kind, name: 'Error', message: String(err), code: undefined, stack: undefined };
}

/**
 * The buffers a chunk can give away. Only whole, non-shared buffers: a view into a larger buffer (such as
 * a pooled Buffer slice) is copied, or transferring it would detach memory that other views still use.
 */
export function transferablesOf(chunk: unknown): ArrayBuffer[] | undefined {
  if (chunk instanceof ArrayBuffer) return [chunk];
  if (ArrayBuffer.isView(chunk)) {
    const buf = chunk.buffer;
    if (buf instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buf.byteLength)
      return [buf];
  }
  return undefined;
}
