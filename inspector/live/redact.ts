import type { Config, DispatcherSnapshot, InspectionEvent } from '../../actors/types.js';

/** What a hidden value reads as on the page: the key stays visible, so a rollout is still legible. */
export const HIDDEN = '(hidden)';

/**
 * Request payloads and config values can hold personal data and secrets (tokens, passwords in a
 * connection string), and the page may be open on a shared screen: they are replaced unless the
 * user opted in with `showPayloads`. Keys, ids, states and timings are always shown.
 */
export function redactEvent(event: InspectionEvent, showPayloads: boolean): InspectionEvent {
  if (showPayloads) return event;
  if (event.type === '@troupe.route' && event.payload !== undefined) return { ...event, payload: HIDDEN };
  if (event.type === '@troupe.config' && event.change !== undefined) {
    return { ...event, change: hideValues(event.change) };
  }
  return event;
}

/** Route names can be request paths (`troupe serve` names a route by its method and path): hidden too. */
export function redactSnapshot(snapshot: DispatcherSnapshot, showPayloads: boolean): DispatcherSnapshot {
  if (showPayloads) return snapshot;
  const routes = snapshot.routes.map((r) => ({ ...r, route: HIDDEN }));
  return { ...snapshot, config: hideValues(snapshot.config), routes };
}

function hideValues(config: Readonly<Config>): Config {
  return Object.fromEntries(Object.keys(config).map((k) => [k, HIDDEN]));
}
