import type { AnyStateMachine, AnyStateNode } from 'xstate';

/**
 * A machine definition reduced to plain data: the one input of every exporter (Mermaid, DOT, SVG,
 * JSON) and of the live page. Read from the machine's own state-node tree rather than from
 * `machine.toJSON()`, because the JSON drops `always` transitions and turns inline guards and
 * higher-order guards (`and`, `or`, `not`) into nothing; the tree still has them.
 */
export interface MachineGraph {
  /** The machine's id, e.g. `request-actor`. */
  id: string;
  description: string | undefined;
  /** Every state node below the root, parents before children, in definition order. */
  states: GraphState[];
  /** Every transition, including root-level ones (`source` = the machine id) and targetless ones. */
  transitions: GraphTransition[];
}

export interface GraphState {
  /** Full dotted id, unique in the machine: `router.running.healthy`. */
  id: string;
  /** The name in its parent: `healthy`. */
  key: string;
  /** Keys from the root down: `['running', 'healthy']`; joined by `.` it is the name the dispatcher reports. */
  path: string[];
  /** The parent's id; the machine id for top-level states. */
  parent: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** For compound states: the id of the initial child. */
  initial: string | undefined;
  /** True when this state is the initial child of its parent. */
  isInitial: boolean;
  description: string | undefined;
  tags: string[];
  entry: string[];
  exit: string[];
  invoke: string[];
}

export interface GraphTransition {
  /** Unique and stable: `source:event:index`. */
  id: string;
  /** Id of the state that declares the transition (the machine id for root-level transitions). */
  source: string;
  /** Target state ids; empty for a targetless transition (runs actions, stays in its state). */
  targets: string[];
  /** The raw event descriptor xstate matches on (`xstate.after.…` for delays, `''` for `always`). */
  eventType: string;
  /** What to print on the edge: the event, `after 500ms`, or `always`. */
  event: string;
  guard: string | undefined;
  /** Delay in ms, or the name of a configured delay, for `after` transitions. */
  delay: number | string | undefined;
  actions: string[];
  reenter: boolean;
}

/** What the exporters take: a machine (drawn from its definition) or a graph already extracted. */
export type Drawable = AnyStateMachine | MachineGraph;

export function asGraph(input: Drawable): MachineGraph {
  return 'root' in input ? machineGraph(input) : input;
}

export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root;
  const graph: MachineGraph = { id: root.id, description: root.description, states: [], transitions: [] };
  addTransitions(graph, root);
  walk(graph, root);
  return graph;
}

function walk(graph: MachineGraph, parent: AnyStateNode): void {
  const initialIds = new Set(parent.type === 'compound' ? parent.initial.target.map((t) => t.id) : []);
  for (const node of Object.values(parent.states) as AnyStateNode[]) {
    graph.states.push({
      id: node.id,
      key: node.key,
      path: [...node.path],
      parent: parent.id,
      type: node.type,
      initial: node.type === 'compound' ? node.initial.target[0]?.id : undefined,
      isInitial: initialIds.has(node.id),
      description: node.description,
      tags: [...node.tags],
      entry: node.entry.map(actionName).filter(notInternal),
      exit: node.exit.map(actionName).filter(notInternal),
      invoke: node.invoke.map((i) => i.src as string),
    });
    addTransitions(graph, node);
    walk(graph, node);
  }
}

function addTransitions(graph: MachineGraph, node: AnyStateNode): void {
  const all = [...node.transitions.values()].flat().concat(node.always ?? []);
  all.forEach((t, index) => {
    const delay = (t as { delay?: unknown }).delay;
    const eventType = String(t.eventType);
    graph.transitions.push({
      id: `${node.id}:${eventType}:${index}`,
      source: node.id,
      targets: (t.target ?? []).map((s) => s.id),
      eventType,
      event: eventLabel(eventType, delay),
      guard: t.guard === undefined ? undefined : guardLabel(t.guard),
      delay: typeof delay === 'number' || typeof delay === 'string' ? delay : undefined,
      actions: t.actions.map(actionName),
      reenter: t.reenter,
    });
  });
}

function eventLabel(eventType: string, delay: unknown): string {
  if (eventType === '') return 'always';
  if (eventType.startsWith('xstate.after.')) {
    if (typeof delay === 'number') return `after ${formatMs(delay)}`;
    if (typeof delay === 'string') return `after ${delay}`;
    return 'after (dynamic delay)';
  }
  return eventType;
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A guard as text: named guards by name, `and`/`or`/`not` spelled out, inline ones by function name. */
export function guardLabel(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as { name: string; guards?: unknown[]; stateValue?: unknown };
    if (g.guards && g.name === 'not') return `!${guardLabel(g.guards[0])}`;
    if (g.guards && (g.name === 'and' || g.name === 'or')) {
      return `(${g.guards.map(guardLabel).join(g.name === 'and' ? ' && ' : ' || ')})`;
    }
    if (g.name === 'stateIn') return `in(${JSON.stringify(g.stateValue)})`;
    return g.name && g.name !== 'guard' ? g.name : 'inline guard';
  }
  if (guard !== null && typeof guard === 'object' && 'type' in guard) return String(guard.type);
  return 'guard';
}

function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const a = action as { name: string; type?: string };
    return a.type ?? (a.name || 'inline action');
  }
  if (action !== null && typeof action === 'object' && 'type' in action) return String(action.type);
  return 'action';
}

/** `after` delays add raise/cancel actions to entry and exit; they are the delay itself, already drawn. */
function notInternal(name: string): boolean {
  return name !== 'xstate.raise' && name !== 'xstate.cancel';
}

/** A state's display name: its path below the root, `running.healthy`, as the dispatcher reports it. */
export function stateName(state: GraphState): string {
  return state.path.join('.');
}
