/**
 * The route of an HTTP request, for placement's cost estimates: its method and path, without the query,
 * with each path segment that is an id written as `:id` (all digits, or 16 or more hex digits and
 * dashes, as a UUID), so `/users/42` and `/users/43` learn one estimate between them.
 *
 * Runs on every request on the front, so it reads the path once, character by character, and builds a
 * new string only when a segment is replaced.
 */
export function routeOf(method: string, url: string): string {
  let end = url.length;
  const query = url.indexOf('?');
  if (query >= 0) end = query;
  let out: string | undefined;
  let copied = 0;
  let start = url.charCodeAt(0) === 47 ? 1 : 0;
  while (start <= end) {
    let stop = url.indexOf('/', start);
    if (stop < 0 || stop > end) stop = end;
    if (stop > start && isId(url, start, stop)) {
      out = `${out ?? ''}${url.slice(copied, start)}:id`;
      copied = stop;
    }
    start = stop + 1;
  }
  const path = out === undefined ? url.slice(0, end) : `${out}${url.slice(copied, end)}`;
  return `${method} ${path}`;
}

/** url[from, to) is all digits, or at least 16 hex digits and dashes with a digit among them. */
function isId(url: string, from: number, to: number): boolean {
  let digits = true;
  let hex = true;
  let anyDigit = false;
  for (let i = from; i < to; i++) {
    const c = url.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    if (digit) {
      anyDigit = true;
      continue;
    }
    digits = false;
    if (!((c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 45)) hex = false;
    if (!hex) return false;
  }
  return digits || (to - from >= 16 && anyDigit);
}
