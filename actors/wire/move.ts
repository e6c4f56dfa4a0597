/**
 * Copy, don't move: a buffer crosses threads as a copy unless its owner says it may be moved. Moving
 * (transferring) detaches the sender's buffer, so troupe moves only what the caller or the app handed
 * over on purpose: `options.transfer`, or a value marked with `move()`. Anything else stays usable where
 * it was, which matters for a buffer an app keeps (made once in `init`, yielded by every stream).
 */
const movable = new WeakSet<object>();

/**
 * Marks a buffer (or a view that spans its whole buffer) as given away: sent as a stream chunk, a request
 * body chunk or a response body, it is transferred rather than copied, and the sender must not use it
 * again. Returns its argument, so `yield move(chunk)` reads naturally.
 */
export function move<T extends ArrayBuffer | ArrayBufferView>(value: T): T {
  movable.add(value);
  return value;
}

/** The transfer list for a value marked with `move()`: its whole, non-shared buffer; otherwise none. */
export function movedBuffers(value: unknown): ArrayBuffer[] | undefined {
  if (value === null || typeof value !== 'object' || !movable.has(value)) return undefined;
  if (value instanceof ArrayBuffer) return [value];
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer;
    // A view into part of a larger buffer is copied: moving it would detach memory other views still use.
    if (buf instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buf.byteLength)
      return [buf];
  }
  return undefined;
}

/**
 * A transfer list that cannot silently lose its message. `postMessage` drops, without a word, a message
 * whose transfer list names an already-detached buffer. A detached buffer has length 0, so every empty
 * buffer is left out of the list: a real empty one is then copied (nothing to copy), a detached one fails
 * to clone, loudly, for its own message only.
 */
export function safeTransfer<T>(list: readonly T[] | undefined): T[] | undefined {
  if (list === undefined || list.length === 0) return undefined;
  let safe: T[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const item = list[i]!;
    if (item instanceof ArrayBuffer && item.byteLength === 0) {
      safe ??= list.slice(0, i);
      continue;
    }
    safe?.push(item);
  }
  return safe ?? (list as T[]);
}
