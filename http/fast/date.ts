let second = -1;
let text = '';

/** The Date header's value, as node:http writes it: built once a second. */
export function utcDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== second) {
    second = s;
    text = new Date(s * 1000).toUTCString();
  }
  return text;
}
