/**
 * A bounded ring buffer: the inspector's memory of the recent past, for pause and step back.
 * Bounded because the dispatcher may run for months; a fixed array with a moving head because
 * `Array.shift()` on a full buffer would copy it on every event.
 */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    /** Called with each item pushed out by a newer one. */
    private readonly onEvict?: (item: T) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.items = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    const tail = (this.head + this.count) % this.capacity;
    if (this.count === this.capacity) {
      const evicted = this.items[tail] as T;
      this.head = (this.head + 1) % this.capacity;
      this.items[tail] = item;
      this.onEvict?.(evicted);
    } else {
      this.items[tail] = item;
      this.count++;
    }
  }

  /** Oldest first, and empties the ring. */
  drain(): T[] {
    const out = this.toArray();
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    return out;
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.head + i) % this.capacity] as T);
    return out;
  }
}
