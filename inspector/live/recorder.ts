import type { Dispatcher, DispatcherSnapshot, InspectionEvent } from '../../actors/types.js';
import { redactEvent, redactSnapshot } from './redact.js';
import { Ring } from './ring.js';

/**
 * One entry of the recorded timeline. Events are kept as the dispatcher sent them (redacted);
 * snapshots are interleaved so the page can show the whole dispatcher at any recorded moment: the
 * state at frame i is the last snapshot at or before i, with the machine transitions after it applied.
 */
export type Frame =
  | { seq: number; kind: 'event'; event: InspectionEvent }
  | { seq: number; kind: 'snapshot'; at: number; snapshot: DispatcherSnapshot }
  /** More events came in one flush interval than the history holds: the oldest of them were not kept. */
  | { seq: number; kind: 'gap'; at: number; skipped: number };

export type FrameListener = (frames: Frame[]) => void;

/**
 * Events are grouped and sent at most this often: under load a dispatcher emits a route and a done
 * event per request (tens of thousands a second), and one SSE write plus one snapshot per batch keeps
 * the cost of watching flat. 50 ms is below what the eye notices on a live page.
 */
export const FLUSH_MS = 50;

/** Listens to a dispatcher and keeps the last `history` frames; hands each new batch to listeners. */
export class Recorder {
  private readonly ring: Ring<Frame>;
  private seq = 0;
  /**
   * Events since the last flush, bounded like the history: at full load (hundreds of thousands of
   * requests a second, two events each) only the newest `history` of a batch could be kept anyway,
   * so the hot path pays one array store per event and never grows a queue.
   */
  private readonly pending: Ring<InspectionEvent>;
  private skipped = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<FrameListener>();
  private readonly unsubscribe: () => void;
  /** The newest snapshot pushed out of the ring: the base from which the oldest kept frames replay. */
  private base: Extract<Frame, { kind: 'snapshot' }> | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    history: number,
    private readonly showPayloads: boolean,
  ) {
    this.ring = new Ring<Frame>(history, (evicted) => {
      if (evicted.kind === 'snapshot') this.base = evicted;
    });
    this.pending = new Ring<InspectionEvent>(history, () => this.skipped++);
    // The first frame is a snapshot, so that the timeline replays from a known state.
    this.record(this.snapshotFrame());
    this.unsubscribe = dispatcher.subscribe((event) => this.onEvent(event));
  }

  /** What a new viewer needs: the base snapshot and every kept frame, oldest first. */
  history(): { base: Frame | undefined; frames: Frame[] } {
    return { base: this.base, frames: this.ring.toArray() };
  }

  snapshot(): DispatcherSnapshot {
    return redactSnapshot(this.dispatcher.snapshot(), this.showPayloads);
  }

  onFrames(listener: FrameListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private onEvent(event: InspectionEvent): void {
    // Called synchronously from the dispatcher's hot path: keep it and return, all else waits for flush.
    this.pending.push(event);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    this.timer = undefined;
    const batch: Frame[] = [];
    if (this.skipped > 0) batch.push({ seq: ++this.seq, kind: 'gap', at: Date.now(), skipped: this.skipped });
    this.skipped = 0;
    for (const event of this.pending.drain()) {
      batch.push({ seq: ++this.seq, kind: 'event', event: redactEvent(event, this.showPayloads) });
    }
    // Taken after the batch, outside the dispatcher's own call stack, so it is consistent with it.
    batch.push(this.snapshotFrame());
    for (const frame of batch) this.ring.push(frame);
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch {
        // One broken viewer must not stop the others or the recording.
      }
    }
  }

  private snapshotFrame(): Frame {
    return { seq: ++this.seq, kind: 'snapshot', at: Date.now(), snapshot: this.snapshot() };
  }

  private record(frame: Frame): void {
    this.ring.push(frame);
  }
}
