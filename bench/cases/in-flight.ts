import { summary } from 'mitata';
import { type BenchCase, troupeOrNote } from '../lib/case.js';
import {
  comlinkPeer,
  PAYLOAD,
  type Peer,
  piscinaPeer,
  rawPeer,
  tinypoolPeer,
  withPeer,
} from '../lib/peers.js';
import { echoApp, troupePeer } from '../lib/troupe.js';

const id = 'in-flight-64';
const BATCH = 64;
/** Piscina's `concurrentTasksPerWorker`: troupe's default per-actor concurrency, so both may pipeline alike. */
const PISCINA_CONCURRENCY = 32;

/** Case 2: 64 requests in flight over all threads; mitata times the batch, the figure is per request. */
export const inFlight: BenchCase = {
  id,
  title: '2. 64 requests in flight',
  run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    const n = ctx.threads;
    const many = (peer: Peer) => peer.many(PAYLOAD, BATCH);
    const perRequest = {
      convert: (ns: number) => ns / BATCH / 1000,
      detail: `batch of ${BATCH} timed, divided by ${BATCH}`,
    };
    summary(() => {
      ctx.time({
        id: `${id}/raw`,
        case: id,
        label: 'raw postMessage, pipelined',
        baseline: true,
        ...perRequest,
        body: withPeer(() => rawPeer(n), many),
      });
      if (troupe !== undefined) {
        const make = async () => troupePeer(await troupe.createDispatcher({ app: echoApp, actors: n }));
        ctx.time({
          id: `${id}/troupe`,
          case: id,
          label: 'troupe request ×64',
          ...perRequest,
          body: withPeer(make, many),
        });
      }
      ctx.time({
        id: `${id}/piscina`,
        case: id,
        label: 'Piscina run ×64 (default)',
        ...perRequest,
        body: withPeer(() => piscinaPeer(n), many),
      });
      ctx.time({
        id: `${id}/piscina-concurrent`,
        case: id,
        label: `Piscina run ×64 (concurrentTasksPerWorker ${PISCINA_CONCURRENCY})`,
        ...perRequest,
        body: withPeer(() => piscinaPeer(n, PISCINA_CONCURRENCY), many),
      });
      ctx.time({
        id: `${id}/tinypool`,
        case: id,
        label: 'Tinypool run ×64',
        ...perRequest,
        body: withPeer(() => tinypoolPeer(n), many),
      });
      ctx.time({
        id: `${id}/comlink`,
        case: id,
        label: 'Comlink call ×64',
        ...perRequest,
        body: withPeer(() => comlinkPeer(n), many),
      });
    });
    const subject = `${id}/troupe`;
    const peers = ['raw', 'piscina', 'piscina-concurrent', 'tinypool', 'comlink'].map((p) => `${id}/${p}`);
    ctx.results.compare({ case: id, subject, peers });
    ctx.results.target({
      text: '64 in flight ≥ 3× Piscina default',
      kind: 'speed-at-least',
      subject,
      peer: `${id}/piscina`,
      bound: 3,
    });
    ctx.results.target({
      text: `64 in flight ≥ 1.2× Piscina with concurrentTasksPerWorker ${PISCINA_CONCURRENCY}`,
      kind: 'speed-at-least',
      subject,
      peer: `${id}/piscina-concurrent`,
      bound: 1.2,
    });
    ctx.results.target({
      text: '64 in flight ≥ 0.6× raw pipelined postMessage',
      kind: 'speed-at-least',
      subject,
      peer: `${id}/raw`,
      bound: 0.6,
    });
  },
};
