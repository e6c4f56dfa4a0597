import { deserialize, serialize } from 'node:v8';

/**
 * Config and control messages cross nodes with structured-clone semantics (`node:v8`), the same rules as
 * between threads: what a config may hold locally it may hold across the cluster, and what fails locally
 * with DataCloneError fails the same way here.
 */
export function encode(value: unknown): Uint8Array {
  return serialize(value);
}

export function decode<T>(bytes: Uint8Array): T {
  return deserialize(bytes) as T;
}

/** Equal as data (the same serialized bytes): how a catch-up tells which keys of a config changed. */
export function sameData(a: unknown, b: unknown): boolean {
  return Buffer.from(serialize(a)).equals(Buffer.from(serialize(b)));
}
