import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDispatcher } from 'troupe';

export const NATS_SERVER = '/usr/sbin/nats-server';
export const HAPROXY = '/usr/sbin/haproxy';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves when `text` shows up in the child's output, rejects on exit or after `ms`. */
function waitFor(child, text, ms, what) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`${what}: not ready within ${ms} ms\n${seen}`)), ms);
    const onData = (chunk) => {
      seen += chunk;
      if (seen.includes(text)) done();
    };
    const onExit = (code) => done(new Error(`${what} exited with ${code} before it was ready\n${seen}`));
    function done(err) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * A real nats-server with JetStream on 127.0.0.1, its store in a temp folder that survives stop() and
 * start() (a restart keeps the committed config, as a real outage would).
 */
export async function startNats(extraArgs = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'troupe-nats-'));
  let child;
  const nats = {
    port,
    url: `nats://127.0.0.1:${port}`,
    async start() {
      child = spawn(NATS_SERVER, ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port), ...extraArgs], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await waitFor(child, 'Server is ready', 10_000, 'nats-server');
      child.stdout.resume();
      child.stderr.resume();
    },
    async stop() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(late);
    },
    async close() {
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await nats.start();
  return nats;
}

/** Waits for `text` in a child's output (a troupe node's log), bounded. */
export function waitForOutput(child, text, ms = 15_000, what = 'child') {
  return waitFor(child, text, ms, what);
}

/**
 * A TCP relay to 127.0.0.1:`target` that a test can cut: cut() drops every connection and refuses new
 * ones (a node cut off from NATS while the others keep it), restore() lets them through again.
 */
export async function tcpProxy(target) {
  const { connect } = await import('node:net');
  const sockets = new Set();
  let open = true;
  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      open = true;
    },
    close() {
      open = false;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** `troupe serve` arguments for a cluster node of the test app: 2 actors, sticky on x-user, a config file. */
export function clusterNodeArgs({ configFile, servers, name, node, extra = [] }) {
  return [
    '--actors',
    '2',
    '--quiet',
    '--affinity',
    'header:x-user',
    '--config',
    configFile,
    '--cluster',
    servers,
    '--cluster-name',
    name,
    '--node-id',
    node,
    ...extra,
  ];
}

/** Polls `predicate` every 20 ms until it holds; throws, naming `what`, after `ms`. */
export async function until(predicate, ms, what) {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A key whose owner is `node`, as `from` places it (the app answers `{ op: 'who' }` with `{ node }`). */
export async function keyOwnedBy(from, node) {
  for (let k = 0; k < 200; k++) {
    const key = `own-${node}-${k}`;
    const r = await from.request({ op: 'who' }, { key });
    if (r.node === node) return key;
  }
  throw new Error(`no key owned by ${node}`);
}

/**
 * Dispatchers with 2 actors each (unless `options` says otherwise), joined as nodes `ids` of cluster
 * `name` with a 2 s node timeout, once every one of them sees every member ready.
 */
export async function requestNodes(url, name, ids, options) {
  const out = [];
  for (const id of ids) {
    out.push(
      await createDispatcher({
        actors: 2,
        ...options,
        cluster: { servers: url, name, node: id, nodeTimeout: 2_000 },
      }),
    );
  }
  await until(
    () =>
      out.every((d) => d.snapshot().cluster.nodes.filter((n) => n.state === 'ready').length === ids.length),
    5_000,
    'every node to see every member ready',
  );
  return out;
}

export const closeAll = (ds) => Promise.all(ds.map((d) => d.close({ grace: 2_000 })));
