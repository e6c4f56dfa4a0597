import type { InspectionEvent } from '../types.js';
import type { PendingRequest } from './pending.js';

export type Listener = (event: InspectionEvent) => void;

/**
 * Who listens to the router's inspection events, and the one flag the request path checks before it builds
 * an event: with nobody listening, inspection costs a field read per request.
 *
 * Events are delivered once per turn (in a microtask), in the order they happened: the request path only
 * appends to an array, and the events of one synchronous run share one reading of each clock. Per request,
 * two clock reads and two trips through the listener set cost more than building the events.
 */
export class InspectionHub {
  private readonly listeners = new Set<Listener>();
  /** True while anyone listens. */
  active = false;
  private queue: InspectionEvent[] = [];
  private scheduled = false;
  /** Date.now() and performance.now() of this turn, read at its first event. */
  private wallAt = 0;
  private perfAt = 0;

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
    this.turn();
    this.queue.push(event);
  }

  /** performance.now() as of this turn: when a request started, for the `ms` of its done event. */
  now(): number {
    this.turn();
    return this.perfAt;
  }

  /** A request's outcome reached the router: `ok` when it was the caller's result. */
  done(req: PendingRequest, actorId: number, ok: boolean): void {
    this.turn();
    this.queue.push({
      type: '@troupe.done',
      at: this.wallAt,
      requestId: req.id,
      actorId,
      outcome: ok ? 'ok' : 'error',
      ms: this.perfAt - req.startedAt,
    });
  }

  /**
   * One shape for every route event (absent fields are `undefined`, which JSON leaves out): building it
   * with conditional spreads cost more than the rest of the event, once per request.
   */
  route(req: PendingRequest, actorId: number, spilled: boolean): void {
    this.turn();
    this.queue.push({
      type: '@troupe.route',
      at: this.wallAt,
      requestId: req.id,
      actorId,
      key: req.options?.key,
      spilled,
      stream: req.stream !== undefined,
      payload: this.showPayloads ? req.payload : undefined,
    });
  }

  /** Reads the clocks and schedules the delivery at this turn's first event. */
  private turn(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.wallAt = Date.now();
    this.perfAt = performance.now();
    queueMicrotask(this.deliver);
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const events = this.queue;
    this.queue = [];
    for (const l of this.listeners) {
      for (let i = 0; i < events.length; i++) {
        try {
          l(events[i]!);
        } catch {
          // A listener's bug must not break dispatch.
        }
      }
    }
  };
}
