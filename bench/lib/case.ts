import type { Results } from './results.js';
import type { BenchBody, Budget, Stats } from './timing.js';
import type { Troupe } from './troupe.js';

/** What every case gets from the runner. */
export interface CaseContext {
  quick: boolean;
  budget: Budget;
  results: Results;
  /** The loaded core, or why it could not be loaded. */
  troupe: Troupe | string;
  /** Threads for every peer and actors for troupe, wherever a case compares them. */
  threads: number;
  /** Registers a mitata benchmark whose median becomes a figure (synchronously, inside a mitata group). */
  time(spec: TimedSpec): void;
}

export interface TimedSpec {
  id: string;
  case: string;
  label: string;
  body: BenchBody;
  /** Turns mitata's median (ns per iteration) into the figure's value. Default: µs per iteration. */
  convert?: (nsPerIteration: number) => number;
  unit?: string;
  better?: 'lower' | 'higher';
  detail?: string;
  baseline?: boolean;
  /** Called with the raw stats too (for figures derived from the same samples). */
  also?: (stats: Stats) => void;
}

export interface BenchCase {
  id: string;
  title: string;
  /**
   * Measures what is not a mitata timing (memory, load spread) right away, and registers the timed
   * benchmarks, which mitata runs after every case has registered.
   */
  run(ctx: CaseContext): void | Promise<void>;
}

/** Why a troupe figure is missing, recorded once per case. */
export function troupeOrNote(ctx: CaseContext, caseId: string): Troupe | undefined {
  if (typeof ctx.troupe !== 'string') return ctx.troupe;
  ctx.results.note(`${caseId}: troupe not measured: ${ctx.troupe}`);
  return undefined;
}
