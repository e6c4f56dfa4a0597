import { EventEmitter } from 'node:events';

/** Where the bytes a ServerResponse writes to its socket go (see node-response.ts). */
export interface SocketSink {
  write(
    data: string | Uint8Array,
    encoding: BufferEncoding | undefined,
    done: (() => void) | undefined,
  ): boolean;
  /** The socket was destroyed (by the app, or because the client left). */
  destroyed(error: Error | undefined): void;
  /** Bytes the sink takes before write() says to wait. */
  room(): number;
}

type Callback = (err?: Error | null) => void;

/**
 * The socket under a Node-style app's request and response inside an actor. It is not a network socket:
 * the HTTP front on the main thread owns that one. It carries what frameworks read from a socket (the
 * peer's address, `encrypted`, `writable`) and takes what ServerResponse writes, handing it to the sink.
 * Corking is honoured: `res.end(body)` corks, writes head and body, and uncorks, so the sink sees them
 * as one group and the response can leave as one message.
 */
export class ActorSocket extends EventEmitter {
  readonly encrypted = false;
  readonly remoteFamily: string;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 0;
  readable = true;
  writable = true;
  destroyed = false;
  readonly connecting = false;
  readonly pending = false;
  readonly readyState = 'open';
  /** Set by ServerResponse.assignSocket. */
  _httpMessage: unknown = null;
  /** ServerResponse.end() sets `_writableState.corked` itself before it uncorks. */
  readonly _writableState = { corked: 0 };
  private held: [string | Uint8Array, BufferEncoding | undefined, Callback | undefined][] = [];
  private heldBytes = 0;
  bytesWritten = 0;

  constructor(
    private readonly sink: SocketSink,
    readonly remoteAddress: string | undefined,
    readonly remotePort: number | undefined,
  ) {
    super();
    this.remoteFamily = remoteAddress?.includes(':') ? 'IPv6' : 'IPv4';
  }

  write(data: string | Uint8Array, encoding?: BufferEncoding | Callback, cb?: Callback): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.destroyed) return false;
    if (this._writableState.corked > 0) {
      // ServerResponse corks around every write: what it is told here is what the app's write() returns.
      this.held.push([data, encoding, cb]);
      this.heldBytes += typeof data === 'string' ? data.length : data.byteLength;
      return this.heldBytes < this.sink.room();
    }
    return this.send(data, encoding, cb);
  }

  private send(
    data: string | Uint8Array,
    encoding: BufferEncoding | undefined,
    cb: Callback | undefined,
  ): boolean {
    this.bytesWritten += typeof data === 'string' ? data.length : data.byteLength;
    return this.sink.write(data, encoding, typeof cb === 'function' ? () => cb(null) : undefined);
  }

  cork(): void {
    this._writableState.corked++;
  }

  uncork(): void {
    const state = this._writableState;
    if (state.corked === 0 || --state.corked > 0) return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const [data, encoding, cb] of held) this.send(data, encoding, cb);
  }

  get writableLength(): number {
    return 0;
  }

  get writableCorked(): number {
    return this._writableState.corked;
  }

  end(data?: string | Uint8Array | Callback, encoding?: BufferEncoding | Callback, cb?: Callback): this {
    if (typeof data === 'function') cb = data;
    else if (data !== undefined) this.write(data, encoding, cb);
    this.writable = false;
    return this;
  }

  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.readable = false;
    this.writable = false;
    this.sink.destroyed(error);
    process.nextTick(() => this.emit('close', error !== undefined));
    return this;
  }

  destroySoon(): void {
    this.destroy();
  }

  // What frameworks call on a socket and that has no meaning here.
  setTimeout(_ms: number, cb?: () => void): this {
    if (cb !== undefined) this.once('timeout', cb);
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }
}
