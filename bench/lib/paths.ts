/**
 * Where the bench's plain `.mjs` files live. The compiled bench runs from `dist/bench/`, but tsc does not
 * copy `.mjs` files, so they are resolved from the source tree: `dist/bench/lib/` is three levels below
 * the repository root.
 */
const root = new URL('../../../', import.meta.url);

export const workerUrl = (name: string): URL => new URL(`bench/workers/${name}`, root);
export const appUrl = (name: string): URL => new URL(`bench/apps/${name}`, root);
export const resultsUrl = (name: string): URL => new URL(`bench/results/${name}`, root);
export const distUrl = (path: string): URL => new URL(`dist/${path}`, root);
