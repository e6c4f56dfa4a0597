import { closeSync, existsSync, openSync, renameSync, statSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { InvalidArgumentError } from '../../actors/errors.js';
import { unknownName, unknownNameMessage } from '../../actors/router/names.js';
import type { Dispatcher, InspectionEvent, RecordOptions } from '../../actors/types.js';
import type { Frame } from '../live/recorder.js';
import { redactEvent, redactSnapshot } from '../live/redact.js';
import { FORMAT, type RecordingHeader } from './format.js';

const MIN_BYTES = 64 * 1024;
const recordOptionNames = [
  'path',
  'maxBytes',
  'showPayloads',
  'snapshotEvery',
] as const satisfies readonly (keyof RecordOptions)[];
const DEFAULT_BYTES = 64 * 1024 * 1024;
/**
 * Events wait this long in memory before one write takes them all: a write per event would cost a
 * system call per request, while a tenth of a second is all a crash can lose.
 */
export const RECORD_FLUSH_MS = 100;
/**
 * Events held between two writes, at most. Past it (a disk slower than the dispatcher for a while) the
 * oldest are dropped and a `gap` line says how many: the recording must never hold the heap hostage.
 */
const MAX_PENDING = 200_000;

export interface Recording {
  readonly path: string;
  /** Writes what is pending and a last snapshot, then closes the file. */
  close(): Promise<void>;
}

/** Validates `record` options; throws InvalidArgumentError before any thread starts. */
export function resolveRecordOptions(options: RecordOptions): Required<RecordOptions> {
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError('Option record must be an object such as { path: "run.jsonl" }.');
  const wrong = unknownName(options, recordOptionNames);
  if (wrong !== undefined)
    throw new InvalidArgumentError(unknownNameMessage('record option', wrong, recordOptionNames));
  const { path, maxBytes = DEFAULT_BYTES, showPayloads = false, snapshotEvery = 1_000 } = options;
  if (typeof path !== 'string' || path === '')
    throw new InvalidArgumentError('record.path must name the file to record to.');
  if (!Number.isInteger(maxBytes) || maxBytes < MIN_BYTES)
    throw new InvalidArgumentError(
      `record.maxBytes must be an integer of at least ${MIN_BYTES}; got ${maxBytes}.`,
    );
  if (typeof showPayloads !== 'boolean')
    throw new InvalidArgumentError('record.showPayloads must be a boolean.');
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 10)
    throw new InvalidArgumentError(
      `record.snapshotEvery must be an integer of at least 10 ms; got ${snapshotEvery}.`,
    );
  return { path, maxBytes, showPayloads, snapshotEvery };
}

/**
 * Records a dispatcher's inspection events, as JSON lines, for `troupe inspect FILE`: what the live
 * page shows, after the fact. The listener only keeps each event; a timer serializes what came in
 * and writes it in one go, followed by a snapshot of the whole dispatcher (the page rebuilds its view
 * from the last snapshot before a moment plus the machine transitions after it).
 *
 * Bounded on disk: when a write would pass `maxBytes`, the file becomes `<path>.1` (replacing an older
 * one) and a new file begins with a header and a snapshot, so each file replays on its own. A file
 * already at `path` when recording starts (the run before a restart) is kept as `<path>.1` too.
 */
export function startRecording(dispatcher: Dispatcher, options: RecordOptions): Recording {
  const resolved = resolveRecordOptions(options);
  return new RecordingWriter(dispatcher, resolved);
}

class RecordingWriter implements Recording {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly showPayloads: boolean;
  private pending: InspectionEvent[] = [];
  private skipped = 0;
  private seq = 0;
  private part = 0;
  private bytes = 0;
  private file: Promise<FileHandle>;
  /** Writes run one after the other on this chain, so lines never interleave. */
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private closed: Promise<void> | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    options: Required<RecordOptions>,
  ) {
    this.path = options.path;
    this.maxBytes = options.maxBytes;
    this.showPayloads = options.showPayloads;
    // Opened here, synchronously, so that a path that cannot be written fails the start, not a flush later.
    try {
      if (existsSync(this.path) && statSync(this.path).size > 0) renameSync(this.path, `${this.path}.1`);
      closeSync(openSync(this.path, 'w', 0o600));
    } catch (err) {
      throw new InvalidArgumentError(`Cannot record to ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.file = open(this.path, 'a');
    this.file.catch(() => {});
    this.enqueueWrite(this.begin(this.frame(this.snapshotFrame())));
    this.unsubscribe = dispatcher.subscribe((event) => this.onEvent(event));
    // A quiet dispatcher still changes (restarts back off, queues drain): a snapshot now and then shows it.
    this.ticker = setInterval(() => this.flush(true), options.snapshotEvery);
    this.ticker.unref();
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.unsubscribe();
      clearInterval(this.ticker);
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.flush(true);
      await this.writing;
      await (await this.file.catch(() => undefined))?.close().catch(() => {});
    })();
    return this.closed;
  }

  private onEvent(event: InspectionEvent): void {
    // On the dispatcher's hot path: keep the event and return; serializing waits for the timer.
    if (this.pending.length < MAX_PENDING) this.pending.push(event);
    else this.skipped++;
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(false), RECORD_FLUSH_MS);
      this.timer.unref();
    }
  }

  private flush(always: boolean): void {
    this.timer = undefined;
    if (!always && this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    let text = '';
    for (const event of events) {
      text += this.frame({ seq: ++this.seq, kind: 'event', event: redactEvent(event, this.showPayloads) });
    }
    // The events past the bound were the newest of the batch: the gap line goes where they were.
    if (this.skipped > 0) {
      text += this.frame({ seq: ++this.seq, kind: 'gap', at: Date.now(), skipped: this.skipped });
      this.skipped = 0;
    }
    const now = redactSnapshot(this.dispatcher.snapshot(), this.showPayloads);
    const state = JSON.stringify(now);
    // A quiet dispatcher that did not change writes nothing: an idle service's recording does not grow.
    if (events.length === 0 && state === this.lastState) return;
    this.lastState = state;
    const snapshot: Frame = { seq: ++this.seq, kind: 'snapshot', at: Date.now(), snapshot: now };
    text += this.frame(snapshot);
    this.enqueueWrite(async (file) => {
      const size = Buffer.byteLength(text);
      if (this.bytes > 0 && this.bytes + size > this.maxBytes) {
        // The new part starts from the state before this batch, so its events replay from there.
        await file.close();
        await rename(this.path, `${this.path}.1`);
        this.file = open(this.path, 'w');
        this.bytes = 0;
        this.part++;
        const next = await this.file;
        await this.begin(this.frame(this.lastSnapshot ?? snapshot))(next);
        file = next;
      }
      await file.write(text);
      this.bytes += size;
      this.lastSnapshot = snapshot;
    });
  }

  private lastSnapshot: Frame | undefined;
  private lastState: string | undefined;

  /** The header line and the snapshot a part replays from. */
  private begin(snapshotLine: string): (file: FileHandle) => Promise<void> {
    return async (file) => {
      const header: RecordingHeader = {
        kind: 'header',
        format: FORMAT,
        version: 1,
        at: Date.now(),
        pid: process.pid,
        showPayloads: this.showPayloads,
        part: this.part,
      };
      const text = `${JSON.stringify(header)}\n${snapshotLine}`;
      await file.write(text);
      this.bytes += Buffer.byteLength(text);
    };
  }

  private enqueueWrite(write: (file: FileHandle) => Promise<void>): void {
    this.writing = this.writing.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await write(await this.file);
      } catch (err) {
        // A full disk must not take the service down: say so once and stop recording.
        this.failure = err as Error;
        process.emitWarning(
          `troupe: recording to ${this.path} stopped: ${(err as Error).message}`,
          'TroupeWarning',
        );
        this.unsubscribe();
        clearInterval(this.ticker);
      }
    });
  }

  private snapshotFrame(): Frame {
    return {
      seq: ++this.seq,
      kind: 'snapshot',
      at: Date.now(),
      snapshot: redactSnapshot(this.dispatcher.snapshot(), this.showPayloads),
    };
  }

  /** One JSON line; a value JSON cannot write (a BigInt in a payload) is replaced, never thrown on the timer. */
  private frame(frame: Frame): string {
    try {
      return `${JSON.stringify(frame)}\n`;
    } catch (err) {
      const replaced: Frame =
        frame.kind === 'event'
          ? {
              seq: frame.seq,
              kind: 'event',
              event: {
                ...frame.event,
                payload: `(unrecordable: ${(err as Error).message})`,
              } as InspectionEvent,
            }
          : { seq: frame.seq, kind: 'gap', at: Date.now(), skipped: 1 };
      return `${JSON.stringify(replaced)}\n`;
    }
  }
}
