import { readFile } from 'node:fs/promises';
import type { Frame } from '../live/recorder.js';
import { FORMAT, type RecordingHeader } from './format.js';

/** A recording that cannot be replayed: the message names the file and the line. */
export class RecordingError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    detail: string,
  ) {
    super(line > 0 ? `${path}:${line}: ${detail}` : `${path}: ${detail}`);
  }
}

export interface ReadRecording {
  header: RecordingHeader;
  frames: Frame[];
  /** Things replay works around (a last line cut short by a crash mid-write). */
  warnings: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Reads a recording written by `record` / `troupe serve --record`. Strict, because a replay that
 * quietly skipped lines would show a history that never happened: any line that is not a recording
 * line refuses the file, naming the line. One exception: a last line with no newline that does not
 * parse is what a process killed in the middle of a write leaves, and is dropped with a warning.
 */
export async function readRecording(path: string): Promise<ReadRecording> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RecordingError(path, 0, `cannot read the file: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  const torn = !text.endsWith('\n');
  if (!torn) lines.pop();
  const warnings: string[] = [];
  let header: RecordingHeader | undefined;
  const frames: Frame[] = [];
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (torn && i === lines.length - 1 && n > 1) {
        warnings.push(
          `line ${n} was cut short (the process stopped in the middle of a write); it is left out`,
        );
        break;
      }
      throw new RecordingError(path, n, `not JSON (${(err as Error).message})`);
    }
    if (!isObject(value)) throw new RecordingError(path, n, 'not a JSON object');
    if (n === 1) {
      if (value.kind !== 'header' || value.format !== FORMAT) {
        throw new RecordingError(
          path,
          n,
          'not a troupe recording (its first line is not a recording header)',
        );
      }
      if (value.version !== 1)
        throw new RecordingError(path, n, `recording format version ${value.version} is not known`);
      header = value as unknown as RecordingHeader;
      continue;
    }
    frames.push(checkFrame(value, path, n));
  }
  if (header === undefined) throw new RecordingError(path, 1, 'the file is empty');
  if (!frames.some((f) => f.kind === 'snapshot')) {
    throw new RecordingError(path, lines.length, 'the recording holds no snapshot to replay from');
  }
  return { header, frames, warnings };
}

function checkFrame(value: Record<string, unknown>, path: string, n: number): Frame {
  if (typeof value.seq !== 'number')
    throw new RecordingError(path, n, 'a recording line without a seq number');
  switch (value.kind) {
    case 'event': {
      const event = value.event;
      if (!isObject(event) || typeof event.type !== 'string')
        throw new RecordingError(path, n, 'an event line without an event type');
      break;
    }
    case 'snapshot': {
      const snapshot = value.snapshot;
      if (!isObject(snapshot) || !Array.isArray(snapshot.actors) || typeof value.at !== 'number')
        throw new RecordingError(path, n, 'a snapshot line without the actors of a snapshot');
      break;
    }
    case 'gap':
      if (typeof value.skipped !== 'number') throw new RecordingError(path, n, 'a gap line without a count');
      break;
    default:
      throw new RecordingError(path, n, `unknown line kind ${JSON.stringify(value.kind)}`);
  }
  return value as unknown as Frame;
}
