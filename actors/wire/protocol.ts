/**
 * The data plane: small tagged messages with integer ids on each actor's own port.
 *
 * Every message is a triple `[tag, a, b]`, and a batch is those triples laid end to end in one flat array:
 * cloning one flat array costs less than an array of objects, and one `postMessage` per event-loop turn
 * carries everything that turn produced (a message costs about the same whatever it holds; see the
 * README's performance section). A request's start, chunks, credits, cancel and end all travel on the same
 * port, which is what keeps them ordered (there is no ordering across ports).
 *
 * Both directions are typed: a tag union per direction, and a field map that gives `a` and `b` their types
 * for each tag. The outbox takes only fields that match their tag, and each side's decoder is a `switch`
 * the compiler checks for a missing case.
 */

/** Router → actor. */
export const ToActor = {
  /** [START, id, payload]: request mode. */
  START: 1,
  /** [START_STREAM, id, payload]: stream mode, the handler returns an iterable. */
  START_STREAM: 2,
  /** [START_BODY, id, payload]: request mode with a streamed body (ctx.body). */
  START_BODY: 3,
  /** [START_STREAM_BODY, id, payload]: stream mode with a streamed body. */
  START_STREAM_BODY: 4,
  /** [CREDIT, id, n]: the consumer can take n more chunks. */
  CREDIT: 5,
  /** [CANCEL, id, reason]: abort ctx.signal, end the iterator. */
  CANCEL: 6,
  /** [BODY_CHUNK, id, chunk]. */
  BODY_CHUNK: 7,
  /** [BODY_END, id, errorMessage | undefined]. */
  BODY_END: 8,
  /** [COMMIT, version, 0]: the prepared config version is now current. */
  COMMIT: 9,
  /** [PREPARE, version, change]: apply a config change, keep serving the old version. */
  PREPARE: 10,
  /** [ABORT, version, 0]: undo a prepared change another actor rejected. */
  ABORT: 11,
  /** [TRACE, id, traceparent]: the request starting next runs under this W3C trace context. */
  TRACE: 12,
} as const;

/** Actor → router. */
export const ToRouter = {
  /** [RESULT, id, value]. */
  RESULT: 20,
  /** [ERROR, id, WireError]. */
  ERROR: 21,
  /** [CHUNK, id, chunk]. */
  CHUNK: 22,
  /** [END, id, 0]. */
  END: 23,
  /** [BODY_CREDIT, id, n]: the handler can take n more body chunks. */
  BODY_CREDIT: 24,
  /** [STATE, stateName, configVersion]. */
  STATE: 25,
  /** [INSPECT, event, 0]. */
  INSPECT: 26,
  /** [PREPARED, version, WireError | 0]. */
  PREPARED: 27,
  /** [ABORTED, version, WireError | 0]. */
  ABORTED: 28,
  /** [LAST, id, chunk]: a stream's only or last chunk and its end in one message (CHUNK, then END). */
  LAST: 29,
} as const;

export type ToActorTag = (typeof ToActor)[keyof typeof ToActor];
export type ToRouterTag = (typeof ToRouter)[keyof typeof ToRouter];

export const {
  START,
  START_STREAM,
  START_BODY,
  START_STREAM_BODY,
  CREDIT,
  CANCEL,
  BODY_CHUNK,
  BODY_END,
  COMMIT,
  PREPARE,
  ABORT,
  TRACE,
} = ToActor;
export const { RESULT, ERROR, CHUNK, END, BODY_CREDIT, STATE, INSPECT, PREPARED, ABORTED, LAST } = ToRouter;

/** Why a request was cancelled (the CANCEL reason). */
export const CancelReason = { ABORT: 0, TIMEOUT: 1, CONSUMER_LEFT: 2, DRAIN: 3 } as const;
export type CancelReason = (typeof CancelReason)[keyof typeof CancelReason];
export const {
  ABORT: CANCEL_ABORT,
  TIMEOUT: CANCEL_TIMEOUT,
  CONSUMER_LEFT: CANCEL_CONSUMER_LEFT,
  DRAIN: CANCEL_DRAIN,
} = CancelReason;

/** What kind of failure an ERROR carries, so the router rebuilds the right error class. */
export const ErrorKind = { HANDLER: 0, CLONE: 1, CANCELLED: 2 } as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];
export const { HANDLER: E_HANDLER, CLONE: E_CLONE, CANCELLED: E_CANCELLED } = ErrorKind;

export interface WireError {
  kind: ErrorKind;
  name: string;
  message: string;
  code: string | undefined;
  stack: string | undefined;
}

/** The two fields `[a, b]` each router → actor tag carries. */
export interface ToActorFields {
  [START]: readonly [id: number, payload: unknown];
  [START_STREAM]: readonly [id: number, payload: unknown];
  [START_BODY]: readonly [id: number, payload: unknown];
  [START_STREAM_BODY]: readonly [id: number, payload: unknown];
  [CREDIT]: readonly [id: number, n: number];
  [CANCEL]: readonly [id: number, reason: CancelReason];
  [BODY_CHUNK]: readonly [id: number, chunk: unknown];
  [BODY_END]: readonly [id: number, errorMessage: string | undefined];
  [COMMIT]: readonly [version: number, unused: 0];
  [PREPARE]: readonly [version: number, change: Record<string, unknown>];
  [ABORT]: readonly [version: number, unused: 0];
  [TRACE]: readonly [id: number, traceparent: string];
}

/** The two fields `[a, b]` each actor → router tag carries. */
export interface ToRouterFields {
  [RESULT]: readonly [id: number, value: unknown];
  [ERROR]: readonly [id: number, error: WireError];
  [CHUNK]: readonly [id: number, chunk: unknown];
  [END]: readonly [id: number, unused: 0];
  [BODY_CREDIT]: readonly [id: number, n: number];
  [STATE]: readonly [state: string, configVersion: number];
  [INSPECT]: readonly [event: unknown, unused: 0];
  [PREPARED]: readonly [version: number, error: WireError | 0];
  [ABORTED]: readonly [version: number, error: WireError | 0];
  [LAST]: readonly [id: number, chunk: unknown];
}

/** A field map: each tag's `[a, b]`. */
export type FieldMap<F> = { [K in keyof F]: readonly [unknown, unknown] };

/** The START variant for a request: stream mode or not, with a streamed body or not. */
export function startTag(stream: boolean, body: boolean): StartTag {
  if (stream) return body ? START_STREAM_BODY : START_STREAM;
  return body ? START_BODY : START;
}
export type StartTag = typeof START | typeof START_STREAM | typeof START_BODY | typeof START_STREAM_BODY;

/** Tags whose first field is a request id: a failed message drops its request's later messages in a batch. */
export function isRequestScoped(tag: number): boolean {
  return (tag >= START && tag <= BODY_END) || (tag >= RESULT && tag <= BODY_CREDIT) || tag === LAST;
}

/** For a decoder's `default:` case: the compiler proves every tag is handled; at run time it is a no-op. */
export function unhandled(_tag: never): void {}

/**
 * Chunks a stream may run ahead of its consumer; credits come back in halves of this. Large enough that
 * the port stays busy while the consumer keeps up, small enough that a stopped consumer's backlog stays
 * small (bench/tools/stream-window.mjs measures the trade-off).
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

/**
 * The plain-data form of whatever a handler threw. Thrown values can be anything, some hostile to look at
 * (no prototype, a `toString` or getter that throws, a revoked Proxy): every read is guarded, so the
 * actor's error path itself never throws, and the request gets an error rather than the thread dying.
 */
export function toWireError(kind: ErrorKind, err: unknown): WireError {
  let isError = false;
  try {
    isError = err instanceof Error;
  } catch {
    // A revoked Proxy throws even on instanceof.
  }
  if (isError) {
    const e = err as Error;
    const code = read(e, 'code');
    return {
      kind,
      name: text(read(e, 'name'), 'Error'),
      message: text(read(e, 'message'), ''),
      code: typeof code === 'string' ? code : undefined,
      stack: typeof read(e, 'stack') === 'string' ? (read(e, 'stack') as string) : undefined,
    };
  }
  return { kind, name: 'Error', message: describe(err), code: undefined, stack: undefined };
}

function read(o: object, key: string): unknown {
  try {
    return (o as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/** A thrown non-Error as text, for the error message: `String()` where it works, a label where not. */
export function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    try {
      return `a thrown ${Object.prototype.toString.call(value)} that cannot be turned into text`;
    } catch {
      return 'a thrown value that cannot be turned into text';
    }
  }
}
