/**
 * The peers troupe is compared with, each behind the same two calls: one request at a time, and a batch
 * of n in flight. Every peer runs the same echo on the same number of threads.
 */
import { Worker } from 'node:worker_threads';
import { type Endpoint, type Remote, releaseProxy, wrap } from 'comlink';
import { Piscina } from 'piscina';
import Tinypool from 'tinypool';
import { workerUrl } from './paths.js';

export interface Peer {
  /** One request, resolved with its result. */
  one(payload: unknown): Promise<unknown>;
  /** n requests in flight at once; resolves when all n are back. */
  many(payload: unknown, n: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Runs a peer until its threads are up and its code is optimized, so that no sample pays for startup. */
export async function warm(peer: Peer, payload: unknown, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds; i++) await peer.one(payload);
  for (let i = 0; i < rounds / 10; i++) await peer.many(payload, 64);
}

function all(call: (payload: unknown) => Promise<unknown>, payload: unknown, n: number): Promise<unknown> {
  const calls = new Array<Promise<unknown>>(n);
  for (let i = 0; i < n; i++) calls[i] = call(payload);
  return Promise.all(calls);
}

/**
 * Raw `postMessage` ping-pong on bare workers: one message per request each way, round-robin over the
 * threads, and replies only counted (no ids, no promise per request). The floor for the data plane.
 */
export function rawPeer(threads: number): Peer {
  const workers = Array.from({ length: threads }, () => new Worker(workerUrl('raw-echo.mjs')));
  let remaining = 0;
  let resolve: ((value: unknown) => void) | undefined;
  let next = 0;
  const onMessage = (msg: unknown) => {
    if (--remaining === 0) {
      const r = resolve!;
      resolve = undefined;
      r(msg);
    }
  };
  for (const w of workers) w.on('message', onMessage);
  const send = (payload: unknown, n: number) =>
    new Promise<unknown>((res) => {
      remaining = n;
      resolve = res;
      for (let i = 0; i < n; i++) {
        workers[next]!.postMessage(payload);
        next = (next + 1) % threads;
      }
    });
  return {
    one: (payload) => send(payload, 1),
    many: send,
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** Piscina 5 running `task` on fixed threads; `concurrentTasksPerWorker` undefined keeps its default of 1. */
export function piscinaPool(task: URL, threads: number, concurrentTasksPerWorker?: number): Piscina {
  return new Piscina({
    filename: task.href,
    minThreads: threads,
    maxThreads: threads,
    ...(concurrentTasksPerWorker === undefined ? {} : { concurrentTasksPerWorker }),
  });
}

/** Tinypool 2 running `task` on fixed threads, its other options at their defaults. */
export function tinypoolPool(task: URL, threads: number): Tinypool {
  return new Tinypool({ filename: task.href, minThreads: threads, maxThreads: threads });
}

/** Piscina's echo; `concurrentTasksPerWorker` undefined keeps its default of 1. */
export function piscinaPeer(threads: number, concurrentTasksPerWorker?: number): Peer {
  const pool = piscinaPool(workerUrl('piscina-echo.mjs'), threads, concurrentTasksPerWorker);
  const call = (payload: unknown) => pool.run(payload) as Promise<unknown>;
  return {
    one: call,
    many: (payload, n) => all(call, payload, n),
    close: () => pool.destroy(),
  };
}

/** Tinypool 2 with fixed threads and its default options. */
export function tinypoolPeer(threads: number): Peer {
  const pool = tinypoolPool(workerUrl('tinypool-echo.mjs'), threads);
  const call = (payload: unknown) => pool.run(payload) as Promise<unknown>;
  return {
    one: call,
    many: (payload, n) => all(call, payload, n),
    close: () => pool.destroy(),
  };
}

/**
 * Comlink's Node adapter has no usable types under NodeNext, and a Worker has no `start()`;
 * this is the same adapter, typed, for a Worker.
 */
function workerEndpoint(worker: Worker): Endpoint {
  type Listener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };
  const wrapped = new WeakMap<Listener, (data: unknown) => void>();
  const endpoint = {
    postMessage: (message: unknown, transfer?: readonly import('node:worker_threads').TransferListItem[]) =>
      worker.postMessage(message, transfer),
    addEventListener(_type: string, listener: Listener) {
      const onData = (data: unknown) =>
        typeof listener === 'function' ? listener({ data }) : listener.handleEvent({ data });
      wrapped.set(listener, onData);
      worker.on('message', onData);
    },
    removeEventListener(_type: string, listener: Listener) {
      const onData = wrapped.get(listener);
      if (onData !== undefined) worker.off('message', onData);
    },
  };
  return endpoint as unknown as Endpoint;
}

interface EchoApi {
  echo(payload: unknown): unknown;
}

/** Comlink 4: one wrapped proxy per worker, calls round-robin. The proxies live as long as the peer. */
export function comlinkPeer(threads: number): Peer {
  const workers = Array.from({ length: threads }, () => new Worker(workerUrl('comlink-echo.mjs')));
  // Held in a long-lived array: a proxy collected during an `await` can leave its call hanging.
  const proxies: Remote<EchoApi>[] = workers.map((w) => wrap<EchoApi>(workerEndpoint(w)));
  let next = 0;
  const call = (payload: unknown) => {
    const proxy = proxies[next]!;
    next = (next + 1) % threads;
    return proxy.echo(payload) as Promise<unknown>;
  };
  return {
    one: call,
    many: (payload, n) => all(call, payload, n),
    async close() {
      for (const p of proxies) p[releaseProxy]();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** The request every peer echoes: a small object, the size of a typical request's routing data. */
export const PAYLOAD = Object.freeze({ op: 'echo', id: 1, user: 'ada', path: '/items/42' });

/** A mitata generator body: start and warm the peer, time `op`, close the peer. */
export function withPeer(make: () => Peer | Promise<Peer>, op: (peer: Peer) => Promise<unknown>) {
  return async function* () {
    const peer = await make();
    try {
      await warm(peer, PAYLOAD);
      yield () => op(peer);
    } finally {
      await peer.close();
    }
  };
}
