import { asGraph, type Drawable } from './graph.js';

/** The extracted graph as JSON (the shape documented by `MachineGraph`), for tools of one's own. */
export function toJson(input: Drawable): string {
  const graph = asGraph(input);
  return `${JSON.stringify(graph, null, 2)}\n`;
}
