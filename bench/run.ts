/**
 * `npm run bench -- [--quick] [--only <case>]`: every case registers its mitata benchmarks (and measures
 * what is not a timing), mitata runs them all in one process and prints its table, and the reporter writes
 * bench/results/latest.{json,md} (quick.{json,md} with --quick, so that CI never overwrites the committed
 * report). Exits non-zero on any error, never on a timing: CI runs --quick to keep the suite working.
 */
import { group, run as runMitata } from 'mitata';
import { affinity } from './cases/affinity.js';
import { configRollout } from './cases/config-rollout.js';
import { inFlight } from './cases/in-flight.js';
import { machineCost } from './cases/machine-cost.js';
import { memory } from './cases/memory.js';
import { metricsCost } from './cases/metrics-cost.js';
import { placement } from './cases/placement.js';
import { recording } from './cases/recording.js';
import { roundTrip } from './cases/round-trip.js';
import { streams } from './cases/streams.js';
import { parseArgs } from './lib/args.js';
import type { BenchCase, CaseContext } from './lib/case.js';
import { machineInfo } from './lib/machine.js';
import { writeReport } from './lib/report.js';
import { Results } from './lib/results.js';
import { revision } from './lib/revision.js';
import { FULL, QUICK, timed } from './lib/timing.js';
import { loadTroupe } from './lib/troupe.js';

const CASES: BenchCase[] = [
  roundTrip,
  inFlight,
  placement,
  configRollout,
  streams,
  machineCost,
  memory,
  recording,
  metricsCost,
  affinity,
];
/** The same thread count for every peer and actor count for troupe, so that the comparison is fair. */
const THREADS = 2;

async function main(): Promise<number> {
  const args = parseArgs(
    process.argv.slice(2),
    CASES.map((c) => c.id),
  );
  const started = Date.now();
  const budget = args.quick ? QUICK : FULL;
  const results = new Results();
  const troupe = await loadTroupe();
  // The peers still run and report, but a suite that cannot reach troupe is broken: CI must see it.
  if (typeof troupe === 'string') results.error(`troupe: ${troupe}`);

  const ctx: CaseContext = {
    quick: args.quick,
    budget,
    results,
    troupe,
    threads: THREADS,
    time(spec) {
      const convert = spec.convert ?? ((ns: number) => ns / 1000);
      const b = timed(spec.label, spec.body, budget, (stats) => {
        results.add({
          id: spec.id,
          case: spec.case,
          label: spec.label,
          value: convert(stats.p50),
          unit: spec.unit ?? 'µs',
          better: spec.better ?? 'lower',
          ...(spec.detail === undefined ? {} : { detail: spec.detail }),
          spread: (stats.p75 - stats.p25) / stats.p50,
        });
        spec.also?.(stats);
      });
      if (spec.baseline) b.baseline(true);
    },
  };

  const selected = CASES.filter((c) => args.only === undefined || args.only.has(c.id));
  for (const c of selected) {
    try {
      await group(c.title, async () => {
        await c.run(ctx);
      });
    } catch (err) {
      results.error(`${c.id}: ${(err as Error)?.stack ?? err}`);
    }
  }

  const { benchmarks } = await runMitata({ format: 'mitata' });
  for (const trial of benchmarks) {
    for (const r of trial.runs) {
      if (r.error !== undefined) results.error(`${r.name}: ${(r.error as Error)?.stack ?? r.error}`);
    }
  }

  const quick = args.quick ? ' -- --quick' : '';
  const only =
    args.only === undefined ? '' : `${quick === '' ? ' --' : ''} --only ${[...args.only].join(',')}`;
  const files = await writeReport(
    args.quick ? 'quick' : 'latest',
    {
      command: `npm run bench${quick}${only}`,
      quick: args.quick,
      cases: selected.map((c) => c.id),
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      machine: machineInfo(),
      revision: revision(),
      settings: { threads: THREADS, budget },
    },
    results,
  );
  console.log(`\nreport: ${files.join(', ')}`);
  for (const e of results.errors) console.error(`error: ${e}`);
  return results.errors.length === 0 ? 0 : 1;
}

// A last resort against a hang outside mitata (the memory and placement measurements, a close that never
// resolves): CI gets an error and an exit code instead of a stalled job.
const watchdog = setTimeout(
  () => {
    console.error('error: the bench did not finish in time; a case is hung');
    process.exit(1);
  },
  process.argv.includes('--quick') ? 180_000 : 900_000,
);
watchdog.unref();

// Exit explicitly: a peer that failed mid-case can leave a worker behind, and CI must not hang on it.
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
