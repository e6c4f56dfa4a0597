import assert from 'node:assert/strict';
import { test } from 'node:test';
import { machineGraph, requestActorMachine, routerMachine, toSvg } from 'troupe';
import { sampleMachine } from './fixtures/inspector-sample-machine.mjs';

/**
 * A strict XML well-formedness check (Node has no XML parser, and the SVG must be XML, not HTML
 * soup): one root element, every tag closed in order, attributes quoted and not repeated, no stray
 * `<` or `&`. Returns the element tree with entities decoded.
 */
function parseXml(text) {
  let rest = text.replace(/^\uFEFF?<\?xml[^?]*\?>/, '');
  const root = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  let seenRoot = false;
  const token =
    /^(?:<!--([\s\S]*?)-->|<!DOCTYPE[^>[]*>|<\/([A-Za-z_][\w.:-]*)\s*>|<([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_:][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+))/;
  while (rest.length > 0) {
    const m = token.exec(rest);
    assert.ok(m, `not well-formed near: ${rest.slice(0, 80)}`);
    rest = rest.slice(m[0].length);
    const top = stack.at(-1);
    if (m[1] !== undefined) {
      assert.ok(!m[1].includes('--'), 'a comment holds "--"');
    } else if (m[2] !== undefined) {
      assert.equal(m[2], top.name, `</${m[2]}> closes <${top.name}>`);
      stack.pop();
    } else if (m[3] !== undefined) {
      assert.ok(stack.length > 1 || !seenRoot, 'a second root element');
      seenRoot = true;
      const attrs = {};
      for (const a of m[4].matchAll(/([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        assert.ok(!(a[1] in attrs), `attribute ${a[1]} repeated on <${m[3]}>`);
        attrs[a[1]] = decode(a[2] ?? a[3]);
      }
      const el = { name: m[3], attrs, children: [], text: '' };
      top.children.push(el);
      if (m[5] !== '/') stack.push(el);
    } else if (m[6] !== undefined) {
      assert.ok(
        stack.length > 1 || m[6].trim() === '',
        `text outside the root element: ${m[6].slice(0, 40)}`,
      );
      top.text += decode(m[6]);
    }
  }
  assert.equal(stack.length, 1, `<${stack.at(-1).name}> is never closed`);
  assert.ok(seenRoot, 'no root element');
  return root.children[0];
}

function decode(text) {
  return text.replace(/&(?:#(\d+)|#x([0-9a-fA-F]+)|(amp|lt|gt|quot|apos));|&/g, (all, dec, hex, name) => {
    assert.notEqual(all, '&', 'a bare & (not an entity)');
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(Number.parseInt(hex, 16));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name];
  });
}

function* walk(el) {
  yield el;
  for (const child of el.children) yield* walk(child);
}

const textOf = (el) => [...walk(el)].map((e) => e.text).join(' ');

test('the checker itself refuses broken XML (so passing means something)', () => {
  assert.throws(() => parseXml('<svg><g></svg>'));
  assert.throws(() => parseXml('<svg><g a="1" a="2"/></svg>'));
  assert.throws(() => parseXml('<svg>a & b</svg>'));
  assert.throws(() => parseXml('<svg/><svg/>'));
  assert.equal(parseXml('<svg><text>a &amp; b</text></svg>').children[0].text, 'a & b');
});

for (const machine of [requestActorMachine, routerMachine, sampleMachine]) {
  const graph = machineGraph(machine);
  test(`SVG of ${graph.id}: well-formed, and names every state in its own group`, async () => {
    const svg = parseXml(await toSvg(machine));
    assert.equal(svg.name, 'svg');
    assert.equal(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
    const groups = new Map([...walk(svg)].filter((e) => e.name === 'g').map((g) => [g.attrs.id, g]));
    // The states, from the definition (toJSON), so that a state the extraction missed fails here.
    const ids = [];
    const events = [];
    const visit = (node) => {
      for (const t of node.transitions)
        if (!t.eventType.startsWith('xstate.after.')) events.push(t.eventType);
      for (const child of Object.values(node.states)) {
        ids.push([child.id, child.key]);
        visit(child);
      }
    };
    visit(machine.toJSON());
    assert.ok(ids.length >= 5);
    for (const [id, key] of ids) {
      const group = groups.get(`state:${id}`);
      assert.ok(group, `a <g id="state:${id}">`);
      const words = [...walk(group)].filter((e) => e.name === 'text').map((e) => e.text.trim());
      assert.ok(words.includes(key), `state ${id} is labelled "${key}" (found: ${words.join(' | ')})`);
    }
    // Every event appears on the drawing too, and every delay as `after …`.
    const all = textOf(svg);
    for (const event of events) assert.ok(all.includes(event), `event ${event} drawn`);
    for (const t of graph.transitions.filter((t) => t.delay !== undefined)) assert.ok(all.includes(t.event));
  });
}
