import type { Config, InspectionEvent } from '../types.js';
import type { ActorHandle } from './actor-handle.js';

export interface RolloutFailure {
  handle: ActorHandle;
  error: unknown;
}

/**
 * Phase one of a config change: every live actor applies `change` to its live objects and keeps serving
 * the old version until COMMIT. With `canary`, one actor goes first and a bad change touches only it.
 * If any actor rejects, the actors that had applied it undo it, and the rejecting ones are returned so the
 * router can replace them (an actor whose configure hook threw is not trusted any more).
 * Commit is the router's job: it queues COMMIT on each actor's data port, so every request dispatched after
 * `configure()` resolves is ordered after it on the same port.
 */
export async function prepareRollout(
  handles: readonly ActorHandle[],
  change: Config,
  version: number,
  canary: boolean,
  emit: ((event: InspectionEvent) => void) | undefined,
): Promise<RolloutFailure[]> {
  const phases = canary && handles.length > 1 ? [handles.slice(0, 1), handles.slice(1)] : [handles];
  const prepared: ActorHandle[] = [];
  const failures: RolloutFailure[] = [];
  for (const phase of phases) {
    const results = await Promise.allSettled(phase.map((h) => h.prepareConfig(change, version)));
    results.forEach((r, i) => {
      const handle = phase[i]!;
      // An actor that died during the rollout gave no verdict: it takes no part in the change, and its
      // replacement catches up to whichever version wins (the router serializes that after this rollout).
      if (r.status === 'rejected' && handle.exited) return;
      if (r.status === 'fulfilled') {
        prepared.push(handle);
        emit?.({ type: '@troupe.config', at: Date.now(), version, phase: 'ack', actorId: handle.slot });
      } else {
        failures.push({ handle, error: r.reason });
        emit?.({
          type: '@troupe.config',
          at: Date.now(),
          version,
          phase: 'reject',
          actorId: handle.slot,
          error: String((r.reason as Error)?.message ?? r.reason),
        });
      }
    });
    if (failures.length > 0) break;
  }
  if (failures.length === 0) return failures;
  const undone = await Promise.allSettled(prepared.map((h) => h.abortConfig(version)));
  undone.forEach((r, i) => {
    const handle = prepared[i]!;
    if (handle.exited) return;
    emit?.({ type: '@troupe.config', at: Date.now(), version, phase: 'rollback', actorId: handle.slot });
    // An actor that cannot undo the change is as untrusted as one that rejected it.
    if (r.status === 'rejected') failures.push({ handle, error: r.reason });
  });
  return failures;
}
