import { decode, encode } from './codec.js';

/** What a Batcher needs from its owner: the message of each item, and where failures go. */
export interface BatchSink<T> {
  /** The wire message of `item`, built when its batch leaves; undefined: it is no longer to be sent. */
  message(item: T, subject: string): unknown;
  /** Publishes one NATS message; throws as the connection's publish does. */
  publish(subject: string, bytes: Uint8Array): void;
  /** The largest message the server takes (its max_payload). */
  maxBytes(): number;
  /** `item`'s message cannot be cloned: it was not sent, the rest of its batch was (in order). */
  unclonable(item: T, error: unknown, subject: string): void;
  /** `item`'s message alone is over `limit` bytes: it was not sent, the rest of its batch was. */
  tooLarge(item: T, bytes: number, limit: number, subject: string): void;
  /** Publishing `items` threw `error`: none of them left. */
  unsent(items: readonly T[], error: unknown, subject: string): void;
}

/**
 * Coalesces what one synchronous run sends to one subject into one NATS message: one `node:v8`
 * serialization of an array instead of one per message (each makes a native object that the next
 * scavenge must treat as a weak handle), one message for NATS to route, and one callback on the receiving
 * side. The batch leaves in a microtask, as the messages between threads do, so that a lone message
 * waits for no later turn. A batch of one leaves as the message itself: the wire carries a message or an
 * array of messages, and `unbatch` reads both.
 */
export class Batcher<T> {
  /**
   * One queue per subject, kept for the batcher's life: a Map that gains and loses an entry a batch would
   * leave its dead tables to the next mark-compact once it is old (see IdTable).
   */
  private readonly queues = new Map<string, Queue<T>>();
  /** The queues with something waiting, in the order they began to wait. */
  private readonly waiting: Queue<T>[] = [];
  private scheduled = false;
  private lazyScheduled = false;

  constructor(private readonly sink: BatchSink<T>) {}

  push(subject: string, item: T): void {
    this.append(subject, item);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushAll);
    }
  }

  /**
   * For stream chunks: sent at the end of this loop turn (setImmediate), unless something pushed sooner
   * takes them along. A stream yields each chunk in a microtask of its own, so a microtask flush would
   * send one NATS message a chunk; the turn's end sends what the turn produced in one.
   */
  pushLazy(subject: string, item: T): void {
    this.append(subject, item);
    if (!this.scheduled && !this.lazyScheduled) {
      this.lazyScheduled = true;
      setImmediate(this.lazyFlush);
    }
  }

  private append(subject: string, item: T): void {
    let queue = this.queues.get(subject);
    if (queue === undefined) this.queues.set(subject, (queue = { subject, items: [] }));
    if (queue.items.length === 0) this.waiting.push(queue);
    queue.items.push(item);
  }

  private readonly lazyFlush = (): void => {
    this.lazyScheduled = false;
    this.flushAll();
  };

  /**
   * What waits for `subject` leaves now. Called before anything is published to the same node on
   * another subject, which must arrive after it (NATS keeps one connection's messages in order).
   */
  flush(subject: string): void {
    const queue = this.queues.get(subject);
    if (queue !== undefined) this.take(queue);
  }

  readonly flushAll = (): void => {
    this.scheduled = false;
    const waiting = this.waiting;
    // A failure handled while sending may queue more: that waits behind `n`, for the next flush.
    const n = waiting.length;
    for (let i = 0; i < n; i++) this.take(waiting[i]!);
    waiting.splice(0, n);
  };

  private take(queue: Queue<T>): void {
    const items = queue.items;
    if (items.length === 0) return;
    queue.items = [];
    this.send(queue.subject, items);
  }

  private send(subject: string, items: readonly T[]): void {
    const sink = this.sink;
    const messages: unknown[] = [];
    const sent: T[] = [];
    for (const item of items) {
      const message = sink.message(item, subject);
      if (message === undefined) continue;
      messages.push(message);
      sent.push(item);
    }
    if (messages.length === 0) return;
    let bytes: Uint8Array;
    try {
      bytes = encode(messages.length === 1 ? messages[0] : messages);
    } catch (err) {
      // Slow path: which message cannot be cloned? Each goes alone, and only the bad ones fail.
      if (sent.length === 1) sink.unclonable(sent[0]!, err, subject);
      else for (const item of sent) this.send(subject, [item]);
      return;
    }
    const limit = sink.maxBytes();
    if (bytes.length > limit) {
      // Over what the server takes in one message: halves go separately, down to a message alone.
      if (sent.length === 1) sink.tooLarge(sent[0]!, bytes.length, limit, subject);
      else {
        const half = sent.length >> 1;
        this.send(subject, sent.slice(0, half));
        this.send(subject, sent.slice(half));
      }
      return;
    }
    try {
      sink.publish(subject, bytes);
    } catch (err) {
      sink.unsent(sent, err, subject);
    }
  }
}

interface Queue<T> {
  readonly subject: string;
  items: T[];
}

/** The messages of one NATS message, batched or not; throws what decoding throws. */
export function unbatch<M>(data: Uint8Array): M[] {
  const value = decode<M | M[]>(data);
  return Array.isArray(value) ? value : [value];
}
