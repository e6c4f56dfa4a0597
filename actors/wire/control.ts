import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../types.js';

/** What a new actor thread is given at its start (its `workerData`). */
export interface HostData {
  actorId: number;
  appUrl: string;
  control: MessagePort;
  inspect: boolean;
  entry: 'handle' | 'fetch' | undefined;
  /** The Int32 words the actor shares with the router: its heartbeat and its current run (loop-words.ts). */
  heartbeat: SharedArrayBuffer;
  /** How often the actor bumps its heartbeat, in ms (0: never). */
  heartbeatEvery: number;
  /** The router traces requests: load OpenTelemetry's API before ready. */
  tracing?: boolean;
  /** The cluster node id, read by each request's `ctx.node`. */
  node?: string | undefined;
}

/** What the router calls on an actor over Comlink (rare, rich messages). */
export interface ActorControl {
  init(config: Config, version: number): Promise<{ threadId: number }>;
  drain(): Promise<void>;
  stats(): { heapUsed: number; inFlight: number };
}
