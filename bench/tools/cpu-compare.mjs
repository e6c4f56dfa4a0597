// Two builds of troupe side by side, by CPU time per request (every thread of the process, from
// process.cpuUsage()), which stays meaningful when wall time is at the mercy of a shared machine.
// Each measurement runs in a fresh child process; builds alternate, three rounds, medians.
//   node bench/tools/cpu-compare.mjs <repo A> <repo B>     (each a checkout with dist/ built)
// CPU_COMPARE_A / CPU_COMPARE_B: extra createDispatcher options (JSON) for A or B, e.g. to compare
// one build with and without an option: CPU_COMPARE_B='{"metrics":false}' … <repo> <repo>.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [, , a, b, child] = process.argv;

if (child === undefined && a !== undefined && b !== undefined) {
  const sides = { A: { repo: a, runs: [] }, B: { repo: b, runs: [] } };
  for (let r = 0; r < 3; r++) {
    for (const side of r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
      const env = { ...process.env, CPU_COMPARE_OPTIONS: process.env[`CPU_COMPARE_${side}`] ?? '' };
      const args = [process.argv[1], sides[side].repo, '', 'child'];
      const out = execFileSync(process.execPath, args, { encoding: 'utf8', env });
      sides[side].runs.push(JSON.parse(out.trim().split('\n').at(-1)));
    }
  }
  const med = (xs) => xs.toSorted((x, y) => x - y)[Math.floor(xs.length / 2)];
  for (const k of ['roundTrip', 'inFlight64', 'streamChunk']) {
    const ma = med(sides.A.runs.map((x) => x[k]));
    const mb = med(sides.B.runs.map((x) => x[k]));
    console.log(`${k.padEnd(12)} A ${ma.toFixed(2)} µs  B ${mb.toFixed(2)} µs  B/A ${(mb / ma).toFixed(2)}`);
  }
} else if (child === 'child') {
  const repo = resolve(a);
  const troupe = await import(pathToFileURL(`${repo}/dist/index.js`).href);
  const app = pathToFileURL(`${repo}/bench/apps/echo.mjs`);
  const extra = process.env.CPU_COMPARE_OPTIONS ? JSON.parse(process.env.CPU_COMPARE_OPTIONS) : {};
  const d = await troupe.createDispatcher({ app, actors: 2, ...extra });
  const P = { op: 'echo', id: 1, user: 'ada', path: '/items/42' };
  const cpu = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const measure = async (n, fn) => {
    for (let i = 0; i < n / 10; i++) await fn();
    const t0 = cpu();
    for (let i = 0; i < n; i++) await fn();
    return (cpu() - t0) / n;
  };
  const roundTrip = await measure(4000, () => d.request(P));
  const inFlight64 =
    (await measure(600, () => Promise.all(Array.from({ length: 64 }, () => d.request(P))))) / 64;
  const streamChunk =
    (await measure(60, async () => {
      for await (const _ of d.stream({ op: 'chunks', n: 1000, size: 0 }));
    })) / 1000;
  await d.close();
  console.log(JSON.stringify({ roundTrip, inFlight64, streamChunk }));
}
