// What the inspector costs the router: main-thread CPU per request, 64 in flight on 2 actors, with an
// inspect listener that drops every event against none, three interleaved runs each, medians. CPU time of
// the main thread (Linux, /proc/self/task) rather than wall time, which swings with the machine's load.
// Run from the repository after `npm run build`: node bench/tools/inspect-cost.mjs
import { readFileSync } from 'node:fs';
import { createDispatcher } from 'troupe';

const app = new URL('../apps/echo.mjs', import.meta.url);
/** utime + stime of the main thread in µs (clock ticks of 10 ms). */
const ticks = () => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (+f[11] + +f[12]) * 10_000;
};
async function run(inspect) {
  const d = await createDispatcher({ app, actors: 2, ...(inspect ? { inspect: () => {} } : {}) });
  const batch = () =>
    Promise.all(
      Array.from({ length: 64 }, (_, i) => d.request({ op: 'echo', id: i, user: 'ada', path: '/items/42' })),
    );
  for (let i = 0; i < 300; i++) await batch();
  const t0 = ticks();
  const w0 = performance.now();
  const N = 3000;
  for (let i = 0; i < N; i++) await batch();
  const cpu = (ticks() - t0) / (N * 64);
  const wall = ((performance.now() - w0) * 1000) / (N * 64);
  await d.close();
  return { cpu, wall };
}
const rows = { off: [], on: [] };
for (let r = 0; r < 3; r++) for (const m of ['off', 'on']) rows[m].push(await run(m === 'on'));
const med = (a) => a.sort((x, y) => x - y)[1];
for (const m of ['off', 'on'])
  console.log(
    m,
    'main cpu µs/req',
    med(rows[m].map((x) => x.cpu)).toFixed(3),
    'wall µs/req',
    med(rows[m].map((x) => x.wall)).toFixed(3),
  );
console.log('ratio main cpu', (med(rows.on.map((x) => x.cpu)) / med(rows.off.map((x) => x.cpu))).toFixed(2));
