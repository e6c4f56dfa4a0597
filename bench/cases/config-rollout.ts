import { summary } from 'mitata';
import type { Dispatcher } from '../../actors/types.js';
import { type BenchCase, troupeOrNote } from '../lib/case.js';
import type { Troupe } from '../lib/troupe.js';
import { echoApp } from '../lib/troupe.js';

const id = 'config-rollout';
const SIZES = [1, 2, 4, 8];
/** Load: this many requests per actor kept in flight, each a short busy spin, re-issued as each returns. */
const LOAD_PER_ACTOR = 4;
const SPIN_MS = 0.1;
/** Requests per actor for the saturated figure: troupe's default per-actor concurrency. */
const SATURATED = 32;

/** Keeps the actors busy until the returned stop function is called. */
function startLoad(d: Dispatcher, actors: number, perActor = LOAD_PER_ACTOR): () => Promise<void> {
  let running = true;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < perActor * actors; i++) {
    loops.push(
      (async () => {
        while (running) await d.request({ op: 'spin', ms: SPIN_MS });
      })(),
    );
  }
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

/**
 * One dispatcher per size serves both benchmarks of that size (idle, then under load), so the case starts
 * 15 actors, not 30. mitata runs benchmarks in the order they are registered, which is what makes the
 * hand-over safe: the under-load body is the last user and closes it.
 */
class Dispatchers {
  private readonly open = new Map<number, Promise<Dispatcher>>();
  constructor(private readonly troupe: Troupe) {}

  get(actors: number): Promise<Dispatcher> {
    let d = this.open.get(actors);
    if (d === undefined) {
      d = this.troupe.createDispatcher({ app: echoApp, actors });
      this.open.set(actors, d);
    }
    return d;
  }

  async close(actors: number): Promise<void> {
    const d = this.open.get(actors);
    this.open.delete(actors);
    await (await d)?.close();
  }
}

/** Case 4: `configure()` latency, from the call to every actor running the new version. */
export const configRollout: BenchCase = {
  id,
  title: '4. Config rollout',
  run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    if (troupe === undefined) return;
    const pool = new Dispatchers(troupe);
    let version = 0;
    const configure = (d: Dispatcher) => () => d.configure({ rollout: ++version });
    const ms = { unit: 'ms', convert: (ns: number) => ns / 1e6, case: id };
    summary(() => {
      for (const n of SIZES) {
        ctx.time({
          ...ms,
          id: `${id}/idle-${n}`,
          label: `configure(), ${n} idle actor${n === 1 ? '' : 's'}`,
          body: async function* () {
            const d = await pool.get(n);
            for (let i = 0; i < 5; i++) await configure(d)();
            yield configure(d);
          },
        });
        ctx.time({
          ...ms,
          id: `${id}/load-${n}`,
          label: `configure(), ${n} actor${n === 1 ? '' : 's'} under load`,
          detail: `${LOAD_PER_ACTOR} requests per actor in flight, each a ${SPIN_MS} ms busy spin`,
          body: async function* () {
            const d = await pool.get(n);
            const stop = startLoad(d, n);
            try {
              yield configure(d);
            } finally {
              await stop();
              await pool.close(n);
            }
          },
        });
      }
      // Saturated: every actor holds its full concurrency (32, the default) of requests, so that its data
      // port never runs dry. The control plane shares the actor's event loop with that port; this figure
      // shows how long a config change waits behind it (bench/tools/port-starvation.mjs shows why).
      ctx.time({
        ...ms,
        id: `${id}/saturated-2`,
        label: 'configure(), 2 actors saturated',
        detail: `${SATURATED} requests per actor in flight (the default concurrency), each a ${SPIN_MS} ms busy spin`,
        body: async function* () {
          const d = await troupe.createDispatcher({ app: echoApp, actors: 2 });
          const stop = startLoad(d, 2, SATURATED);
          try {
            yield configure(d);
          } finally {
            await stop();
            await d.close();
          }
        },
      });
      // The canary (one actor first, then the rest) puts two control round trips on the critical path;
      // this figure shows what the second one costs.
      ctx.time({
        ...ms,
        id: `${id}/idle-8-no-canary`,
        label: 'configure(), 8 idle actors, canary off',
        detail: 'canary: false, all 8 actors prepare at once',
        body: async function* () {
          const d = await troupe.createDispatcher({ app: echoApp, actors: 8, canary: false });
          try {
            for (let i = 0; i < 5; i++) await configure(d)();
            yield configure(d);
          } finally {
            await d.close();
          }
        },
      });
    });
    ctx.results.compare({ case: id, subject: `${id}/idle-8-no-canary`, peers: [`${id}/idle-8`] });
    ctx.results.target({
      text: '`configure()` with 8 idle actors under 1 ms at the median',
      kind: 'value-at-most',
      subject: `${id}/idle-8`,
      bound: 1,
    });
  },
};
