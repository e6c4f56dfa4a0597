import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
    mod = await importModule(url);
  } catch (cause) {
    if (cause instanceof AppLoadError) throw cause;
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
  if (entry === 'fetch' && typeof candidate.fetch !== 'function') {
    // Over HTTP, an app without fetch() may be a Node-style one: a (req, res) listener, Express, Koa, Fastify.
    const { nodeListenerOf, adaptNodeApp } = await import('./node-app.js');
    const listener = await nodeListenerOf(candidate);
    if (listener !== undefined) {
      // Its lifecycle hooks, if any, are the module's named exports (an Express app's own init() is not one).
      const app: App = {};
      for (const hook of ['init', 'configure', 'close'] as const) {
        if (typeof mod[hook] === 'function') (app as Record<string, unknown>)[hook] = mod[hook];
      }
      return { app, handle: adaptNodeApp(listener) as Handle };
    }
  }
  if (entry !== undefined && typeof candidate[entry] !== 'function') {
    throw new AppLoadError(
      entry === 'fetch'
        ? `The app module ${url} has no fetch() (the dispatcher was asked to use it), and is not a Node request listener, Express, Koa or Fastify app either.`
        : `The app module ${url} has no ${entry}() (the dispatcher was asked to use it).`,
    );
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

const TYPESCRIPT = /\.[cm]?tsx?$/;

/**
 * Imports the app. A TypeScript app is imported through tsx when it can be found (next to the app first,
 * then next to troupe), else by Node itself where Node strips types (22.18 and later, or an older 22
 * with --experimental-strip-types); Node 20 cannot, and says so.
 */
async function importModule(url: string): Promise<Record<string, unknown>> {
  if (!TYPESCRIPT.test(new URL(url).pathname)) return (await import(url)) as Record<string, unknown>;
  const tsImport = await findTsx(url);
  if (tsImport !== undefined) return (await tsImport(url, url)) as Record<string, unknown>;
  if ((process.features as { typescript?: unknown }).typescript) {
    return (await import(url)) as Record<string, unknown>;
  }
  throw new AppLoadError(
    `Cannot load the TypeScript app ${url}: Node ${process.versions.node} does not strip types, and tsx is not installed. Install tsx next to the app (npm i -D tsx), use Node 22.18 or later, or build the app to JavaScript.`,
  );
}

type TsImport = (specifier: string, parent: string) => Promise<unknown>;

async function findTsx(appUrl: string): Promise<TsImport | undefined> {
  const from = appUrl.startsWith('file:') ? [fileURLToPath(appUrl), import.meta.url] : [import.meta.url];
  for (const base of from) {
    const entry = esmEntry(base, 'tsx', './esm/api');
    if (entry === undefined) continue;
    const api = (await import(pathToFileURL(entry).href)) as { tsImport?: TsImport };
    if (typeof api.tsImport === 'function') return api.tsImport;
  }
  return undefined;
}

/**
 * The file a package's export map gives `import` for `subpath`, resolved from `base` (require.resolve
 * would give the CommonJS build, and import.meta.resolve cannot start from another directory on Node 20).
 */
function esmEntry(base: string, name: string, subpath: string): string | undefined {
  let manifest: string;
  try {
    manifest = createRequire(base).resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  const pkg = createRequire(manifest)(manifest) as { exports?: Record<string, unknown> };
  let target: unknown = pkg.exports?.[subpath];
  for (let i = 0; i < 4 && target !== null && typeof target === 'object'; i++) {
    const t = target as Record<string, unknown>;
    target = t.import ?? t.default;
  }
  return typeof target === 'string' ? join(dirname(manifest), target) : undefined;
}
