// The config panel: the current config, its history with a diff per version, and (when the server has
// an admin API and the user gives its token) an editor that proposes a change as a JSON merge patch and
// shows each actor's verdict as the rollout's events arrive on the page's event stream.
import { clock } from './timeline.js';

const $ = (id) => document.getElementById(id);

/** How long after a config event the panel re-reads the config: one read for a burst of acks. */
const RELOAD_MS = 150;

/**
 * @param {() => any[]} frames the page's recorded frames, oldest first
 */
export function createConfigPanel(frames) {
  const state = {
    admin: false,
    replay: false,
    token: '',
    since: undefined,
    version: undefined,
    moment: undefined,
  };
  let reload;

  async function load() {
    reload = undefined;
    try {
      const view = state.token ? await adminView(state.token) : await (await fetch('api/config')).json();
      draw(view);
    } catch (err) {
      $('config-note').textContent = `cannot read the config: ${err.message}`;
    }
  }

  /** With the admin token, values are shown even when the page hides payloads: the token may change them. */
  async function adminView(token) {
    const headers = { authorization: `Bearer ${token}` };
    const [current, history] = await Promise.all([
      fetch('_troupe/config', { headers }),
      fetch('_troupe/config/history', { headers }),
    ]);
    if (current.status === 401) throw new Error('the admin token was refused');
    const { version, config } = await current.json();
    return { version, config, history: await history.json(), admin: true, showPayloads: true };
  }

  function draw(view) {
    $('config-current-label').textContent = state.replay ? 'At the end of the recording' : 'Current';
    $('config-current-version').textContent = `v${view.version}`;
    $('config-current').textContent = JSON.stringify(view.config, null, 2);
    $('config-note').textContent = state.replay
      ? 'as recorded'
      : view.showPayloads
        ? ''
        : 'values hidden: give the admin token to see them';
    const items = view.history.toReversed().map((record) => {
      const li = document.createElement('li');
      li.dataset.version = String(record.version);
      li.dataset.at = String(record.at);
      li.dataset.outcome = record.outcome;
      const head = document.createElement('div');
      const who = record.by ? ` · by ${record.by}` : '';
      const verdict =
        record.outcome === 'rejected'
          ? ` · rejected by ${record.rejects.map((r) => (r.actorId < 0 ? 'the rollout' : `actor ${r.actorId}`)).join(', ')}: ${record.rejects[0]?.error ?? ''}`
          : record.outcome === 'accepted' && record.acks.length > 0
            ? ` · acked by ${record.acks.length} actor${record.acks.length === 1 ? '' : 's'}`
            : '';
      head.textContent = `v${record.version} ${record.outcome}${who} · ${clock(record.at)}${verdict}`;
      const diff = document.createElement('ul');
      diff.className = 'diff';
      for (const change of record.changes) {
        const line = document.createElement('li');
        line.append(`${change.key}: `);
        if ('from' in change) {
          const del = document.createElement('del');
          del.textContent = JSON.stringify(change.from);
          line.append(del, ' → ');
        }
        const ins = document.createElement('ins');
        ins.textContent = 'to' in change ? JSON.stringify(change.to) : '(removed)';
        line.append(ins);
        diff.append(line);
      }
      li.append(head, diff);
      return li;
    });
    $('config-history').replaceChildren(...items);
    mark();
  }

  /** While the view is paused, versions proposed after the moment on screen are shown as still to come. */
  function mark() {
    for (const li of $('config-history').children) {
      li.classList.toggle('later', state.moment !== undefined && Number(li.dataset.at) > state.moment);
    }
  }

  /** The verdict of each actor on the change this page proposed, from the rollout's events. */
  function drawVerdicts() {
    if (state.since === undefined) return;
    let version = state.version;
    const phases = new Map();
    for (const f of frames()) {
      if (f.seq <= state.since || f.kind !== 'event' || f.event.type !== '@troupe.config') continue;
      const ev = f.event;
      if (version === undefined && ev.phase === 'start') version = ev.version;
      if (ev.version !== version || ev.actorId === undefined) continue;
      phases.set(ev.actorId, ev);
    }
    const words = { ack: 'acknowledged', reject: 'rejected', rollback: 'rolled back' };
    const items = [...phases.values()]
      .sort((a, b) => a.actorId - b.actorId)
      .map((ev) => {
        const li = document.createElement('li');
        li.dataset.actor = String(ev.actorId);
        li.dataset.phase = ev.phase;
        li.textContent = `actor ${ev.actorId} ${words[ev.phase] ?? ev.phase} v${ev.version}${ev.error ? `: ${ev.error}` : ''}`;
        return li;
      });
    $('config-verdicts').replaceChildren(...items);
  }

  async function propose(event) {
    event.preventDefault();
    const result = $('config-result');
    state.token = $('admin-token').value.trim();
    let patch;
    try {
      patch = JSON.parse($('config-patch').value);
    } catch (err) {
      result.dataset.outcome = 'error';
      result.textContent = `not JSON: ${err.message}`;
      return;
    }
    state.since = frames().at(-1)?.seq ?? 0;
    state.version = undefined;
    result.dataset.outcome = 'pending';
    result.textContent = 'rolling out…';
    $('config-verdicts').replaceChildren();
    $('config-propose').disabled = true;
    try {
      const res = await fetch('_troupe/config', {
        method: 'PATCH',
        headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify(patch),
      });
      const body = await res.json();
      if (res.status === 200) {
        state.version = body.changed.length > 0 ? body.version : undefined;
        result.dataset.outcome = 'accepted';
        result.textContent =
          body.changed.length === 0
            ? `nothing changed: still v${body.version}`
            : `v${body.version} accepted by every actor${body.persistError ? `; not saved: ${body.persistError}` : ''}`;
      } else if (res.status === 409) {
        state.version = body.version;
        result.dataset.outcome = 'rejected';
        result.textContent = `v${body.version} rejected by actor ${body.actorId}: ${body.cause}`;
      } else {
        result.dataset.outcome = 'error';
        result.textContent = `${res.status}: ${body.message ?? body.error}`;
      }
    } catch (err) {
      result.dataset.outcome = 'error';
      result.textContent = err.message;
    } finally {
      $('config-propose').disabled = false;
    }
    drawVerdicts();
    load();
  }

  $('config-editor').addEventListener('submit', propose);
  $('admin-token').addEventListener('change', () => {
    state.token = $('admin-token').value.trim();
    load();
  });

  return {
    hello(data) {
      state.admin = data.admin === true;
      state.replay = data.replay !== undefined;
      $('config-editor').hidden = !state.admin || state.replay;
      load();
    },
    /** `at` of the moment on screen, or undefined while live. */
    moment(at) {
      if (state.moment === at) return;
      state.moment = at;
      mark();
    },
    frames(batch) {
      if (batch.some((f) => f.kind === 'event' && f.event.type === '@troupe.config')) {
        drawVerdicts();
        if (reload === undefined) reload = setTimeout(load, RELOAD_MS);
      }
    },
  };
}
