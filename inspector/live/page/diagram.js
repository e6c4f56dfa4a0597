// The machine diagrams are the SVGs `troupe viz` draws, fetched from this server, inlined, and marked
// live: each state node carries `id="state:<machine>.<state>"` (set in the DOT export), so marking is
// a lookup, not a parse of labels.

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Badges beyond this many on one state collapse into a `+n` badge: 64 actors must not hide the drawing. */
const MAX_BADGES = 8;

/** Fetches and inlines one machine's SVG into `host`; returns the <svg> element. */
export async function loadDiagram(host, machine) {
  const res = await fetch(`diagram/${machine}.svg`);
  if (!res.ok) throw new Error(`diagram ${machine}: HTTP ${res.status}`);
  const doc = new DOMParser().parseFromString(await res.text(), 'image/svg+xml');
  const svg = document.importNode(doc.documentElement, true);
  // Graphviz sizes the drawing in points; the panel decides the size, the viewBox keeps the ratio.
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${machine} state machine`);
  host.replaceChildren(svg);
  return svg;
}

/**
 * Marks on the request-actor diagram where every actor is: the states holding actors are lit, and a
 * numbered badge per actor (with `data-actor-id` and `data-state`) sits on the state's top edge.
 * @param {SVGSVGElement} svg
 * @param {string} machineId
 * @param {{ id: number, state: string }[]} actors
 */
export function markActors(svg, machineId, actors) {
  for (const old of svg.querySelectorAll('.actor-markers')) old.remove();
  for (const lit of svg.querySelectorAll('.occupied')) lit.classList.remove('occupied');
  const byState = new Map();
  for (const actor of actors) byState.set(actor.state, [...(byState.get(actor.state) ?? []), actor]);
  for (const [state, here] of byState) {
    const node = svg.getElementById(`state:${machineId}.${state}`);
    const shape = node?.querySelector('path, polygon');
    if (!node || !shape) continue;
    node.classList.add('occupied');
    node.dataset.count = String(here.length);
    const box = shape.getBBox();
    const group = el('g', { class: 'actor-markers' });
    const shown = here.length > MAX_BADGES ? here.slice(0, MAX_BADGES - 1) : here;
    const badges = shown.map((a) => ({ label: String(a.id), actor: a }));
    if (shown.length < here.length) badges.push({ label: `+${here.length - shown.length}` });
    badges.forEach((b, i) => {
      const cx = box.x + box.width - 12 - i * 21;
      // Mostly above the top edge, so that a row of badges does not hide the state's name.
      const cy = box.y - 4;
      const badge = el('g', { class: `actor-marker st-${state}` });
      if (b.actor) {
        badge.dataset.actorId = String(b.actor.id);
        badge.dataset.state = state;
        const title = el('title', {});
        title.textContent = `actor ${b.actor.id}: ${state}`;
        badge.append(title);
      }
      badge.append(
        el('circle', { cx, cy, r: 9.5 }),
        Object.assign(el('text', { x: cx, y: cy + 3.8, 'text-anchor': 'middle' }), { textContent: b.label }),
      );
      group.append(badge);
    });
    node.append(group);
  }
}

/** Lights the router's current state: the leaf (`running.healthy`) and every compound state around it. */
export function markState(svg, machineId, stateName) {
  for (const lit of svg.querySelectorAll('.current')) lit.classList.remove('current');
  const parts = stateName.split('.');
  for (let i = 1; i <= parts.length; i++) {
    svg.getElementById(`state:${machineId}.${parts.slice(0, i).join('.')}`)?.classList.add('current');
  }
}

function el(name, attrs) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}
