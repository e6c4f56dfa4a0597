import type { Frame } from '../live/recorder.js';

/** The first line of every recording file (and of every rotated part). */
export interface RecordingHeader {
  kind: 'header';
  format: 'troupe-recording';
  version: 1;
  /** When this part was begun (ms since the epoch). */
  at: number;
  pid: number;
  showPayloads: boolean;
  /** 0 for the first file of a run, then one more for each rotation. */
  part: number;
}

export type RecordingLine = RecordingHeader | Frame;

export const FORMAT = 'troupe-recording';
