import type { TransferListItem } from 'node:worker_threads';
import { safeTransfer } from './move.js';
import { type FieldMap, isRequestScoped } from './protocol.js';

/**
 * Coalesces the data-plane messages of one event-loop turn into one `postMessage` on one port.
 * Used on both sides: the router batches request starts per actor, the actor batches results and chunks.
 */
export interface PortLike {
  postMessage(value: unknown, transfer?: readonly TransferListItem[]): void;
}

/** Called for each message of a batch that cannot be cloned, after the rest was sent. */
export type CloneFailure = (tag: number, id: number, error: unknown) => void;

/** `F` is the direction's field map: a tag's fields must match it. */
export class Outbox<F extends FieldMap<F>> {
  private buf: unknown[] = [];
  private transfer: TransferListItem[] | undefined;
  /** Transfer lists by triple index, kept only so that a failed batch can be resent message by message. */
  private transferAt: Map<number, readonly TransferListItem[]> | undefined;
  private scheduled = false;
  private lazyScheduled = false;
  /** The timer of pushSoon(): armed while something queued by it has not left. */
  private soonTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly port: PortLike,
    private readonly onCloneFailure: CloneFailure,
  ) {}

  push<T extends keyof F & number>(
    tag: T,
    a: F[T][0],
    b: F[T][1],
    transfer?: readonly TransferListItem[],
  ): void {
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
  pushLazy<T extends keyof F & number>(
    tag: T,
    a: F[T][0],
    b: F[T][1],
    transfer?: readonly TransferListItem[],
  ): void {
    this.append(tag, a, b, transfer);
    if (!this.scheduled && !this.lazyScheduled) {
      this.lazyScheduled = true;
      setImmediate(this.lazyFlush);
    }
  }

  /**
   * Queued without scheduling a send: it leaves with the next batch, ahead of whatever that batch holds.
   * For the config COMMIT: a message to an idle thread costs the sender a wake-up, far more than a message
   * to a busy one (CPU profiles of `bench/profile.ts configure-8` show it dominating configure() with idle
   * actors), and the commit only has to arrive before the next request, which the batch order guarantees.
   */
  pushQuiet<T extends keyof F & number>(tag: T, a: F[T][0], b: F[T][1]): void {
    this.append(tag, a, b, undefined);
  }

  /**
   * Queued to leave with the next batch, or after `ms` if none leaves sooner. For reports the receiver
   * only displays (an actor's lifecycle state): a message to a sleeping thread wakes it, which costs both
   * threads far more than the report is worth, and a request's own result, sent at once, carries every
   * report queued before it.
   */
  pushSoon<T extends keyof F & number>(tag: T, a: F[T][0], b: F[T][1], ms: number): void {
    this.append(tag, a, b, undefined);
    if (this.soonTimer === undefined && !this.scheduled && !this.lazyScheduled) {
      this.soonTimer = setTimeout(this.flush, ms);
    }
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
    transfer = safeTransfer(transfer);
    if (transfer !== undefined) {
      (this.transferAt ??= new Map()).set(buf.length, transfer);
      if (this.transfer === undefined) this.transfer = [...transfer];
      else for (const t of transfer) this.transfer.push(t);
    }
    buf.push(tag, a, b);
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.soonTimer !== undefined) {
      clearTimeout(this.soonTimer);
      this.soonTimer = undefined;
    }
    const buf = this.buf;
    if (buf.length === 0) return;
    const transfer = this.transfer;
    const transferAt = this.transferAt;
    this.buf = [];
    this.transfer = undefined;
    this.transferAt = undefined;
    try {
      // Checked again at send time: a buffer may have been moved elsewhere since it was queued.
      this.port.postMessage(buf, safeTransfer(transfer));
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
        this.port.postMessage(triple, safeTransfer(transferAt?.get(i)));
      } catch (error) {
        if (scoped) (failed ??= new Set()).add(buf[i + 1]);
        this.onCloneFailure(tag, buf[i + 1] as number, error);
      }
    }
  }
}
