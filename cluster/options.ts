import { hostname } from 'node:os';
import { InvalidArgumentError } from '../actors/errors.js';
import type { ClusterOptions } from '../actors/types.js';

export interface ResolvedCluster {
  servers: string[];
  name: string;
  node: string;
  nodeTimeout: number;
  prepareTimeout: number;
  /** How often this node announces itself: several heartbeats fit in one nodeTimeout. */
  heartbeat: number;
  credentials: { token?: string; user?: string; pass?: string; credsFile?: string };
}

/** Names become NATS subject tokens and a KV bucket name: dots, spaces and wildcards would split or widen them. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

function duration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 100 || value > 600_000) {
    throw new InvalidArgumentError(
      `Option 'cluster.${name}' must be a number of milliseconds from 100 to 600000; got ${String(value)}.`,
    );
  }
  return value;
}

function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError(`Option 'cluster.${name}' must be a non-empty string.`);
  }
  return value;
}

/** The default node id: unique per process on one host, and readable in logs. */
export function defaultNodeId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 48) || 'node';
  return `${host}-${process.pid}`;
}

/** Checks the cluster options before anything connects, so a typo fails `createDispatcher` at once. */
export function resolveCluster(options: ClusterOptions): ResolvedCluster {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      "Option 'cluster' must be an object: { servers: 'nats://127.0.0.1:4222', name: 'my-service' }.",
    );
  }
  const list = typeof options.servers === 'string' ? [options.servers] : options.servers;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string' || s === '')) {
    throw new InvalidArgumentError(
      "Option 'cluster.servers' must be a NATS URL or a non-empty list of them, e.g. 'nats://127.0.0.1:4222'.",
    );
  }
  if (typeof options.name !== 'string' || !TOKEN.test(options.name)) {
    throw new InvalidArgumentError(
      `Option 'cluster.name' must be 1-64 letters, digits, '-' or '_'; got ${String(options.name)}.`,
    );
  }
  const node = options.node ?? defaultNodeId();
  if (typeof node !== 'string' || !TOKEN.test(node)) {
    throw new InvalidArgumentError(
      `Option 'cluster.node' must be 1-64 letters, digits, '-' or '_'; got ${String(node)}.`,
    );
  }
  const nodeTimeout = duration('nodeTimeout', options.nodeTimeout, 5_000);
  const credentials: ResolvedCluster['credentials'] = {};
  for (const key of ['token', 'user', 'pass', 'credsFile'] as const) {
    const value = optionalString(key, options[key]);
    if (value !== undefined) credentials[key] = value;
  }
  return {
    servers: [...list],
    name: options.name,
    node,
    nodeTimeout,
    prepareTimeout: duration('prepareTimeout', options.prepareTimeout, 5_000),
    heartbeat: Math.max(50, Math.floor(nodeTimeout / 5)),
    credentials,
  };
}
