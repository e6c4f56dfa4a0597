import { InvalidArgumentError } from '../errors.js';
import type { App, Config, Dispatcher as DispatcherApi, DispatcherOptions } from '../types.js';
import { Dispatcher, type DispatcherDeps } from './dispatcher.js';
import { resolveOptions } from './options.js';

/**
 * Starts a dispatcher: spawns the request actors, runs the app's `init` in each, and resolves only when
 * every one is ready. If any init throws or passes `initTimeout`, rejects with an InitError naming the
 * actor and carrying the cause, after every thread has ended. `deps` brings what lives outside the core
 * (the live inspector server); the package's entry point supplies it.
 */
export async function createDispatcherWith(
  options: DispatcherOptions,
  deps: DispatcherDeps,
): Promise<DispatcherApi> {
  const resolved = resolveOptions(options);
  if (options.cluster !== undefined) {
    if (deps.joinCluster === undefined) {
      throw new InvalidArgumentError('This build of the dispatcher has no cluster support.');
    }
    return deps.joinCluster(resolved, options, deps);
  }
  const dispatcher = new Dispatcher(resolved, options.inspect, options.inspector, deps, options.record);
  await dispatcher.start();
  return dispatcher;
}

/** Declares an app module: `export default defineApp({ init, handle, configure, close })`. Typing only. */
export function defineApp<State = unknown, C extends Config = Config, P = unknown>(
  app: App<State, C, P>,
): App<State, C, P> {
  return app;
}
