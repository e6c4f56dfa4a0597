import { toDot } from './dot.js';
import type { MachineGraph } from './graph.js';
import { toJson } from './json.js';
import { toMermaid } from './mermaid.js';
import { toSvg } from './svg.js';

export const formats = ['svg', 'mermaid', 'dot', 'json'] as const;
export type Format = (typeof formats)[number];

export function isFormat(name: string): name is Format {
  return (formats as readonly string[]).includes(name);
}

/** One machine graph in one format: the single entry point of the CLI and the inspector server. */
export async function render(graph: MachineGraph, format: Format): Promise<string> {
  switch (format) {
    case 'svg':
      return toSvg(graph);
    case 'mermaid':
      return toMermaid(graph);
    case 'dot':
      return toDot(graph);
    case 'json':
      return toJson(graph);
  }
}
