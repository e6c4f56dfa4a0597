// Turns one recorded inspection event into one timeline row, or null for the events that only repeat
// another one (`@xstate.event` precedes each `@xstate.snapshot`; `@xstate.actor` says an actor exists).

/**
 * @param {any} ev an InspectionEvent (see docs/inspector.md)
 * @param {Map<string, string>} last the previous state of each source ('router', 'actor:<id>'), updated here
 * @returns {null | { kind: string, text: string, actorId?: number, phase?: string, version?: number, tone?: string }}
 */
export function describe(ev, last) {
  switch (ev.type) {
    case '@xstate.snapshot': {
      // During a make-before-break replacement two threads share a slot id; when the event names its
      // thread, each thread's transitions are told apart.
      const thread = ev.threadId === undefined ? '' : `:${ev.threadId}`;
      const source = ev.source === 'router' ? 'router' : `actor:${ev.actorId}${thread}`;
      const before = last.get(source) ?? last.get(`actor:${ev.actorId}`);
      last.set(source, ev.state);
      const who =
        ev.source === 'router'
          ? 'router'
          : `actor ${ev.actorId}${ev.threadId === undefined ? '' : ` (thread ${ev.threadId})`}`;
      const cause = ev.event?.type ?? '';
      if (before === ev.state) {
        // A transition without a target (CONFIG_APPLIED): the state stays, its context changed.
        const version = ev.context?.configVersion;
        const detail = cause === 'CONFIG_APPLIED' && version !== undefined ? ` (config v${version})` : '';
        return {
          kind: 'transition',
          actorId: ev.actorId,
          text: `${who} · ${cause}${detail}, stays ${ev.state}`,
        };
      }
      const from = before === undefined ? '' : `${before} → `;
      const tone = ev.state === 'failed' ? 'bad' : undefined;
      return {
        kind: ev.source === 'router' ? 'router' : 'transition',
        actorId: ev.actorId,
        text: `${who} · ${from}${ev.state}${cause && !cause.startsWith('xstate.') ? ` on ${cause}` : ''}`,
        tone,
      };
    }
    case '@troupe.route': {
      const key = ev.key === undefined ? '' : ` · key ${ev.key}`;
      const spill = ev.spilled ? ' · spilled: its first choice was at its load bound' : '';
      const what = ev.stream ? 'stream' : 'request';
      const payload = ev.payload === undefined ? '' : ` · ${short(ev.payload)}`;
      return {
        kind: 'route',
        actorId: ev.actorId,
        text: `${what} #${ev.requestId} → actor ${ev.actorId}${key}${spill}${payload}`,
        tone: ev.spilled ? 'warn' : undefined,
      };
    }
    case '@troupe.done':
      return {
        kind: 'route',
        actorId: ev.actorId,
        text: `#${ev.requestId} ${ev.outcome === 'ok' ? 'done' : 'failed'} on actor ${ev.actorId} in ${fmtMs(ev.ms)}`,
        tone: ev.outcome === 'ok' ? undefined : 'bad',
      };
    case '@troupe.config': {
      const base = { kind: 'config', actorId: ev.actorId, phase: ev.phase, version: ev.version };
      switch (ev.phase) {
        case 'start': {
          const keys = ev.change ? Object.keys(ev.change) : [];
          const shown = ev.change ? keys.map((k) => `${k}=${short(ev.change[k])}`).join(', ') : '';
          const by = ev.by ? ` by ${ev.by}` : '';
          return { ...base, text: `config v${ev.version} rollout started${by}${shown ? `: ${shown}` : ''}` };
        }
        case 'ack':
          return { ...base, text: `actor ${ev.actorId} acked config v${ev.version}`, tone: 'good' };
        case 'reject':
          return {
            ...base,
            text: `actor ${ev.actorId} rejected config v${ev.version}: ${ev.error}`,
            tone: 'bad',
          };
        case 'commit':
          return { ...base, text: `config v${ev.version} committed on every actor`, tone: 'good' };
        case 'rollback':
          return { ...base, text: `actor ${ev.actorId} rolled back config v${ev.version}`, tone: 'warn' };
      }
      return { ...base, text: `config v${ev.version} ${ev.phase}` };
    }
    case '@troupe.crash':
      // The thread is gone: no machine event says so, so the next state (`init` of the replacement) is
      // told as coming from `failed`, as the snapshots report it.
      last.set(`actor:${ev.actorId}`, 'failed');
      return {
        kind: 'failure',
        actorId: ev.actorId,
        text: `actor ${ev.actorId} crashed with ${ev.inFlight} in flight: ${ev.error}`,
        tone: 'bad',
      };
    case '@troupe.restart':
      return {
        kind: 'failure',
        actorId: ev.actorId,
        text: `actor ${ev.actorId} restarted (restart ${ev.restarts}): ${ev.reason}`,
        tone: 'warn',
      };
    case '@troupe.slot-failed':
      last.set(`actor:${ev.actorId}`, 'failed');
      return {
        kind: 'failure',
        actorId: ev.actorId,
        text: `slot ${ev.actorId} gave up after too many restarts: ${ev.error}`,
        tone: 'bad',
      };
    case '@troupe.cluster': {
      const texts = {
        joined: `node ${ev.member} joined the cluster`,
        left: `node ${ev.member} left the cluster`,
        dropped: `node ${ev.member} dropped out of the cluster (silent past nodeTimeout)`,
        partitioned: `this node (${ev.node}) is cut off from NATS: serving config v${ev.version}`,
        reconnected: `this node (${ev.node}) reconnected to NATS`,
        'caught-up': `this node (${ev.node}) caught up to config v${ev.version}`,
      };
      const tone = {
        dropped: 'bad',
        partitioned: 'bad',
        left: 'warn',
        reconnected: 'good',
        'caught-up': 'good',
      };
      return { kind: 'cluster', text: texts[ev.change] ?? `cluster: ${ev.change}`, tone: tone[ev.change] };
    }
    default:
      return null;
  }
}

function fmtMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms < 10 ? ms.toFixed(2) : Math.round(ms)} ms`;
}

function short(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** `14:02:03.127` in local time: the events of one second are told apart by their milliseconds. */
export function clock(at) {
  const d = new Date(at);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
