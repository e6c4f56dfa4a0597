import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestActorMachine, routerMachine, toDot, toMermaid } from 'troupe';
import { sampleMachine } from './fixtures/inspector-sample-machine.mjs';

/**
 * What every export must contain, computed from the machine's own JSON definition
 * (`machine.toJSON()`), not from the exporters' extraction and not from a list written here.
 */
function definition(machine) {
  const def = JSON.parse(JSON.stringify(machine.toJSON()));
  const states = [];
  const transitions = [];
  const initials = [];
  const visit = (node, path) => {
    const initial = node.initial?.target?.[0];
    if (initial) initials.push(initial.replace(/^#/, ''));
    for (const t of node.transitions) {
      transitions.push({
        source: node.id,
        sourcePath: path,
        targets: (t.target ?? []).map((id) => id.replace(/^#/, '')),
        event: eventLabel(t),
        guard: typeof t.guard === 'string' ? t.guard : undefined,
      });
    }
    for (const [key, child] of Object.entries(node.states)) {
      const childPath = [...path, key];
      states.push({
        id: child.id,
        key,
        path: childPath,
        type: child.type,
        compound: Object.keys(child.states).length > 0,
      });
      visit(child, childPath);
    }
  };
  visit(def, []);
  return { id: def.id, states, transitions, initials };
}

/** The documented edge text: the event, or `after 1500ms` / `after 2s` / `after <named delay>`. */
function eventLabel(t) {
  if (!t.eventType.startsWith('xstate.after.')) return t.eventType;
  if (typeof t.delay === 'string') return `after ${t.delay}`;
  return t.delay >= 1000 && t.delay % 1000 === 0 ? `after ${t.delay / 1000}s` : `after ${t.delay}ms`;
}

/** The documented Mermaid id rule: the path joined by `_`; the machine itself is the `__any` pseudo-state. */
function mermaidId(def, id) {
  if (id === def.id) return '__any';
  const state = def.states.find((s) => s.id === id);
  return state.path.join('_').replace(/[^A-Za-z0-9_]/g, '_');
}

/** Event part of an edge label: everything before ` [guard]` or ` / actions`. */
const eventOf = (label) => label.split(/ \[| \//)[0].trim();

const key = (source, target, event) => `${source} -> ${target} on ${event}`;
const sorted = (list) => [...list].sort();

/**
 * `always` transitions are not in `toJSON()` (xstate drops them there): the fixture's one is named
 * here, and it is the only expectation not computed from the definition.
 */
const extraEdges = new Map([[sampleMachine, [key('sample.busy.two', 'sample.done', 'always')]]]);

const cases = [
  ['request-actor', requestActorMachine],
  ['router', routerMachine],
  ['sample fixture (guards, delays, nesting)', sampleMachine],
];

for (const [name, machine] of cases) {
  const def = definition(machine);
  const withTarget = def.transitions.filter((t) => t.targets.length > 0);
  const targetless = def.transitions.filter((t) => t.targets.length === 0);
  const expectedEdges = sorted([
    ...withTarget.flatMap((t) => t.targets.map((target) => key(t.source, target, t.event))),
    ...(extraEdges.get(machine) ?? []),
  ]);

  describe(`diagram exports of ${name}`, () => {
    test('the definition is not trivial (the checks below are not vacuous)', () => {
      assert.ok(def.states.length >= 5, 'several states');
      assert.ok(withTarget.length >= 5, 'several transitions');
    });

    test('Mermaid: a stateDiagram-v2 with every state, once', () => {
      const text = toMermaid(machine);
      assert.match(text, /^stateDiagram-v2\n/);
      for (const state of def.states) {
        const line = `state "${state.key}" as ${mermaidId(def, state.id)}`;
        const count = text.split('\n').filter((l) => l.trim() === line || l.trim() === `${line} {`).length;
        assert.equal(count, 1, `state ${state.id} declared once as: ${line}`);
      }
    });

    test('Mermaid: exactly the transitions of the definition, with their events and guards', () => {
      const text = toMermaid(machine);
      const byMermaidId = new Map([
        [`__any`, def.id],
        ...def.states.map((s) => [mermaidId(def, s.id), s.id]),
      ]);
      const edges = [];
      for (const line of text.split('\n')) {
        const m = /^\s*(\S+) --> (\S+) : (.*)$/.exec(line);
        if (!m || m[1] === '[*]' || m[2] === '[*]') continue;
        assert.ok(byMermaidId.has(m[1]) && byMermaidId.has(m[2]), `edge between known states: ${line}`);
        edges.push(key(byMermaidId.get(m[1]), byMermaidId.get(m[2]), eventOf(m[3])));
      }
      assert.deepEqual(sorted(edges), expectedEdges);
      for (const t of withTarget.filter((t) => t.guard)) {
        const src = mermaidId(def, t.source);
        assert.match(text, new RegExp(`${src} --> \\S+ : ${escapeRe(t.event)} \\[${escapeRe(t.guard)}\\]`));
      }
    });

    test('Mermaid: initial and final states, and transitions that stay in their state', () => {
      const text = toMermaid(machine);
      assert.ok(def.initials.length >= 1);
      for (const initial of def.initials) {
        assert.match(
          text,
          new RegExp(`^\\s+\\[\\*\\] --> ${mermaidId(def, initial)}$`, 'm'),
          `initial ${initial}`,
        );
      }
      for (const state of def.states.filter((s) => s.type === 'final')) {
        assert.match(
          text,
          new RegExp(`^\\s+${mermaidId(def, state.id)} --> \\[\\*\\]$`, 'm'),
          `final ${state.id}`,
        );
      }
      for (const t of targetless) {
        const id = mermaidId(def, t.source);
        const state = def.states.find((s) => s.id === t.source);
        const where = state?.compound
          ? new RegExp(`note right of ${id}\\n(?:\\s+.*\\n)*?\\s+on ${escapeRe(t.event)}\\b`)
          : new RegExp(`^\\s*${id} : on ${escapeRe(t.event)}\\b`, 'm');
        assert.match(text, where, `${t.event} listed on ${t.source}`);
      }
    });

    test('DOT: every state as a node or a cluster, named, with an id the page can find', () => {
      const text = toDot(machine);
      assert.match(text, /^digraph "/);
      for (const state of def.states) {
        const decl = state.compound
          ? new RegExp(
              `subgraph "cluster_${escapeRe(state.id)}" \\{\\n\\s+id="state:${escapeRe(state.id)}";.*<b>${escapeRe(state.key)}</b>`,
            )
          : new RegExp(
              `^\\s*"${escapeRe(state.id)}" \\[id="state:${escapeRe(state.id)}".*<b>${escapeRe(state.key)}</b>`,
              'm',
            );
        assert.match(text, decl, `state ${state.id}`);
      }
    });

    test('DOT: exactly the transitions of the definition, drawn to and from compound borders', () => {
      const text = toDot(machine);
      const edges = [];
      for (const line of text.split('\n')) {
        const m = /^\s*"([^"]+)" -> "([^"]+)" \[(.*)\]$/.exec(line);
        if (!m || m[1].endsWith(':initial')) continue;
        const attrs = m[3];
        const ltail = /ltail="cluster_([^"]+)"/.exec(attrs)?.[1];
        const lhead = /lhead="cluster_([^"]+)"/.exec(attrs)?.[1];
        const source = ltail ?? (m[1] === `${def.id}:any` ? def.id : m[1]);
        const target = lhead ?? m[2];
        const event = /label=<<b>([^<]*)<\/b>/.exec(attrs)?.[1];
        assert.ok(event, `edge has an event label: ${line}`);
        edges.push(key(source, target, event));
      }
      assert.deepEqual(sorted(edges), expectedEdges);
      for (const t of withTarget.filter((t) => t.guard)) assert.ok(text.includes(`[${t.guard}]`), t.guard);
    });

    test('DOT: transitions that stay in their state are listed in its box', () => {
      const text = toDot(machine);
      for (const t of targetless) {
        const node = t.source === def.id ? `${def.id}:any` : t.source;
        const line = text.split('\n').find((l) => l.trim().startsWith(`"${node}" [`));
        assert.ok(line?.includes(`>${t.event}`), `${t.event} in the box of ${node}`);
      }
    });
  });
}

test('the fixture draws guards (named and and/or/not) and both kinds of delay', () => {
  const text = toMermaid(sampleMachine);
  assert.match(text, /waiting --> busy : after patience \[\(hasBudget && !isAdmin\)\]/);
  assert.match(text, /waiting --> idle : after 1500ms/);
  assert.match(text, /busy_two --> done : always \[isAdmin\]/);
  // An edge that leaves a composite state is declared outside it, or Mermaid makes a second `done` inside.
  const busyBlock = /state "busy" as busy \{\n([\s\S]*?)\n {2}\}/.exec(text)[1];
  assert.doesNotMatch(busyBlock, /done/);
});

function escapeRe(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
