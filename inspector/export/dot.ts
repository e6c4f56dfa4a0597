import { asGraph, type Drawable, type GraphState, type GraphTransition } from './graph.js';
import { edgeLabel } from './mermaid.js';
import { escapeXml, wrap } from './text.js';

/**
 * Graphviz DOT text. Compound states are clusters; an edge to or from a compound state is drawn to
 * or from its border (`compound=true` with `lhead`/`ltail`), anchored on its initial leaf, as in
 * the UML statecharts this notation comes from.
 *
 * Every state's node or cluster carries `id="state:<state id>"` and `class="state …"`, which
 * Graphviz copies into the SVG, so the live page can find a state in the drawing and mark the
 * actors in it without parsing labels.
 */
export function toDot(input: Drawable): string {
  const graph = asGraph(input);
  const byId = new Map(graph.states.map((s) => [s.id, s]));
  const children = new Map<string, GraphState[]>();
  for (const s of graph.states) children.set(s.parent, [...(children.get(s.parent) ?? []), s]);
  const isCompound = (id: string): boolean => (children.get(id)?.length ?? 0) > 0;

  /** The leaf an edge is anchored on when it meets a compound state: follow initial children down. */
  const leaf = (id: string): string => {
    let state = byId.get(id);
    while (state && isCompound(state.id)) {
      const kids = children.get(state.id)!;
      state = kids.find((k) => k.isInitial) ?? kids[0];
    }
    return state?.id ?? id;
  };

  const font = 'Helvetica,Arial,sans-serif';
  const out: string[] = [
    `digraph ${q(graph.id)} {`,
    `  graph [id=${q(`machine:${graph.id}`)}, rankdir=LR, compound=true, newrank=true, fontname=${q(font)}, fontsize=12, nodesep=0.3, ranksep=0.45, bgcolor="transparent", labelloc=t, labeljust=l, label=<<b>${escapeXml(graph.id)}</b>${graph.description ? `&#160;&#160;<font point-size="10" color="#475569">${escapeXml(graph.description)}</font>` : ''}>]`,
    `  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#64748b", penwidth=1.2, fontname=${q(font)}, fontsize=11, margin="0.16,0.06"]`,
    `  edge [fontname=${q(font)}, fontsize=9, color="#64748b", fontcolor="#1e293b", arrowsize=0.7]`,
  ];

  const rootTransitions = graph.transitions.filter((t) => t.source === graph.id);
  const anyId = `${graph.id}:any`;
  if (rootTransitions.length > 0) {
    const inner = rootTransitions.filter((t) => t.targets.length === 0).map(edgeLabel);
    out.push(
      `  ${q(anyId)} [id=${q(`state:${anyId}`)}, class="any-state", style="rounded,dashed", fontcolor="#475569", label=${htmlLabel('any state', undefined, inner)}]`,
    );
  }

  const emit = (parentId: string, indent: string): void => {
    const kids = children.get(parentId) ?? [];
    const initial = kids.find((k) => k.isInitial);
    if (initial) {
      const dot = `${parentId}:initial`;
      out.push(`${indent}${q(dot)} [shape=point, width=0.1, color="#1e293b", label=""]`);
      out.push(`${indent}${q(dot)} -> ${q(leaf(initial.id))}${attrs(edgeEnds(initial.id, undefined))}`);
    }
    for (const state of kids) {
      const inner = graph.transitions
        .filter((t) => t.source === state.id && t.targets.length === 0)
        .map(edgeLabel)
        .concat(
          state.entry.map((a) => `entry / ${a}`),
          state.exit.map((a) => `exit / ${a}`),
        )
        .concat(state.invoke.map((s) => `invoke ${s}`));
      if (isCompound(state.id)) {
        out.push(`${indent}subgraph ${q(`cluster_${state.id}`)} {`);
        out.push(
          `${indent}  id=${q(`state:${state.id}`)}; class="state state-compound"; style="rounded,filled"; fillcolor="#f1f5f9"; color="#64748b"; label=${htmlLabel(state.key, state.description, inner)};`,
        );
        emit(state.id, `${indent}  `);
        out.push(`${indent}}`);
      } else {
        const final = state.type === 'final' ? ', peripheries=2' : '';
        out.push(
          `${indent}${q(state.id)} [id=${q(`state:${state.id}`)}, class="state state-${state.type}"${final}, label=${htmlLabel(state.key, state.description, inner)}]`,
        );
      }
    }
  };
  emit(graph.id, '  ');

  for (const t of graph.transitions) {
    for (const target of t.targets) {
      const from = t.source === graph.id ? anyId : leaf(t.source);
      const ends = edgeEnds(target, t.source === graph.id ? undefined : t.source);
      const style = t.source === graph.id ? ', style=dashed' : '';
      out.push(
        `  ${q(from)} -> ${q(leaf(target))} [id=${q(`transition:${t.id}->${target}`)}, class="transition"${style}, label=${edgeHtml(t)}${ends.length ? `, ${ends.join(', ')}` : ''}]`,
      );
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;

  function edgeEnds(target: string, source: string | undefined): string[] {
    const ends: string[] = [];
    if (isCompound(target)) ends.push(`lhead=${q(`cluster_${target}`)}`);
    if (source && isCompound(source)) ends.push(`ltail=${q(`cluster_${source}`)}`);
    return ends;
  }
}

function attrs(list: string[]): string {
  return list.length ? ` [${list.join(', ')}]` : '';
}

/** A DOT quoted id. */
function q(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Graphviz-in-WASM measures text with built-in estimates that run ~5% short for small text in real
 * browser fonts; a trailing pair of no-break spaces keeps the longest line inside the box.
 */
const PAD = '&#160;&#160;';

/** Name in bold, the description wrapped small underneath, then the transitions that stay inside. */
function htmlLabel(name: string, description: string | undefined, inner: string[]): string {
  const rows = [`<tr><td align="left"><b>${escapeXml(name)}</b></td></tr>`];
  const desc = wrap(description ?? '', 34).map((line) => escapeXml(line) + PAD);
  if (desc.length) {
    rows.push(
      `<tr><td align="left"><font point-size="8" color="#475569">${desc.join('<br align="left"/>')}<br align="left"/></font></td></tr>`,
    );
  }
  for (const line of inner) {
    rows.push(
      `<tr><td align="left"><font point-size="8" color="#1d4ed8">${escapeXml(line)}${PAD}</font></td></tr>`,
    );
  }
  return `<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">${rows.join('')}</table>>`;
}

function edgeHtml(t: GraphTransition): string {
  let html = `<b>${escapeXml(t.event)}</b>`;
  // A plain space between two HTML-label runs is dropped by Graphviz; a no-break space is kept.
  if (t.guard) html += `&#160;<font color="#b45309">[${escapeXml(t.guard)}]</font>`;
  if (t.actions.length) html += `<br/><font color="#1d4ed8">/ ${escapeXml(t.actions.join(', '))}</font>`;
  return `<${html}>`;
}
