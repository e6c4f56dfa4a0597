import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Result } from 'autocannon';
import type { CpuSample } from './cpu.js';

/** What one autocannon run boils down to. Latencies in ms. */
export interface Measured {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  errors: number;
  non2xx: number;
  /** CPU time of the server per request, µs: main thread(s), actor threads, every thread. */
  cpu?: CpuSample;
  /** Lowest and highest of the figure the median was taken by (req/s or p99), over the rounds or slices. */
  range?: [number, number];
  /** The one-second slices this median was taken over (throughput scenarios), in the order they ran. */
  slices?: Measured[];
}

export interface Target {
  name: string;
  value: number;
  target: number;
  unit: '×' | 'µs';
  /** The target is a ceiling (CPU cost), not a floor. */
  lower?: boolean;
}

export function met(t: Target): boolean {
  return t.lower === true ? t.value <= t.target : t.value >= t.target;
}

export function show(t: Target): string {
  // A ratio that rounds to its bound gets a third digit, so that a miss never reads as the bound itself.
  const digits = Number(t.value.toFixed(2)) === t.target ? 3 : 2;
  const v = t.unit === 'µs' ? `${t.value.toFixed(1)} µs` : `${t.value.toFixed(digits)}×`;
  return `${v} (target ${t.lower === true ? '≤' : '≥'} ${t.target}${t.unit === 'µs' ? ' µs' : '×'})`;
}

export interface Report {
  command: string;
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  loadBefore: number;
  loadAfter: number;
  /** CPUs that two spinning threads could get just before / after the run (see probe.ts). */
  cpusFreeBefore: number;
  cpusFreeAfter: number;
  /** One message each way between two threads, each asleep when its message comes (see probe.ts). */
  wake: { cpuUs: number; wallUs: number };
  durationS: number;
  rounds: number;
  /** Seconds of slices per server in the throughput scenarios (1 s slices for hello, 3 s for CPU-bound). */
  sliceSeconds: number;
  warmUpS: number;
  work: Record<string, number>;
  scenarios: { name: string; path: string; connections: number; runs: Record<string, Measured> }[];
  targets: Target[];
  /** What the targets are measured against: the floors and the thread-pool peer, in sentences. */
  notes: string[];
}

export function measure(r: Result): Measured {
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    total: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

const results = (file: string) => fileURLToPath(new URL(`../../../bench/results/${file}`, import.meta.url));

export async function writeResults(report: Report): Promise<void> {
  await mkdir(results(''), { recursive: true });
  const json = { ...report, targets: report.targets.map((t) => ({ ...t, met: met(t) })) };
  await writeFile(results('http.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(results('http.md'), markdown(report));
}

function markdown(r: Report): string {
  const lines = [
    '# troupe serve: HTTP benchmark',
    '',
    `\`${r.command}\` — ${r.date}, Node ${r.node}, ${r.cpus} CPUs (${r.cpuModel}), hello and CPU-bound: every server up at once and loaded in turn, in slices of 1 s (hello) or 3 s (CPU-bound; each slice ends with the load generator's requests in flight abandoned, which shorter slices would make a visible share of a 2 ms route's work), ${r.sliceSeconds} s in all each after ${r.warmUpS} s of warm-up; each figure is the median over a server's slices (req/s spread shown), and each ratio the median of slice-by-slice ratios, a slice of one server against the slice of the other run next to it, so that the machine's drift in speed falls out. Cheap route: ${r.rounds} interleaved rounds of ${r.durationS} s, median run shown (with the spread over rounds).`,
    `The machine is shared: load average ${r.loadBefore.toFixed(2)} before the run and ${r.loadAfter.toFixed(2)} after; two spinning threads could get ${r.cpusFreeBefore.toFixed(2)} CPUs before it and ${r.cpusFreeAfter.toFixed(2)} after (of ${r.cpus}). Ratios that need parallelism (CPU-bound, p99 under load) are capped by that figure.`,
    `A message round trip between two threads that sleep in between costs ${r.wake.cpuUs.toFixed(1)} µs of CPU (both threads) and ${r.wake.wallUs.toFixed(1)} µs of wall time on this machine: troupe pays for such wake-ups (front to actor and back), a single-process server does not, so the main-thread and all-thread figures depend on it as much as on troupe's own code.`,
    'Every server is its own process on 127.0.0.1, in a session of its own (a scheduling group of its own under Linux autogroup, as a service has); the load is autocannon in the benchmark process (on the same CPUs).',
    `CPU work is a fixed number of iterations, the same for every server: ${r.work.cpuIterations} (~${r.work.cpuMs} ms) and ${r.work.heavyIterations} (~${r.work.heavyMs} ms).`,
    '',
    'The peers run the very app troupe serves (bench/http/app.ts) on `@hono/node-server`, in one process or under `node:cluster` with as many processes as troupe has actors: what a user of a fetch-style app runs without troupe. The raw `res.end()` row is the floor of node:http, without Request/Response objects; the node:net row is no HTTP server at all (fixed bytes per request head), the floor of any Node server on these sockets. `@hono/node-server + Piscina` is the same app with the work of /cpu and /heavy sent to a Piscina pool of as many threads as troupe has actors: what a user runs to keep heavy handlers off the event loop without troupe.',
    'CPU µs per request is read from /proc/<pid>/task/*/stat before and after the measured run (Linux only; a dash elsewhere), per thread: *main* is the main thread of every process (and *of it in kernel* its system time: socket reads and writes, epoll, waking other threads), *actors* the request actors, *all* every thread (GC helpers and libuv included). It holds steadier than req/s when the load generator shares the CPUs.',
    "The cheap-route scenarios send 200 req/s evenly paced (one every 5 ms, over up to 20 keep-alive connections, from node:http in the benchmark process) while 1 or 2 closed-loop autocannon clients load the heavy route, and time each cheap request from the moment it was due, so a server that falls behind is charged for the requests it delayed (no coordinated omission). autocannon's own rate limit is not used for them: it sends each connection's share of a second back to back when the second begins, a burst of 20 concurrent requests once a second. With 2 heavy clients the default troupe (one actor per CPU) has no free actor, so a run with twice as many actors is shown too.",
    '',
    '## Targets',
    '',
    '| target | measured | wanted | |',
    '| --- | ---: | ---: | --- |',
    ...r.targets.map((t) => {
      const [value, wanted] = show(t).split(' (target ');
      return `| ${t.name} | ${value} | ${wanted!.slice(0, -1)} | ${met(t) ? 'met' : '**MISSED**'} |`;
    }),
    '',
    ...r.notes.flatMap((n) => [n, '']),
  ];
  for (const s of r.scenarios) {
    lines.push(`## ${s.name}`, '', `\`GET ${s.path}\`, ${s.connections} connection(s).`, '');
    lines.push(
      '| server | req/s | p50 ms | p99 ms | slices or rounds: min–max | requests | errors | CPU µs/req: main | of it in kernel | actors | all threads |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const [name, m] of Object.entries(s.runs)) {
      const c = m.cpu;
      const actors = name.startsWith('troupe') ? us(c?.actors) : '–';
      lines.push(
        `| ${name} | ${m.rps.toFixed(0)} | ${m.p50} | ${m.p99} | ${spread(m)} | ${m.total} | ${m.errors + m.non2xx} | ${us(c?.main)} | ${us(c?.mainKernel)} | ${actors} | ${us(c?.all)} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

function us(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '—' : v.toFixed(1);
}

function spread(m: Measured): string {
  return m.range === undefined ? '—' : `${m.range[0].toFixed(0)}–${m.range[1].toFixed(0)}`;
}
