import type { InspectionEvent } from '../types.js';
import type { PendingRequest } from './pending.js';

export type Listener = (event: InspectionEvent) => void;

/**
 * Who listens to the router's inspection events, and the one flag the request path checks before it builds
 * an event: with nobody listening, inspection costs a field read per request.
 */
export class InspectionHub {
  private readonly listeners = new Set<Listener>();
  /** True while anyone listens. */
  active = false;

  constructor(
    /** Route events carry payloads only when the inspector's user opted in. */
    private readonly showPayloads: boolean,
  ) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    this.active = true;
    return () => {
      this.listeners.delete(listener);
      this.active = this.listeners.size > 0;
    };
  }

  emit(event: InspectionEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's bug must not break dispatch.
      }
    }
  }

  /** A request's outcome reached the router: `ok` when it was the caller's result. */
  done(req: PendingRequest, actorId: number, ok: boolean): void {
    this.emit({
      type: '@troupe.done',
      at: Date.now(),
      requestId: req.id,
      actorId,
      outcome: ok ? 'ok' : 'error',
      ms: performance.now() - req.startedAt,
    });
  }

  /**
   * One shape for every route event (absent fields are `undefined`, which JSON leaves out): building it
   * with conditional spreads cost more than the rest of the event, once per request.
   */
  route(req: PendingRequest, actorId: number, spilled: boolean): void {
    this.emit({
      type: '@troupe.route',
      at: Date.now(),
      requestId: req.id,
      actorId,
      key: req.options?.key,
      spilled,
      stream: req.stream !== undefined,
      payload: this.showPayloads ? req.payload : undefined,
    });
  }
}
