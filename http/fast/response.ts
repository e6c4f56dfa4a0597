import { type OutgoingHttpHeader, type OutgoingHttpHeaders, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FrontResponse } from '../front-types.js';
import { utcDate } from './date.js';
import { CRLF, coded, type HeadState, headerLines } from './head-lines.js';

/** What a response needs from its connection. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** node:http's keepAliveTimeout, in ms: announced in `Keep-Alive` as node:http announces it. */
  readonly keepAliveTimeout: number;
  /**
   * The callback of a response's last write: one per connection rather than one per response. The
   * connection passes it on to the response it is serving (`written()`).
   */
  readonly lastWritten: () => void;
  /** The last byte went to the socket; `close`: the connection ends after it. */
  finished(res: FastResponse, close: boolean): void;
}

type Listener = (this: FastResponse) => void;

function emitClose(res: FastResponse): void {
  res.closed();
}

const INVALID_REASON = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * A response on a fast-path connection, written byte for byte as node:http's ServerResponse writes it
 * (status line, the app's headers in order, Date, Connection and Keep-Alive, Content-Length or chunked
 * framing, the same rules for HEAD, 204 and 304), so that a client cannot tell which path answered.
 * It is no EventEmitter: the one exchange that owns it listens for 'close' and 'drain' only, once each.
 */
export class FastResponse implements FrontResponse {
  statusCode = 200;
  shouldKeepAlive: boolean;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  /** The head, built by writeHead and sent with the first bytes of the body. */
  private head: string | undefined;
  private hasBody: boolean;
  private chunked = false;
  /** The connection ends after this response. */
  private last = false;
  private closeSent = false;
  private onClose: Listener | undefined;
  private onDrain: Listener | undefined;

  constructor(
    private readonly owner: ResponseOwner,
    isHead: boolean,
    keepAlive: boolean,
  ) {
    this.hasBody = !isHead;
    this.shouldKeepAlive = keepAlive;
  }

  on(event: 'close' | 'drain', listener: Listener): this {
    if (event === 'close') this.onClose = listener;
    else this.onDrain = listener;
    return this;
  }

  /** The socket can take more: the exchange credits its actor again. */
  drained(): void {
    this.onDrain?.call(this);
  }

  writeHead(
    status: number,
    text?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (this.head !== undefined)
      throw coded(
        new Error('Cannot write headers after they are sent to the client'),
        'ERR_HTTP_HEADERS_SENT',
      );
    const reason = typeof text === 'string' ? text : undefined;
    this.storeHead(status, reason, typeof text === 'string' ? headers : text, undefined);
    return this;
  }

  private storeHead(
    status: number,
    reason: string | undefined,
    headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined,
    contentLength: number | undefined,
  ): void {
    const code = status | 0;
    if (code < 100 || code > 999)
      throw coded(new RangeError(`Invalid status code: ${status}`), 'ERR_HTTP_INVALID_STATUS_CODE');
    const message = reason ?? STATUS_CODES[code] ?? 'unknown';
    // node's own reason phrases are valid as they are.
    if (reason !== undefined && INVALID_REASON.test(message))
      throw coded(new TypeError('Invalid character in statusMessage'), 'ERR_INVALID_CHAR');
    this.statusCode = code;
    if (code === 204 || code === 304 || (code >= 100 && code <= 199)) this.hasBody = false;
    const state = headerLines(headers);
    const date = state.date ? '' : utcDate();
    const timeout = this.owner.keepAliveTimeout;
    const m = memo;
    if (
      m.state === state &&
      m.code === code &&
      m.message === message &&
      m.date === date &&
      m.keepAlive === this.shouldKeepAlive &&
      m.hasBody === this.hasBody &&
      m.contentLength === contentLength &&
      m.timeout === timeout
    ) {
      this.shouldKeepAlive = m.keepAliveAfter;
      this.last = m.last;
      this.chunked = m.chunked;
      this.head = m.head;
      this.headersSent = true;
      return;
    }
    const keepAlive = this.shouldKeepAlive;
    const hasBody = this.hasBody;
    if (state.connection) {
      if (state.closeAsked) this.last = true;
      else this.shouldKeepAlive = true;
    }
    if (state.chunkedAsked) this.chunked = true;
    let head = `HTTP/1.1 ${code} ${message}${CRLF}${state.text}`;
    if (!state.date) head += `Date: ${date}${CRLF}`;
    if (this.chunked && (code === 204 || code === 304)) {
      this.chunked = false;
      this.shouldKeepAlive = false;
    }
    if (!state.connection) {
      if (this.shouldKeepAlive) {
        head += `Connection: keep-alive${CRLF}`;
        // Whole seconds, as the ServerResponse of node 20 writes it.
        if (timeout) head += `Keep-Alive: timeout=${Math.floor(timeout / 1000)}${CRLF}`;
      } else {
        this.last = true;
        head += `Connection: close${CRLF}`;
      }
    }
    if (!state.contentLength && !state.transferEncoding) {
      if (!this.hasBody) this.chunked = false;
      else if (!state.trailer && contentLength !== undefined)
        head += `Content-Length: ${contentLength}${CRLF}`;
      else {
        head += `Transfer-Encoding: chunked${CRLF}`;
        this.chunked = true;
      }
    }
    if (!this.chunked && state.trailer)
      throw coded(
        new TypeError('Trailers are invalid with this transfer encoding'),
        'ERR_HTTP_TRAILER_INVALID',
      );
    this.head = head + CRLF;
    this.headersSent = true;
    memo = {
      state,
      code,
      message,
      date,
      keepAlive,
      hasBody,
      contentLength,
      timeout,
      keepAliveAfter: this.shouldKeepAlive,
      last: this.last,
      chunked: this.chunked,
      head: this.head,
    };
  }

  write(chunk: Uint8Array): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (this.head === undefined) this.storeHead(this.statusCode, undefined, undefined, undefined);
    if (!this.hasBody) return true;
    if (this.chunked) {
      if (chunk.byteLength === 0) return true;
      return this.send(`${chunk.byteLength.toString(16)}${CRLF}`, chunk, CRLF, undefined);
    }
    return this.send('', chunk, undefined, undefined);
  }

  end(chunk?: string | Uint8Array): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    if (this.destroyed) return this;
    // A string is empty exactly when its UTF-8 is: its byte length is counted only where it is written.
    const empty = chunk === undefined || chunk.length === 0;
    if (this.head === undefined)
      this.storeHead(this.statusCode, undefined, undefined, empty ? 0 : byteLength(chunk));
    const done = this.owner.lastWritten;
    if (!this.hasBody || empty) this.send(this.chunked ? `0${CRLF}${CRLF}` : '', undefined, undefined, done);
    else if (this.chunked)
      this.send(`${byteLength(chunk).toString(16)}${CRLF}`, chunk, `${CRLF}0${CRLF}${CRLF}`, done);
    else this.send('', chunk, undefined, done);
    return this;
  }

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.owner.socket.destroy();
    }
    return this;
  }

  /** The socket closed: a response not yet finished was cut off (the client left, or a destroy()). */
  socketClosed(): void {
    this.destroyed = true;
    this.closed();
  }

  /** Its last write reached the socket. 'close' follows on the next tick, as node:http emits it. */
  written(): void {
    if (this.destroyed) return;
    this.writableFinished = true;
    this.owner.finished(this, this.last);
    process.nextTick(emitClose, this);
  }

  /** 'close', once: after the last write, or when the socket closed first. */
  closed(): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.onClose?.call(this);
  }

  /**
   * One socket write for the common answers: latin1 text before and after the body, the pending head
   * in front of it. A string body after an unsent head goes out as one UTF-8 string with the head, the
   * way node:http sends it.
   */
  private send(
    before: string,
    body: string | Uint8Array | undefined,
    after: string | undefined,
    done: (() => void) | undefined,
  ): boolean {
    const socket = this.owner.socket;
    const head = this.head ?? '';
    this.head = '';
    if (body === undefined) return socket.write(head + before + (after ?? ''), 'latin1', done);
    if (typeof body === 'string' && before === '' && after === undefined)
      return socket.write(head + body, 'utf8', done);
    socket.cork();
    if (head !== '' || before !== '') socket.write(head + before, 'latin1');
    let ok = socket.write(body);
    if (after !== undefined) ok = socket.write(after, 'latin1', done);
    else if (done !== undefined) ok = socket.write('', 'latin1', done);
    socket.uncork();
    return ok;
  }
}

/**
 * The last head built, and what it was built from: the same header lines (the same object, see
 * head-lines.ts) with the same status, date and connection make the same head, and a server mostly
 * sends the same head again.
 */
interface HeadMemo {
  state: HeadState | undefined;
  code: number;
  message: string;
  date: string;
  keepAlive: boolean;
  hasBody: boolean;
  contentLength: number | undefined;
  timeout: number;
  keepAliveAfter: boolean;
  last: boolean;
  chunked: boolean;
  head: string;
}

let memo: HeadMemo = {
  state: undefined,
  code: 0,
  message: '',
  date: '',
  keepAlive: false,
  hasBody: false,
  contentLength: undefined,
  timeout: 0,
  keepAliveAfter: false,
  last: false,
  chunked: false,
  head: '',
};

function byteLength(chunk: string | Uint8Array): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}
