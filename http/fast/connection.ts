import { maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import { type FastHead, parseHead } from './head.js';
import { FastRequest } from './request.js';
import { FastResponse, type ResponseOwner } from './response.js';
import { handOver, readInto } from './socket-reads.js';

/** What a fast connection needs from the front. */
export interface FastFront {
  readonly keepAliveTimeout: number;
  /** How long a new connection may take to send its first head, in ms (node:http's headersTimeout). */
  readonly headerTimeout: number;
  /** A route the front answers itself (health, metrics): node:http serves those. */
  ownRoute(url: string): boolean;
  /** Runs one request, as node:http's request listener would. */
  serve(req: FastRequest, res: FastResponse): void;
  /** node:http takes the connection over, with the bytes read but not yet served. */
  handOff(socket: Socket, unread: Buffer): void;
  /** The connection closed or went to node:http. */
  forget(conn: FastConnection): void;
}

/**
 * One client connection on the fast path. It answers its requests one after another while each is a
 * plain one (a common method, no body or a Content-Length one) that arrived whole; at the first request
 * that is anything else (a chunked body, an upgrade, a head cut across packets, a malformed head, a
 * large body still on its way), it hands the connection and every unread byte to node:http, which then
 * serves it to the end with its own parser, limits and timeouts.
 */
export class FastConnection implements ResponseOwner {
  /** Its number on this front, for the front's table of fast connections. */
  readonly id = ++connections;
  /** Bytes read and not yet served, as latin1 text (one character per byte). */
  private unread = '';
  private current: FastResponse | undefined;
  /** What the socket's timeout is armed for: the first head, the rest of a body, or an idle connection. */
  private timer: 'head' | 'body' | 'idle' | undefined;
  /**
   * When the fast path began to wait for the rest of a body (0: it is not waiting). The wait counts from
   * then, not from the last byte: a socket's timeout restarts with every byte, and a client that trickles
   * its body must not hold the fast path for longer than the wait.
   */
  private bodySince = 0;
  private gone = false;
  /** Whether the socket reads into the shared buffer (see socket-reads) rather than emitting 'data'. */
  private readonly direct: boolean;

  constructor(
    private readonly front: FastFront,
    readonly socket: Socket,
  ) {
    socket.setNoDelay(true);
    this.direct = readInto(socket, this.onRead);
    for (const [event, listener] of this.listeners) socket.on(event, listener);
    // A client that connects and sends nothing is answered 408 after the header timeout, as node:http
    // answers it (a head that starts but does not arrive whole goes to node:http and its own timer).
    this.arm('head', front.headerTimeout);
  }

  readonly lastWritten = (): void => {
    this.current?.written();
  };

  get keepAliveTimeout(): number {
    return this.front.keepAliveTimeout;
  }

  /** Between requests: close now (a drain closes idle connections). */
  closeIfIdle(): void {
    if (this.current === undefined) this.socket.destroy();
  }

  finished(res: FastResponse, close: boolean): void {
    if (this.current !== res) return;
    this.current = undefined;
    if (close) {
      this.socket.end();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.next();
  }

  private arm(timer: 'head' | 'body' | 'idle', ms: number): void {
    if (ms <= 0) return;
    this.timer = timer;
    this.socket.setTimeout(ms);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.received(chunk.toString('latin1'));
  };

  private readonly onRead = (bytes: number, buffer: Buffer): void => {
    // The buffer is shared and refilled by the next read: copied out (as text) before returning.
    this.received(buffer.toString('latin1', 0, bytes));
  };

  private received(text: string): void {
    if (this.timer !== undefined) {
      this.timer = undefined;
      this.socket.setTimeout(0);
    }
    this.unread = this.unread === '' ? text : this.unread + text;
    if (this.current === undefined) this.next();
    // A client that sends ahead of its answers (pipelining) waits while one is being served.
    else if (this.unread.length > maxHeaderSize) this.socket.pause();
  }

  private next(): void {
    while (this.current === undefined && !this.gone) {
      if (this.unread === '') {
        this.arm('idle', this.front.keepAliveTimeout);
        return;
      }
      const end = this.unread.indexOf('\r\n\r\n');
      const head: FastHead | undefined = end === -1 ? undefined : parseHead(this.unread, end);
      if (head === undefined || this.front.ownRoute(head.url)) {
        this.handOff();
        return;
      }
      const bodyEnd = end + 4 + head.length;
      if (this.unread.length < bodyEnd) {
        // A small body still on its way waits a little; a large one, or one that does not come in
        // time, is node:http's (with its request timeout and its own pace of reading).
        const now = Date.now();
        if (this.bodySince === 0) this.bodySince = now;
        const left = Math.min(BODY_WAIT_MS, this.front.headerTimeout) - (now - this.bodySince);
        if (head.length > BODY_WAIT_BYTES || left <= 0) this.handOff();
        else this.arm('body', left);
        return;
      }
      this.bodySince = 0;
      const body = head.length === 0 ? undefined : Buffer.from(this.unread.slice(end + 4, bodyEnd), 'latin1');
      this.unread = this.unread.slice(bodyEnd);
      const res = new FastResponse(this, head.method === 'HEAD', !head.close);
      this.current = res;
      this.front.serve(new FastRequest(head, this.socket, body), res);
    }
  }

  private handOff(): void {
    this.leave();
    const unread = Buffer.from(this.unread, 'latin1');
    this.unread = '';
    handOver(this.socket);
    this.front.handOff(this.socket, unread);
  }

  private leave(): void {
    this.gone = true;
    const s = this.socket;
    for (const [event, listener] of this.listeners) s.off(event, listener);
    if (this.timer !== undefined) s.setTimeout(0);
    this.front.forget(this);
  }

  private readonly onClose = (): void => {
    this.leave();
    this.current?.socketClosed();
    this.current = undefined;
  };

  /**
   * Idle past the keep-alive timeout: closed, as node:http closes it; no head in time: 408 first; a body
   * not all there in time: node:http's to wait for.
   */
  private readonly onTimeout = (): void => {
    const s = this.socket;
    if (this.timer === 'head') s.end(REQUEST_TIMEOUT, 'latin1', () => s.destroy());
    else if (this.timer === 'body') this.handOff();
    else s.destroy();
  };

  private readonly onDrain = (): void => {
    this.current?.drained();
  };

  /** Everything this connection listens to on its socket, taken off as a whole when node:http takes over. */
  private get listeners(): [string, (chunk: Buffer) => void][] {
    const all: [string, (chunk: Buffer) => void][] = [
      ['end', onEnd],
      ['close', this.onClose],
      ['error', onError],
      ['timeout', this.onTimeout],
      ['drain', this.onDrain],
    ];
    if (!this.direct) all.push(['data', this.onData]);
    return all;
  }
}

let connections = 0;

/** The largest body the fast path waits for when it did not come with its head, and for how long. */
const BODY_WAIT_BYTES = 64 * 1024;
const BODY_WAIT_MS = 1_000;

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';

/**
 * The client ended its side. The server's sockets stay half-open until told (node:http's server needs
 * that); like node:http, the front then ends its side too, and a request still being served is
 * cancelled when the socket closes.
 */
function onEnd(this: Socket): void {
  this.end();
}

/** A reset or broken pipe: 'close' follows, and that is where a cut-off response is handled. */
function onError(): void {}
