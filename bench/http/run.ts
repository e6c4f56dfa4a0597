/**
 * The HTTP benchmark of `troupe serve`, against what its users would run instead, in one run, side by
 * side, as ratios:
 *   node dist/bench/http/run.js [--duration S] [--rounds N] [--quick] [--no-write]
 *     [--hello-only | --cpu-only | --cheap-only]
 * 1. hello world: CPU µs per request of troupe's main thread (≤ 15) and of all its threads against
 *    `@hono/node-server` serving the same app (≤ 1.5×), and req/s;
 * 2. ~2 ms CPU handler: troupe vs `@hono/node-server` single-threaded (≥ 1.6×) and vs `node:cluster`
 *    running `@hono/node-server` with as many processes as troupe has actors (≥ 0.95×);
 * 3. p99 of a cheap route while a CPU-heavy route is loaded (by 1 client, then 2), single-threaded p99 /
 *    troupe p99 (≥ 10×).
 * CPU per thread comes from /proc/<pid>/task/<tid>/stat (Linux only; elsewhere it is a dash).
 * Writes bench/results/http.{md,json}. Every server is its own process; the load comes from autocannon
 * in this process, on loopback, bounded in time.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { cpuSample, perRequest } from './cpu.js';
import { paced } from './paced.js';
import { availableCpus, wakeCost } from './probe.js';
import { type Measured, measure, met, show, type Target, writeResults } from './report.js';
import { label, type ServerSpec, type Work, withServer } from './servers.js';
import { calibrate } from './work.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean' },
    'no-write': { type: 'boolean' },
    // The first scenario alone, not written: the quick check while working on the request path.
    'hello-only': { type: 'boolean' },
    // The CPU-bound scenario alone, not written.
    'cpu-only': { type: 'boolean' },
    // The cheap-route-under-load scenarios alone, not written.
    'cheap-only': { type: 'boolean' },
  },
});
const quick = values.quick ?? false;
const duration = Number(values.duration ?? (quick ? 2 : 3));
// Rounds interleave the servers (A B C, A B C, ...) and keep each one's median: on a shared machine the
// free CPU changes from one minute to the next, and interleaving spreads that over every server alike.
const ROUNDS = Number(values.rounds ?? (quick ? 1 : 3));
const threads = availableParallelism();
const CPU_MS = 2;
const HEAVY_MS = 20;
const CHEAP_CONNECTIONS = 20;
const CHEAP_RATE = 200;

async function load(
  url: string,
  connections: number,
  seconds = duration,
  overallRate?: number,
): Promise<Measured> {
  const opts: Parameters<typeof autocannon>[0] = { url, connections, duration: seconds, timeout: 30 };
  if (overallRate !== undefined) opts.overallRate = overallRate;
  return measure(await autocannon(opts));
}

/** One warm-up second (JIT, connection setup, heaps), then the measured run. */
async function throughput(
  spec: ServerSpec,
  work: Work,
  path: string,
  connections: number,
): Promise<Measured> {
  return withServer(spec, work, async (url, pid, tids) => {
    await load(`${url}${path}`, connections, 1);
    const cpu0 = await cpuSample(pid, tids);
    const m = await load(`${url}${path}`, connections);
    m.cpu = perRequest(cpu0, await cpuSample(pid, tids), m.total);
    log(
      `  ${label(spec).padEnd(44)} ${m.rps.toFixed(0).padStart(7)} req/s  p99 ${m.p99} ms  CPU µs/req: main ${m.cpu.main.toFixed(1)} actors ${m.cpu.actors.toFixed(1)} all ${m.cpu.all.toFixed(1)}  errors ${m.errors + m.non2xx}`,
    );
    return m;
  });
}

/** A cheap route at a fixed rate while `heavyConnections` clients hammer the heavy route. */
async function cheapUnderLoad(spec: ServerSpec, work: Work, heavyConnections: number): Promise<Measured> {
  return withServer(spec, work, async (url) => {
    await load(`${url}/cheap`, 4, 1);
    const heavy = load(`${url}/heavy`, heavyConnections, duration + 1);
    await new Promise((r) => setTimeout(r, 500));
    // Evenly paced, each request timed from when it was due (see paced.ts for why not autocannon's rate).
    const m = await paced(`${url}/cheap`, CHEAP_RATE, CHEAP_CONNECTIONS, duration);
    await heavy;
    log(`  ${label(spec).padEnd(44)} cheap p50 ${m.p50} ms  p99 ${m.p99} ms  (${m.total} requests)`);
    return m;
  });
}

type Two = [Measured, Measured];
type Three = [Measured, Measured, Measured];
type Four = [Measured, Measured, Measured, Measured];

/** Runs every server once a round, ROUNDS times; keeps each one's median run by `by`, with the spread. */
async function interleave(
  runs: (() => Promise<Measured>)[],
  by: (m: Measured) => number,
): Promise<Measured[]> {
  const all: Measured[][] = runs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < runs.length; i++) all[i]!.push(await runs[i]!());
  }
  return all.map((ms) => {
    const sorted = [...ms].sort((a, b) => by(a) - by(b));
    return { ...sorted[Math.floor(sorted.length / 2)]!, range: [by(sorted[0]!), by(sorted.at(-1)!)] };
  });
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const work: Work = { cpuIterations: calibrate(CPU_MS), heavyIterations: calibrate(HEAVY_MS) };
  const loadBefore = loadavg()[0]!;
  const cpusBefore = await availableCpus(threads);
  const wake = await wakeCost();
  log(
    `troupe HTTP benchmark: ${threads} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()[0]!.toFixed(2)}, ${cpusBefore.toFixed(2)} CPUs free, a thread wake-up round trip ${wake.cpuUs.toFixed(1)} µs CPU, ${duration} s a run`,
  );
  const single: ServerSpec = { kind: 'single', handler: 'hono' };
  const singleRaw: ServerSpec = { kind: 'single', handler: 'raw' };
  const cluster: ServerSpec = { kind: 'cluster', processes: threads, handler: 'hono' };
  const troupe: ServerSpec = { kind: 'troupe', actors: threads };
  const troupeOver: ServerSpec = { kind: 'troupe', actors: threads * 2 };
  // The same troupe with its front's old generation left at node's default (TROUPE_FRONT_HEAP_MB=0): what
  // the larger one troupe serve starts its front with is worth (cli/front-heap.ts).
  const troupeHeap: ServerSpec = { kind: 'troupe', actors: threads, frontHeapOff: true };

  const rps = (m: Measured) => m.rps;
  const p99 = (m: Measured) => m.p99;
  const cpuBound = async () => {
    log(`CPU-bound handler (GET /cpu, ~${CPU_MS} ms of work, 16 connections)`);
    return (await interleave(
      [single, cluster, troupe, troupeHeap].map((spec) => () => throughput(spec, work, '/cpu', 16)),
      rps,
    )) as Four;
  };
  // One heavy client leaves an actor free (the case troupe is built for); two keep both default actors
  // busy, where only more actors than cores leave room for the cheap route.
  const cheapRoute = async () => {
    log(`cheap route at ${CHEAP_RATE} req/s while 1 client loads GET /heavy (~${HEAVY_MS} ms of work each)`);
    const one = (await interleave(
      [single, troupe].map((spec) => () => cheapUnderLoad(spec, work, 1)),
      p99,
    )) as Two;
    log(`cheap route at ${CHEAP_RATE} req/s while 2 clients load GET /heavy (~${HEAVY_MS} ms of work each)`);
    const two = (await interleave(
      [single, troupe, troupeOver].map((spec) => () => cheapUnderLoad(spec, work, 2)),
      p99,
    )) as Three;
    return [one, two] as const;
  };
  if (values['cpu-only']) {
    await cpuBound();
    return;
  }
  if (values['cheap-only']) {
    await cheapRoute();
    return;
  }
  log('hello world (GET /hello, 32 connections)');
  const [helloSingle, helloRaw, helloTroupe, helloHeap] = (await interleave(
    [single, singleRaw, troupe, troupeHeap].map((spec) => () => throughput(spec, work, '/hello', 32)),
    rps,
  )) as Four;
  if (values['hello-only']) return;
  const [cpuSingle, cpuCluster, cpuTroupe, cpuHeap] = await cpuBound();

  const [[p99Single1, p99Troupe1], [p99Single, p99Troupe, p99Over]] = await cheapRoute();

  const targets: Target[] = [
    {
      name: 'hello world: troupe main thread, CPU µs per request',
      value: helloTroupe.cpu?.main ?? Number.NaN,
      target: 15,
      unit: 'µs',
      lower: true,
    },
    {
      name: 'hello world: troupe all threads / @hono/node-server, CPU per request',
      value: (helloTroupe.cpu?.all ?? Number.NaN) / (helloSingle.cpu?.all ?? Number.NaN),
      target: 1.5,
      unit: '×',
      lower: true,
    },
    {
      name: 'hello world: troupe / @hono/node-server, req/s',
      value: helloTroupe.rps / helloSingle.rps,
      target: 0.6,
      unit: '×',
    },
    {
      name: `hello world, TROUPE_FRONT_HEAP_MB=0 (front's old generation at node's default): main thread, CPU µs per request`,
      value: helloHeap.cpu?.main ?? Number.NaN,
      target: 15,
      unit: 'µs',
      lower: true,
    },
    {
      name: `hello world, TROUPE_FRONT_HEAP_MB=0 (front's old generation at node's default): all threads / @hono/node-server, CPU per request`,
      value: (helloHeap.cpu?.all ?? Number.NaN) / (helloSingle.cpu?.all ?? Number.NaN),
      target: 1.5,
      unit: '×',
      lower: true,
    },
    {
      name: `hello world, TROUPE_FRONT_HEAP_MB=0 (front's old generation at node's default): troupe / @hono/node-server, req/s`,
      value: helloHeap.rps / helloSingle.rps,
      target: 0.6,
      unit: '×',
    },
    {
      name: 'CPU-bound: troupe / @hono/node-server single-threaded, req/s',
      value: cpuTroupe.rps / cpuSingle.rps,
      target: 1.6,
      unit: '×',
    },
    {
      name: `CPU-bound: troupe / node:cluster + @hono/node-server (${threads} processes), req/s`,
      value: cpuTroupe.rps / cpuCluster.rps,
      target: 0.95,
      unit: '×',
    },
    {
      name: `CPU-bound, TROUPE_FRONT_HEAP_MB=0 (front's old generation at node's default): troupe / node:cluster + @hono/node-server (${threads} processes), req/s`,
      value: cpuHeap.rps / cpuCluster.rps,
      target: 0.95,
      unit: '×',
    },
    {
      name: `cheap p99, 1 heavy client: @hono/node-server single-threaded / troupe (${threads} actors, default)`,
      value: p99Single1.p99 / p99Troupe1.p99,
      target: 10,
      unit: '×',
    },
    {
      name: `cheap p99, 2 heavy clients: @hono/node-server single-threaded / troupe (${threads} actors, default)`,
      value: p99Single.p99 / p99Troupe.p99,
      target: 10,
      unit: '×',
    },
    {
      name: `cheap p99, 2 heavy clients: @hono/node-server single-threaded / troupe (${threads * 2} actors)`,
      value: p99Single.p99 / p99Over.p99,
      target: 10,
      unit: '×',
    },
  ];
  for (const t of targets) log(`${met(t) ? 'met   ' : 'MISSED'} ${t.name}: ${show(t)}`);

  if (values['no-write']) return;
  await writeResults({
    command: `node dist/bench/http/run.js${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date().toISOString(),
    node: process.version,
    cpus: threads,
    cpuModel: cpus()[0]?.model ?? '?',
    loadBefore,
    loadAfter: loadavg()[0]!,
    cpusFreeBefore: cpusBefore,
    wake,
    cpusFreeAfter: await availableCpus(threads),
    durationS: duration,
    rounds: ROUNDS,
    work: { ...work, cpuMs: CPU_MS, heavyMs: HEAVY_MS },
    scenarios: [
      {
        name: 'hello world',
        path: '/hello',
        connections: 32,
        runs: {
          [label(single)]: helloSingle,
          [label(singleRaw)]: helloRaw,
          [label(troupe)]: helloTroupe,
          [label(troupeHeap)]: helloHeap,
        },
      },
      {
        name: `CPU-bound (~${CPU_MS} ms)`,
        path: '/cpu',
        connections: 16,
        runs: {
          [label(single)]: cpuSingle,
          [label(cluster)]: cpuCluster,
          [label(troupe)]: cpuTroupe,
          [label(troupeHeap)]: cpuHeap,
        },
      },
      {
        name: `cheap route (200 req/s) while 1 client loads /heavy (~${HEAVY_MS} ms)`,
        path: '/cheap',
        connections: CHEAP_CONNECTIONS,
        runs: { [label(single)]: p99Single1, [label(troupe)]: p99Troupe1 },
      },
      {
        name: `cheap route (200 req/s) while 2 clients load /heavy (~${HEAVY_MS} ms)`,
        path: '/cheap',
        connections: CHEAP_CONNECTIONS,
        runs: { [label(single)]: p99Single, [label(troupe)]: p99Troupe, [label(troupeOver)]: p99Over },
      },
    ],
    targets,
  });
  log('wrote bench/results/http.md and bench/results/http.json');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
  process.exitCode = 1;
});
