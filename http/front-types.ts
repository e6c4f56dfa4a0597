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
  readonly socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined };
  iterator(options?: { destroyOnReturn?: boolean }): AsyncIterable<unknown>;
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
