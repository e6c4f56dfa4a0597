import { asGraph, type Drawable, type GraphState, type GraphTransition, type MachineGraph } from './graph.js';
import { wrap } from './text.js';

/**
 * Mermaid `stateDiagram-v2` text, which GitHub renders inline in Markdown.
 *
 * Choices, each forced by Mermaid's grammar or by GitHub's renderer:
 * - State ids are the state's path joined by `_` (`running_healthy`) with anything but `[A-Za-z0-9_]`
 *   replaced, because Mermaid ids cannot hold dots or dashes; the label keeps the real name.
 * - A root-level transition (`CRASH` from any state) starts at a dashed pseudo-state "any state":
 *   drawing one edge per state would be as true but would bury the diagram in arrows.
 * - A targetless transition (actions only, the state is not left) is listed inside its state's box
 *   (`on CONFIG_APPLIED / recordVersion`); a self-loop would claim the state is exited and re-entered.
 * - Colons and semicolons end a label in Mermaid, so they are replaced in free text.
 */
export function toMermaid(input: Drawable): string {
  const graph = asGraph(input);
  const ids = mermaidIds(graph);
  const out: string[] = ['stateDiagram-v2', '  direction LR'];
  if (graph.description) out.push(`  %% ${graph.id}: ${oneLine(graph.description)}`);
  const children = childrenByParent(graph);
  const emit = (parentId: string, indent: string): void => {
    for (const state of children.get(parentId) ?? []) {
      const id = ids.get(state.id)!;
      const kids = children.get(state.id);
      if (kids?.length) {
        out.push(`${indent}state "${label(state.key)}" as ${id} {`);
        emit(state.id, `${indent}  `);
        out.push(`${indent}}`);
      } else {
        out.push(`${indent}state "${label(state.key)}" as ${id}`);
      }
      const lines = wrap(state.description ?? '', 44).concat(
        graph.transitions
          .filter((t) => t.source === state.id && t.targets.length === 0)
          .map((t) => `on ${edgeLabel(t)}`),
      );
      if (kids?.length) {
        // Mermaid refuses a description on a composite state: a note carries it instead.
        // Its own wrapping: our line breaks would only add ragged ones.
        const note = [state.description ?? '', ...lines.slice(wrap(state.description ?? '', 44).length)];
        const body = note.filter(Boolean).map((l) => `${indent}  ${label(l)}`);
        if (body.length) out.push(`${indent}note right of ${id}`, ...body, `${indent}end note`);
      } else {
        for (const line of lines) out.push(`${indent}${id} : ${label(line)}`);
      }
    }
    for (const state of children.get(parentId) ?? []) {
      if (state.isInitial) out.push(`${indent}[*] --> ${ids.get(state.id)}`);
    }
    for (const t of graph.transitions) {
      if (t.targets.length === 0 || parentOf(graph, t.source) !== parentId) continue;
      for (const target of t.targets) {
        out.push(`${indent}${ids.get(t.source)} --> ${ids.get(target)} : ${label(edgeLabel(t))}`);
      }
    }
    for (const state of children.get(parentId) ?? []) {
      if (state.type === 'final') out.push(`${indent}${ids.get(state.id)} --> [*]`);
    }
  };
  const rootTransitions = graph.transitions.filter((t) => t.source === graph.id);
  if (rootTransitions.some((t) => t.targets.length > 0)) {
    out.push(`  state "any state" as ${ids.get(graph.id)}`);
  }
  emit(graph.id, '  ');
  for (const t of rootTransitions.filter((t) => t.targets.length === 0)) {
    out.push(`  %% any state, on ${oneLine(edgeLabel(t))} (stays in its state)`);
  }
  if (rootTransitions.some((t) => t.targets.length > 0)) {
    out.push('  classDef anyState fill:none,stroke-dasharray:4 3,font-style:italic');
    out.push(`  class ${ids.get(graph.id)} anyState`);
  }
  return `${out.join('\n')}\n`;
}

/** Event, guard and actions as one edge label, the way the DOT export prints it too. */
export function edgeLabel(t: GraphTransition): string {
  let text = t.event;
  if (t.guard) text += ` [${t.guard}]`;
  if (t.actions.length) text += ` / ${t.actions.join(', ')}`;
  return text;
}

/** Mermaid id of every state, and of the machine itself (the "any state" pseudo-state). */
export function mermaidIds(graph: MachineGraph): Map<string, string> {
  const ids = new Map<string, string>([[graph.id, '__any']]);
  const used = new Set(['__any']);
  for (const state of graph.states) {
    const base = mermaidId(state);
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(state.id, id);
  }
  return ids;
}

/** `['running', 'healthy']` → `running_healthy`. */
export function mermaidId(state: Pick<GraphState, 'path'>): string {
  return state.path.join('_').replace(/[^A-Za-z0-9_]/g, '_');
}

function childrenByParent(graph: MachineGraph): Map<string, GraphState[]> {
  const map = new Map<string, GraphState[]>();
  for (const s of graph.states) map.set(s.parent, [...(map.get(s.parent) ?? []), s]);
  return map;
}

/**
 * Edges go in the block of the source's parent: Mermaid draws an edge declared inside a composite
 * state inside that composite, so `healthy --> degraded` stays in `running`.
 */
function parentOf(graph: MachineGraph, id: string): string | undefined {
  if (id === graph.id) return graph.id;
  return graph.states.find((s) => s.id === id)?.parent;
}

function label(text: string): string {
  return oneLine(text).replace(/[:;]/g, ',').replace(/"/g, "'").replace(/#/g, 'no.');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
