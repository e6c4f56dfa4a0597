import type { TransferListItem } from 'node:worker_threads';
import { BODY_CREDIT, BODY_END, RESULT, START } from './protocol.js';
/**
 * Coalesces the data-plane messages of one event-loop turn into one `postMessage` on one port.
 * Used on both sides: the router batches request starts per actor, the actor batches results and chunks.
 */
export interface PortLike {
  postMessage(value: unknown, transfer?: readonly TransferListItem[]): void;
}

/** Called for each message of a batch that cannot be cloned, after the rest was sent. */
export type CloneFailure = (tag: number, id: number, error: unknown) => void;

export class Outbox {
  private buf: unknown[] = [];
  private transfer: TransferListItem[] | undefined;
  /** Transfer lists by triple index, kept only so that a failed batch can be resent message by message. */
  private transferAt: Map<number, readonly TransferListItem[]> | undefined;
  private scheduled = false;
  private lazyScheduled = false;

  constructor(
    private readonly port: PortLike,
    private readonly onCloneFailure: CloneFailure,
  ) {}

  push(tag: number, a: unknown, b: unknown, transfer?: readonly TransferListItem[]): void {
    this.append(tag, a, b, transfer);
    if (!this.scheduled) {
      this.scheduled = true;
      // A microtask, not setImmediate: a lone request must not wait for the next loop turn (round-trip
      // target), while everything issued in the same synchronous run still shares one message.
      queueMicrotask(this.flush);
    }
  }

  /**
   * For stream chunks: flushed at the end of this loop turn (setImmediate) unless something urgent flushes
   * sooner. An async generator yields each chunk in its own microtask, so a microtask flush would send one
   * message per chunk; waiting for the turn's end sends the whole credit window in one.
   */
  pushLazy(tag: number, a: unknown, b: unknown, transfer?: readonly TransferListItem[]): void {
    this.append(tag, a, b, transfer);
    if (!this.scheduled && !this.lazyScheduled) {
      this.lazyScheduled = true;
      setImmediate(this.lazyFlush);
    }
  }

  /**
   * Queued without scheduling a send: it leaves with the next batch, ahead of whatever that batch holds.
   * For the config COMMIT: a message to an idle thread costs the sender a wake-up (27-60 µs a message on
   * the 2-core VM in CPU profiles of `bench/profile.ts configure-8`: most of configure()'s time with 8 idle
   * actors), and the commit only has to arrive before the next request, which the batch order guarantees.
   */
  pushQuiet(tag: number, a: unknown, b: unknown): void {
    this.append(tag, a, b, undefined);
  }

  private readonly lazyFlush = (): void => {
    this.lazyScheduled = false;
    this.flush();
  };

  private append(
    tag: number,
    a: unknown,
    b: unknown,
    transfer: readonly TransferListItem[] | undefined,
  ): void {
    const buf = this.buf;
    if (transfer !== undefined) {
      (this.transferAt ??= new Map()).set(buf.length, transfer);
      if (this.transfer === undefined) this.transfer = [...transfer];
      else for (const t of transfer) this.transfer.push(t);
    }
    buf.push(tag, a, b);
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const buf = this.buf;
    if (buf.length === 0) return;
    const transfer = this.transfer;
    const transferAt = this.transferAt;
    this.buf = [];
    this.transfer = undefined;
    this.transferAt = undefined;
    try {
      this.port.postMessage(buf, transfer);
    } catch (error) {
      this.resendOneByOne(buf, transferAt, error);
    }
  };

  /** Slow path: find which message cannot be cloned, send the others, report the bad ones. */
  private resendOneByOne(
    buf: unknown[],
    transferAt: Map<number, readonly TransferListItem[]> | undefined,
    first: unknown,
  ) {
    if (buf.length === 3) {
      this.onCloneFailure(buf[0] as number, buf[1] as number, first);
      return;
    }
    // Requests whose message failed: their later messages in this batch are dropped, or a stream would
    // deliver the chunk after a failed one (a silent gap) before its error, or a body would skip a chunk.
    let failed: Set<unknown> | undefined;
    for (let i = 0; i < buf.length; i += 3) {
      const tag = buf[i] as number;
      const scoped = isRequestScoped(tag);
      if (scoped && failed?.has(buf[i + 1])) continue;
      const triple = [tag, buf[i + 1], buf[i + 2]];
      try {
        this.port.postMessage(triple, transferAt?.get(i));
      } catch (error) {
        if (scoped) (failed ??= new Set()).add(buf[i + 1]);
        this.onCloneFailure(tag, buf[i + 1] as number, error);
      }
    }
  }
}

/** Messages whose second field is a request id (START…BODY_END one way, RESULT…BODY_CREDIT the other). */
function isRequestScoped(tag: number): boolean {
  return (tag >= START && tag <= BODY_END) || (tag >= RESULT && tag <= BODY_CREDIT);
}
