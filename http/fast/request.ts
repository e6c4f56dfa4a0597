import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { FrontRequest } from '../front-types.js';
import type { FastHead } from './head.js';

/** Headers node:http keeps once: a repeat is dropped, as node's IncomingMessage does. */
const FIRST_ONLY = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** A request the fast path parsed: the parts of node's IncomingMessage the front reads. */
export class FastRequest implements FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  private cached: IncomingHttpHeaders | undefined;

  constructor(
    head: FastHead,
    readonly socket: Socket,
    /** The whole body, when the request has one: it arrived with the head. */
    private readonly body: Buffer | undefined,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.rawHeaders = head.rawHeaders;
  }

  /** Lower-cased names, repeats joined as node:http joins them (cookies with `; `, Set-Cookie a list). */
  get headers(): IncomingHttpHeaders {
    if (this.cached !== undefined) return this.cached;
    const out: Record<string, string | string[] | undefined> = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      const had = out[name];
      if (had === undefined) out[name] = name === 'set-cookie' ? [value] : value;
      else if (name === 'set-cookie') (had as string[]).push(value);
      else if (FIRST_ONLY.has(name)) continue;
      else out[name] = `${had as string}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    this.cached = out as IncomingHttpHeaders;
    return this.cached;
  }

  /** The body in one chunk (nothing for a bodiless request). */
  async *iterator(): AsyncGenerator<Buffer> {
    if (this.body !== undefined) yield this.body;
  }
}
