import { InvalidArgumentError } from '../errors.js';
import type { RequestOptions } from '../types.js';
import { unknownNameMessage } from './names.js';
import { MAX_TIMER_MS } from './options.js';

/** Every name `request()` and `stream()` take in their options. */
export const requestOptionNames = [
  'key',
  'signal',
  'timeout',
  'retry',
  'body',
  'transfer',
  'traceparent',
  'local',
  'route',
] as const satisfies readonly (keyof RequestOptions)[];

/** Compiles only while the list names every key of RequestOptions. */
type Missing = Exclude<keyof RequestOptions, (typeof requestOptionNames)[number]>;
const everyRequestOption: [Missing] extends [never] ? true : Missing = true;
void everyRequestOption;

/**
 * Checks the options of one `request()` / `stream()` call before anything is queued, so a mistake is an
 * InvalidArgumentError for that call (not a TypeError from deep inside the router, and not a HandlerError
 * from the actor). `undefined` means no options. Runs on every request, so it is one pass over the names
 * given and nothing more.
 */
export function checkRequestOptions(options: unknown): asserts options is RequestOptions | undefined {
  if (options === undefined) return;
  try {
    checkOptions(options);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    // A Proxy whose traps throw, a getter that throws: the caller's options could not even be read.
    throw new InvalidArgumentError(
      `Request options could not be read (${err instanceof Error ? err.message : 'a non-error was thrown'}).`,
      { cause: err },
    );
  }
}

function checkOptions(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(
      `Request options must be an object such as { key: 'user-1', timeout: 5000 }, or left out; got ${describe(options)}.`,
    );
  }
  for (const name in options) {
    if (!Object.hasOwn(options, name)) continue;
    const value = (options as Record<string, unknown>)[name];
    switch (name) {
      case 'key':
        if (value !== undefined && typeof value !== 'string') {
          throw new InvalidArgumentError(`A request key must be a string; got ${describe(value)}.`);
        }
        break;
      case 'signal':
        if (value !== undefined && !(value instanceof AbortSignal)) {
          throw new InvalidArgumentError(
            `Request option 'signal' must be an AbortSignal (from new AbortController().signal or AbortSignal.timeout(ms)); got ${describe(value)}.`,
          );
        }
        break;
      case 'timeout':
        if (value !== undefined && (typeof value !== 'number' || !(value >= 0 && value <= MAX_TIMER_MS))) {
          throw new InvalidArgumentError(
            `A request timeout must be a number of ms ≥ 0 and at most ${MAX_TIMER_MS} (a timer's limit); got ${describe(value)}.`,
          );
        }
        break;
      case 'retry':
      case 'local':
        if (value !== undefined && typeof value !== 'boolean') {
          throw new InvalidArgumentError(
            `Request option '${name}' must be true or false; got ${describe(value)}.`,
          );
        }
        break;
      case 'body':
        if (value !== undefined) checkBody(value);
        break;
      case 'transfer':
        if (value !== undefined && !Array.isArray(value)) {
          throw new InvalidArgumentError(
            `Request option 'transfer' must be an array of the ArrayBuffers (or ports) in the payload to move; got ${describe(value)}.`,
          );
        }
        break;
      case 'route':
        if (value !== undefined && (typeof value !== 'string' || value === '')) {
          throw new InvalidArgumentError(
            `Request option 'route' must be a non-empty string naming what kind of request this is (such as 'GET /report'); got ${describe(value)}.`,
          );
        }
        break;
      case 'traceparent':
        if (value !== undefined && typeof value !== 'string') {
          throw new InvalidArgumentError(
            `Request option 'traceparent' must be a W3C traceparent header string; got ${describe(value)}.`,
          );
        }
        break;
      default:
        throw new InvalidArgumentError(unknownNameMessage('request option', name, requestOptionNames));
    }
  }
}

/**
 * A body is streamed chunk by chunk with backpressure, so it must be an async iterable. Data that is
 * whole already (a string, bytes, an array) belongs in the payload, where it costs one message.
 */
function checkBody(body: unknown): void {
  const wrap = 'or wrap it as one: (async function* () { yield data; })()';
  if (typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    throw new InvalidArgumentError(
      `Request option 'body' must be an async iterable of chunks (an async generator, a Readable, a ReadableStream); got ${describe(body)}. Data that is whole already goes in the payload, ${wrap}.`,
    );
  }
  if (Array.isArray(body)) {
    throw new InvalidArgumentError(
      `Request option 'body' must be an async iterable of chunks (an async generator, a Readable, a ReadableStream); got an array. Put the array in the payload, or stream its items: (async function* () { yield* items; })().`,
    );
  }
  const iterate =
    body !== null && (typeof body === 'object' || typeof body === 'function')
      ? (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator]
      : undefined;
  if (typeof iterate !== 'function') {
    throw new InvalidArgumentError(
      `Request option 'body' must be an async iterable of chunks (an async generator, a Readable, a ReadableStream); got ${describe(body)}. Put plain data in the payload, ${wrap}.`,
    );
  }
}

/** A short, safe description of a bad value: never its whole contents, never a call into its code. */
function describe(value: unknown): string {
  try {
    return describeValue(value);
  } catch {
    return 'a value that cannot be inspected';
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (ArrayBuffer.isView(value)) return `a ${value.constructor?.name ?? 'typed array'}`;
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer';
  const proto = Object.getPrototypeOf(value);
  const name = proto === null ? undefined : proto.constructor?.name;
  return name === undefined || name === 'Object' ? 'a plain object' : `a ${name}`;
}
