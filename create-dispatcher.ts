import { createDispatcherWith, defineApp } from './actors/router/create.js';
import type { Dispatcher, DispatcherOptions } from './actors/types.js';
import { startRecording } from './inspector/replay/writer.js';

/**
 * Starts a dispatcher: spawns the request actors, runs the app's `init` in each, and resolves only when
 * every one is ready. If any init throws or passes `initTimeout`, rejects with an InitError naming the
 * actor and carrying the cause, after every thread has ended. With `inspector`, the live inspector
 * server starts too, and with `cluster` the node joins its cluster over NATS (each loaded only then).
 */
export function createDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  return createDispatcherWith(options, {
    startInspector: async (dispatcher, inspectorOptions) => {
      const { startInspector } = await import('./inspector/live/server.js');
      return startInspector(dispatcher, inspectorOptions);
    },
    startRecording,
    joinCluster: async (resolved, clusterOptions, deps) => {
      const { joinCluster } = await import('./cluster/start.js');
      return joinCluster(resolved, clusterOptions, deps);
    },
  });
}

export { defineApp };
