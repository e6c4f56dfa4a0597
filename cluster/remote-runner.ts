import { DataCloneError } from '../actors/errors.js';
import type { LocalRequests } from '../actors/router/cluster-link.js';
import type { RequestOptions } from '../actors/types.js';
import { byteSize, STREAM_WINDOW, STREAM_WINDOW_BYTES } from '../actors/wire/protocol.js';
import { decode, encode } from './codec.js';
import type { NatsConnection } from './connection.js';
import type { ResolvedCluster } from './options.js';
import { subjects } from './protocol.js';
import { type Answer, BodyFeed, type Control, type RequestMessage, toWire } from './remote-wire.js';

/** A request another node sent here, while it runs. */
interface Served {
  from: string;
  ac: AbortController;
  /** Streams: chunks sent and not yet credited back, and their sizes, oldest first. */
  ahead: number;
  bytesAhead: number;
  sizes: number[];
  wake: (() => void) | undefined;
  /** The request body as the caller sends it, when it has one. */
  body: BodyFeed | undefined;
}

/**
 * The runner's side of cluster requests: what other nodes send here runs on this node's actors (their own
 * placement picks the actor), its answer and stream chunks go back within the same credit window as
 * between threads, and a caller's cancel reaches the handler's ctx.signal.
 */
export class RemoteRunner {
  private readonly served = new Map<string, Served>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly local: LocalRequests,
    /** False once this node leaves: new requests are refused unrun, so the caller places them again. */
    private readonly isOpen: () => boolean,
    private readonly counts: { served: number },
  ) {}

  /** Member `node` is gone: what it asked of this node is no longer wanted. */
  stopFrom(node: string, why: string): void {
    for (const [id, s] of this.served) if (s.from === node) this.stop(id, why);
  }

  /** Closing: every request served here is cut off. */
  stopAll(why: string): void {
    for (const id of [...this.served.keys()]) this.stop(id, why);
  }

  run(data: Uint8Array): void {
    let m: RequestMessage;
    try {
      m = decode<RequestMessage>(data);
    } catch {
      return;
    }
    const reply = subjects.reply(this.cluster.name, m.from);
    if (!this.isOpen()) {
      this.publish(reply, { id: m.id, t: 'refused' });
      return;
    }
    const s: Served = {
      from: m.from,
      ac: new AbortController(),
      ahead: 0,
      bytesAhead: 0,
      sizes: [],
      wake: undefined,
      body:
        m.body === true ? new BodyFeed((n) => this.publish(reply, { id: m.id, t: 'bcredit', n })) : undefined,
    };
    this.served.set(m.id, s);
    this.counts.served++;
    const options: RequestOptions = {
      signal: s.ac.signal,
      timeout: m.timeout,
      ...(m.key !== undefined ? { key: m.key } : {}),
      ...(m.route !== undefined ? { route: m.route } : {}),
      ...(m.traceparent !== undefined ? { traceparent: m.traceparent } : {}),
      ...(m.retry === true ? { retry: true } : {}),
      ...(s.body !== undefined ? { body: s.body } : {}),
    };
    if (!m.stream) {
      let out: Promise<unknown>;
      try {
        out = this.local.request(m.payload, options);
      } catch (err) {
        out = Promise.reject(err);
      }
      out.then(
        (v) => this.reply(reply, m.id, { id: m.id, t: 'ok', v }),
        (e) => this.reply(reply, m.id, { id: m.id, t: 'err', e: toWire(e) }),
      );
      return;
    }
    void this.pump(reply, m, s, options);
  }

  private async pump(reply: string, m: RequestMessage, s: Served, options: RequestOptions): Promise<void> {
    try {
      const it = this.local.stream(m.payload, options);
      try {
        for await (const chunk of it) {
          while ((s.ahead >= STREAM_WINDOW || s.bytesAhead >= STREAM_WINDOW_BYTES) && !s.ac.signal.aborted) {
            await new Promise<void>((w) => {
              s.wake = w;
            });
          }
          if (s.ac.signal.aborted) break;
          const size = byteSize(chunk);
          s.ahead++;
          s.bytesAhead += size;
          s.sizes.push(size);
          if (!this.publish(reply, { id: m.id, t: 'chunk', v: chunk })) break;
        }
      } finally {
        await it.return?.();
      }
      this.reply(reply, m.id, { id: m.id, t: 'end' });
    } catch (e) {
      this.reply(reply, m.id, { id: m.id, t: 'err', e: toWire(e) });
    }
  }

  control(data: Uint8Array): void {
    let c: Control;
    try {
      c = decode<Control>(data);
    } catch {
      return;
    }
    const s = this.served.get(c.id);
    if (s === undefined) return;
    if (c.t === 'ping') return;
    if (c.t === 'cancel') {
      this.stop(c.id, c.why);
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
  private stop(id: string, why: string): void {
    const s = this.served.get(id);
    if (s === undefined) return;
    this.served.delete(id);
    s.ac.abort(new Error(`remote caller: ${why}`));
    s.body?.end();
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  private reply(subject: string, id: string, answer: Answer): void {
    if (!this.served.delete(id) && answer.t !== 'end' && answer.t !== 'err') return;
    this.publish(subject, answer);
  }

  /** Sends an answer; one that cannot be cloned is reported to the caller as DataCloneError. */
  private publish(subject: string, answer: Answer): boolean {
    let bytes: Uint8Array;
    try {
      bytes = encode(answer);
    } catch (err) {
      const what = answer.t === 'chunk' ? 'stream chunk' : 'result';
      bytes = encode({ id: answer.id, t: 'err', e: toWire(new DataCloneError(what, err)) });
      answer = { id: answer.id, t: 'end' };
      this.served.delete(answer.id);
      if (this.nc.isClosed()) return false;
      this.nc.publish(subject, bytes);
      return false;
    }
    if (this.nc.isClosed()) return false;
    try {
      this.nc.publish(subject, bytes);
      return true;
    } catch {
      return false;
    }
  }
}
