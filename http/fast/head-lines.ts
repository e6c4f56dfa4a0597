import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { validateHeaderName, validateHeaderValue } from 'node:http';

const CONN_CLOSE = /(?:^|\W)close(?:$|\W)/i;
const TE_CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;
export const CRLF = '\r\n';

/** Adds the `code` node's own errors carry. */
export function coded<E extends Error>(err: E, code: string): E {
  return Object.assign(err, { code });
}

/**
 * The header lines of a head, and what they said. The last ones built from a flat list are kept: an app
 * mostly answers with the same headers, and the same list in the same order makes the same lines, which
 * were validated when they were first built. A Content-Length at the end of the list (where the fetch
 * adapter puts the one it adds) is left out of the comparison, so that bodies of every size share them.
 */
export function headerLines(headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): HeadState {
  if (Array.isArray(headers)) {
    const n = headers.length;
    if (n % 2 !== 0)
      throw coded(
        new TypeError('The argument headers must be an array of name, value pairs.'),
        'ERR_INVALID_ARG_VALUE',
      );
    const length = n >= 2 && headers[n - 2] === 'content-length' ? headers[n - 1] : undefined;
    const end = typeof length === 'string' && DIGITS.test(length) ? n - 2 : n;
    let lines = lastLines !== undefined && sameList(headers, end, lastList) ? lastLines : undefined;
    if (lines === undefined) {
      lines = new HeadState('');
      for (let i = 0; i < end; i += 2) lines.add(String(headers[i]), headers[i + 1]);
      if (headers.every((h) => typeof h === 'string')) {
        lastList = (headers as string[]).slice(0, end);
        lastLines = lines;
      }
    }
    return end === n ? lines : lines.withLength(length as string);
  }
  const state = new HeadState('');
  if (headers !== undefined) {
    // Object form: a later name that differs only in case replaces the earlier one, as setHeader does.
    const byName = new Map<string, [string, OutgoingHttpHeader | undefined]>();
    for (const name of Object.keys(headers)) byName.set(name.toLowerCase(), [name, headers[name]]);
    for (const [name, value] of byName.values()) state.add(name, value);
  }
  return state;
}

const DIGITS = /^[0-9]+$/;
let lastList: string[] = [];
let lastLines: HeadState | undefined;

/** The first `end` entries of `a` are `b`. */
function sameList(a: OutgoingHttpHeader[], end: number, b: string[]): boolean {
  if (end !== b.length) return false;
  for (let i = 0; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A head's header lines being built, and what they said about framing and the connection. */
export class HeadState {
  connection = false;
  closeAsked = false;
  transferEncoding = false;
  chunkedAsked = false;
  contentLength = false;
  date = false;
  trailer = false;

  constructor(public text: string) {}

  /** The last withLength() made from these lines: mostly the same length comes again. */
  private lengthed: HeadState | undefined;
  private lengthedBy = '';

  /** These lines, then a Content-Length of digits (valid as it is). */
  withLength(length: string): HeadState {
    if (this.lengthed !== undefined && this.lengthedBy === length) return this.lengthed;
    const out = new HeadState(`${this.text}content-length: ${length}${CRLF}`);
    out.connection = this.connection;
    out.closeAsked = this.closeAsked;
    out.transferEncoding = this.transferEncoding;
    out.chunkedAsked = this.chunkedAsked;
    out.date = this.date;
    out.trailer = this.trailer;
    out.contentLength = true;
    this.lengthed = out;
    this.lengthedBy = length;
    return out;
  }

  add(name: string, value: OutgoingHttpHeader | undefined): void {
    validateHeaderName(name);
    if (Array.isArray(value) && (value.length < 2 || name.toLowerCase() !== 'cookie')) {
      for (const v of value) this.line(name, v);
    } else {
      this.line(name, Array.isArray(value) ? value.join('; ') : value);
    }
  }

  private line(name: string, value: string | number | undefined): void {
    // node:http takes numbers too (its types say string).
    validateHeaderValue(name, value as string);
    this.text += `${name}: ${value}${CRLF}`;
    if (name.length < 4 || name.length > 17) return;
    switch (name.toLowerCase()) {
      case 'connection':
        this.connection = true;
        if (CONN_CLOSE.test(String(value))) this.closeAsked = true;
        break;
      case 'transfer-encoding':
        this.transferEncoding = true;
        if (TE_CHUNKED.test(String(value))) this.chunkedAsked = true;
        break;
      case 'content-length':
        this.contentLength = true;
        break;
      case 'date':
        this.date = true;
        break;
      case 'trailer':
        this.trailer = true;
        break;
    }
  }
}
