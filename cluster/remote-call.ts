import { DataCloneError, PayloadTooLargeError } from '../actors/errors.js';
import { removeAbortListener } from '../actors/router/abort.js';
import { ResponseStream } from '../actors/router/pending.js';
import type { ForwardTrace } from '../actors/router/tracing.js';
import type { RequestOptions } from '../actors/types.js';
import { byteSize, STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../actors/wire/protocol.js';
import { encode } from './codec.js';
import type { Control, RequestMessage } from './remote-wire.js';

/** A request this node sent to another one, until its one outcome. */
export interface Call {
  /** Its number on this node: the table of calls in flight is keyed by it. */
  readonly id: number;
  /** Its id on the wire: this node's prefix, then `id`. */
  readonly wireId: string;
  node: string;
  payload: unknown;
  options: RequestOptions | undefined;
  timeout: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  stream: RemoteStream | undefined;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  retried: boolean;
  settled: boolean;
  /** Body chunks sent and not yet credited back, and their sizes, oldest first. */
  bodyAhead: number;
  bodyBytesAhead: number;
  bodySizes: number[];
  bodyWake: (() => void) | undefined;
  bodyIterator: AsyncIterator<unknown> | undefined;
  /** Its span on this node, when the dispatcher traces. */
  trace: ForwardTrace | undefined;
}

/** The consumer side of a stream another node runs: credits and the consumer's leaving go over NATS. */
export class RemoteStream extends ResponseStream {
  onCredit: (n: number) => void = () => {};
  onLeft: () => void = () => {};
  protected override credit(n: number): void {
    this.onCredit(n);
  }
  protected override cancel(): void {
    this.onLeft();
  }
}

/** Where a remote request's body goes: control messages and chunks to its runner, or its own failure. */
export interface BodyOut {
  control(call: Call, message: Control): void;
  publish(call: Call, bytes: Uint8Array): void;
  abort(call: Call, error: Error): void;
  /** The largest message the server takes. */
  maxBytes(): number;
}

/**
 * Feeds a request body to the node that runs it, as that node's actor grants credit (the same window as
 * between threads); stops when the call settles, and closes the caller's source then.
 */
export async function pumpBody(call: Call, body: AsyncIterable<unknown>, out: BodyOut): Promise<void> {
  let it: AsyncIterator<unknown> | undefined;
  try {
    it = body[Symbol.asyncIterator]();
    call.bodyIterator = it;
    for (;;) {
      if (call.settled) break;
      if (call.bodyAhead >= STREAM_WINDOW || call.bodyBytesAhead >= STREAM_WINDOW_BYTES) {
        await new Promise<void>((resolve) => {
          call.bodyWake = resolve;
        });
        continue;
      }
      const step = await it.next();
      if (call.settled) break;
      if (step.done) {
        call.bodyIterator = undefined;
        out.control(call, { id: call.wireId, t: 'bend' });
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = encode({ id: call.wireId, t: 'body', v: step.value } satisfies Control);
      } catch (err) {
        out.abort(call, new DataCloneError('request body chunk', err));
        break;
      }
      const limit = out.maxBytes();
      if (bytes.length > limit) {
        out.abort(call, new PayloadTooLargeError('request body chunk', bytes.length, limit));
        break;
      }
      const size = byteSize(step.value);
      call.bodyAhead++;
      call.bodyBytesAhead += size;
      call.bodySizes.push(size);
      out.publish(call, bytes);
    }
    if (call.bodyIterator === it) {
      call.bodyIterator = undefined;
      await it.return?.();
    }
  } catch (err) {
    if (!call.settled)
      out.control(call, { id: call.wireId, t: 'bend', error: String((err as Error)?.message ?? err) });
  }
}

/**
 * The options a request runs under when it falls back to this node's own actors; `traceparent`: its span
 * here, which the local run's span continues.
 */
export function localOptions(call: Call, traceparent?: string): RequestOptions {
  const { signal, key, retry, route } = call.options ?? {};
  const parent = traceparent ?? call.options?.traceparent;
  return {
    ...(key !== undefined ? { key } : {}),
    ...(route !== undefined ? { route } : {}),
    ...(parent !== undefined ? { traceparent: parent } : {}),
    ...(retry !== undefined ? { retry } : {}),
    ...(signal !== undefined ? { signal } : {}),
    timeout: call.timeout,
  };
}

/** A new call, not yet sent. */
export function newCall(
  wireId: string,
  id: number,
  node: string,
  payload: unknown,
  options: RequestOptions | undefined,
  timeout: number,
  resolve: (v: unknown) => void,
  reject: (e: Error) => void,
): Call {
  return {
    id,
    wireId,
    node,
    payload,
    options,
    timeout,
    resolve,
    reject,
    stream: undefined,
    timer: undefined,
    onAbort: undefined,
    retried: false,
    settled: false,
    bodyAhead: 0,
    bodyBytesAhead: 0,
    bodySizes: [],
    bodyWake: undefined,
    bodyIterator: undefined,
    trace: undefined,
  };
}

/** What the runner is sent for a call. */
export function requestMessage(call: Call, from: string): RequestMessage {
  const options = call.options;
  return {
    id: call.wireId,
    from,
    payload: call.payload,
    ...(options?.key !== undefined ? { key: options.key } : {}),
    ...(options?.route !== undefined ? { route: options.route } : {}),
    ...traceparentOf(call),
    timeout: call.timeout,
    ...(options?.retry === true ? { retry: true } : {}),
    stream: call.stream !== undefined,
    ...(options?.body !== undefined ? { body: true } : {}),
  };
}

/** The runner continues the trace from the call's span here, else from the caller's own traceparent. */
function traceparentOf(call: Call): { traceparent?: string } {
  const traceparent = call.trace?.traceparent ?? call.options?.traceparent;
  return traceparent !== undefined ? { traceparent } : {};
}

/**
 * At-most-once across nodes: a call whose node was lost runs once more only when its caller said it is
 * idempotent, and never a stream (chunks may be consumed) or one with a body (partly sent).
 */
export function retryable(call: Call): boolean {
  const options = call.options;
  return options?.retry === true && !call.retried && call.stream === undefined && options.body === undefined;
}

/** The runner's actor took `n` more body chunks: they free their window, and a waiting pump goes on. */
export function bodyCredited(call: Call, n: number): void {
  for (let i = 0; i < n && call.bodySizes.length > 0; i++) call.bodyBytesAhead -= call.bodySizes.shift()!;
  call.bodyAhead = Math.max(0, call.bodyAhead - n);
  const w = call.bodyWake;
  call.bodyWake = undefined;
  w?.();
}

/**
 * Pings a member that left while `waiting()` holds, every `every` ms; resolves true when it stopped
 * answering (its requests are lost), false when nothing was waiting on it any more.
 */
export async function watchLeaving(
  waiting: () => boolean,
  ping: () => Promise<unknown>,
  every: number,
): Promise<boolean> {
  while (waiting()) {
    try {
      await ping();
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  return false;
}

/**
 * Marks the call settled and lets go of what it holds: its span (ended with `outcome`, if given), a body
 * pump waiting for credit, the caller's body source, its timer and its abort listener.
 */
export function settle(call: Call, outcome?: 'ok' | 'cancelled' | Error): void {
  call.settled = true;
  const trace = call.trace;
  call.trace = undefined;
  if (outcome !== undefined) trace?.end(outcome);
  const wake = call.bodyWake;
  call.bodyWake = undefined;
  wake?.();
  const it = call.bodyIterator;
  call.bodyIterator = undefined;
  if (it !== undefined) {
    try {
      const done = it.return?.();
      if (done !== undefined && typeof done.catch === 'function') done.catch(() => {});
    } catch {
      // The source's own return() failed: nothing more to close.
    }
  }
  if (call.timer !== undefined) clearTimeout(call.timer);
  call.timer = undefined;
  if (call.onAbort !== undefined) {
    const signal = call.options?.signal;
    if (signal !== undefined) removeAbortListener(signal, call.onAbort);
    call.onAbort = undefined;
  }
}
