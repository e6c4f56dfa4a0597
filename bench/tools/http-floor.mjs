// The floor of the HTTP front's design on the main thread: node:http parses, the request head goes to a
// worker thread in one message per loop turn, the worker answers each with a fixed response (head and
// body in one object), one message per turn back, and the main thread writes it. No router, no actor
// machinery: what is left of troupe serve's main-thread CPU above this is troupe's own.
// Prints CPU µs per request of the main thread and of every thread (from /proc, Linux only), for this
// floor and for `troupe serve` on the bench app, interleaved, 3 rounds each.
// Run after `npm run build`: node bench/tools/http-floor.mjs
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import autocannon from 'autocannon';

const here = fileURLToPath(import.meta.url);

if (!isMainThread) {
  // The worker: answer every head of a batch, send the batch's answers in one message.
  const body = 'Hello, world!';
  parentPort.on('message', (batch) => {
    const out = [];
    for (const [id] of batch) {
      out.push([
        id,
        { status: 200, headers: ['content-type', 'text/plain; charset=utf-8', 'content-length', '13'], body },
      ]);
    }
    parentPort.postMessage(out);
  });
} else if (process.argv[2] === 'serve') {
  const worker = new Worker(here);
  const pending = new Map();
  let next = 0;
  let batch = [];
  const flush = () => {
    worker.postMessage(batch);
    batch = [];
  };
  worker.on('message', (answers) => {
    for (const [id, h] of answers) {
      const res = pending.get(id);
      pending.delete(id);
      res.writeHead(h.status, h.headers);
      res.end(h.body);
    }
  });
  const server = createServer((req, res) => {
    const id = ++next;
    pending.set(id, res);
    if (batch.length === 0) setImmediate(flush);
    batch.push([
      id,
      { method: req.method, url: `http://${req.headers.host}${req.url}`, headers: req.rawHeaders },
    ]);
  });
  server.listen(0, '127.0.0.1', () =>
    process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`),
  );
} else {
  const cpu = (pid) => {
    let main = 0;
    let all = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const f = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
      const us = ((Number(v[11]) + Number(v[12])) * 1e6) / 100;
      all += us;
      if (Number(t) === pid) main += us;
    }
    return { main, all };
  };
  const start = (args, ready) =>
    new Promise((resolve) => {
      // A session of its own, as the HTTP benchmark gives every server (see bench/http/servers.ts).
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let text = '';
      const on = (d) => {
        text += d;
        const m = ready.exec(text);
        if (m) resolve({ child, url: m[1] });
      };
      child.stdout.on('data', on);
      child.stderr.on('data', on);
    });
  const measure = async (args, ready) => {
    const { child, url } = await start(args, ready);
    await autocannon({ url: `${url}/hello`, connections: 32, duration: 1 });
    const c0 = cpu(child.pid);
    const r = await autocannon({ url: `${url}/hello`, connections: 32, duration: 3 });
    const c1 = cpu(child.pid);
    child.kill();
    const n = r.requests.total;
    return { main: (c1.main - c0.main) / n, all: (c1.all - c0.all) / n, rps: r.requests.average };
  };
  const FRONT_FLAGS = ['--initial-old-space-size=128', '--no-memory-reducer'];
  const cli = fileURLToPath(new URL('../../dist/cli/troupe.js', import.meta.url));
  const app = fileURLToPath(new URL('../../dist/bench/http/app.js', import.meta.url));
  for (let round = 0; round < 3; round++) {
    const f = await measure([here, 'serve'], /listening (http:\/\/\S+)/);
    // The front's V8 flags on node's own command line: troupe serve then serves in this very process
    // (it would otherwise start itself again with them, and /proc of this pid would show an idle parent).
    const t = await measure(
      [...FRONT_FLAGS, cli, 'serve', app, '--port', '0', '--quiet', '--actors', '1'],
      /on (http:\/\/\S+)/,
    );
    console.log(
      `floor: main ${f.main.toFixed(1)} all ${f.all.toFixed(1)} µs/req (${f.rps.toFixed(0)} req/s) | troupe serve, 1 actor: main ${t.main.toFixed(1)} all ${t.all.toFixed(1)} µs/req (${t.rps.toFixed(0)} req/s)`,
    );
  }
}
