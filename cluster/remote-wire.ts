import * as errors from '../actors/errors.js';
import { STREAM_WINDOW } from '../actors/wire/protocol.js';

// What crosses NATS between a node that sends a request and the node that runs it.

/** A request for another node: what it runs, and where its answers go. */
export interface RequestMessage {
  id: string;
  from: string;
  payload: unknown;
  key?: string;
  /** What kind of request it is (`RequestOptions.route`): the runner's placement learns what it costs. */
  route?: string;
  /** The caller's W3C trace context (`RequestOptions.traceparent`): the trace goes on on the runner. */
  traceparent?: string;
  timeout: number;
  retry?: boolean;
  stream: boolean;
  /** Its body follows on the runner's control subject, chunk by chunk, as the runner grants credit. */
  body?: boolean;
}

/** What travels back on the caller's reply subject, and from the caller on the runner's control subject. */
export type Answer =
  | { id: string; t: 'ok'; v: unknown }
  | { id: string; t: 'err'; e: WireError }
  | { id: string; t: 'chunk'; v: unknown }
  | { id: string; t: 'end' }
  /** The runner is closing and did not run the request: it may go elsewhere, whatever its `retry`. */
  | { id: string; t: 'refused' }
  /** The runner's actor took `n` more body chunks: the caller may send that many more. */
  | { id: string; t: 'bcredit'; n: number };
export type Control =
  | { id: string; t: 'cancel'; why: 'abort' | 'timeout' | 'consumer-left' }
  | { id: string; t: 'credit'; n: number }
  /** Are you still there? (asked of a member that left while it drains) */
  | { id: string; t: 'ping' }
  | { id: string; t: 'body'; v: unknown }
  /** The body ended; `error` when the caller's body source threw. */
  | { id: string; t: 'bend'; error?: string };

export interface WireError {
  cls: string;
  name: string;
  message: string;
  stack?: string;
  props: Record<string, string | number | boolean>;
}

/**
 * A request body arriving from another node, as the local actor's body pump reads it: chunks wait here
 * (at most the window the caller was granted), and each one taken is credited back to the caller.
 */
export class BodyFeed implements AsyncIterableIterator<unknown> {
  private readonly chunks: unknown[] = [];
  private waiting: { resolve: (r: IteratorResult<unknown>) => void; reject: (e: Error) => void } | undefined;
  private done = false;
  private error: Error | undefined;
  private taken = 0;

  constructor(private readonly credit: (n: number) => void) {}

  push(chunk: unknown): void {
    if (this.done) return;
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      this.took();
      w.resolve({ value: chunk, done: false });
    } else this.chunks.push(chunk);
  }

  end(error?: string): void {
    if (this.done) return;
    this.done = true;
    if (error !== undefined) this.error = new Error(error);
    const w = this.waiting;
    this.waiting = undefined;
    if (w === undefined) return;
    if (this.error !== undefined && this.chunks.length === 0) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.chunks.length > 0) {
      this.took();
      return Promise.resolve({ value: this.chunks.shift(), done: false });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<unknown>> {
    this.done = true;
    this.chunks.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Credit goes back per half window, so that the caller keeps the pipe full without a message a chunk. */
  private took(): void {
    if (++this.taken >= STREAM_WINDOW / 2) {
      this.credit(this.taken);
      this.taken = 0;
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Every troupe error class by name: an error crosses nodes as data and comes back as its own class. */
const classes = new Map<string, { prototype: Error }>(
  Object.entries(errors).filter(([, v]) => typeof v === 'function') as [string, { prototype: Error }][],
);

export function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { cls: 'Error', name: 'Error', message: String(err), props: {} };
  const props: WireError['props'] = {};
  for (const [k, v] of Object.entries(err)) {
    if (k === 'cause') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') props[k] = v;
  }
  return {
    cls: err.constructor?.name ?? 'Error',
    name: err.name,
    message: err.message,
    ...(err.stack !== undefined ? { stack: err.stack } : {}),
    props,
  };
}

export function fromWire(wire: WireError): Error {
  const proto = classes.get(wire.cls)?.prototype ?? Error.prototype;
  const err = Object.create(proto) as Error;
  Object.defineProperty(err, 'message', { value: wire.message, writable: true, configurable: true });
  if (wire.stack !== undefined)
    Object.defineProperty(err, 'stack', { value: wire.stack, writable: true, configurable: true });
  Object.assign(err, wire.props);
  if (err.name !== wire.name) err.name = wire.name;
  return err;
}
