import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A server under test, run as its own process so that it owns its event loop and threads. */
export type ServerSpec =
  | { kind: 'single'; handler: 'hono' | 'raw' | 'socket' }
  | { kind: 'pool'; threads: number }
  | { kind: 'cluster'; processes: number; handler: 'hono' | 'raw' }
  | {
      kind: 'troupe';
      actors: number;
      concurrency?: number;
      frontHeapOff?: boolean;
      spread?: boolean;
      nodeParser?: boolean;
      /** Another checkout whose build to run instead of this one (`--also`). */
      root?: string;
    };

export interface Work {
  cpuIterations: number;
  heavyIterations: number;
}

// A hang guard, not a budget: a scenario's servers all stay up while every one of them is loaded.
const RUN_LIMIT_MS = 600_000;

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export function label(spec: ServerSpec): string {
  switch (spec.kind) {
    case 'single':
      return spec.handler === 'raw'
        ? 'node:http, 1 thread, raw res.end()'
        : spec.handler === 'socket'
          ? 'node:net, 1 thread, fixed bytes (no HTTP)'
          : '@hono/node-server, 1 thread';
    case 'pool':
      return `@hono/node-server + Piscina, ${spec.threads} threads`;
    case 'cluster':
      return `node:cluster, ${spec.processes} processes, ${spec.handler === 'raw' ? 'raw res.end()' : '@hono/node-server'}`;
    case 'troupe':
      return `troupe serve, ${spec.actors} actor${spec.actors === 1 ? '' : 's'}${spec.concurrency ? `, concurrency ${spec.concurrency}` : ''}${spec.spread ? ', --spread' : ''}${spec.nodeParser ? ', --node-parser' : ''}${spec.frontHeapOff ? ', TROUPE_FRONT_HEAP_MB=0' : ''}${spec.root ? `, build of ${spec.root}` : ''}`;
  }
}

/** A port free on 127.0.0.1 right now (the benchmark's servers and its tools listen on one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts the server, runs `fn` against its base URL, stops it (SIGTERM, then SIGKILL).
 *
 * Every server gets a session of its own (`detached`), as a service has, apart from the load generator's:
 * where the kernel schedules sessions as groups (Linux autogroup), a server in the benchmark's session
 * shares one group's CPU with autocannon, which for a server of several busy threads changes its CPU a
 * request markedly. `troupe serve` with its default heap flags starts its front in a session of its own
 * anyway (cli/front-heap.ts); this gives every peer, and every troupe variant, the same footing.
 */
export async function withServer<T>(
  spec: ServerSpec,
  work: Work,
  fn: (url: string, pid: number, actorTids: ReadonlySet<number>) => Promise<T>,
): Promise<T> {
  const port = await freePort();
  let child: ChildProcess;
  let ready: RegExp;
  const tidDir = await mkdtemp(join(tmpdir(), 'troupe-bench-tids-'));
  if (spec.kind === 'troupe') {
    const config = join(tidDir, 'config.json');
    await writeFile(config, JSON.stringify({ ...work, tidDir }));
    const dist = spec.root === undefined ? undefined : join(spec.root, 'dist');
    const cli = dist === undefined ? here('../../cli/troupe.js') : join(dist, 'cli/troupe.js');
    const app = dist === undefined ? here('./app.js') : join(dist, 'bench/http/app.js');
    const args = [cli, 'serve', app, '--port', String(port), '--quiet'];
    args.push('--actors', String(spec.actors), '--config', config, '--max-queue', '100000');
    if (spec.concurrency !== undefined) args.push('--concurrency', String(spec.concurrency));
    if (spec.spread === true) args.push('--spread');
    if (spec.nodeParser === true) args.push('--node-parser');
    const env = spec.frontHeapOff ? { ...process.env, TROUPE_FRONT_HEAP_MB: '0' } : process.env;
    child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env, detached: true });
    ready = /serving .* on http/;
  } else {
    const [mode, handler, procs] =
      spec.kind === 'pool'
        ? ['single', 'pool', spec.threads]
        : [spec.kind, spec.handler, spec.kind === 'cluster' ? spec.processes : 1];
    const args = [here('./baseline.js'), mode, handler, String(port), String(procs)];
    args.push(String(work.cpuIterations), String(work.heavyIterations));
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    ready = /listening/;
  }
  const out = spec.kind === 'troupe' ? child.stderr! : child.stdout!;
  await new Promise<void>((resolve, reject) => {
    let text = '';
    out.on('data', (d) => {
      text += d;
      if (ready.test(text)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`${label(spec)} exited with ${code} before it was ready: ${text}`)),
    );
    setTimeout(() => reject(new Error(`${label(spec)} was not ready within 30 s: ${text}`)), 30_000).unref();
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  // A run that does not come back is cut off rather than hanging the whole benchmark.
  let watchdog: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    watchdog = setTimeout(
      () => reject(new Error(`${label(spec)}: a run took over ${RUN_LIMIT_MS / 1000} s`)),
      RUN_LIMIT_MS,
    );
  });
  try {
    const tids = await actorThreads(tidDir);
    return await Promise.race([fn(`http://127.0.0.1:${port}`, child.pid!, tids), timedOut]);
  } finally {
    await rm(tidDir, { recursive: true, force: true });
    clearTimeout(watchdog);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  }
}

/** The OS thread ids the actors wrote at init (none for the peers, or off Linux). */
async function actorThreads(dir: string): Promise<Set<number>> {
  const tids = new Set<number>();
  for (const name of await readdir(dir)) {
    if (name.startsWith('actor-')) tids.add(Number(await readFile(join(dir, name), 'utf8')));
  }
  return tids;
}
