import type { InspectionEvent, InspectionSource } from '../types.js';

/**
 * xstate's inspection events hold actor refs and snapshots with functions in them: `structuredClone`
 * throws on them. This keeps the plain parts (type, event, state value, context) so they cross threads.
 * Returns undefined for the kinds not forwarded (microsteps, actions: too many, too little to see).
 */
export function reduceInspection(
  raw: unknown,
  source: InspectionSource,
  actorId?: number,
  threadId?: number,
): InspectionEvent | undefined {
  const ev = raw as {
    type: string;
    event?: { type: string };
    snapshot?: { value?: unknown; context?: unknown; status?: string };
  };
  const at = Date.now();
  // An actor event names its thread too: during a replacement two threads share one actor id.
  const base = actorId === undefined ? { source, at } : { source, actorId, threadId, at };
  switch (ev.type) {
    case '@xstate.snapshot':
      return {
        type: '@xstate.snapshot',
        ...base,
        event: plain(ev.event) as { type: string },
        state: stateName(ev.snapshot?.value),
        context: plain(ev.snapshot?.context) as Record<string, unknown>,
      };
    case '@xstate.event':
      return { type: '@xstate.event', ...base, event: plain(ev.event) as { type: string } };
    case '@xstate.actor':
      return { type: '@xstate.actor', ...base };
    default:
      return undefined;
  }
}

/** `{ running: 'degraded' }` → `running.degraded`. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? [];
    if (k !== undefined) return `${k}.${stateName(v)}`;
  }
  return String(value);
}

function plain(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return undefined;
  }
}
