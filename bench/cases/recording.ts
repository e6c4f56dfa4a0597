import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summary } from 'mitata';
import type { DispatcherOptions } from '../../actors/types.js';
import { type BenchCase, troupeOrNote } from '../lib/case.js';
import { PAYLOAD, type Peer, withPeer } from '../lib/peers.js';
import { echoApp, troupePeer } from '../lib/troupe.js';

const id = 'recording';
const BATCH = 64;

/**
 * The cost of a post-mortem recording on the 64-in-flight case: the same dispatcher with nothing
 * listening, with a listener that does nothing (what any inspection costs the request path: a route and
 * a done event built per request), and recording to a file (batched JSON lines, default rotation).
 */
export const recording: BenchCase = {
  id,
  title: '8. 64 requests in flight, recorded',
  run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    if (troupe === undefined) return;
    const n = ctx.threads;
    const many = (peer: Peer) => peer.many(PAYLOAD, BATCH);
    const perRequest = {
      convert: (ns: number) => ns / BATCH / 1000,
      detail: `batch of ${BATCH} timed, divided by ${BATCH}`,
    };
    const make =
      (extra: () => Partial<DispatcherOptions>, cleanup?: () => void) => async (): Promise<Peer> => {
        const peer = troupePeer(await troupe.createDispatcher({ app: echoApp, actors: n, ...extra() }));
        return {
          ...peer,
          async close() {
            await peer.close();
            cleanup?.();
          },
        };
      };
    let dir: string | undefined;
    summary(() => {
      ctx.time({
        id: `${id}/off`,
        case: id,
        label: 'troupe request ×64, not recorded',
        baseline: true,
        ...perRequest,
        body: withPeer(
          make(() => ({})),
          many,
        ),
      });
      ctx.time({
        id: `${id}/listener`,
        case: id,
        label: 'troupe request ×64, a listener that does nothing',
        ...perRequest,
        body: withPeer(
          make(() => ({ inspect: () => {} })),
          many,
        ),
      });
      ctx.time({
        id: `${id}/on`,
        case: id,
        label: 'troupe request ×64, recorded to a file',
        ...perRequest,
        body: withPeer(
          make(
            () => {
              dir = mkdtempSync(join(tmpdir(), 'troupe-bench-record-'));
              return { record: { path: join(dir, 'run.jsonl') } };
            },
            () => {
              if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
            },
          ),
          many,
        ),
      });
    });
    ctx.results.compare({ case: id, subject: `${id}/on`, peers: [`${id}/off`, `${id}/listener`] });
    ctx.results.target({
      text: 'recording costs the 64-in-flight case at most 1.5× its unrecorded time',
      kind: 'time-at-most',
      subject: `${id}/on`,
      peer: `${id}/off`,
      bound: 1.5,
    });
  },
};
