/**
 * The HTTP benchmark of `troupe serve`, against what its users would run instead, in one run, side by
 * side, as ratios:
 *   node dist/bench/http/run.js [--duration S] [--rounds N] [--quick] [--no-write]
 *     [--hello-only [--also <checkout>] | --cpu-only | --cheap-only]
 * 1. hello world: CPU µs per request of troupe's main thread (≤ 15) and of all its threads against
 *    `@hono/node-server` serving the same app (≤ 1.5×), and req/s;
 * 2. ~2 ms CPU handler: troupe vs `@hono/node-server` single-threaded (≥ 1.6×) and vs `node:cluster`
 *    running `@hono/node-server` with as many processes as troupe has actors (≥ 0.95×);
 * 3. p99 of a cheap route while a CPU-heavy route is loaded (by 1 client, then 2), single-threaded p99 /
 *    troupe p99 (≥ 10×);
 * 4. p99 of a busier cheap route with a rare heavy request among it: what parking costs where a request
 *    it sends to the awake actor turns out to hold it (no target).
 * Scenarios 1 and 2 keep every server up and load them in turn, in slices, and take ratios slice by slice
 * (slices.ts); scenario 3 runs each server in fresh processes, round after round.
 * CPU per thread comes from /proc/<pid>/task/<tid>/stat (Linux only; elsewhere it is a dash).
 * Writes bench/results/http.{md,json}. Every server is its own process; the load comes from autocannon
 * in this process, on loopback, bounded in time.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { paced } from './paced.js';
import { availableCpus, wakeCost } from './probe.js';
import { type Measured, measure, met, show, type Target, writeResults } from './report.js';
import { label, type ServerSpec, type Work, withServer } from './servers.js';
import { median, paired, sliced, withServers } from './slices.js';
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
    // With --hello-only: another checkout's build (dist/ built) as one more troupe server, its slices
    // interleaved with this build's, so that two builds compare by this benchmark's own method.
    also: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const duration = Number(values.duration ?? (quick ? 2 : 3));
// Rounds interleave the servers (A B C, A B C, ...) and keep each one's median: on a shared machine the
// free CPU changes from one minute to the next, and interleaving spreads that over every server alike.
const ROUNDS = Number(values.rounds ?? (quick ? 1 : 3));
// The throughput scenarios load each server in slices, as many seconds in all as the rounds' runs.
const SECONDS = duration * ROUNDS;
// A p99 moves far more from one run to the next than a throughput figure does, a single-threaded
// server's under a heavy route most of all: the cheap-route scenarios take five rounds for their medians.
const CHEAP_ROUNDS = Number(values.rounds ?? (quick ? 1 : 5));
const WARM_UP_S = quick ? 1 : 3;
const threads = availableParallelism();
const CPU_MS = 2;
const HEAVY_MS = 20;
const CHEAP_CONNECTIONS = 20;
const CHEAP_RATE = 200;
/** The rare-heavy scenario: a cheap route this busy, and one heavy request every RARE_EVERY_MS. */
const RARE_RATE = 1000;
const RARE_EVERY_MS = 100;

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

/**
 * Throughput and CPU per request of every server, all up at once and loaded in turn (see slices.ts),
 * `sliceS` seconds at a time, SECONDS in all each, after WARM_UP_S of warm-up.
 */
async function throughput(
  specs: ServerSpec[],
  work: Work,
  path: string,
  connections: number,
  sliceS = 1,
): Promise<Measured[]> {
  return withServers(specs, work, async (up) => {
    const slices = await sliced(up, (url, seconds) => load(`${url}${path}`, connections, seconds), {
      seconds: SECONDS,
      sliceS,
      warmUpS: WARM_UP_S,
    });
    return up.map((s, k) => {
      const m = median(slices[k]!);
      log(
        `  ${label(s.spec).padEnd(44)} ${m.rps.toFixed(0).padStart(7)} req/s  p99 ${m.p99} ms  CPU µs/req: main ${m.cpu!.main.toFixed(1)} (kernel ${m.cpu!.mainKernel.toFixed(1)}) actors ${m.cpu!.actors.toFixed(1)} all ${m.cpu!.all.toFixed(1)}  errors ${m.errors + m.non2xx}`,
      );
      return m;
    });
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

/** The cheap route at RARE_RATE with one /heavy request every RARE_EVERY_MS among it. */
async function rareHeavy(spec: ServerSpec, work: Work): Promise<Measured> {
  return withServer(spec, work, async (url) => {
    // Every server has run the heavy route before the measured run (troupe has learned what it costs).
    await load(`${url}/cheap`, 4, 1);
    for (let i = 0; i < 2; i++) await (await fetch(`${url}/heavy`)).text();
    const m = await paced(`${url}/cheap`, RARE_RATE, CHEAP_CONNECTIONS, duration, {
      url: `${url}/heavy`,
      everyMs: RARE_EVERY_MS,
    });
    log(`  ${label(spec).padEnd(44)} cheap p50 ${m.p50} ms  p99 ${m.p99} ms  (${m.total} requests)`);
    return m;
  });
}

type Three = [Measured, Measured, Measured];
type Four = [Measured, Measured, Measured, Measured];
type Six = [Measured, Measured, Measured, Measured, Measured, Measured];
type Eight = [Measured, Measured, Measured, Measured, Measured, Measured, Measured, Measured];

/** Runs every server once a round, CHEAP_ROUNDS times; keeps each one's median run by `by`, with the spread. */
async function interleave(
  runs: (() => Promise<Measured>)[],
  by: (m: Measured) => number,
): Promise<Measured[]> {
  const all: Measured[][] = runs.map(() => []);
  for (let r = 0; r < CHEAP_ROUNDS; r++) {
    // Each round starts one server further on: no server always runs right after the same one (a server
    // that has just stopped can leave the machine busier for a moment).
    for (let k = 0; k < runs.length; k++) {
      const i = (k + r) % runs.length;
      all[i]!.push(await runs[i]!());
    }
  }
  return all.map((ms) => {
    const sorted = [...ms].sort((a, b) => by(a) - by(b));
    return { ...sorted[Math.floor(sorted.length / 2)]!, range: [by(sorted[0]!), by(sorted.at(-1)!)] };
  });
}

/** A scenario's runs by server label, `measured[i]` being the run of `specs[i]`. */
function runsOf(specs: ServerSpec[], measured: readonly Measured[]): Record<string, Measured> {
  return Object.fromEntries(specs.map((spec, i) => [label(spec), measured[i]!]));
}

function us(m: Measured): string {
  return (m.cpu?.main ?? Number.NaN).toFixed(1);
}

function actorUs(m: Measured): string {
  return (m.cpu?.actors ?? Number.NaN).toFixed(1);
}

function x(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
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
  const socketFloor: ServerSpec = { kind: 'single', handler: 'socket' };
  const cluster: ServerSpec = { kind: 'cluster', processes: threads, handler: 'hono' };
  const pool: ServerSpec = { kind: 'pool', threads };
  const troupe: ServerSpec = { kind: 'troupe', actors: threads };
  const troupeOver: ServerSpec = { kind: 'troupe', actors: threads * 2 };
  // One actor, on the hello route: each actor the front sends to is a thread woken each loop turn, and on
  // a machine where waking is dear fewer actors can cost less per request.
  const troupeOne: ServerSpec = { kind: 'troupe', actors: 1 };
  // Every burst spread over every actor (--spread): what parking the actors the load does not need saves.
  const troupeSpread: ServerSpec = { kind: 'troupe', actors: threads, spread: true };
  // The same troupe with node's own GC settings on its front (TROUPE_FRONT_HEAP_MB=0): what the settings
  // troupe serve starts its front with are worth (cli/front-heap.ts).
  const troupeHeap: ServerSpec = { kind: 'troupe', actors: threads, frontHeapOff: true };
  // Every request through node:http's parser (--node-parser): what the front's own fast path saves.
  const troupeNodeParser: ServerSpec = { kind: 'troupe', actors: threads, nodeParser: true };

  // Each scenario's servers, in the order their runs come back and are reported.
  const helloSpecs = [
    single,
    singleRaw,
    socketFloor,
    troupe,
    troupeSpread,
    troupeHeap,
    troupeOne,
    troupeNodeParser,
  ];
  const cpuSpecs = [single, cluster, pool, troupe, troupeSpread, troupeHeap];
  const cheapOneSpecs = [single, pool, troupe, troupeSpread];
  const cheapTwoSpecs = [single, pool, troupe, troupeOver];
  const rareSpecs = [single, troupe, troupeSpread];

  const rps = (m: Measured) => m.rps;
  const cpuAll = (m: Measured) => m.cpu?.all ?? Number.NaN;
  const mainCpu = (m: Measured) => m.cpu?.main ?? Number.NaN;
  const p99 = (m: Measured) => m.p99;
  const cpuBound = async () => {
    log(`CPU-bound handler (GET /cpu, ~${CPU_MS} ms of work, 16 connections)`);
    // Three-second slices: each slice ends with the load generator abandoning its 16 requests in flight,
    // which a process-per-core server still computes and troupe drops before they start (the client
    // left); over one-second slices of a 2 ms route that is a few per cent of the work, over three, under
    // one.
    return (await throughput(cpuSpecs, work, '/cpu', 16, 3)) as Six;
  };
  // One heavy client leaves an actor free (the case troupe is built for); two keep both default actors
  // busy, where only more actors than cores leave room for the cheap route.
  const cheapRoute = async () => {
    log(`cheap route at ${CHEAP_RATE} req/s while 1 client loads GET /heavy (~${HEAVY_MS} ms of work each)`);
    const one = (await interleave(
      cheapOneSpecs.map((spec) => () => cheapUnderLoad(spec, work, 1)),
      p99,
    )) as Four;
    log(`cheap route at ${CHEAP_RATE} req/s while 2 clients load GET /heavy (~${HEAVY_MS} ms of work each)`);
    const two = (await interleave(
      cheapTwoSpecs.map((spec) => () => cheapUnderLoad(spec, work, 2)),
      p99,
    )) as Four;
    return [one, two] as const;
  };
  const rareRoute = async () => {
    log(`cheap route at ${RARE_RATE} req/s with one GET /heavy (~${HEAVY_MS} ms) every ${RARE_EVERY_MS} ms`);
    return (await interleave(
      rareSpecs.map((spec) => () => rareHeavy(spec, work)),
      p99,
    )) as Three;
  };
  if (values['cpu-only']) {
    await cpuBound();
    return;
  }
  if (values['cheap-only']) {
    await cheapRoute();
    await rareRoute();
    return;
  }
  log('hello world (GET /hello, 32 connections)');
  if (values.also !== undefined) {
    if (!values['hello-only']) throw new Error('--also goes with --hello-only');
    helloSpecs.push({ kind: 'troupe', actors: threads, root: values.also });
  }
  const hello = (await throughput(helloSpecs, work, '/hello', 32)) as Eight;
  if (values['hello-only']) {
    const [single, raw] = hello;
    const mine = hello[helloSpecs.indexOf(troupe)]!;
    log(
      `troupe's front, main thread, paired slices: ${x(paired(mine, raw, mainCpu))} raw node:http's, ${x(paired(mine, single, mainCpu))} @hono/node-server's; all threads ${x(paired(mine, single, cpuAll))} @hono/node-server's`,
    );
    if (values.also !== undefined) {
      const other = hello[helloSpecs.length - 1]!;
      log(
        `this build / ${values.also}, paired slices: main ${x(paired(mine, other, mainCpu))}, all threads ${x(paired(mine, other, cpuAll))}, req/s ${x(paired(mine, other, rps))}`,
      );
    }
    return;
  }
  const cpu = await cpuBound();
  const cheap = await cheapRoute();
  const rare = await rareRoute();
  const [rareSingle, rareTroupe, rareSpread] = rare;
  const [helloSingle, helloRaw, helloSocket, helloTroupe, helloSpread, helloHeap, helloOne, helloNodeParser] =
    hello;
  const [cpuSingle, cpuCluster, cpuPool, cpuTroupe, cpuSpread, cpuHeap] = cpu;
  const [[p99Single1, p99Pool1, p99Troupe1, p99Spread1], [p99Single, p99Pool, p99Troupe, p99Over]] = cheap;

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
      value: paired(helloTroupe, helloSingle, cpuAll),
      target: 1.5,
      unit: '×',
      lower: true,
    },
    {
      name: 'hello world: troupe / @hono/node-server, req/s',
      value: paired(helloTroupe, helloSingle, rps),
      target: 0.6,
      unit: '×',
    },
    {
      name: `hello world, TROUPE_FRONT_HEAP_MB=0 (node's GC settings on the front): main thread, CPU µs per request`,
      value: helloHeap.cpu?.main ?? Number.NaN,
      target: 15,
      unit: 'µs',
      lower: true,
    },
    {
      name: `hello world, TROUPE_FRONT_HEAP_MB=0 (node's GC settings on the front): all threads / @hono/node-server, CPU per request`,
      value: paired(helloHeap, helloSingle, cpuAll),
      target: 1.5,
      unit: '×',
      lower: true,
    },
    {
      name: `hello world, TROUPE_FRONT_HEAP_MB=0 (node's GC settings on the front): troupe / @hono/node-server, req/s`,
      value: paired(helloHeap, helloSingle, rps),
      target: 0.6,
      unit: '×',
    },
    {
      name: 'CPU-bound: troupe / @hono/node-server single-threaded, req/s',
      value: paired(cpuTroupe, cpuSingle, rps),
      target: 1.6,
      unit: '×',
    },
    {
      name: `CPU-bound: troupe / node:cluster + @hono/node-server (${threads} processes), req/s`,
      value: paired(cpuTroupe, cpuCluster, rps),
      target: 0.95,
      unit: '×',
    },
    {
      name: `CPU-bound, TROUPE_FRONT_HEAP_MB=0 (node's GC settings on the front): troupe / node:cluster + @hono/node-server (${threads} processes), req/s`,
      value: paired(cpuHeap, cpuCluster, rps),
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
  const floors = [
    `The main-thread target against the socket floor: a node:net server that writes fixed bytes for each request head, with no HTTP parsing at all, spent ${us(helloSocket)} µs of main-thread CPU a request in this run (${x((helloSocket.cpu?.main ?? Number.NaN) / 15)} the 15 µs target); node:http's raw res.end() ${us(helloRaw)} µs; troupe's front ${us(helloTroupe)} µs (paired: ${x(paired(helloTroupe, helloRaw, mainCpu))} raw node:http's main thread, ${x(paired(helloTroupe, helloSingle, mainCpu))} @hono/node-server's), and ${us(helloNodeParser)} µs with --node-parser (every request through node:http's parser instead of the front's fast path for plain requests): fast path / node:http parser ${x(paired(helloTroupe, helloNodeParser, mainCpu))} main-thread CPU, ${x(paired(helloTroupe, helloNodeParser, cpuAll))} all threads.`,
    `Parking on the hello route: troupe parks the actors its unkeyed traffic does not need (the default); its actor threads spent ${actorUs(helloTroupe)} µs a request and all its threads ${x(paired(helloTroupe, helloSingle, cpuAll))} @hono/node-server's CPU, at ${x(paired(helloTroupe, helloSingle, rps))} its req/s. With --spread (every loop turn's requests over all ${threads} actors, each a thread woken for its share): ${actorUs(helloSpread)} µs and ${x(paired(helloSpread, helloSingle, cpuAll))}, at ${x(paired(helloSpread, helloSingle, rps))}; all threads parked / spread ${x(paired(helloTroupe, helloSpread, cpuAll))}. With 1 actor: ${actorUs(helloOne)} µs and ${x(paired(helloOne, helloSingle, cpuAll))}. Where the load needs every actor parking gives way: on the CPU-bound route troupe / troupe --spread ${x(paired(cpuTroupe, cpuSpread, rps))} req/s, and the cheap route's p99 with 1 heavy client is ${p99Troupe1.p99} ms parked, ${p99Spread1.p99} ms spread.`,
    `Threads against processes on the CPU-bound route: @hono/node-server handing the work to a Piscina pool of ${threads} threads made ${x(paired(cpuPool, cpuCluster, rps))} of node:cluster's req/s (main thread ${us(cpuPool)} µs a request), troupe ${x(paired(cpuTroupe, cpuCluster, rps))} (front ${us(cpuTroupe)} µs): troupe / Piscina ${x(paired(cpuTroupe, cpuPool, rps))}. A process per core needs no hand-off; a design that hands each request to another thread pays a wake-up each way.`,
    `A rare heavy request among cheap ones (${RARE_RATE} req/s, one ~${HEAVY_MS} ms request every ${RARE_EVERY_MS} ms): cheap p99 ${rareTroupe.p99} ms on troupe (parking, the default), ${rareSpread.p99} ms with --spread, ${rareSingle.p99} ms on @hono/node-server single-threaded (${x(rareSingle.p99 / rareTroupe.p99)} troupe's). Parking sends the awake actor's cheap requests elsewhere as soon as a request of a route it knows to be heavy is sent there.`,
    `The cheap route beside Piscina (heavy work in the pool, cheap route on the event loop): p99 @hono/node-server + Piscina / troupe ${x(p99Pool1.p99 / p99Troupe1.p99)} with 1 heavy client, ${x(p99Pool.p99 / p99Troupe.p99)} with 2 (${threads} actors), ${x(p99Pool.p99 / p99Over.p99)} with 2 (${threads * 2} actors).`,
  ];
  for (const line of floors) log(line);

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
    rounds: CHEAP_ROUNDS,
    sliceSeconds: SECONDS,
    warmUpS: WARM_UP_S,
    work: { ...work, cpuMs: CPU_MS, heavyMs: HEAVY_MS },
    scenarios: [
      { name: 'hello world', path: '/hello', connections: 32, runs: runsOf(helloSpecs, hello) },
      { name: `CPU-bound (~${CPU_MS} ms)`, path: '/cpu', connections: 16, runs: runsOf(cpuSpecs, cpu) },
      {
        name: `cheap route (200 req/s) while 1 client loads /heavy (~${HEAVY_MS} ms)`,
        path: '/cheap',
        connections: CHEAP_CONNECTIONS,
        runs: runsOf(cheapOneSpecs, cheap[0]),
      },
      {
        name: `cheap route (200 req/s) while 2 clients load /heavy (~${HEAVY_MS} ms)`,
        path: '/cheap',
        connections: CHEAP_CONNECTIONS,
        runs: runsOf(cheapTwoSpecs, cheap[1]),
      },
      {
        name: `cheap route (${RARE_RATE} req/s) with one /heavy (~${HEAVY_MS} ms) every ${RARE_EVERY_MS} ms`,
        path: '/cheap',
        connections: CHEAP_CONNECTIONS,
        runs: runsOf(rareSpecs, rare),
      },
    ],
    targets,
    notes: floors,
  });
  log('wrote bench/results/http.md and bench/results/http.json');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
  process.exitCode = 1;
});
