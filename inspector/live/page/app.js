// The live inspector page. One event stream (`api/events`) brings everything: a `hello` with the
// recorded past, then `frames` batches. The page keeps its own copy of the recorded timeline (as
// bounded as the server's), so pause and step back work without asking the server anything.
import { createConfigPanel } from './config-panel.js';
import { loadDiagram, markActors, markState } from './diagram.js';
import { clock, describe } from './timeline.js';

/** Rows drawn in the timeline list: enough to scroll through a burst, few enough to redraw each frame. */
const ROWS = 300;

const $ = (id) => document.getElementById(id);

const model = {
  history: 2000,
  showPayloads: false,
  /** The newest snapshot frame that fell out of `frames`: the state the oldest frames replay from. */
  base: undefined,
  /** Recorded frames, oldest first; each event frame gets a `row` (or null) when it arrives. */
  frames: [],
  /** `seq` of the frame on screen while paused; undefined while live. */
  cursor: undefined,
  last: new Map(),
  hidden: new Set(),
};

const diagrams = { actor: undefined, router: undefined };
const configPanel = createConfigPanel(() => model.frames);

// ── incoming ──────────────────────────────────────────────────────────────────────────────────────

function hello(data) {
  model.history = data.history;
  model.showPayloads = data.showPayloads;
  model.base = data.base;
  model.frames = [];
  model.last = new Map();
  seedStates(data.base?.snapshot ?? data.frames.find((f) => f.kind === 'snapshot')?.snapshot);
  ingest(data.frames);
  // A reconnect resyncs everything; a paused view stays on its frame if it is still recorded.
  if (model.cursor !== undefined && indexOf(model.cursor) < 0) model.cursor = undefined;
  $('payloads').textContent = model.showPayloads ? 'payloads shown' : 'payloads hidden';
  if (data.replay) {
    // A recording: nothing more will arrive, and the page says which file it shows.
    document.body.classList.add('replay');
    $('conn').dataset.status = 'replay';
    $('conn').textContent = `replay of ${data.replay.name}`;
    document.title = `troupe inspector · ${data.replay.name}`;
  }
  configPanel.hello(data);
  render();
}

function seedStates(snapshot) {
  if (!snapshot) return;
  model.last.set('router', routerState(snapshot));
  for (const a of snapshot.actors) model.last.set(`actor:${a.id}`, a.state);
}

function ingest(frames) {
  for (const frame of frames) {
    if (frame.kind === 'event') frame.row = describe(frame.event, model.last);
    else if (frame.kind === 'gap') frame.row = { kind: 'gap', text: gapText(frame.skipped), tone: 'warn' };
    model.frames.push(frame);
  }
  const excess = model.frames.length - model.history;
  if (excess > 0) {
    for (const gone of model.frames.splice(0, excess)) if (gone.kind === 'snapshot') model.base = gone;
  }
}

// ── what is on screen ─────────────────────────────────────────────────────────────────────────────

function indexOf(seq) {
  const frames = model.frames;
  for (let i = frames.length - 1; i >= 0; i--) if (frames[i].seq === seq) return i;
  return -1;
}

function viewIndex() {
  return model.cursor === undefined ? model.frames.length - 1 : indexOf(model.cursor);
}

/**
 * The dispatcher as it was at frame `index`: the last snapshot at or before it, then every machine
 * transition recorded after that snapshot, and the config rollout events up to it.
 */
function viewAt(index) {
  let k = index;
  while (k >= 0 && model.frames[k].kind !== 'snapshot') k--;
  const snap = k >= 0 ? model.frames[k].snapshot : model.base?.snapshot;
  if (!snap) return undefined;
  const view = {
    ...snap,
    router: routerState(snap),
    actors: snap.actors.map((a) => ({ ...a })),
    at: k >= 0 ? model.frames[k].at : undefined,
  };
  const byId = new Map(view.actors.map((a) => [a.id, a]));
  // Snapshots come once a batch; a rollout inside one batch still moves the versions on screen.
  const acked = new Set();
  for (let i = k + 1; i <= index; i++) {
    const ev = model.frames[i].event;
    if (!ev) continue;
    const actor = byId.get(ev.actorId);
    if (ev.type === '@troupe.config') {
      if (ev.phase === 'start') acked.clear();
      else if (ev.phase === 'ack') acked.add(ev.actorId);
      else if (ev.phase === 'commit') {
        view.configVersion = ev.version;
        for (const id of acked) if (byId.has(id)) byId.get(id).configVersion = ev.version;
      }
    } else if (ev.type === '@xstate.snapshot') {
      if (ev.source === 'router') view.router = ev.state;
      // A thread being retired (same slot, older thread) does not speak for the slot.
      else if (actor && (ev.threadId === undefined || ev.threadId === actor.threadId)) actor.state = ev.state;
    } else if ((ev.type === '@troupe.crash' || ev.type === '@troupe.slot-failed') && actor) {
      // A dead thread sends no machine event; the router marks its slot failed, and so does the replay.
      actor.state = 'failed';
    } else if (ev.type === '@troupe.stall' && actor) {
      actor.stalled = ev.stalled;
    }
  }
  if (index >= 0 && model.frames[index].kind === 'event') view.at = model.frames[index].event.at;
  // The latest rollout word of each actor (acked, rejected, rolled back) up to this frame.
  view.rollout = new Map();
  for (let i = 0; i <= index; i++) {
    const f = model.frames[i];
    if (f.kind !== 'event' || f.event.type !== '@troupe.config' || f.event.actorId === undefined) continue;
    view.rollout.set(f.event.actorId, f.event);
  }
  return view;
}

/** The dispatcher reports `running` plus a degraded flag; the diagram knows `running.healthy|degraded`. */
function routerState(snapshot) {
  if (snapshot.state !== 'running') return snapshot.state;
  return snapshot.degraded ? 'running.degraded' : 'running.healthy';
}

// ── drawing ───────────────────────────────────────────────────────────────────────────────────────

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    draw();
  });
}

function draw() {
  const index = viewIndex();
  const view = viewAt(index);
  drawControls(index);
  if (!view) return;
  $('router-state').textContent = view.router;
  $('router').dataset.state = view.router;
  $('config-version').textContent = `v${view.configVersion}`;
  $('master-queue').textContent = String(view.queued);
  $('clock').textContent = view.at ? clock(view.at) : '';
  drawActors(view);
  configPanel.moment(model.cursor === undefined ? undefined : view.at);
  if (diagrams.actor) markActors(diagrams.actor, 'request-actor', view.actors);
  if (diagrams.router) markState(diagrams.router, 'router', view.router);
  drawTimeline(index);
}

function drawActors(view) {
  const host = $('actors');
  const cards = new Map([...host.children].map((c) => [Number(c.dataset.actorId), c]));
  for (const actor of view.actors) {
    let card = cards.get(actor.id);
    if (!card) {
      card = $('card-template').content.firstElementChild.cloneNode(true);
      card.dataset.actorId = String(actor.id);
      card.querySelector('.name').textContent = `actor ${actor.id}`;
      host.append(card);
    }
    cards.delete(actor.id);
    if (card.dataset.state !== actor.state) {
      card.dataset.state = actor.state;
      // Restart the flash animation: a transition is easy to miss in a grid of cards.
      card.classList.remove('changed');
      void card.offsetWidth;
      card.classList.add('changed');
    }
    // A stalled actor keeps its machine state (its thread cannot report anything): the card says both.
    // A parked actor (past the awake count) takes unkeyed requests only when the awake ones cannot.
    const parked = actor.parked === true && actor.state === 'ready';
    card.querySelector('.state').textContent = actor.stalled
      ? `${actor.state} · stalled`
      : parked
        ? `${actor.state} · parked`
        : actor.state;
    card.dataset.stalled = actor.stalled ? 'true' : 'false';
    card.dataset.parked = parked ? 'true' : 'false';
    card.querySelector('.thread').textContent =
      actor.threadId >= 0 ? `thread ${actor.threadId}` : 'no thread';
    for (const field of ['inFlight', 'queued', 'streams', 'served', 'restarts']) {
      card.querySelector(`[data-field="${field}"]`).textContent = String(actor[field]);
    }
    const version = card.querySelector('[data-field="configVersion"]');
    version.textContent = `v${actor.configVersion}`;
    version.classList.toggle('behind', actor.configVersion < view.configVersion);
    const rollout = view.rollout.get(actor.id);
    const note = card.querySelector('.rollout');
    note.textContent = rollout ? rolloutText(rollout) : '';
    note.dataset.phase = rollout?.phase ?? '';
    const retry =
      actor.retryAt !== undefined ? ` (retried at ${new Date(actor.retryAt).toLocaleTimeString()})` : '';
    card.querySelector('.error').textContent = actor.error !== undefined ? actor.error + retry : '';
  }
  for (const stale of cards.values()) stale.remove();
}

function gapText(skipped) {
  return `${skipped.toLocaleString('en')} events not recorded: more arrived in 50 ms than the history keeps`;
}

function rolloutText(ev) {
  const word = { ack: 'acked', reject: 'rejected', rollback: 'rolled back' }[ev.phase] ?? ev.phase;
  return `config v${ev.version} ${word}${ev.error ? `: ${ev.error}` : ''}`;
}

function drawTimeline(index) {
  const list = $('timeline');
  const rows = [];
  for (let i = index; i >= 0 && rows.length < ROWS; i--) {
    const f = model.frames[i];
    if (f.row && !model.hidden.has(f.row.kind)) rows.push(f);
  }
  const items = rows.map((f) => {
    const li = document.createElement('li');
    li.dataset.seq = String(f.seq);
    li.dataset.kind = f.row.kind;
    if (f.row.actorId !== undefined) li.dataset.actor = String(f.row.actorId);
    if (f.row.phase) li.dataset.phase = f.row.phase;
    if (f.row.version !== undefined) li.dataset.version = String(f.row.version);
    if (f.row.tone) li.dataset.tone = f.row.tone;
    if (f.seq === model.cursor) li.classList.add('cursor');
    const time = document.createElement('time');
    time.textContent = clock(f.event?.at ?? f.at);
    const kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = f.row.kind;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = f.row.text;
    li.append(time, kind, text);
    return li;
  });
  list.replaceChildren(...items);
  const newer = model.frames.length - 1 - index;
  $('newer').textContent =
    model.cursor !== undefined && newer > 0 ? `${newer} newer frames recorded while paused` : '';
}

function drawControls(index) {
  const live = model.cursor === undefined;
  document.body.classList.toggle('paused', !live);
  $('pause').textContent = live ? 'Pause' : 'Resume live';
  $('pause').setAttribute('aria-pressed', String(!live));
  const scrub = $('scrub');
  scrub.max = String(Math.max(0, model.frames.length - 1));
  scrub.value = String(Math.max(0, index));
  $('position').textContent = live
    ? `live · ${model.frames.length} frames recorded`
    : `frame ${index + 1} of ${model.frames.length}`;
}

// ── controls ──────────────────────────────────────────────────────────────────────────────────────

/** Steps to the previous (-1) or next (+1) frame that has a visible timeline row. */
function step(direction) {
  let i = viewIndex() + direction;
  while (i >= 0 && i < model.frames.length) {
    const f = model.frames[i];
    if (f.row && !model.hidden.has(f.row.kind)) break;
    i += direction;
  }
  if (i < 0) return;
  if (i >= model.frames.length) model.cursor = undefined;
  else model.cursor = model.frames[i].seq;
  render();
}

/** What each jump button looks for: the moments a post-mortem starts from. */
const jumps = {
  crash: (ev) => ev.type === '@troupe.crash' || ev.type === '@troupe.slot-failed',
  reject: (ev) => ev.type === '@troupe.config' && ev.phase === 'reject',
  spill: (ev) =>
    (ev.type === '@troupe.route' && ev.spilled === true) ||
    (ev.type === '@troupe.node-route' && ev.reason !== 'owner'),
};

/** Pauses on the next frame after the one on screen (from the start while live) that `kind` looks for. */
function jump(kind) {
  const wanted = jumps[kind];
  const from = model.cursor === undefined ? 0 : viewIndex() + 1;
  for (let i = from; i < model.frames.length; i++) {
    const f = model.frames[i];
    if (f.kind === 'event' && wanted(f.event)) {
      model.cursor = f.seq;
      $('position').dataset.jump = '';
      render();
      return;
    }
  }
  $('position').dataset.jump = 'none';
  $('position').textContent = `no ${kind === 'reject' ? 'rejection' : kind} after this frame`;
}

function wire() {
  for (const button of document.querySelectorAll('[data-jump]')) {
    button.addEventListener('click', () => jump(button.dataset.jump));
  }
  $('pause').addEventListener('click', () => {
    const last = model.frames.at(-1);
    model.cursor = model.cursor === undefined && last ? last.seq : undefined;
    render();
  });
  $('back').addEventListener('click', () => step(-1));
  $('forward').addEventListener('click', () => step(+1));
  $('scrub').addEventListener('input', (e) => {
    const f = model.frames[Number(e.target.value)];
    model.cursor = f && f !== model.frames.at(-1) ? f.seq : undefined;
    render();
  });
  $('timeline').addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    model.cursor = Number(li.dataset.seq);
    render();
  });
  for (const box of document.querySelectorAll('#filters input')) {
    box.addEventListener('change', () => {
      if (box.checked) model.hidden.delete(box.value);
      else model.hidden.add(box.value);
      render();
    });
  }
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type !== 'range') return;
    if (e.key === ' ') $('pause').click();
    else if (e.key === 'ArrowLeft') step(-1);
    else if (e.key === 'ArrowRight') step(+1);
    else if (e.key === 'End') model.cursor = undefined;
    else return;
    e.preventDefault();
    render();
  });
}

function connect() {
  const conn = $('conn');
  const source = new EventSource('api/events');
  source.addEventListener('hello', (e) => {
    conn.dataset.status = 'live';
    conn.textContent = 'connected';
    hello(JSON.parse(e.data));
  });
  source.addEventListener('frames', (e) => {
    const batch = JSON.parse(e.data);
    ingest(batch);
    configPanel.frames(batch);
    render();
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself; the next `hello` resyncs the whole timeline.
    conn.dataset.status = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
    conn.textContent = conn.dataset.status === 'closed' ? 'disconnected' : 'reconnecting…';
  });
}

async function start() {
  wire();
  connect();
  const [actor, router] = await Promise.allSettled([
    loadDiagram($('diagram-actor'), 'request-actor'),
    loadDiagram($('diagram-router'), 'router'),
  ]);
  if (actor.status === 'fulfilled') diagrams.actor = actor.value;
  if (router.status === 'fulfilled') diagrams.router = router.value;
  for (const r of [actor, router]) if (r.status === 'rejected') console.error(r.reason);
  render();
}

start();
