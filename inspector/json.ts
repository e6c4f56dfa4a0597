import type { MachineGraph } from './graph.js';

/** The extracted graph as JSON (the shape documented by `MachineGraph`), for tools of one's own. */
export function toJson(graph: MachineGraph): string {
  return `${JSON.stringify(graph, null, 2)}\n`;
}
