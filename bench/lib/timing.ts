import { type B, bench, flags, measure } from 'mitata';
import { gc } from './gc.js';

/** mitata's per-sample statistics (times in ns per iteration). */
export type Stats = Awaited<ReturnType<typeof measure>>;

/** How long each benchmark runs. mitata's own budget (642 ms and 4,096-call batches) is fixed per run. */
export interface Budget {
  /** A benchmark still running after this many ms is reported as an error (a hang must not stall CI). */
  limit_ms: number;
  min_cpu_time: number;
  min_samples: number;
  batch_samples: number;
  warmup_samples: number;
}

export const FULL: Budget = {
  limit_ms: 120_000,
  min_cpu_time: 1_000_000_000,
  min_samples: 24,
  batch_samples: 128,
  warmup_samples: 4,
};
export const QUICK: Budget = {
  limit_ms: 30_000,
  min_cpu_time: 20_000_000,
  min_samples: 3,
  batch_samples: 8,
  warmup_samples: 1,
};

/** A generator benchmark: set up, `yield` the function to time, tear down (mitata's own form). */
export type BenchBody =
  | (() => unknown)
  | (() => Generator<() => unknown, void, undefined>)
  | (() => AsyncGenerator<() => unknown, void, undefined>);

type Trial = Awaited<ReturnType<B['run']>>;
interface BInternals {
  _group: number;
  _highlight: string | false;
  flags: number;
}

/**
 * Registers a mitata benchmark whose run uses `budget` and hands its stats to `done`.
 *
 * mitata 1 has no per-run budget: `B.run` always measures with its defaults. The table, the summaries and
 * the grouping are what the suite wants from mitata, so only `run` is replaced, on this instance, with
 * the same shape mitata's static run returns (main.mjs, `B.run`, kind 'static').
 */
export function timed(name: string, body: BenchBody, budget: Budget, done: (stats: Stats) => void): B {
  const b = bench(name, body as () => unknown);
  const internals = b as unknown as BInternals;
  b.run = async (thrw = false): Promise<Trial> => {
    let stats: Stats | undefined;
    let error: unknown;
    try {
      const { limit_ms, ...opts } = budget;
      stats = await withLimit(measure(body as () => unknown, { ...opts, gc }), limit_ms, name);
      done(stats);
    } catch (err) {
      error = err;
      if (thrw) throw err;
    }
    return {
      kind: 'static',
      args: {},
      alias: name,
      baseline: (internals.flags & flags.baseline) !== 0,
      runs: [{ stats, error, args: {}, name } as Trial['runs'][number]],
      style: { highlight: internals._highlight, compact: (internals.flags & flags.compact) !== 0 },
      group: internals._group,
    } as Trial;
  };
  return b;
}

/**
 * Rejects when `work` takes longer than `ms`. The work itself cannot be cancelled (a hung stream stays
 * hung), but the run goes on to the next benchmark and ends with an error instead of never ending.
 */
function withLimit<T>(work: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: still running after ${ms / 1000} s (hung?)`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}
