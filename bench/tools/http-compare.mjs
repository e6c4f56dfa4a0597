// Two builds of `troupe serve` side by side on one route of the HTTP benchmark's app: req/s, p50/p99 and
// CPU µs per request of the main thread and of the whole process (from /proc, Linux only). The builds
// alternate, three rounds each, so that a shared machine's load falls on both alike.
//   node bench/tools/http-compare.mjs <repo A> <repo B> [path=/cpu] [connections=16] [seconds=4]
// Each repo is a checkout with dist/ built. Extra `troupe serve` arguments for one side:
// HTTP_COMPARE_A / HTTP_COMPARE_B, e.g. HTTP_COMPARE_B='--metrics off' to compare one build with itself.
// A command to start one side's node under: HTTP_COMPARE_A_PREFIX / HTTP_COMPARE_B_PREFIX, e.g.
// HTTP_COMPARE_B_PREFIX='taskset -c 1' to run that side's every thread on one CPU.
// Each side starts in a session of its own; HTTP_COMPARE_B_SHARED=1 keeps side B in this process's session
// instead (with the load generator), as the HTTP benchmark started its servers before (servers.ts says why).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import autocannon from 'autocannon';

const [, , a, b, path = '/cpu', connectionsArg = '16', secondsArg = '4'] = process.argv;
if (a === undefined || b === undefined) {
  console.error('usage: node bench/tools/http-compare.mjs <repo A> <repo B> [path] [connections] [seconds]');
  process.exit(2);
}
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
const http = new URL('../../dist/bench/http/', import.meta.url);
const { cpuSample, perRequest } = await import(new URL('cpu.js', http).href);
const { freePort } = await import(new URL('servers.js', http).href);
// The same work for both builds: the app spins a fixed number of iterations (~2 ms and ~20 ms), calibrated
// here with this tree's build of the HTTP benchmark's own loop.
const { calibrate } = await import(new URL('work.js', http).href);
const config = JSON.stringify({ cpuIterations: calibrate(2), heavyIterations: calibrate(20) });

async function run(repo, extra, prefix, shared) {
  const root = resolve(repo);
  const port = await freePort();
  const dir = mkdtempSync('/tmp/http-compare-');
  writeFileSync(`${dir}/config.json`, config);
  const args = [
    `${root}/dist/cli/troupe.js`,
    'serve',
    `${root}/dist/bench/http/app.js`,
    '--port',
    String(port),
  ];
  args.push('--quiet', '--actors', '2', '--config', `${dir}/config.json`, '--max-queue', '100000');
  if (extra) args.push(...extra.split(' ').filter(Boolean));
  // A prefix command that execs node (taskset, nice) keeps the pid the CPU is read from.
  const [command, ...leading] = [...(prefix ?? '').split(' ').filter(Boolean), process.execPath];
  // A session of its own, as the HTTP benchmark gives every server (see bench/http/servers.ts).
  const child = spawn(command, [...leading, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: !shared,
  });
  await new Promise((ready, fail) => {
    child.stderr.on('data', (d) => /serving .* on http/.test(String(d)) && ready());
    child.once('exit', (code) => fail(new Error(`troupe serve (${repo}) exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}${path}`;
  try {
    await autocannon({ url, connections, duration: 1 });
    const before = await cpuSample(child.pid);
    const r = await autocannon({ url, connections, duration: seconds });
    const used = perRequest(before, await cpuSample(child.pid), r.requests.total);
    return {
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      main: used.main,
      kernel: used.mainKernel,
      all: used.all,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
  }
}

const sides = { A: { repo: a, runs: [] }, B: { repo: b, runs: [] } };
for (let r = 0; r < 3; r++) {
  for (const side of r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
    const env = process.env;
    const m = await run(
      sides[side].repo,
      env[`HTTP_COMPARE_${side}`],
      env[`HTTP_COMPARE_${side}_PREFIX`],
      env[`HTTP_COMPARE_${side}_SHARED`] === '1',
    );
    sides[side].runs.push(m);
    console.log(
      `${side} round ${r + 1}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, CPU µs/req main ${m.main.toFixed(1)} (kernel ${m.kernel.toFixed(1)}), all ${m.all.toFixed(1)}`,
    );
  }
}
const med = (xs) => xs.toSorted((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const k of ['rps', 'p99', 'main', 'kernel', 'all']) {
  const ma = med(sides.A.runs.map((x) => x[k]));
  const mb = med(sides.B.runs.map((x) => x[k]));
  console.log(`${k.padEnd(5)} A ${ma.toFixed(1)}  B ${mb.toFixed(1)}  B/A ${(mb / ma).toFixed(2)}`);
}
