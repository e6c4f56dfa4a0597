import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Dispatcher } from '../../actors/types.js';
import { type BenchCase, type CaseContext, troupeOrNote } from '../lib/case.js';
import { settle } from '../lib/gc.js';
import { workerUrl } from '../lib/paths.js';
import { PAYLOAD, warm } from '../lib/peers.js';
import { echoApp, type Troupe, troupePeer } from '../lib/troupe.js';

const id = 'memory';
const MB = 2 ** 20;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * Case 7: memory, measured outside mitata (one reading per setting, repeated; the median reported).
 * RSS per actor: the process's RSS grows by one thread's isolate, app and stacks per actor; it is read
 * after a collection, before and after starting the actors, and set against bare workers (the floor).
 * Heap per request in flight: the router's part (pending record, promise, queue entry) on the main
 * thread, with requests held in flight by the app until they are counted.
 */
export const memory: BenchCase = {
  id,
  title: '7. Memory',
  async run(ctx) {
    const actors = ctx.quick ? 2 : 4;
    const repeats = ctx.quick ? 1 : 3;
    const rawRss: number[] = [];
    for (let r = 0; r < repeats; r++) rawRss.push(await rssPer(actors, startRaw));
    ctx.results.add({
      id: `${id}/rss-raw-worker`,
      case: id,
      label: 'RSS per bare worker thread',
      value: median(rawRss),
      unit: 'MB',
      better: 'lower',
      detail: `${actors} workers started, RSS delta / ${actors}, median of ${repeats}`,
    });
    const troupe = troupeOrNote(ctx, id);
    if (troupe === undefined) return;
    const actorRss: number[] = [];
    for (let r = 0; r < repeats; r++) actorRss.push(await rssPer(actors, (n) => startTroupe(troupe, n)));
    ctx.results.add({
      id: `${id}/rss-actor`,
      case: id,
      label: 'RSS per troupe actor',
      value: median(actorRss),
      unit: 'MB',
      better: 'lower',
      detail: `${actors} actors started and warmed, RSS delta / ${actors}, median of ${repeats}`,
    });
    ctx.results.compare({ case: id, subject: `${id}/rss-actor`, peers: [`${id}/rss-raw-worker`] });
    await heapPerRequest(ctx, troupe);
  },
};

async function startRaw(n: number): Promise<() => Promise<void>> {
  const workers = Array.from({ length: n }, () => new Worker(workerUrl('raw-echo.mjs')));
  // A worker's memory is only there once it runs: wait for one echo from each.
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          w.once('message', resolve);
          w.postMessage(PAYLOAD);
        }),
    ),
  );
  return async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  };
}

async function startTroupe(troupe: Troupe, n: number): Promise<() => Promise<void>> {
  const d = await troupe.createDispatcher({ app: echoApp, actors: n });
  await warm(troupePeer(d), PAYLOAD, 100);
  return () => d.close();
}

async function rssPer(n: number, start: (n: number) => Promise<() => Promise<void>>): Promise<number> {
  await settle();
  const before = process.memoryUsage.rss();
  const stop = await start(n);
  await settle();
  const after = process.memoryUsage.rss();
  await stop();
  await settle();
  return (after - before) / n / MB;
}

/**
 * Requests held in flight by the app's `hold` op. The router's part is the main thread's heap delta; the
 * actors' part is read inside each actor (the app's `heap` op collects first) before and while they hold.
 */
async function heapPerRequest(ctx: CaseContext, troupe: Troupe): Promise<void> {
  const n = ctx.quick ? 1_000 : 10_000;
  const actors = ctx.threads;
  // Every request must be in flight on an actor, not queued: concurrency covers them all, plus one slot
  // per actor for the heap readings (least-loaded placement sends one to each actor).
  const d: Dispatcher = await troupe.createDispatcher({
    app: echoApp,
    actors,
    concurrency: Math.ceil(n / actors) + 1,
  });
  const actorHeaps = async (): Promise<number> => {
    const heaps = await Promise.all(Array.from({ length: actors }, () => d.request<number>({ op: 'heap' })));
    return heaps.reduce((a, b) => a + b, 0);
  };
  try {
    await warm(troupePeer(d), PAYLOAD, 100);
    const samples: number[] = [];
    const actorSamples: number[] = [];
    for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
      const actorBefore = await actorHeaps();
      await settle();
      const before = getHeapStatistics().used_heap_size;
      const calls: Promise<unknown>[] = new Array(n);
      const holdMs = ctx.quick ? 300 : 1_000;
      for (let i = 0; i < n; i++) calls[i] = d.request({ op: 'hold', ms: holdMs });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await settle();
      const after = getHeapStatistics().used_heap_size;
      const inFlight = d.snapshot().actors.reduce((sum, a) => sum + a.inFlight, 0);
      const actorAfter = await actorHeaps();
      await Promise.all(calls);
      if (inFlight < n) {
        ctx.results.note(`memory: only ${inFlight} of ${n} requests were in flight when counted`);
      }
      samples.push((after - before) / n);
      actorSamples.push((actorAfter - actorBefore) / n);
    }
    const held = `${n.toLocaleString('en-US')} requests held on ${actors} actors`;
    ctx.results.add({
      id: `${id}/heap-per-request`,
      case: id,
      label: 'main-thread heap per request in flight',
      value: median(samples) / 1024,
      unit: 'KB',
      better: 'lower',
      detail: `${held}; used heap delta / ${n.toLocaleString('en-US')} (router record, promise, caller's array slot)`,
    });
    ctx.results.add({
      id: `${id}/actor-heap-per-request`,
      case: id,
      label: 'actor heap per request in flight',
      value: median(actorSamples) / 1024,
      unit: 'KB',
      better: 'lower',
      detail: `${held}; read in each actor after a collection, summed over the actors (request record, handler's promise and timer)`,
    });
  } finally {
    await d.close();
  }
}
