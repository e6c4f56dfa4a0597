import { summary } from 'mitata';
import type { Dispatcher } from '../../actors/types.js';
import { type BenchCase, type CaseContext, troupeOrNote } from '../lib/case.js';
import { distUrl } from '../lib/paths.js';
import { PAYLOAD, warm } from '../lib/peers.js';
import type { Stats } from '../lib/timing.js';
import { echoApp, type Troupe, troupePeer } from '../lib/troupe.js';

const id = 'metrics-cost';
const BATCH = 64;
/** The bound on what recording may add to one request, in µs. */
const BOUND_US = 0.2;

/**
 * Case 8: what `metrics()` recording costs a request. (a) The 64-in-flight path with the `metrics`
 * option on and off, side by side in one run; their difference is the added cost per request, which at
 * a few µs per request sits inside the run's noise. (b) The recording hooks alone, as the request path
 * calls them for one request (queued, started, finished), on the real recorder: the cost without the
 * noise of two threads.
 */
export const metricsCost: BenchCase = {
  id,
  title: '8. What metrics recording costs',
  async run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    if (troupe !== undefined) timedPaths(ctx, troupe);
    await hooksAlone(ctx);
    ctx.results.target({
      text: `metrics recording adds ≤ ${BOUND_US} µs per request (hooks alone)`,
      kind: 'value-at-most',
      subject: `${id}/hooks`,
      bound: BOUND_US,
    });
    ctx.results.target({
      text: `metrics recording adds ≤ ${BOUND_US} µs per request, 64 in flight (on − off)`,
      kind: 'value-at-most',
      subject: `${id}/added`,
      bound: BOUND_US,
    });
  },
};

function timedPaths(ctx: CaseContext, troupe: Troupe): void {
  const medians = new Map<boolean, Stats>();
  const derive = () => {
    const on = medians.get(true);
    const off = medians.get(false);
    if (on === undefined || off === undefined) return;
    const perRequest = (s: Stats) => s.p50 / BATCH / 1000;
    ctx.results.add({
      id: `${id}/added`,
      case: id,
      label: 'added per request, 64 in flight (on − off medians)',
      value: perRequest(on) - perRequest(off),
      unit: 'µs',
      better: 'lower',
      detail: 'difference of the two medians above; its noise is their spreads',
    });
  };
  summary(() => {
    for (const metrics of [false, true]) {
      ctx.time({
        id: `${id}/in-flight-${metrics ? 'on' : 'off'}`,
        case: id,
        label: `troupe request ×64, metrics ${metrics ? 'on' : 'off'}`,
        baseline: !metrics,
        convert: (ns) => ns / BATCH / 1000,
        detail: `batch of ${BATCH} timed, divided by ${BATCH}; metrics: ${metrics}`,
        also(stats) {
          medians.set(metrics, stats);
          derive();
        },
        body: async function* () {
          const d: Dispatcher = await troupe.createDispatcher({
            app: echoApp,
            actors: ctx.threads,
            metrics,
          });
          try {
            await warm(troupePeer(d), PAYLOAD);
            yield () => troupePeer(d).many(PAYLOAD, BATCH);
          } finally {
            await d.close();
          }
        },
      });
    }
  });
  ctx.results.compare({ case: id, subject: `${id}/in-flight-on`, peers: [`${id}/in-flight-off`] });
}

interface Recorder {
  queued(req: unknown): void;
  started(req: unknown, h: unknown): void;
  finished(h: unknown, req: unknown, ok: boolean): void;
}

/** The three hooks of one request on the real recorder, timed over many requests in one loop. */
async function hooksAlone(ctx: CaseContext): Promise<void> {
  const { Metrics } = (await import(distUrl('actors/router/metrics.js').href)) as {
    Metrics: new (slots: unknown[], recording: boolean) => Recorder;
  };
  const slots = [
    { id: 0, restarts: 0 },
    { id: 1, restarts: 0 },
  ];
  const recorder = new Metrics(slots, true);
  const handles = [{ slot: 0 }, { slot: 1 }];
  const reqs = Array.from({ length: BATCH }, () => ({ queuedAt: 0, startedAt: 0, stream: undefined }));
  ctx.time({
    id: `${id}/hooks`,
    case: id,
    label: 'recording hooks of one request, alone',
    convert: (ns) => ns / BATCH / 1000,
    detail: `started + finished for ${BATCH} requests (one in eight queued first), divided by ${BATCH}; one synchronous loop, so the clock is read once per mitata batch instead of once per run (a reading spread over a run's requests is about a ns each)`,
    body: () => {
      for (let i = 0; i < BATCH; i++) {
        const req = reqs[i]!;
        if ((i & 7) === 0) recorder.queued(req);
        recorder.started(req, handles[i & 1]!);
      }
      for (let i = 0; i < BATCH; i++) recorder.finished(handles[i & 1]!, reqs[i]!, true);
    },
  });
}
