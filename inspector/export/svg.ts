import { toDot } from './dot.js';
import { asGraph, type Drawable } from './graph.js';

type Viz = Awaited<ReturnType<typeof import('@viz-js/viz').instance>>;

let viz: Promise<Viz> | undefined;

/**
 * SVG laid out by Graphviz compiled to WebAssembly (`@viz-js/viz`): no native binary, no network.
 * The module (about 1 MB of WASM) is loaded on first use only, so neither the dispatcher nor the
 * other formats pay for it; the instance is then reused.
 */
export async function toSvg(input: Drawable): Promise<string> {
  const graph = asGraph(input);
  viz ??= import('@viz-js/viz').then((m) => m.instance());
  return (await viz).renderString(toDot(graph), { format: 'svg', engine: 'dot' });
}
