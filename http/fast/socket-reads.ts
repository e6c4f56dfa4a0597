import { Socket } from 'node:net';

/**
 * Reads a server socket into one buffer that every fast connection shares, through the same mechanism as
 * `new net.Socket({ onread })`: node then reads straight into that buffer and calls back with the byte
 * count, with no Buffer allocated per read and no pass through the socket's Readable stream.
 *
 * `onread` is an option of the Socket constructor, and net.Server builds its sockets without it. The
 * constructor keeps the option under three symbol-keyed fields that node's read callback consults on every
 * read, so a socket the server made is switched by setting those fields and giving its handle the buffer,
 * as the constructor does. The fields are found on a socket built with the option, not assumed: on a
 * node whose sockets do not keep them, `readInto` returns false and the connection reads 'data' events.
 */

/** Gets each read's byte count; the bytes are at the start of `buffer`, which the next read refills. */
export type ReadCallback = (bytes: number, buffer: Buffer) => void;

/** The size of read libuv asks for by default, and four times the largest head node:http accepts. */
const shared = Buffer.allocUnsafe(64 * 1024);

interface Fields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

const fields = findFields();

function findFields(): Fields | undefined {
  // The constructor takes `onread` (as socket.connect does); node's type for its options leaves it out.
  const onread = { buffer: Buffer.alloc(1), callback: () => undefined };
  const probe = new Socket({ onread } as ConstructorParameters<typeof Socket>[0]);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  probe.destroy();
  if (buffer === undefined || callback === undefined || generator === undefined) return undefined;
  return { buffer, callback, generator };
}

/**
 * Whether `readInto` switches sockets at all. Off, every connection reads 'data' events, as on a node
 * without the fields: the tests run the fast path both ways.
 */
export const directReads = { on: true };

interface Switchable {
  _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null;
}

/**
 * Switches `socket` to reading into the shared buffer: `callback` gets each read's byte count and must
 * copy out what it keeps before it returns. Returns false when this node cannot (the caller then listens
 * for 'data'). The switch is for the socket's life: a connection handed to node:http afterwards is read
 * by node:http's parser straight from the handle, which does not go through this callback; should the
 * parser give the handle back (an upgrade), `handOver` makes the callback push what it reads into the
 * socket's stream, as a plain socket would.
 */
export function readInto(socket: Socket, callback: ReadCallback): boolean {
  const handle = (socket as unknown as Switchable)._handle;
  if (!directReads.on || fields === undefined || typeof handle?.useUserBuffer !== 'function') return false;
  const record = socket as unknown as Record<symbol, unknown>;
  record[fields.buffer] = shared;
  record[fields.callback] = callback;
  record[fields.generator] = null;
  handle.useUserBuffer(shared);
  return true;
}

/** After `readInto`: what later reads do once node:http owns the connection (see readInto). */
export function handOver(socket: Socket): void {
  if (fields === undefined) return;
  const record = socket as unknown as Record<symbol, unknown>;
  if (record[fields.buffer] !== shared) return;
  record[fields.callback] = (bytes: number, buffer: Buffer) => {
    socket.push(Buffer.from(buffer.subarray(0, bytes)));
  };
}
