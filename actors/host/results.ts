/** What a handler returned, looked at from the actor: the shapes a request's and a stream's result take. */

export function isIterator(value: object): boolean {
  return (
    Symbol.asyncIterator in value ||
    (typeof (value as { next?: unknown }).next === 'function' && Symbol.iterator in value)
  );
}

/** Reading `then` runs the app's code (a getter, a Proxy trap): a throw there means "not a thenable". */
export function isThenable(value: unknown): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}

export type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

export function iteratorOf(source: unknown): AnyIterator {
  const s = source as { [Symbol.asyncIterator]?: () => AnyIterator; [Symbol.iterator]?: () => AnyIterator };
  if (s !== null && typeof s === 'object') {
    if (typeof s[Symbol.asyncIterator] === 'function') return s[Symbol.asyncIterator]!();
    if (typeof s[Symbol.iterator] === 'function') return s[Symbol.iterator]!();
  }
  throw new TypeError('A stream handler must return an iterable or async iterable (or a promise of one).');
}

/**
 * A stream answered whole when the handler returned: one chunk in an array (what the HTTP adapter
 * returns for a response whose body was ready at once).
 */
export function isWhole(result: unknown): result is [unknown] {
  return Array.isArray(result) && result.length === 1 && !isThenable(result[0]);
}
