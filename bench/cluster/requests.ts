/**
 * Requests across nodes, side by side in one run:
 *   node dist/bench/cluster/requests.js [--quick] [--no-write]
 * Two nodes on loopback NATS: this process (node a) and a child process (node b). One at a time, the round
 * trip of a request a runs locally (back to back, and after the threads idled), of one for a key b owns,
 * and of a bare NATS request/reply to the same child process (the floor; target: remote ≤ 1.3× the
 * floor); then 64 in flight, remote against local; then streams of small chunks, remote against local.
 * Needs nats-server (Debian's, /usr/sbin/nats-server). Writes bench/results/cluster-requests.{md,json}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serialize } from 'node:v8';
import type { Dispatcher } from '../../actors/types.js';
import { createDispatcher } from '../../index.js';
import { machineInfo } from '../lib/machine.js';
import { appUrl, distUrl, resultsUrl } from '../lib/paths.js';
import { freePort, type Stats, stats, waitForText } from './shared.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'no-write': { type: 'boolean' } } });
const quick = values.quick ?? false;
const SEQ = quick ? 1_000 : 5_000;
const BATCHES = quick ? 100 : 500;
const IDLE = quick ? 250 : 1_000;
const STREAMS = quick ? 10 : 40;
const CHUNKS = 2_000;
const NATS = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

async function time(n: number, op: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(50, n); i++) await op(); // warm-up, not counted
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op();
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * Like `time`, with the caller idle for ~1 ms (a timer) before each op, and only the op timed: the cost
 * of a request when the threads it crosses had gone to sleep, as a remote request finds node b's.
 */
async function timeAfterIdle(n: number, op: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await sleep(1);
    const t0 = performance.now();
    await op();
    out.push(performance.now() - t0);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'troupe-bench-nats-'));
const port = await freePort();
const url = `nats://127.0.0.1:${port}`;
const server = spawn(NATS, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let child: ChildProcess | undefined;
let a: Dispatcher | undefined;
try {
  await waitForText(server, 'Server is ready', 10_000);
  const app = appUrl('echo.mjs');
  child = spawn(
    process.execPath,
    [fileURLToPath(distUrl('bench/cluster/node.js')), url, 'xreq', 'b', '2', 'floor'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  await waitForText(child, 'ready', 20_000);
  // A high balance factor: 64 in flight to one node measure the remote path, not the bounded-load spill.
  a = await createDispatcher({
    app,
    actors: 2,
    balanceFactor: 100,
    cluster: { servers: url, name: 'xreq', node: 'a' },
  });
  const members = () => a!.snapshot().cluster!.nodes.filter((n) => n.state === 'ready').length === 2;
  for (let i = 0; i < 500 && !members(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!members()) throw new Error('node b did not join');

  // A key each node owns, found through the route events.
  const owned: Record<string, string> = {};
  const off = a.subscribe((e) => {
    if (e.type === '@troupe.node-route' && e.key !== undefined) owned.b ??= e.key;
  });
  for (let k = 0; k < 200 && (owned.a === undefined || owned.b === undefined); k++) {
    const before = owned.b;
    await a.request({ op: 'echo', v: k }, { key: `key-${k}` });
    if (owned.b === before && owned.a === undefined) owned.a = `key-${k}`;
  }
  off();
  if (owned.a === undefined || owned.b === undefined) throw new Error('no key found for each node');

  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: url });
  const payload = { op: 'echo', n: 1, s: 'hello' };
  const floor = () => nc.request('bench.floor.b', serialize(payload), { timeout: 5_000 });

  const seq = { local: [] as number[], idle: [] as number[], remote: [] as number[], floor: [] as number[] };
  const par = { local: [] as number[], remote: [] as number[] };
  const streamMs = { local: [] as number[], remote: [] as number[] };
  /** One stream of CHUNKS small chunks from the actor that owns `key`, read to the end. */
  const drain = async (key: string) => {
    for await (const _ of a!.stream({ op: 'chunks', n: CHUNKS, size: 0 }, { key }));
  };
  const rounds = 5;
  const batch = (key: string) => Promise.all(Array.from({ length: 64 }, () => a!.request(payload, { key })));
  for (let r = 0; r < rounds; r++) {
    seq.local.push(...(await time(SEQ / rounds, () => a!.request(payload, { key: owned.a! }))));
    seq.idle.push(...(await timeAfterIdle(IDLE / rounds, () => a!.request(payload, { key: owned.a! }))));
    seq.remote.push(...(await time(SEQ / rounds, () => a!.request(payload, { key: owned.b! }))));
    seq.floor.push(...(await time(SEQ / rounds, floor)));
    par.local.push(...(await time(BATCHES / rounds, () => batch(owned.a!))));
    par.remote.push(...(await time(BATCHES / rounds, () => batch(owned.b!))));
    streamMs.local.push(...(await time(STREAMS / rounds, () => drain(owned.a!))));
    streamMs.remote.push(...(await time(STREAMS / rounds, () => drain(owned.b!))));
  }
  await nc.close();
  const sent = a.snapshot().cluster!.requests!;
  const ratio = (x: number, y: number) => Math.round((x / y) * 100) / 100;
  const s = {
    local: stats(seq.local),
    localAfterIdle: stats(seq.idle),
    remote: stats(seq.remote),
    floor: stats(seq.floor),
  };
  const ms = (x: number) => Math.round(x * 1000) / 1000;
  const p = { local: stats(par.local), remote: stats(par.remote) };
  const perSec = (st: Stats) => Math.round((64 / st.mean) * 1000);
  const st = { local: stats(streamMs.local), remote: stats(streamMs.remote) };
  const chunksPerSec = (x: Stats) => Math.round((CHUNKS / x.p50) * 1000);
  const result = {
    command: `node dist/bench/cluster/requests.js${quick ? ' --quick' : ''}`,
    date: new Date().toISOString(),
    machine: machineInfo(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    roundTripMs: s,
    in64FlightBatchMs: p,
    requestsPerSecond64InFlight: { local: perSec(p.local), remote: perSec(p.remote) },
    /** A stream of CHUNKS small chunks read to the end, by the median stream. */
    streamChunksPerSecond: { local: chunksPerSec(st.local), remote: chunksPerSec(st.remote) },
    ratios: {
      remoteVsFloorP50: ratio(s.remote.p50, s.floor.p50),
      remoteVsFloorMean: ratio(s.remote.mean, s.floor.mean),
      remoteVsLocalP50: ratio(s.remote.p50, s.local.p50),
      remoteVsLocal64InFlight: ratio(p.remote.mean, p.local.mean),
    },
    /** What a remote request adds to the floor (p50, ms), to set beside the idle hop above. */
    remoteOverFloorP50Ms: ms(s.remote.p50 - s.floor.p50),
    target: {
      name: 'remote request round trip ≤ 1.3× a bare NATS request/reply between the same processes (p50)',
      met: s.remote.p50 <= 1.3 * s.floor.p50,
    },
    remoteRequestsSent: sent.sent,
  };
  const row = (name: string, st: Stats) => `| ${name} | ${st.p50} | ${st.p99} | ${st.mean} | ${st.n} |`;
  const md = [
    '# Cluster requests benchmark',
    '',
    `\`${result.command}\` on ${result.machine.cpu} (${result.machine.availableParallelism} CPUs available), Node ${result.machine.node}, ${result.date}.`,
    'Two nodes on loopback NATS (this process and one child), 2 actors each, the echo app; the machine is shared.',
    `Load average at the end of the run: ${result.loadAverage.join(', ')}.`,
    '',
    '| one at a time | p50 ms | p99 ms | mean ms | n |',
    '| --- | --- | --- | --- | --- |',
    row('local: a key this node owns', s.local),
    row('local after 1 ms idle: the same, the caller idle before each', s.localAfterIdle),
    row('remote: a key the other node owns', s.remote),
    row('floor: bare NATS request/reply to the same process', s.floor),
    '',
    '| 64 in flight (one batch) | p50 ms | p99 ms | mean ms | batches |',
    '| --- | --- | --- | --- | --- |',
    row('local', p.local),
    row('remote', p.remote),
    '',
    `Remote / floor p50: ${result.ratios.remoteVsFloorP50}× (target ≤ 1.3×: ${result.target.met ? 'met' : 'MISSED'}), mean ${result.ratios.remoteVsFloorMean}×; remote / local p50: ${result.ratios.remoteVsLocalP50}×.`,
    'A remote request is the floor plus a local request on the other node (its actor hop) plus the routing.',
    `It adds ${result.remoteOverFloorP50Ms} ms to the floor at p50; node b idles between one-at-a-time requests. A request to a local actor, for comparison: ${s.localAfterIdle.p50} ms at p50 after the threads idled 1 ms, ${s.local.p50} ms back to back.`,
    `64 in flight: local ${result.requestsPerSecond64InFlight.local} requests/s, remote ${result.requestsPerSecond64InFlight.remote} requests/s (remote / local time ${result.ratios.remoteVsLocal64InFlight}×).`,
    `A stream of ${CHUNKS} small chunks, read to the end (median of ${st.remote.n}): local ${result.streamChunksPerSecond.local} chunks/s, remote ${result.streamChunksPerSecond.remote} chunks/s.`,
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  if (!values['no-write']) {
    await mkdir(resultsUrl(''), { recursive: true });
    await writeFile(resultsUrl('cluster-requests.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(resultsUrl('cluster-requests.md'), md);
  }
} finally {
  child?.kill('SIGKILL');
  await a?.close({ grace: 2_000 }).catch(() => undefined);
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
