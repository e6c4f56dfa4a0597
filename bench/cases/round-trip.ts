import { summary } from 'mitata';
import { type BenchCase, troupeOrNote } from '../lib/case.js';
import { comlinkPeer, PAYLOAD, piscinaPeer, rawPeer, tinypoolPeer, withPeer } from '../lib/peers.js';
import { echoApp, troupePeer } from '../lib/troupe.js';

const id = 'round-trip';

/** Case 1: one request at a time, the latency floor of each way of reaching a thread. */
export const roundTrip: BenchCase = {
  id,
  title: '1. One request at a time (round trip)',
  run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    const n = ctx.threads;
    const one = (peer: { one(p: unknown): Promise<unknown> }) => peer.one(PAYLOAD);
    summary(() => {
      ctx.time({
        id: `${id}/raw`,
        case: id,
        label: 'raw postMessage',
        baseline: true,
        body: withPeer(() => rawPeer(n), one),
      });
      if (troupe !== undefined) {
        const make = async () => troupePeer(await troupe.createDispatcher({ app: echoApp, actors: n }));
        ctx.time({ id: `${id}/troupe`, case: id, label: 'troupe request', body: withPeer(make, one) });
      }
      ctx.time({
        id: `${id}/piscina`,
        case: id,
        label: 'Piscina run',
        body: withPeer(() => piscinaPeer(n), one),
      });
      ctx.time({
        id: `${id}/tinypool`,
        case: id,
        label: 'Tinypool run',
        body: withPeer(() => tinypoolPeer(n), one),
      });
      ctx.time({
        id: `${id}/comlink`,
        case: id,
        label: 'Comlink call',
        body: withPeer(() => comlinkPeer(n), one),
      });
    });
    const peers = ['raw', 'piscina', 'tinypool', 'comlink'].map((p) => `${id}/${p}`);
    ctx.results.compare({ case: id, subject: `${id}/troupe`, peers });
    ctx.results.target({
      text: 'round trip ≤ 1.25× raw postMessage',
      kind: 'time-at-most',
      subject: `${id}/troupe`,
      peer: `${id}/raw`,
      bound: 1.25,
    });
  },
};
