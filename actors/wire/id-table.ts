/**
 * The requests in flight, by id: an open-addressing hash table (linear probing) over one array, where
 * removing an entry clears its slot.
 *
 * A `Map` with an entry added and deleted for every request is what this replaces. When a `Map`'s
 * table fills up with deleted entries, V8 copies the live ones to a new table and leaves the old table
 * pointing to them, for any iterator still walking it. A table that lived long enough to be in the old
 * generation stays there, dead, until the next full collection, and keeps every request it held alive
 * from the old generation: each young collection then copies those requests (their strings, their
 * responses) and promotes them. Under steady load that promoted a large share of all request objects,
 * and the longer scavenges and the full collections that followed became a large part of the process's
 * CPU. Here the array is replaced only when the table grows, and a removed entry leaves nothing behind.
 */
export class IdTable<T extends { readonly id: number }> {
  private slots: (T | undefined)[];
  private mask: number;
  private count = 0;

  constructor(capacity = 64) {
    let size = 8;
    while (size < capacity * 2) size *= 2;
    this.slots = new Array<T | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const e = slots[i];
      if (e === undefined || e.id === id) return e;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds the entry, or replaces the one with its id. */
  set(entry: T): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    const id = entry.id;
    let i = id & mask;
    for (; ; i = (i + 1) & mask) {
      const e = slots[i];
      if (e === undefined) break;
      if (e.id === id) {
        slots[i] = entry;
        return;
      }
    }
    slots[i] = entry;
    this.count++;
  }

  /** Removes the entry with this id; false when there was none. */
  delete(id: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    let i = id & mask;
    for (; ; i = (i + 1) & mask) {
      const e = slots[i];
      if (e === undefined) return false;
      if (e.id === id) break;
    }
    slots[i] = undefined;
    this.count--;
    // Backward shift: an entry further along the run that could live in the freed slot moves into it,
    // so that every entry stays reachable from its home slot without tombstones.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const e = slots[j];
      if (e === undefined) return true;
      const home = e.id & mask;
      const between = i <= j ? i < home && home <= j : i < home || home <= j;
      if (between) continue;
      slots[i] = e;
      slots[j] = undefined;
      i = j;
    }
  }

  /** Every entry, oldest id first: the order the requests were made in. */
  values(): T[] {
    return this.list().sort((a, b) => a.id - b.id);
  }

  /** Every entry, in no particular order: for a loop over all of them where order does not matter. */
  list(): T[] {
    const out: T[] = [];
    for (const e of this.slots) if (e !== undefined) out.push(e);
    return out;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    this.count = 0;
    for (const e of old) if (e !== undefined) this.set(e);
    // The old array is garbage now, and may be old enough to outlive the requests it points to.
    old.fill(undefined);
  }
}
