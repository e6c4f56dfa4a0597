import type { App, Config, Dispatcher, DispatcherOptions } from '../types.js';
import { resolveOptions } from './options.js';
import { Router } from './router.js';

/**
 * Starts a dispatcher: spawns the request actors, runs the app's `init` in each, and resolves only when
 * every one is ready. If any init throws or passes `initTimeout`, rejects with an InitError naming the
 * actor and carrying the cause, after every thread has ended.
 */
export async function createDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  const resolved = resolveOptions(options);
  const router = new Router(resolved, options.inspect, options.inspector);
  await router.start();
  return router;
}

/** Declares an app module: `export default defineApp({ init, handle, configure, close })`. Typing only. */
export function defineApp<State = unknown, C extends Config = Config, P = unknown>(
  app: App<State, C, P>,
): App<State, C, P> {
  return app;
}
