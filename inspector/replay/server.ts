import { InvalidArgumentError } from '../../actors/errors.js';
import { ConfigHistory } from '../../actors/router/config-history.js';
import type { DispatcherSnapshot } from '../../actors/types.js';
import { isLoopback } from '../live/access.js';
import { withoutRemoved } from '../live/merge-patch.js';
import { type PageServer, servePage } from '../live/page-server.js';
import type { Frame } from '../live/recorder.js';
import type { ReadRecording } from './read.js';

export interface ReplayOptions {
  port?: number;
  host?: string;
  token?: string;
  /** Shown on the page: which file this is. */
  name: string;
}

/**
 * Serves the inspector page over a recording: the same page as the live one, fed the whole recording
 * at once, so its pause, step, step back and slider work over the run as they do over a live history.
 * Nothing is fetched from anywhere else: a post-mortem often happens on a machine with no way out.
 */
export async function serveRecording(recording: ReadRecording, options: ReplayOptions): Promise<PageServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token === undefined || options.token === '' ? undefined : options.token;
  if (!isLoopback(host) && token === undefined) {
    throw new InvalidArgumentError(
      `troupe inspect would serve the recording on ${host}, which other machines can reach, without a token: add --token.`,
    );
  }
  const { frames, header } = recording;
  const snapshots = frames.filter((f): f is Extract<Frame, { kind: 'snapshot' }> => f.kind === 'snapshot');
  const last = snapshots.at(-1)!.snapshot;
  const hello = {
    history: Math.max(10, frames.length),
    showPayloads: header.showPayloads,
    base: undefined,
    frames,
    snapshot: last,
    pid: header.pid,
    admin: false,
    replay: { name: options.name, at: header.at, part: header.part, warnings: recording.warnings },
  };
  const config = replayConfig(snapshots[0]!.snapshot, snapshots[0]!.at, frames, last, header.showPayloads);
  return servePage({
    host,
    port: options.port ?? 0,
    token,
    readOnly: 'a recording is read-only',
    api: {
      '/api/snapshot': () => JSON.stringify(last),
      '/api/history': () => JSON.stringify({ base: undefined, frames }),
      '/api/config': () => JSON.stringify(config),
    },
    // One `hello` with the whole recording; the stream then stays open (a closed one makes the page reconnect).
    hello: () => hello,
  });
}

/** The config panel's view of a recording: the last config, and the history its rollout events tell. */
function replayConfig(
  first: DispatcherSnapshot,
  startedAt: number,
  frames: Frame[],
  last: DispatcherSnapshot,
  showPayloads: boolean,
) {
  const history = new ConfigHistory(first.config);
  for (const f of frames) {
    if (f.kind === 'event' && f.event.type === '@troupe.config') history.observe(f.event);
  }
  const records = history.list();
  // The recording starts from its first snapshot, not from the dispatcher's start: say where from.
  records[0]!.version = first.configVersion;
  records[0]!.by = 'recording start';
  records[0]!.at = startedAt;
  records[0]!.settledAt = startedAt;
  return {
    version: last.configVersion,
    config: withoutRemoved(last.config),
    history: records,
    admin: false,
    showPayloads,
  };
}
