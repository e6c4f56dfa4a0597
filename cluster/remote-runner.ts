import { AbortError, DataCloneError, PayloadTooLargeError } from '../actors/errors.js';
import type { LocalRequests, StartedRequest } from '../actors/router/cluster-link.js';
import type { RequestOptions } from '../actors/types.js';
import { IdTable } from '../actors/wire/id-table.js';
import { byteSize, STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../actors/wire/protocol.js';
import { Batcher, unbatch } from './batcher.js';
import { decode, encode } from './codec.js';
import { maxPayload, type NatsConnection } from './connection.js';
import type { ResolvedCluster } from './options.js';
import { subjects } from './protocol.js';
import { type Answer, BodyFeed, type Control, type RequestMessage, toWire } from './remote-wire.js';

/** A request another node sent here, while it runs. */
interface Served {
  /** The caller's number for it: the end of its id. */
  readonly id: number;
  /** Its caller's table of requests served here. */
  readonly table: IdTable<Served>;
  from: string;
  /** A plain request: the local request, cancelled through LocalRequests.cancel. */
  started: StartedRequest | undefined;
  /** A stream: its signal, for the local stream's handler. */
  ac: AbortController | undefined;
  /** Streams: chunks sent and not yet credited back, and their sizes, oldest first. */
  ahead: number;
  bytesAhead: number;
  sizes: number[];
  wake: (() => void) | undefined;
  /** The request body as the caller sends it, when it has one. */
  body: BodyFeed | undefined;
  /** One of its answers could not be cloned: the caller has its error, and hears nothing more. */
  broken: boolean;
}

/**
 * The runner's side of cluster requests: what other nodes send here runs on this node's actors (their own
 * placement picks the actor), its answer and stream chunks go back within the same credit window as
 * between threads, and a caller's cancel reaches the handler's ctx.signal.
 */
export class RemoteRunner {
  /**
   * Requests served here, by caller. A caller's ids are its prefix (its node name and a random part,
   * fixed for its life) and a number, so each caller's requests are kept in an IdTable by that number:
   * not in a Map by id, which adds and deletes an entry a request (see IdTable for what that costs).
   */
  private readonly served = new Map<string, IdTable<Served>>();
  /** Answers leave per caller and loop turn, one NATS message each (see Batcher). */
  private readonly out: Batcher<Answer>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly local: LocalRequests,
    /** False once this node leaves: new requests are refused unrun, so the caller places them again. */
    private readonly isOpen: () => boolean,
    private readonly counts: { served: number },
  ) {
    this.out = new Batcher<Answer>({
      message: (answer) => answer,
      publish: (subject, bytes) => nc.publish(subject, bytes),
      maxBytes: () => maxPayload(nc),
      unclonable: (answer, err, subject) =>
        this.unsendable(answer, new DataCloneError(what(answer), err), subject),
      tooLarge: (answer, bytes, limit, subject) =>
        this.unsendable(answer, new PayloadTooLargeError(what(answer), bytes, limit), subject),
      // The connection is gone: the caller learns of it from its own connection, or times out.
      unsent: () => {},
    });
  }

  /** Member `node` is gone: what it asked of this node is no longer wanted. */
  stopFrom(node: string, why: string): void {
    for (const [prefix, table] of this.served) {
      for (const s of table.list()) if (s.from === node) this.stop(s, why);
      if (table.size === 0 && prefix.startsWith(`${node}.`)) this.served.delete(prefix);
    }
  }

  /** Closing: every request served here is cut off. */
  stopAll(why: string): void {
    for (const table of this.served.values()) for (const s of table.list()) this.stop(s, why);
  }

  /** The request `id` names, while it is served here. */
  private find(id: string): Served | undefined {
    const parts = callerParts(id);
    return parts === undefined ? undefined : this.served.get(parts.prefix)?.get(parts.seq);
  }

  /** Takes `s` out of its table; false when it was no longer there. */
  private forget(s: Served): boolean {
    return s.table.get(s.id) === s && s.table.delete(s.id);
  }

  run(data: Uint8Array): void {
    let all: RequestMessage[];
    try {
      all = unbatch<RequestMessage>(data);
    } catch {
      return;
    }
    for (const m of all) this.runOne(m);
  }

  private runOne(m: RequestMessage): void {
    if (typeof m !== 'object' || m === null) return;
    // Anything but a caller's prefix and number (see RemoteRequests) is not from a node.
    const parts = callerParts(m.id);
    if (parts === undefined) return;
    const { prefix, seq } = parts;
    const reply = subjects.reply(this.cluster.name, m.from);
    if (!this.isOpen()) {
      this.publish(reply, { id: m.id, t: 'refused' });
      return;
    }
    let table = this.served.get(prefix);
    if (table === undefined) this.served.set(prefix, (table = new IdTable<Served>()));
    const s: Served = {
      id: seq,
      table,
      from: m.from,
      started: undefined,
      ac: m.stream ? new AbortController() : undefined,
      ahead: 0,
      bytesAhead: 0,
      sizes: m.stream ? [] : NO_SIZES,
      wake: undefined,
      body:
        m.body === true ? new BodyFeed((n) => this.publish(reply, { id: m.id, t: 'bcredit', n })) : undefined,
      broken: false,
    };
    table.set(s);
    this.counts.served++;
    // Set field by field: an object spread for each optional field would build one more object each.
    const options: RequestOptions = { timeout: m.timeout };
    if (s.ac !== undefined) options.signal = s.ac.signal;
    if (m.key !== undefined) options.key = m.key;
    if (m.route !== undefined) options.route = m.route;
    if (m.traceparent !== undefined) options.traceparent = m.traceparent;
    if (m.retry === true) options.retry = true;
    if (s.body !== undefined) options.body = s.body;
    if (!m.stream) {
      const id = m.id;
      const ok = (v: unknown) => this.reply(reply, s, { id, t: 'ok', v });
      const err = (e: unknown) => this.reply(reply, s, { id, t: 'err', e: toWire(e) });
      try {
        s.started = this.local.start(m.payload, options, ok, err);
      } catch (e) {
        // Answered a turn later, as a rejected request() would be: never inside the NATS callback.
        queueMicrotask(() => err(e));
      }
      return;
    }
    void this.pump(reply, m, s, options);
  }

  private async pump(reply: string, m: RequestMessage, s: Served, options: RequestOptions): Promise<void> {
    try {
      const it = this.local.stream(m.payload, options);
      try {
        for await (const chunk of it) {
          const signal = s.ac!.signal;
          while ((s.ahead >= STREAM_WINDOW || s.bytesAhead >= STREAM_WINDOW_BYTES) && !signal.aborted) {
            await new Promise<void>((w) => {
              s.wake = w;
            });
          }
          if (signal.aborted) break;
          const size = byteSize(chunk);
          s.ahead++;
          s.bytesAhead += size;
          s.sizes.push(size);
          if (!this.publish(reply, { id: m.id, t: 'chunk', v: chunk }, true)) break;
        }
      } finally {
        await it.return?.();
      }
      this.reply(reply, s, { id: m.id, t: 'end' });
    } catch (e) {
      this.reply(reply, s, { id: m.id, t: 'err', e: toWire(e) });
    }
  }

  control(data: Uint8Array): void {
    let c: Control;
    try {
      c = decode<Control>(data);
    } catch {
      return;
    }
    if (typeof c !== 'object' || c === null) return;
    const s = this.find(c.id);
    if (s === undefined) return;
    if (c.t === 'ping') return;
    if (c.t === 'cancel') {
      this.stop(s, c.why);
      return;
    }
    if (c.t === 'body') {
      s.body?.push(c.v);
      return;
    }
    if (c.t === 'bend') {
      s.body?.end(c.error);
      return;
    }
    for (let i = 0; i < c.n && s.sizes.length > 0; i++) s.bytesAhead -= s.sizes.shift()!;
    s.ahead = Math.max(0, s.ahead - c.n);
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  /** The caller gave up (or went): the handler's ctx.signal fires, and a waiting stream pump wakes to end. */
  private stop(s: Served, why: string): void {
    if (!this.forget(s)) return;
    const reason = new Error(`remote caller: ${why}`);
    if (s.started !== undefined) this.local.cancel(s.started, new AbortError(reason));
    s.ac?.abort(reason);
    s.body?.end();
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  private reply(subject: string, s: Served, answer: Answer): void {
    if (!this.forget(s) && ((answer.t !== 'end' && answer.t !== 'err') || s.broken)) return;
    this.publish(subject, answer);
  }

  /** Queues an answer for its caller (a stream chunk until the turn's end); false once the connection is closed. */
  private publish(subject: string, answer: Answer, lazy = false): boolean {
    if (this.nc.isClosed()) return false;
    if (lazy) this.out.pushLazy(subject, answer);
    else this.out.push(subject, answer);
    return true;
  }

  /**
   * An answer that cannot be sent (not cloneable, or too large for one NATS message) goes to its caller
   * as that error, in its place, and the request it belongs to is no longer served: a stream's handler
   * is told to stop, as if its caller had left.
   */
  private unsendable(answer: Answer, error: Error, subject: string): void {
    const s = this.find(answer.id);
    if (s !== undefined && this.forget(s)) {
      s.broken = true;
      s.ac?.abort(error);
    }
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(subject, encode({ id: answer.id, t: 'err', e: toWire(error) } satisfies Answer));
    } catch {
      // The connection went: the caller learns of it from its own, or times out.
    }
  }
}

/** A plain request's chunk sizes: it sends none (only a stream's pump adds to its own). */
const NO_SIZES: number[] = [];

/** What an answer carries, as an error about it names it. */
function what(answer: Answer): string {
  return answer.t === 'chunk' ? 'stream chunk' : 'result';
}

/** A request id as a node makes it: its prefix (up to the last dot), then a number in decimal digits. */
const CALLER_ID = /^(.*\.)(\d{1,15})$/s;

function callerParts(id: unknown): { prefix: string; seq: number } | undefined {
  const m = typeof id === 'string' ? CALLER_ID.exec(id) : null;
  return m === null ? undefined : { prefix: m[1]!, seq: Number(m[2]) };
}
