/**
 * Throughput measured in slices: every server of a scenario up at once and loaded in turn, A B C, A B C,
 * ... A shared machine's speed drifts by more than the differences measured here within a minute; short
 * slices put every server's runs next to every other's, so a ratio of two servers is taken slice by
 * slice (`paired`) and the drift falls out of it.
 */
import { cpuSample, perRequest } from './cpu.js';
import type { Measured } from './report.js';
import { type ServerSpec, type Work, withServer } from './servers.js';

/** A server that is up, with what the CPU figures need. */
export interface Up {
  spec: ServerSpec;
  url: string;
  pid: number;
  tids: ReadonlySet<number>;
}

/** Starts every server (one after another), runs `fn` with all of them up, stops them all. */
export function withServers<T>(specs: ServerSpec[], work: Work, fn: (up: Up[]) => Promise<T>): Promise<T> {
  const up: Up[] = [];
  const next = (i: number): Promise<T> =>
    i === specs.length
      ? fn(up)
      : withServer(specs[i]!, work, (url, pid, tids) => {
          up.push({ spec: specs[i]!, url, pid, tids });
          return next(i + 1);
        });
  return next(0);
}

/** What the last slice left in flight (the load generator stops mid-request) gets this long to finish. */
const SETTLE_MS = 300;

/**
 * Each server warmed up first (JIT, connections, heaps: troupe's front, with more code on its request
 * path than a single-process server, takes a few seconds of load to reach its steady cost), then loaded
 * `sliceS` seconds at a time until it had `seconds`; each slice with its CPU per request. One list of
 * slices per server, in the order of `up`.
 */
export async function sliced(
  up: Up[],
  load: (url: string, seconds: number) => Promise<Measured>,
  opts: { seconds: number; sliceS: number; warmUpS: number },
): Promise<Measured[][]> {
  for (const s of up) await load(s.url, opts.warmUpS);
  const slices: Measured[][] = up.map(() => []);
  for (let i = 0; i < Math.max(1, Math.round(opts.seconds / opts.sliceS)); i++) {
    for (const [k, s] of up.entries()) {
      // A server that starts a slice behind its own abandoned requests can fall behind for good.
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const cpu0 = await cpuSample(s.pid, s.tids);
      const m = await load(s.url, opts.sliceS);
      m.cpu = perRequest(cpu0, await cpuSample(s.pid, s.tids), m.total);
      slices[k]!.push(m);
    }
  }
  return slices;
}

/** Each figure the median over the slices (taken figure by figure); totals summed; the req/s spread. */
export function median(slices: Measured[]): Measured {
  const mid = (f: (m: Measured) => number) => {
    const v = slices.map(f).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  const rps = slices.map((m) => m.rps);
  return {
    rps: mid((m) => m.rps),
    p50: mid((m) => m.p50),
    p99: mid((m) => m.p99),
    total: slices.reduce((n, m) => n + m.total, 0),
    errors: slices.reduce((n, m) => n + m.errors, 0),
    non2xx: slices.reduce((n, m) => n + m.non2xx, 0),
    cpu: {
      main: mid((m) => m.cpu!.main),
      mainKernel: mid((m) => m.cpu!.mainKernel),
      actors: mid((m) => m.cpu!.actors),
      all: mid((m) => m.cpu!.all),
    },
    range: [Math.min(...rps), Math.max(...rps)],
    slices,
  };
}

/** The median over slices of a / b, each slice of `a` against the slice of `b` run next to it. */
export function paired(a: Measured, b: Measured, f: (m: Measured) => number): number {
  const r = a.slices!.map((m, i) => f(m) / f(b.slices![i]!)).sort((x, y) => x - y);
  return r[Math.floor(r.length / 2)]!;
}
