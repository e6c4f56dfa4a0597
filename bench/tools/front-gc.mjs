// The HTTP front's main-thread garbage collection under load: `troupe serve` on the HTTP benchmark's app
// with `--trace-gc-nvp`, hello route, 32 connections; the share of what the front's thread allocated
// that survived a scavenge and was promoted, the mean scavenge pause, and the mark-compacts, over the
// measured window (without a warm-up, the middle of the run). Twice each: the defaults, node's own GC
// settings (TROUPE_FRONT_HEAP_MB=0, see cli/front-heap.ts), the larger old generation alone, `--metrics
// off`, and node's sizes with V8's incremental marking off (the cause).
// What this showed, before the requests in flight were kept in IdTables (actors/wire/id-table.ts) instead
// of a Map and a Set: with node's settings, the front fell (usually a few seconds in) into a state where
// about a fifth of its request garbage was promoted, scavenges took ~4-10 ms and a mark-compact ran every
// half second. A Map or Set that is in the old generation and churns (an entry added and deleted per
// request) leaves a dead old table behind at each rehash, still pointing to the requests it held, and
// those keep the requests alive through every scavenge until the next mark-compact. The larger old
// generation (the defaults) and no incremental marking only kept the front out of that state, without
// removing its cause. A warm-up before the measured window shows the state the front settled in; an idle
// time between start-up and the load lets V8's memory reducer run first.
// TROUPE_FRONT_HEAP_MB=18 in the environment gives the defaults a small old generation, which the load
// fills in seconds: the state after the first full collection, which a 128 MB one meets much later.
//   node bench/tools/front-gc.mjs [seconds=4] [warm-up seconds=0] [idle seconds=0]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { gcSummary, mainIsolate } from './gc-trace.mjs';

const { freePort } = await import(new URL('../../dist/bench/http/servers.js', import.meta.url).href);

const seconds = Number(process.argv[2] ?? 4);
const warmup = Number(process.argv[3] ?? 0);
const idle = Number(process.argv[4] ?? 0);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync('/tmp/front-gc-');
writeFileSync(`${dir}/config.json`, JSON.stringify({ cpuIterations: 1, heavyIterations: 1 }));

async function run(extra, env = process.env, nodeArgs = []) {
  const port = await freePort();
  const args = [
    '--trace-gc-nvp',
    ...nodeArgs,
    `${root}dist/cli/troupe.js`,
    'serve',
    `${root}dist/bench/http/app.js`,
  ];
  args.push('--port', String(port), '--quiet', '--actors', '2', '--config', `${dir}/config.json`, ...extra);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((ready, fail) => {
    child.stderr.on('data', (d) => /serving .* on http/.test(String(d)) && ready());
    child.once('exit', (code) => fail(new Error(`troupe serve exited with ${code}`)));
  });
  await new Promise((r) => setTimeout(r, idle * 1000));
  if (warmup > 0)
    await autocannon({ url: `http://127.0.0.1:${port}/hello`, connections: 32, duration: warmup });
  const from = out.length;
  await autocannon({ url: `http://127.0.0.1:${port}/hello`, connections: 32, duration: seconds });
  child.kill('SIGTERM');
  await new Promise((done) => child.once('exit', done));
  // The front's main isolate, over the measured window (after a warm-up, all of it).
  return gcSummary(out.slice(from), mainIsolate(out), warmup > 0);
}

const off = { ...process.env, TROUPE_FRONT_HEAP_MB: '0' };
for (let r = 0; r < 2; r++) {
  for (const [label, extra, env, nodeArgs] of [
    ['defaults', [], process.env],
    ['TROUPE_FRONT_HEAP_MB=0', [], off],
    ['TROUPE_FRONT_HEAP_MB=0, node --initial-old-space-size=128', [], off, ['--initial-old-space-size=128']],
    ['--metrics off', ['--metrics', 'off'], process.env],
    // Without incremental marking, the default-sized front's tables stayed young longer.
    ['TROUPE_FRONT_HEAP_MB=0, node --no-incremental-marking', [], off, ['--no-incremental-marking']],
  ]) {
    const m = await run(extra, env, nodeArgs);
    console.log(
      `${label.padEnd(58)} survived ${m.survived.toFixed(1)}%, promoted ${m.promoted.toFixed(1)}% of what the main thread allocated; scavenge pause ${m.pause.toFixed(2)} ms; mark-compacts ${m.markCompacts}`,
    );
  }
}
