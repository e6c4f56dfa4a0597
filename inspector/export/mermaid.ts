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
  const parents = new Map<string, string>(graph.states.map((s) => [s.id, s.parent]));
  const children = childrenByParent(graph);
  const stays = (source: string): string[] =>
    graph.transitions
      .filter((t) => t.source === source && t.targets.length === 0)
      .map((t) => `on ${edgeLabel(t)}`);

  const out: string[] = ['stateDiagram-v2', '  direction LR'];
  if (graph.description) out.push(`  %% ${graph.id}: ${oneLine(graph.description)}`);
  const rootTransitions = graph.transitions.filter((t) => t.source === graph.id);
  if (rootTransitions.length > 0) {
    const any = ids.get(graph.id)!;
    out.push(`  state "any state" as ${any}`);
    for (const line of stays(graph.id)) out.push(`  ${any} : ${label(line)}`);
  }

  const emit = (parentId: string, indent: string): void => {
    const kids = children.get(parentId) ?? [];
    for (const state of kids) {
      const id = ids.get(state.id)!;
      const description = wrap(state.description ?? '', 44);
      if (children.get(state.id)?.length) {
        out.push(`${indent}state "${label(state.key)}" as ${id} {`);
        emit(state.id, `${indent}  `);
        out.push(`${indent}}`);
        // Mermaid refuses a description on a composite state: a note carries it, wrapped by Mermaid.
        const note = [state.description ?? '', ...stays(state.id)].filter(Boolean);
        if (note.length)
          out.push(
            `${indent}note right of ${id}`,
            ...note.map((l) => `${indent}  ${label(l)}`),
            `${indent}end note`,
          );
      } else {
        out.push(`${indent}state "${label(state.key)}" as ${id}`);
        for (const line of [...description, ...stays(state.id)]) out.push(`${indent}${id} : ${label(line)}`);
      }
    }
    for (const state of kids) if (state.isInitial) out.push(`${indent}[*] --> ${ids.get(state.id)}`);
    for (const t of graph.transitions) {
      for (const target of t.targets) {
        if (commonParent(t.source, target) !== parentId) continue;
        out.push(`${indent}${ids.get(t.source)} --> ${ids.get(target)} : ${label(edgeLabel(t))}`);
      }
    }
    for (const state of kids) if (state.type === 'final') out.push(`${indent}${ids.get(state.id)} --> [*]`);
  };
  emit(graph.id, '  ');

  if (rootTransitions.length > 0) {
    out.push('  classDef anyState fill:none,stroke-dasharray:4 3,font-style:italic');
    out.push(`  class ${ids.get(graph.id)} anyState`);
  }
  return `${out.join('\n')}\n`;

  /**
   * The block an edge is declared in: the innermost composite holding both ends. Mermaid creates a
   * state named inside a block in that block, so `two --> done` declared inside `busy` would make a
   * second `done` there; `healthy --> degraded` declared at the top would pull them out of `running`.
   */
  function commonParent(source: string, target: string): string {
    const chain = (id: string): string[] => {
      const up: string[] = [];
      for (let p = parents.get(id); p !== undefined; p = parents.get(p)) up.push(p);
      return up;
    };
    const targetChain = new Set(chain(target));
    return chain(source).find((p) => targetChain.has(p)) ?? graph.id;
  }
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

function label(text: string): string {
  return oneLine(text).replace(/[:;]/g, ',').replace(/"/g, "'").replace(/#/g, 'no.');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
