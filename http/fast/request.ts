import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { nodeHeaders } from '../../actors/host/node-headers.js';
import type { CommonHeaders, FrontRequest } from '../front-types.js';
import type { FastHead } from './head.js';

/** A request the fast path parsed: the parts of node's IncomingMessage the front reads. */
export class FastRequest implements FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly common: CommonHeaders;
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
    this.common = head;
  }

  /** Lower-cased names, repeats joined as node:http joins them: built when first read. */
  get headers(): IncomingHttpHeaders {
    this.cached ??= nodeHeaders(this.rawHeaders);
    return this.cached;
  }

  /** The body in one chunk (nothing for a bodiless request). */
  async *iterator(): AsyncGenerator<Buffer> {
    if (this.body !== undefined) yield this.body;
  }
}
