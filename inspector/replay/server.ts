import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../../actors/errors.js';
import { ConfigHistory } from '../../actors/router/config-history.js';
import type { DispatcherSnapshot } from '../../actors/types.js';
import { isLoopback } from '../live/access.js';
import { Assets } from '../live/assets.js';
import { withoutRemoved } from '../live/merge-patch.js';
import type { Frame } from '../live/recorder.js';
import { gate, securityHeaders, send, sse } from '../live/server.js';
import type { ReadRecording } from './read.js';

const HEARTBEAT_MS = 15_000;

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
export async function serveRecording(
  recording: ReadRecording,
  options: ReplayOptions,
): Promise<{ url: string; close(): Promise<void> }> {
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
  const assets = new Assets();
  const viewers = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, 'text/plain; charset=utf-8', `inspector error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://inspector.invalid');
    if (!gate(req, res, url, token, (server.address() as AddressInfo).port, 'a recording is read-only'))
      return;
    switch (url.pathname) {
      case '/api/events':
        return openStream(req, res);
      case '/api/snapshot':
        return send(res, 200, 'application/json', JSON.stringify(last));
      case '/api/history':
        return send(res, 200, 'application/json', JSON.stringify({ base: undefined, frames }));
      case '/api/config':
        return send(res, 200, 'application/json', JSON.stringify(config));
    }
    const asset = assets.get(url.pathname);
    if (asset === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'Not found.\n');
    const { type, body } = await asset;
    send(res, 200, type, req.method === 'HEAD' ? '' : body);
  }

  /** One `hello` with the whole recording; the stream then stays open (a closed one would make the page reconnect). */
  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    res.write(sse('hello', hello));
    viewers.add(res);
    const beat = setInterval(() => res.write(': beat\n\n'), HEARTBEAT_MS);
    beat.unref();
    const done = () => {
      clearInterval(beat);
      viewers.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`,
    async close() {
      for (const viewer of viewers) viewer.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
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
