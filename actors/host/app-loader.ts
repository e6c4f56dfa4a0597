import { pathToFileURL } from 'node:url';
import { AppLoadError } from '../errors.js';
import type { App } from '../types.js';

/** `handle` as the host calls it: fetch-style apps are adapted to this shape when they are loaded. */
export type Handle = (payload: unknown, ctx: never) => unknown;

export interface LoadedApp {
  app: App;
  handle: Handle;
}

/** Turns a path or file URL into the URL `import()` wants; relative paths are taken from the cwd. */
export function appUrl(app: string | URL): string {
  if (app instanceof URL) return app.href;
  if (/^(file|data):/.test(app)) return app;
  return pathToFileURL(app).href;
}

/**
 * Loads the app module in an actor. The app is the module's default export (or, failing that, the module
 * namespace itself), and must have `handle` or `fetch` (`entry` picks one when it has both).
 */
export async function loadApp(url: string, entry?: 'handle' | 'fetch'): Promise<LoadedApp> {
  let mod: Record<string, unknown>;
  if (entry === 'fetch') {
    // Before the app's own imports: a library that keeps a reference to `Response` gets the light one.
    const { installWebObjects } = await import('./fetch-app.js');
    installWebObjects();
  }
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    throw new AppLoadError(`Cannot load the app module ${url}: ${(cause as Error)?.message ?? cause}`, {
      cause,
    });
  }
  const candidate = (mod.default ?? mod) as App | undefined;
  if (candidate === null || (typeof candidate !== 'object' && typeof candidate !== 'function')) {
    throw new AppLoadError(
      `The app module ${url} has no default export; export default defineApp({ handle }).`,
    );
  }
  if (entry !== undefined && typeof candidate[entry] !== 'function') {
    throw new AppLoadError(`The app module ${url} has no ${entry}() (the dispatcher was asked to use it).`);
  }
  if (typeof candidate.handle === 'function' && entry !== 'fetch') {
    return { app: candidate, handle: candidate.handle.bind(candidate) as Handle };
  }
  if (typeof candidate.fetch === 'function') {
    const { adaptFetchApp, installWebObjects } = await import('./fetch-app.js');
    installWebObjects();
    return { app: candidate, handle: adaptFetchApp(candidate) as Handle };
  }
  throw new AppLoadError(
    `The app module ${url} exports neither handle() nor fetch(); export default defineApp({ handle(payload, ctx) { ... } }).`,
  );
}
