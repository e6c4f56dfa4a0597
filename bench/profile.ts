/**
 * A hot loop per scenario, without mitata, for `node --cpu-prof`: the profile then shows troupe's path and
 * nothing of the harness. Worker threads write their own profiles beside the main thread's.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/profile.js round-trip [seconds]
 *   node bench/tools/profile-summary.mjs /tmp/prof
 *
 * Scenarios: round-trip, in-flight-64, stream-small, stream-large, configure-8, and the raw baselines
 * raw-round-trip, raw-stream-small, raw-stream-large (same loop, no troupe), to compare in one session.
 */
import { Worker } from 'node:worker_threads';
import type { Dispatcher } from '../actors/types.js';
import { workerUrl } from './lib/paths.js';
import { PAYLOAD, rawPeer } from './lib/peers.js';
import { echoApp, loadTroupe } from './lib/troupe.js';

const scenarios: Record<string, { actors: number; run(d: Dispatcher): Promise<unknown> }> = {
  'round-trip': { actors: 2, run: (d) => d.request(PAYLOAD) },
  'in-flight-64': {
    actors: 2,
    run: (d) => Promise.all(Array.from({ length: 64 }, () => d.request(PAYLOAD))),
  },
  'stream-small': { actors: 2, run: (d) => drain(d.stream({ op: 'chunks', n: 1024, size: 0 })) },
  'stream-large': { actors: 2, run: (d) => drain(d.stream({ op: 'chunks', n: 64, size: 65536 })) },
  'configure-8': { actors: 8, run: (d) => d.configure({ rollout: Math.random() }) },
};

interface Raw {
  run(): Promise<unknown>;
  close(): Promise<unknown>;
}

const rawScenarios: Record<string, () => Raw> = {
  'raw-round-trip': () => {
    const peer = rawPeer(2);
    return { run: () => peer.one(PAYLOAD), close: () => peer.close() };
  },
  'raw-stream-small': () => rawStream({ n: 1024, size: 0 }),
  'raw-stream-large': () => rawStream({ n: 64, size: 65536 }),
};

function rawStream(spec: { n: number; size: number }): Raw {
  const worker = new Worker(workerUrl('raw-chunks.mjs'));
  let done: (() => void) | undefined;
  worker.on('message', (msg: unknown) => {
    if (msg === null) done!();
  });
  return {
    run: () =>
      new Promise<void>((resolve) => {
        done = resolve;
        worker.postMessage(spec);
      }),
    close: () => worker.terminate(),
  };
}

async function loop(name: string, seconds: number, run: () => Promise<unknown>): Promise<void> {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  while (performance.now() < end) {
    await run();
    n++;
  }
  const us = ((performance.now() - started) * 1000) / n;
  console.log(`${name}: ${n} iterations, ${us.toFixed(2)} µs each`);
}

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) {
    // Consume and drop, as the bench does.
  }
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'round-trip';
  const seconds = Number(process.argv[3] ?? 5);
  const raw = rawScenarios[name];
  if (raw !== undefined) {
    const r = raw();
    await loop(name, seconds, r.run);
    await r.close();
    return;
  }
  const scenario = scenarios[name];
  if (scenario === undefined) {
    throw new Error(`scenarios: ${[...Object.keys(scenarios), ...Object.keys(rawScenarios)].join(', ')}`);
  }
  const troupe = await loadTroupe();
  if (typeof troupe === 'string') throw new Error(troupe);
  const d = await troupe.createDispatcher({ app: echoApp, actors: scenario.actors });
  await loop(name, seconds, () => scenario.run(d));
  await d.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
