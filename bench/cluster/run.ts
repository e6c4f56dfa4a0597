/**
 * The cluster benchmark, side by side in one run:
 *   node dist/bench/cluster/run.js [--quick] [--no-write]
 * 1. configure() latency, p50 and p99: one local dispatcher (no cluster) against three cluster nodes on
 *    loopback, once with the three in this process (each coordinating in turn) and once one per process
 *    as deployed (target: p50 < 5 ms), with the floors under it: a bare NATS request/reply and a
 *    JetStream KV compare-and-set on the same server, and the CPU time each configure() costs.
 * 2. SIGKILL to membership change: a node in its own process is killed; how long until the others'
 *    snapshot() no longer lists it (default nodeTimeout, 5 s).
 * Needs nats-server (Debian's, /usr/sbin/nats-server). Writes bench/results/cluster.{md,json}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Dispatcher } from '../../actors/types.js';
import { createDispatcher } from '../../index.js';
import { machineInfo } from '../lib/machine.js';
import { appUrl, distUrl, resultsUrl } from '../lib/paths.js';
import { freePort, type Stats, stats, waitForText } from './shared.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'no-write': { type: 'boolean' } } });
const quick = values.quick ?? false;
const CHANGES = quick ? 60 : 300;
const KILLS = quick ? 1 : 3;
const NATS = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

/** CPU time of a process (every thread), in ms, from /proc: steadier than wall time on a shared machine. */
function cpuMs(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, at 100 ticks a second
}

/** CPU ms per operation, this process and nats-server, summed over every timed batch. */
const cpu = { local: 0, cluster: 0, localN: 0, clusterN: 0 };

async function time(
  n: number,
  op: (i: number) => Promise<unknown>,
  account?: 'local' | 'cluster',
): Promise<number[]> {
  for (let i = 0; i < Math.min(20, n); i++) await op(-1 - i); // warm-up, not counted
  const out: number[] = [];
  const c0 = cpuMs('self') + cpuMs(server.pid!);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    out.push(performance.now() - t0);
  }
  if (account !== undefined) {
    cpu[account] += cpuMs('self') + cpuMs(server.pid!) - c0;
    cpu[`${account}N`] += n;
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'troupe-bench-nats-'));
const port = await freePort();
const url = `nats://127.0.0.1:${port}`;
const server = spawn(NATS, ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const children: ChildProcess[] = [];
const dispatchers: Dispatcher[] = [];
try {
  await waitForText(server, 'Server is ready', 10_000);
  const app = appUrl('echo.mjs');

  // ── 1. configure() latency ─────────────────────────────────────────────────────────────────────
  const local = await createDispatcher({ app, actors: 2 });
  dispatchers.push(local);
  const nodes: Dispatcher[] = [];
  for (const id of ['b1', 'b2', 'b3']) {
    nodes.push(
      await createDispatcher({
        app,
        actors: 2,
        cluster: { servers: url, name: 'bench', node: id },
      }),
    );
  }
  dispatchers.push(...nodes);
  const members = () =>
    nodes.every((d) => d.snapshot().cluster!.nodes.filter((n) => n.state === 'ready').length === 3);
  for (let i = 0; i < 500 && !members(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!members()) throw new Error('the three bench nodes did not see each other');

  // The same, as deployed: one node per process. This process's node coordinates every change.
  const nodeScript = fileURLToPath(distUrl('bench/cluster/node.js'));
  const coordinator = await createDispatcher({
    app,
    actors: 2,
    cluster: { servers: url, name: 'bench-procs', node: 'p1' },
  });
  dispatchers.push(coordinator);
  for (const id of ['p2', 'p3']) {
    const child = spawn(process.execPath, [nodeScript, url, 'bench-procs', id, '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    await waitForText(child, 'ready', 20_000);
  }
  const peers = () => coordinator.snapshot().cluster!.nodes.filter((n) => n.state === 'ready').length === 3;
  for (let i = 0; i < 500 && !peers(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!peers()) throw new Error('the node processes did not join');

  const { connect } = await import('@nats-io/transport-node');
  const { Kvm } = await import('@nats-io/kv');
  const nc = await connect({ servers: url });
  nc.subscribe('bench.echo', {
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
  const kv = await new Kvm(nc).create('bench_floor', { history: 1 });
  let rev = await kv.put('k', new Uint8Array(16));

  // Interleaved rounds, so that a busy minute on the machine hits every case alike.
  const samples = {
    local: [] as number[],
    cluster: [] as number[],
    processes: [] as number[],
    request: [] as number[],
    cas: [] as number[],
  };
  const rounds = 5;
  for (let r = 0; r < rounds; r++) {
    const n = Math.ceil(CHANGES / rounds);
    samples.local.push(...(await time(n, (i) => local.configure({ n: i, r }), 'local')));
    samples.cluster.push(
      ...(await time(n, (i) => nodes[((i % 3) + 3) % 3]!.configure({ n: i, r }), 'cluster')),
    );
    samples.processes.push(...(await time(n, (i) => coordinator.configure({ n: i, r }))));
    samples.request.push(
      ...(await time(n, () => nc.request('bench.echo', new Uint8Array(64), { timeout: 2_000 }))),
    );
    samples.cas.push(
      ...(await time(n, async () => {
        rev = await kv.update('k', new Uint8Array(16), rev);
      })),
    );
  }
  await nc.close();
  const configure = {
    local: stats(samples.local),
    cluster3: stats(samples.cluster),
    cluster3Processes: stats(samples.processes),
    natsRequest: stats(samples.request),
    kvCompareAndSet: stats(samples.cas),
  };

  // ── 2. SIGKILL → membership change ────────────────────────────────────────────────────────────
  const drops: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const id = `victim${k}`;
    const child = spawn(process.execPath, [nodeScript, url, 'bench', id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    await waitForText(child, 'ready', 20_000);
    const seen = () => nodes.every((d) => d.snapshot().cluster!.nodes.some((n) => n.id === id));
    for (let i = 0; i < 500 && !seen(); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.random() * 1_000)); // anywhere in the heartbeat period
    const t0 = performance.now();
    child.kill('SIGKILL');
    const gone = () => nodes.every((d) => !d.snapshot().cluster!.nodes.some((n) => n.id === id));
    while (!gone() && performance.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 5));
    drops.push(Math.round(performance.now() - t0));
  }

  const target = 5;
  const result = {
    command: `node dist/bench/cluster/run.js${quick ? ' --quick' : ''}`,
    date: new Date().toISOString(),
    machine: machineInfo(),
    /** The machine is shared: its load during the run says how far the figures can be compared. */
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    configureMs: configure,
    cpuMsPerConfigure: {
      local: Math.round((cpu.local / cpu.localN) * 100) / 100,
      cluster3: Math.round((cpu.cluster / cpu.clusterN) * 100) / 100,
    },
    ratios: {
      clusterVsLocalP50: Math.round((configure.cluster3.p50 / configure.local.p50) * 100) / 100,
      clusterVsCasP50: Math.round((configure.cluster3.p50 / configure.kvCompareAndSet.p50) * 100) / 100,
    },
    target: {
      name: 'configure() across 3 nodes, one per process, p50 < 5 ms',
      p50: configure.cluster3Processes.p50,
      met: configure.cluster3Processes.p50 < target,
    },
    sigkillToDropMs: { samples: drops, nodeTimeoutMs: 5_000 },
  };
  const row = (name: string, s: Stats) => `| ${name} | ${s.p50} | ${s.p99} | ${s.mean} | ${s.n} |`;
  const md = [
    '# Cluster benchmark',
    '',
    `\`${result.command}\` on ${result.machine.cpu} (${result.machine.availableParallelism} CPUs available), Node ${result.machine.node}, ${result.date}.`,
    'nats-server with JetStream on loopback; 2 actors per node; the machine is shared with other work.',
    `Load average at the end of the run: ${result.loadAverage.join(', ')}.`,
    '',
    '| configure() and its floors | p50 ms | p99 ms | mean ms | n |',
    '| --- | --- | --- | --- | --- |',
    row('one local dispatcher (no cluster)', configure.local),
    row('cluster of 3 nodes in this process (from each in turn)', configure.cluster3),
    row('cluster of 3 nodes, one per process (from this one)', configure.cluster3Processes),
    row('floor: bare NATS request/reply', configure.natsRequest),
    row('floor: JetStream KV compare-and-set', configure.kvCompareAndSet),
    '',
    `Cluster p50 / local p50: ${result.ratios.clusterVsLocalP50}×; cluster p50 / one KV CAS: ${result.ratios.clusterVsCasP50}×.`,
    `CPU per configure() (every thread of this process and nats-server, 10 ms ticks summed over the run): local ${result.cpuMsPerConfigure.local} ms, cluster of 3 in this process ${result.cpuMsPerConfigure.cluster3} ms.`,
    `Target p50 < ${target} ms, 3 nodes one per process: ${result.target.met ? 'met' : 'MISSED'} (${configure.cluster3Processes.p50} ms).`,
    '',
    `SIGKILL to every other node's membership change (nodeTimeout 5,000 ms): ${drops.join(', ')} ms.`,
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  if (!values['no-write']) {
    await mkdir(resultsUrl(''), { recursive: true });
    await writeFile(resultsUrl('cluster.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(resultsUrl('cluster.md'), md);
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  await Promise.allSettled(dispatchers.map((d) => d.close()));
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
