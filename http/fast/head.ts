import { maxHeaderSize } from 'node:http';
import type { CommonHeaders } from '../front-types.js';

/**
 * A request head the fast path takes: an HTTP/1.1 request of a common method, without a body or with one
 * of a plain Content-Length, that node:http would take too.
 */
export interface FastHead extends CommonHeaders {
  method: string;
  url: string;
  /** Names and values as sent, in order, like node's `rawHeaders`. */
  rawHeaders: string[];
  /** The request said `Connection: close`. */
  close: boolean;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** A body length as node:http reads it without doubt: digits only, no sign, no leading zero. */
const LENGTH = /^(?:0|[1-9][0-9]{0,14})$/;

/** The request target: an origin form of plain URL characters (anything else is node:http's to judge). */
const TARGET = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: values with control or non-ASCII bytes are node:http's to judge. */
const VALUE = /^[\t\x20-\x7e]*$/;
/** The most header lines node:http keeps (its maxHeadersCount). */
const MAX_HEADERS = 2000;

/**
 * Parses the head in `text[0, end)` (`end` is where its blank line starts) when it is one the fast path
 * answers exactly as node:http would; `undefined` for anything else, which then goes to node:http whole:
 * another method, Transfer-Encoding, a Content-Length given twice or not plain digits, Expect, Upgrade,
 * an unusual Connection,
 * another HTTP version, no Host, obsolete line folding, a bare CR or LF, control or non-ASCII bytes, or
 * a head over node's size limit. Being strict is what keeps the fast path from reading a head otherwise.
 * Every character of the head belongs to the request line or a header line, and each is checked whole.
 */
export function parseHead(text: string, end: number): FastHead | undefined {
  // The blank line counted too, so that a head node:http would find one byte too long is never taken.
  if (end + 4 >= maxHeaderSize) return undefined;
  const lineEnd = text.indexOf('\r\n');
  const line = text.slice(0, lineEnd);
  const space = line.indexOf(' ');
  const method = space > 0 ? line.slice(0, space) : '';
  if (!METHODS.has(method)) return undefined;
  if (!line.endsWith(' HTTP/1.1')) return undefined;
  const url = line.slice(method.length + 1, line.length - 9);
  if (!TARGET.test(url)) return undefined;
  const rawHeaders: string[] = [];
  let close = false;
  let host: string | undefined;
  let traceparent: string | undefined;
  let length = -1;
  for (let at = lineEnd + 2; at < end; ) {
    let next = text.indexOf('\r\n', at);
    if (next === -1 || next > end) next = end;
    const colon = text.indexOf(':', at);
    if (colon === -1 || colon > next) return undefined;
    const name = text.slice(at, colon);
    const value = withoutOws(text, colon + 1, next);
    if (!TOKEN.test(name) || !VALUE.test(value)) return undefined;
    switch (name.length < 4 || name.length > 17 ? '' : name.toLowerCase()) {
      case 'host':
        // node:http keeps the first Host of several.
        host ??= value;
        break;
      case 'traceparent':
        // Repeats joined as node:http joins them.
        traceparent = traceparent === undefined ? value : `${traceparent}, ${value}`;
        break;
      case 'connection': {
        const v = value.toLowerCase();
        if (v === 'close') close = true;
        else if (v !== 'keep-alive') return undefined;
        break;
      }
      case 'content-length':
        if (length !== -1 || !LENGTH.test(value)) return undefined;
        length = Number(value);
        break;
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
        return undefined;
    }
    rawHeaders.push(name, value);
    at = next + 2;
  }
  if (rawHeaders.length > MAX_HEADERS * 2 || host === undefined) return undefined;
  return { method, url, rawHeaders, close, length: length === -1 ? 0 : length, host, traceparent };
}

/**
 * The value between `from` and `to` without the spaces and tabs around it, and nothing else removed: a
 * stray CR or LF stays in and fails the value check, where String.trim() would drop it.
 */
function withoutOws(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && (text.charCodeAt(a) === 32 || text.charCodeAt(a) === 9)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 32 || text.charCodeAt(b - 1) === 9)) b--;
  return text.slice(a, b);
}
