// Garbage collection of two cluster nodes under a steady stream of remote requests: node a (the caller)
// keeps 64 requests in flight to a key node b owns, for `seconds`; both run with `--trace-gc-nvp`. For
// each node's main isolate: the share of what it allocated that a scavenge promoted, the mean scavenge
// pause (and how much of it V8 spent on weak handles, which node's native objects hold) and the
// mark-compacts over the middle of the run, and the requests per second.
// Each node keeps the requests it has out (a) or serves for others (b) in a table that gains and loses an
// entry a request. As a Map by id, such a table in the old generation keeps its dead rehashed copies, and
// the requests they point to, alive until the next mark-compact (see actors/wire/id-table.ts); as an
// IdTable it does not. Another build can be measured the same way: its checkout (with dist/ built) as
// the second argument. Needs nats-server (Debian's, /usr/sbin/nats-server, or NATS_SERVER).
// `--codec` measures the messages' encoding alone instead: cluster/codec.ts's node:v8 serialize() and
// deserialize() of a request message, 400,000 times, against the same loop through JSON. Each node:v8
// call makes a native object that V8 must treat as a weak handle when it dies young.
//   node bench/tools/cluster-gc.mjs [seconds=12] [checkout=.]
//   node bench/tools/cluster-gc.mjs --codec
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gcSummary, mainIsolate } from './gc-trace.mjs';

const here = fileURLToPath(import.meta.url);

if (process.argv[2] === '--node-a') {
  await nodeA(...process.argv.slice(3));
} else if (process.argv[2] === '--codec-loop') {
  codecLoop(process.argv[3]);
} else if (process.argv[2] === '--codec') {
  for (const codec of ['v8', 'json']) {
    const out = await traced([here, '--codec-loop', codec]);
    const m = gcSummary(out, mainIsolate(out), true);
    console.log(
      `${codec === 'v8' ? 'node:v8 serialize + deserialize' : 'JSON stringify + parse'}: scavenge pause ${m.pause.toFixed(2)} ms (${m.weak.toFixed(2)} of it on weak handles)`,
    );
  }
} else {
  const seconds = Number(process.argv[2] ?? 12);
  const root = resolve(process.argv[3] ?? join(here, '../../..'));
  await measure(seconds, root);
}

/** 400,000 round trips of a request message through one encoding. */
async function codecLoop(codec) {
  const { serialize, deserialize } = await import('node:v8');
  const message = {
    id: 'a.0123456789ab.1',
    from: 'a',
    payload: { op: 'echo', n: 1, s: 'hello' },
    timeout: 30_000,
    stream: false,
  };
  let sum = 0;
  for (let i = 0; i < 400_000; i++) {
    const back = codec === 'v8' ? deserialize(serialize(message)) : JSON.parse(JSON.stringify(message));
    sum += back.timeout;
  }
  if (sum === 0) throw new Error('nothing came back');
}

/** Runs node with `--trace-gc-nvp` and `args`; resolves its output once it exits. */
function traced(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--trace-gc-nvp', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exited with ${code}`))));
  });
}

/** Runs node a: joins the cluster, finds a key b owns, keeps 64 requests in flight to it. */
async function nodeA(url, seconds, root) {
  const { createDispatcher } = await import(pathToFileURL(`${root}/dist/index.js`).href);
  const a = await createDispatcher({
    app: `${root}/bench/apps/echo.mjs`,
    actors: 2,
    // A high balance factor: every request goes to the owner, not to a spill.
    balanceFactor: 100,
    cluster: { servers: url, name: 'gc', node: 'a' },
  });
  const ready = () => a.snapshot().cluster.nodes.filter((n) => n.state === 'ready').length === 2;
  for (let i = 0; i < 500 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  let key;
  const off = a.subscribe((e) => {
    if (e.type === '@troupe.node-route' && e.node === 'b') key ??= e.key;
  });
  for (let k = 0; k < 400 && key === undefined; k++) await a.request({ op: 'echo', v: k }, { key: `k${k}` });
  off();
  if (key === undefined) throw new Error('no key owned by node b');
  const payload = { op: 'echo', n: 1, s: 'hello' };
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < Number(seconds) * 1000) {
    await Promise.all(Array.from({ length: 64 }, () => a.request(payload, { key })));
    n += 64;
  }
  console.error(`requests/s ${Math.round(n / Number(seconds))}`);
  await a.close();
}

async function measure(seconds, root) {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-cluster-gc-'));
  const { freePort, waitForText } = await import(pathToFileURL(`${root}/dist/bench/cluster/shared.js`).href);
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const nats = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
  const server = spawn(nats, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await waitForText(server, 'Server is ready', 10_000);
    const b = spawn(
      process.execPath,
      ['--trace-gc-nvp', `${root}/dist/bench/cluster/node.js`, url, 'gc', 'b', '2', 'floor'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let outB = '';
    b.stdout.on('data', (d) => (outB += d));
    await waitForText(b, 'ready', 20_000);
    const a = spawn(process.execPath, ['--trace-gc-nvp', here, '--node-a', url, String(seconds), root], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let outA = '';
    let errA = '';
    a.stdout.on('data', (d) => (outA += d));
    a.stderr.on('data', (d) => (errA += d));
    const code = await new Promise((done) => a.once('exit', done));
    b.kill('SIGTERM');
    await new Promise((done) => b.once('exit', done));
    if (code !== 0) throw new Error(`node a exited with ${code}: ${errA}`);
    console.log(`${root}: ${/requests\/s \d+/.exec(errA)?.[0] ?? errA.trim()}`);
    for (const [node, out] of [
      ['a (caller)', outA],
      ['b (runner)', outB],
    ]) {
      const m = gcSummary(out, mainIsolate(out), false);
      console.log(
        `  node ${node}: promoted ${m.promoted.toFixed(2)}% of what its main thread allocated; scavenge pause ${m.pause.toFixed(2)} ms (${m.weak.toFixed(2)} of it on weak handles); mark-compacts ${m.markCompacts}`,
      );
    }
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
