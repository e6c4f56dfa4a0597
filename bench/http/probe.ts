import { Worker } from 'node:worker_threads';

/**
 * How many CPUs this benchmark can actually get right now: `threads` threads spin for `ms` and report
 * the CPU time they were given. On a machine shared with other work this is well under `threads`, and
 * every ratio that needs parallelism (CPU-bound, p99 under load) is capped by it: the report shows it
 * next to the figures so that a miss caused by a busy machine can be told from one caused by troupe.
 */
export async function availableCpus(threads: number, ms = 1000): Promise<number> {
  const src = `
    const { parentPort } = require('node:worker_threads');
    const t0 = performance.now();
    let x = 0; while (performance.now() - t0 < ${ms}) x += Math.random();
    parentPort.postMessage(x && 0);
  `;
  const before = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: threads }, () => {
      const w = new Worker(src, { eval: true });
      return new Promise((resolve) => w.once('message', () => w.terminate().then(resolve)));
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / (performance.now() - t0);
}

/**
 * What a message that wakes a sleeping thread costs on this machine: a worker echoes `rounds` messages
 * one at a time, so each one finds the other thread asleep. CPU is both threads' (process.cpuUsage), per
 * round trip. troupe pays this per message that wakes an actor or the front; node:http in one process
 * never does, so on a machine where it is dear the main-thread and all-thread ratios move against troupe.
 */
export async function wakeCost(rounds = 2000): Promise<{ cpuUs: number; wallUs: number }> {
  const w = new Worker(
    "require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));",
    { eval: true },
  );
  const trip = (n: number) =>
    new Promise<void>((resolve) => {
      let left = n;
      const on = () => {
        if (--left === 0) {
          w.off('message', on);
          resolve();
        } else w.postMessage(left);
      };
      w.on('message', on);
      w.postMessage(left);
    });
  await trip(200);
  const before = process.cpuUsage();
  const t0 = performance.now();
  await trip(rounds);
  const used = process.cpuUsage(before);
  const wallUs = ((performance.now() - t0) * 1000) / rounds;
  await w.terminate();
  return { cpuUs: (used.user + used.system) / rounds, wallUs };
}
