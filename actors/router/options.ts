import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { InvalidArgumentError } from '../errors.js';
import { appUrl } from '../host/app-loader.js';
import type { Config, DispatcherOptions, InspectorOptions } from '../types.js';
import { unknownName, unknownNameMessage } from './names.js';

export interface ResolvedOptions {
  appUrl: string;
  actors: number;
  concurrency: number;
  config: Config;
  maxQueue: number;
  timeout: number;
  initTimeout: number;
  balanceFactor: number;
  park: boolean;
  maxRestarts: number;
  restartWindow: number;
  restartBackoff: number;
  killAfter: number;
  maxRequestsPerActor: number;
  maxHeapMB: number;
  canary: boolean;
  configTimeout: number;
  closeTimeout: number;
  stallAfter: number;
  stallTimeout: number;
  entry: 'handle' | 'fetch' | undefined;
  resourceLimits: ResourceLimits | undefined;
  metrics: boolean;
  tracing: boolean | 'auto';
  /** The cluster node id given to every actor (`ctx.node`); undefined without a cluster. */
  node: string | undefined;
}

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`Option '${name}' must be a positive integer; got ${String(value)}.`);
  }
  return value;
}

/**
 * The longest delay a Node timer takes (2^31 − 1 ms, about 24.8 days): past it setTimeout fires after
 * 1 ms instead, so a request given a long timeout would time out at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration that ends up in a timer: ≥ 0 (or > 0 with `positive`) and at most MAX_TIMER_MS. */
function milliseconds(name: string, value: unknown, fallback: number, positive = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(positive ? value > 0 : value >= 0) || !(value <= MAX_TIMER_MS)) {
    throw new InvalidArgumentError(
      `Option '${name}' must be a number of milliseconds ${positive ? '> 0' : '≥ 0'} and at most ${MAX_TIMER_MS} (a timer's limit); got ${String(value)}.`,
    );
  }
  return value;
}

function nonNegative(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `Option '${name}' must be a number ≥ 0 (milliseconds or a count); got ${String(value)}.`,
    );
  }
  return value;
}

/** Every name `createDispatcher` knows; the checks below fail to compile when the two lists drift apart. */
export const dispatcherOptionNames = [
  'app',
  'actors',
  'concurrency',
  'config',
  'maxQueue',
  'timeout',
  'initTimeout',
  'balanceFactor',
  'park',
  'maxRestarts',
  'restartWindow',
  'restartBackoff',
  'killAfter',
  'maxRequestsPerActor',
  'maxHeapMB',
  'resourceLimits',
  'entry',
  'canary',
  'configTimeout',
  'closeTimeout',
  'stallAfter',
  'stallTimeout',
  'metrics',
  'tracing',
  'inspect',
  'inspector',
  'record',
  'cluster',
] as const satisfies readonly (keyof DispatcherOptions)[];

const inspectorOptionNames = [
  'port',
  'host',
  'token',
  'showPayloads',
  'history',
  'admin',
] as const satisfies readonly (keyof InspectorOptions)[];

/** Compiles only while each list names every key of its interface. */
type Missing<T, Names extends readonly string[]> = Exclude<keyof T, Names[number]>;
const everyDispatcherOption: [Missing<DispatcherOptions, typeof dispatcherOptionNames>] extends [never]
  ? true
  : Missing<DispatcherOptions, typeof dispatcherOptionNames> = true;
const everyInspectorOption: [Missing<InspectorOptions, typeof inspectorOptionNames>] extends [never]
  ? true
  : Missing<InspectorOptions, typeof inspectorOptionNames> = true;
void everyDispatcherOption;
void everyInspectorOption;

/** Checks every option up front, so a mistake fails `createDispatcher` before any thread starts. */
export function resolveOptions(options: DispatcherOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      'createDispatcher needs an options object: createDispatcher({ app: "./app.js" }).',
    );
  }
  const unknown = unknownName(options, dispatcherOptionNames);
  if (unknown !== undefined)
    throw new InvalidArgumentError(unknownNameMessage('option', unknown, dispatcherOptionNames));
  const inspector: unknown = options.inspector;
  if (inspector !== undefined && inspector !== null && typeof inspector === 'object') {
    const wrong = unknownName(inspector, inspectorOptionNames);
    if (wrong !== undefined) {
      throw new InvalidArgumentError(unknownNameMessage('inspector option', wrong, inspectorOptionNames));
    }
  }
  const { app } = options;
  if (app === undefined || app === null || app === '') {
    throw new InvalidArgumentError("Option 'app' is required: the path or file URL of the app module.");
  }
  if (typeof app !== 'string' && !(app instanceof URL)) {
    throw new InvalidArgumentError("Option 'app' must be a path (string) or a file URL.");
  }
  const url = appUrl(app);
  if (url.startsWith('file:') && !existsSync(fileURLToPath(url))) {
    throw new InvalidArgumentError(`Option 'app': no module at ${fileURLToPath(url)}.`);
  }
  const config = options.config ?? {};
  if (!isPlainObject(config)) throw new InvalidArgumentError("Option 'config' must be a plain object.");
  const shared = findSharedMemory(config, 'config');
  if (shared !== undefined) throw new InvalidArgumentError(sharedConfigMessage(shared));
  const balanceFactor = options.balanceFactor ?? 1.5;
  if (typeof balanceFactor !== 'number' || !(balanceFactor >= 1)) {
    throw new InvalidArgumentError(
      `Option 'balanceFactor' must be a number ≥ 1; got ${String(balanceFactor)}.`,
    );
  }
  return {
    appUrl: url,
    actors: positiveInt('actors', options.actors, availableParallelism()),
    concurrency: positiveInt('concurrency', options.concurrency, 32),
    config: { ...config },
    maxQueue: nonNegative('maxQueue', options.maxQueue, 10_000),
    timeout: milliseconds('timeout', options.timeout, 0),
    initTimeout: milliseconds('initTimeout', options.initTimeout, 30_000, true),
    balanceFactor,
    park: flag('park', options.park, true),
    maxRestarts: nonNegative('maxRestarts', options.maxRestarts, 5),
    restartWindow: milliseconds('restartWindow', options.restartWindow, 10_000, true),
    restartBackoff: milliseconds('restartBackoff', options.restartBackoff, 50),
    killAfter: milliseconds('killAfter', options.killAfter, 1_000),
    maxRequestsPerActor: nonNegative('maxRequestsPerActor', options.maxRequestsPerActor, 0),
    maxHeapMB: nonNegative('maxHeapMB', options.maxHeapMB, 0),
    canary: options.canary ?? true,
    configTimeout: milliseconds('configTimeout', options.configTimeout, 30_000, true),
    closeTimeout: milliseconds('closeTimeout', options.closeTimeout, 10_000, true),
    stallAfter: milliseconds('stallAfter', options.stallAfter, 500),
    stallTimeout: milliseconds('stallTimeout', options.stallTimeout, 30_000, true),
    entry: entryOption(options.entry),
    resourceLimits: resourceLimits(options.resourceLimits),
    metrics: flag('metrics', options.metrics, true),
    tracing: options.tracing === 'auto' ? 'auto' : flag('tracing', options.tracing, 'auto'),
    node: undefined,
  };
}

const limitKeys = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'];

/** Node accepts any object here and ignores what it does not know: a typo would silently mean no limit. */
function resourceLimits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    throw new InvalidArgumentError(
      `Option 'resourceLimits' must be an object such as { maxOldGenerationSizeMb: 256 }; got ${String(value)}.`,
    );
  }
  for (const [key, limit] of Object.entries(value)) {
    if (!limitKeys.includes(key)) {
      throw new InvalidArgumentError(
        `Option 'resourceLimits' has an unknown key '${key}'; known: ${limitKeys.join(', ')}.`,
      );
    }
    if (limit === undefined) continue; // an option left out by a conditional spread
    if (typeof limit !== 'number' || !(limit > 0) || !Number.isFinite(limit)) {
      throw new InvalidArgumentError(
        `Option 'resourceLimits.${key}' must be a number of MB > 0; got ${String(limit)}.`,
      );
    }
  }
  return { ...value } as ResourceLimits;
}

function flag<F>(name: string, value: unknown, fallback: F): boolean | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new InvalidArgumentError(
      `Option '${name}' must be true or false${fallback === 'auto' ? " or 'auto'" : ''}; got ${String(value)}.`,
    );
  return value;
}

function entryOption(entry: unknown): 'handle' | 'fetch' | undefined {
  if (entry === undefined || entry === 'handle' || entry === 'fetch') return entry;
  throw new InvalidArgumentError(`Option 'entry' must be 'handle' or 'fetch'; got ${String(entry)}.`);
}

export function isPlainObject(value: unknown): value is Config {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Where a value holds shared memory (a SharedArrayBuffer or a view on one), as a path like `config.a[2]`;
 * undefined when it holds none. Config only (control plane, rare): a config version is a frozen snapshot
 * that every actor applies and acknowledges, and memory shared between threads could change under it
 * without a new version. Request payloads may share memory on purpose, so the data plane never walks them.
 */
export function findSharedMemory(value: unknown, path: string, seen = new Set<object>()): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (value instanceof SharedArrayBuffer) return path;
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer ? path : undefined;
  if (seen.has(value)) return undefined;
  seen.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const found =
        findSharedMemory(k, `${path}<key>`, seen) ?? findSharedMemory(v, `${path}.get(${String(k)})`, seen);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const entries = value instanceof Set ? [...value].entries() : Object.entries(value);
  for (const [k, v] of entries) {
    const found = findSharedMemory(
      v,
      Array.isArray(value) || value instanceof Set ? `${path}[${k}]` : `${path}.${k}`,
      seen,
    );
    if (found !== undefined) return found;
  }
  return undefined;
}

export function sharedConfigMessage(path: string): string {
  return `${path} holds a SharedArrayBuffer: config must be plain data that each version freezes; pass shared memory in a request payload instead.`;
}
