/**
 * The two heads of an HTTP exchange between the front and an actor: the request's, sent with every
 * request, and the response's, the first chunk of every response stream. Both are tuples, not objects:
 * they are cloned between threads for every request, and an array clones with no property names to
 * write and read, and no object shape to rebuild on the other side. This module holds nothing but types
 * and constants, so that the front can import it without loading the actor side's web objects.
 */

/** The request head: `[method, url, headers, address, port]`. */
export type RequestHead = [
  method: string,
  url: string,
  /** Node's `rawHeaders`: names and values in one flat list, repeated names kept (cookies). */
  headers: string[],
  /** The client's address and port, for apps that read them from the socket (Node-style apps). */
  address?: string,
  port?: number,
];

/**
 * The response head: `[status, statusText, headers, actor, body]`.
 * - `headers`: flat `[name, value, name, value, ...]`, the form `res.writeHead` takes; one entry per
 *   Set-Cookie.
 * - `actor`: the actor that ran the request, for the access log.
 * - `body`: the whole body, when it was ready at once (the common case): the front then answers with
 *   Content-Length in a single write, and the response costs one data-plane message instead of three.
 *   A string body stays a string: it is written with the head in one piece.
 */
export type ResponseHead = [
  status: number,
  statusText: string,
  headers: string[],
  actor: number,
  body?: Uint8Array | string,
];
export const HEAD_STATUS = 0;
export const HEAD_TEXT = 1;
export const HEAD_HEADERS = 2;
export const HEAD_ACTOR = 3;
export const HEAD_BODY = 4;
