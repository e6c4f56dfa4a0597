/**
 * troupe as the suite sees it: loaded from the build (`dist/index.js`), the way a user imports it. Loaded
 * lazily so that the peers' cases still run while the core is missing or broken; its cases then report
 * the reason instead of a figure.
 */
import type { Dispatcher, DispatcherOptions } from '../../actors/types.js';
import { appUrl, distUrl } from './paths.js';
import type { Peer } from './peers.js';

export type CreateDispatcher = (options: DispatcherOptions) => Promise<Dispatcher>;

export interface Troupe {
  createDispatcher: CreateDispatcher;
}

export async function loadTroupe(): Promise<Troupe | string> {
  try {
    const mod = (await import(distUrl('index.js').href)) as { createDispatcher?: CreateDispatcher };
    if (typeof mod.createDispatcher !== 'function') return 'dist/index.js has no createDispatcher export';
    return { createDispatcher: mod.createDispatcher };
  } catch (err) {
    return `cannot load dist/index.js (${(err as Error)?.message ?? err}); build with \`npx tsc -p .\``;
  }
}

/** The bench's echo app, as every troupe case loads it. */
export const echoApp = appUrl('echo.mjs');

/** A dispatcher behind the same calls as the peers. */
export function troupePeer(dispatcher: Dispatcher): Peer {
  const call = (payload: unknown) => dispatcher.request(payload);
  return {
    one: call,
    many(payload, n) {
      const calls = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) calls[i] = call(payload);
      return Promise.all(calls);
    },
    close: () => dispatcher.close(),
  };
}
