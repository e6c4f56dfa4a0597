// Shared by test/http-*.test.mjs: starts `troupe serve` (the built CLI) as a child process on a free
// loopback port and gives the test its URL, its output, and ways to signal and stop it.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../dist/cli/troupe.js', import.meta.url));
export const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
export const example = (name) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs the CLI to completion (for --help and startup failures). */
export function runCli(args, timeoutMs = 15_000, env = process.env) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const t0 = performance.now();
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/**
 * Starts `troupe serve <app> --port 0 ...args` and resolves once it says it is serving. `env` and
 * `nodeArgs` (node's own options, before the CLI) for the tests of how the command starts its front.
 */
export async function serve(app, args = [], { env = process.env, nodeArgs = [] } = {}) {
  const proc = spawn(process.execPath, [...nodeArgs, CLI, 'serve', app, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const out = { stdout: '', stderr: '' };
  const watchers = new Set();
  const feed = (name) => (d) => {
    out[name] += d;
    for (const w of watchers) w();
  };
  proc.stdout.on('data', feed('stdout'));
  proc.stderr.on('data', feed('stderr'));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  /** Waits until `pattern` matches the stream's text so far; resolves with the match. */
  const waitFor = (pattern, stream = 'stderr', timeoutMs = 10_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out[stream]);
        if (m === null) return false;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`timed out waiting for ${pattern} on ${stream}; stderr:\n${out.stderr}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });

  const started = await Promise.race([
    waitFor(/serving .* on (http:\/\/\S+)/),
    exited.then(({ code }) => {
      throw new Error(`troupe serve exited with ${code} before serving:\n${out.stderr}`);
    }),
  ]);
  return {
    url: started[1],
    proc,
    exited,
    waitFor,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    /** Sends a signal and waits for the exit. */
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/**
 * Uploads to `url` for `ms`, waiting for 'drain' whenever the socket pushes back, and resolves with the
 * bytes the client managed to write: what a slow-reading app lets through shows whether backpressure
 * reaches the client.
 */
export async function pushUpload(url, ms = 1_000) {
  const block = Buffer.alloc(64 * 1024);
  const req = httpRequest(url, { method: 'POST' });
  // The server must neither answer nor close the connection while the client still sends: either would
  // end the upload early, and a small figure would then pass for backpressure.
  let early;
  const ended = new Promise((resolve) => {
    req.on('error', (err) => {
      early ??= err;
      resolve();
    });
    req.on('response', (res) => {
      early ??= new Error(`the server answered ${res.statusCode} before the upload ended`);
      res.resume();
      res.on('end', resolve);
      res.on('error', resolve);
    });
  });
  let written = 0;
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && early === undefined) {
    written += block.length;
    if (req.write(block)) continue;
    const drained = await Promise.race([
      new Promise((r) => req.once('drain', () => r(true))),
      ended.then(() => false),
      sleep(Math.max(0, deadline - performance.now())).then(() => false),
    ]);
    if (!drained) break;
  }
  const cut = early;
  req.destroy();
  await ended;
  if (cut !== undefined) throw new Error(`upload cut after ${written} bytes: ${cut.message}`);
  return written;
}
