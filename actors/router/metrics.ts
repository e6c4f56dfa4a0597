import type { EventLoopUtilization } from 'node:perf_hooks';
import type {
  ActorMetrics,
  DispatcherMetrics,
  MetricsOptions,
  RequestCounts,
  RolloutCounts,
} from '../types.js';
import type { ActorHandle } from './actor-handle.js';
import { latencyHistogram, recordMs, summarize } from './latency.js';
import type { PendingRequest } from './pending.js';
import type { Slot } from './slot.js';

/** How long metrics() waits for an actor's heap figure before it reports null (a busy or dying thread). */
const HEAP_WAIT_MS = 250;

/** One slot's counters and histograms (a slot's figures survive its actor's restarts). */
class SlotRecord {
  completed = 0;
  /** Requests dispatched the moment they were submitted: a wait of exactly 0, counted beside `wait`. */
  immediate = 0;
  cancelled = 0;
  streams = 0;
  committed = 0;
  rejected = 0;
  failed = new Map<string, number>();
  readonly wait = latencyHistogram();
  readonly run = latencyHistogram();
  /** `slot.restarts` when the period began. */
  restartsBase = 0;
  /** The event-loop reading of the actor current when the period began (utilization since then). */
  eluBase: { handle: ActorHandle; elu: EventLoopUtilization } | undefined;

  reset(): void {
    this.completed = 0;
    this.immediate = 0;
    this.cancelled = 0;
    this.streams = 0;
    this.committed = 0;
    this.rejected = 0;
    this.failed = new Map();
    this.wait.reset();
    this.run.reset();
  }
}

/**
 * What the dispatcher counts and times, for `metrics()`. The request path calls the recording hooks;
 * each is a few integer updates and at most one histogram record, with no allocation.
 *
 * The clock is read once per request start, and once per data-plane batch for the outcomes it carries:
 * they arrived in the same message, so one reading stands for all of them (and for the requests that
 * batch's freed room starts).
 */
export class Metrics {
  private readonly records: SlotRecord[];
  /** Failures of requests that never reached an actor (queue full, no actor, timed out in a queue). */
  private unplaced = new Map<string, number>();
  private committed = 0;
  private rejected = 0;
  private since = Date.now();
  /** A data-plane batch is being read; `batchAt` is its reading (0 until a hook needs one). */
  private inBatch = false;
  private batchAt = 0;
  /** Scratch histograms the dispatcher-wide figures are merged into at read time. */
  private readonly allWait = latencyHistogram();
  private readonly allRun = latencyHistogram();

  constructor(
    private readonly slots: readonly Slot[],
    /** False when the `metrics` option is off: the request path then holds no reference to this. */
    readonly recording: boolean,
  ) {
    this.records = slots.map(() => new SlotRecord());
  }

  /** performance.now(), read once per batch while one is being read (see the class comment). */
  private clock(): number {
    if (!this.inBatch) return performance.now();
    if (this.batchAt === 0) this.batchAt = performance.now();
    return this.batchAt;
  }

  /** Wraps the data plane's batch reader: the outcomes of one batch share one clock reading. */
  readBatches<H>(onData: (h: H, msg: unknown[]) => void): (h: H, msg: unknown[]) => void {
    return (h, msg) => {
      this.inBatch = true;
      this.batchAt = 0;
      try {
        onData(h, msg);
      } finally {
        this.inBatch = false;
      }
    };
  }

  // ── recording (the request path) ─────────────────────────────────────────────────────────────────

  /** The request waits in a queue: its wait starts now (a request dispatched at once waited 0). */
  queued(req: PendingRequest): void {
    req.queuedAt = this.clock();
  }

  /** The request starts on actor `h`. */
  started(req: PendingRequest, h: ActorHandle): void {
    const now = this.clock();
    const record = this.records[h.slot]!;
    if (req.queuedAt === 0) record.immediate++;
    else {
      recordMs(record.wait, now - req.queuedAt);
      req.queuedAt = 0; // a retried request waits afresh
    }
    req.startedAt = now;
    if (req.stream !== undefined) record.streams++;
  }

  /** The actor reported the request's end. `ok`: the caller got the result. */
  finished(h: ActorHandle, req: PendingRequest, ok: boolean): void {
    const record = this.records[h.slot]!;
    recordMs(record.run, this.clock() - req.startedAt);
    if (ok) record.completed++;
  }

  /** The caller got `error` (exactly once per request). */
  failed(req: PendingRequest, error: Error): void {
    const code = (error as { code?: unknown }).code;
    const key = typeof code === 'string' ? code : 'ERR_UNKNOWN';
    const map = req.actor === undefined ? this.unplaced : this.records[req.actor.slot]!.failed;
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  /** A stream's consumer left before its end. */
  left(req: PendingRequest): void {
    if (req.actor !== undefined) this.records[req.actor.slot]!.cancelled++;
  }

  /** A config version was committed on these actors' slots. */
  committedOn(slots: Iterable<number>): void {
    this.committed++;
    for (const s of slots) this.records[s]!.committed++;
  }

  /** A config version was rejected; `slots` rejected it (or could not undo it). */
  rejectedBy(slots: Iterable<number>): void {
    this.rejected++;
    for (const s of slots) this.records[s]!.rejected++;
  }

  // ── reading ──────────────────────────────────────────────────────────────────────────────────────

  async read(configVersion: number, options: MetricsOptions | undefined): Promise<DispatcherMetrics> {
    const bounds = options?.buckets;
    const heaps = await Promise.all(this.slots.map((slot) => heapOf(slot.current)));
    const allWait = this.allWait;
    const allRun = this.allRun;
    allWait.reset();
    allRun.reset();
    const total: RequestCounts = { completed: 0, failed: {}, cancelled: 0, streams: 0 };
    addFailures(total.failed, this.unplaced);
    let restarts = 0;
    let immediate = 0;
    const actors = this.slots.map((slot, i): ActorMetrics => {
      const r = this.records[i]!;
      allWait.add(r.wait);
      allRun.add(r.run);
      immediate += r.immediate;
      const failed = addFailures({}, r.failed);
      addFailures(total.failed, r.failed);
      total.completed += r.completed;
      total.cancelled += r.cancelled;
      total.streams += r.streams;
      const slotRestarts = slot.restarts - r.restartsBase;
      restarts += slotRestarts;
      const h = slot.current;
      return {
        id: slot.id,
        completed: r.completed,
        failed,
        cancelled: r.cancelled,
        streams: r.streams,
        restarts: slotRestarts,
        rollouts: { committed: r.committed, rejected: r.rejected },
        wait: summarize(r.wait, bounds, r.immediate),
        run: summarize(r.run, bounds),
        utilization: utilization(h, r.eluBase),
        eventLoop: eventLoop(h),
        heapUsed: heaps[i] ?? null,
        threadId: h?.threadId ?? -1,
      };
    });
    const rollouts: RolloutCounts = { committed: this.committed, rejected: this.rejected };
    const result: DispatcherMetrics = {
      since: this.since,
      recording: this.recording,
      configVersion,
      ...total,
      restarts,
      rollouts,
      wait: summarize(allWait, bounds, immediate),
      run: summarize(allRun, bounds),
      actors,
    };
    if (options?.reset === true) this.reset();
    return result;
  }

  private reset(): void {
    this.since = Date.now();
    this.unplaced = new Map();
    this.committed = 0;
    this.rejected = 0;
    for (const [i, r] of this.records.entries()) {
      r.reset();
      const slot = this.slots[i]!;
      r.restartsBase = slot.restarts;
      const h = slot.current;
      r.eluBase =
        h === undefined || h.exited
          ? undefined
          : { handle: h, elu: h.worker.performance.eventLoopUtilization() };
    }
  }
}

function addFailures(into: Record<string, number>, from: Map<string, number>): Record<string, number> {
  for (const [code, n] of from) into[code] = (into[code] ?? 0) + n;
  return into;
}

/**
 * The actor's event-loop utilization, read on the main thread from the worker's own counters (no
 * message: it answers even while the actor's loop is blocked). Since the period began when the same
 * thread was current then, else since the thread started.
 */
function utilization(h: ActorHandle | undefined, base: SlotRecord['eluBase']): number | null {
  if (h === undefined || h.exited) return null;
  const now = h.worker.performance.eventLoopUtilization();
  const elu =
    base !== undefined && base.handle === h ? h.worker.performance.eventLoopUtilization(now, base.elu) : now;
  return Number.isFinite(elu.utilization) ? elu.utilization : 0;
}

function eventLoop(h: ActorHandle | undefined): ActorMetrics['eventLoop'] {
  if (h === undefined || h.exited) return null;
  const { active, idle } = h.worker.performance.eventLoopUtilization();
  return { active, idle };
}

/** The actor's used heap (a control message), or null if it does not answer in time. */
async function heapOf(h: ActorHandle | undefined): Promise<number | null> {
  if (h === undefined || h.exited) return null;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(resolve, HEAP_WAIT_MS, null);
  });
  try {
    const stats = h
      .alive((c) => c.stats())
      .then(
        (s) => s.heapUsed,
        () => null,
      );
    return await Promise.race([stats, late]);
  } finally {
    clearTimeout(timer);
  }
}
