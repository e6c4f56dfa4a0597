import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';

/**
 * What the front reads of a request: node's IncomingMessage has it, and so does the fast path's own
 * request (http/fast), so that one exchange serves both.
 */
export interface FrontRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  /**
   * What the front reads of the headers on every request, when the request has it at hand (the fast
   * path's parser keeps it): then `headers`, an object of every header, is built only when an app's
   * affinity names one.
   */
  readonly common?: CommonHeaders | undefined;
  readonly socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined };
  iterator(options?: { destroyOnReturn?: boolean }): AsyncIterable<unknown>;
}

/** The headers the front reads on every request, as node:http would give them in `headers`. */
export interface CommonHeaders {
  readonly host: string | undefined;
  readonly traceparent: string | undefined;
  /** The body's length in bytes, from Content-Length (0: none; a chunked body never has these). */
  readonly length: number;
}

/** What the front does with a response: the part of node's ServerResponse the fast path writes too. */
export interface FrontResponse {
  writeHead(status: number, statusText: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  writeHead(status: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  write(chunk: Uint8Array): boolean;
  end(chunk?: string | Uint8Array): this;
  destroy(): this;
  on(event: 'close' | 'drain', listener: () => void): this;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  readonly statusCode: number;
  shouldKeepAlive: boolean;
}
