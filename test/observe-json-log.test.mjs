// `troupe serve --log-format json`: access and lifecycle lines as pino-compatible JSON objects on stdout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { CLI, fixture, runCli } from './http-helpers.mjs';

/** Starts the CLI with JSON logs; resolves with its URL once the `serving` line is out. */
async function serveJson(args) {
  const proc = spawn(process.execPath, [CLI, 'serve', fixture('http-app.mjs'), '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no serving line; stdout:\n${stdout}\nstderr:\n${stderr}`)),
      15_000,
    );
    proc.stdout.on('data', (d) => {
      stdout += d;
      const m = /"msg":"serving .* on (http:\/\/[^ "]+)/.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return {
    url,
    proc,
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}

const lines = (text) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      assert.doesNotThrow(() => JSON.parse(l), `not a JSON line: ${l}`);
      return JSON.parse(l);
    });

describe('troupe serve --log-format json', () => {
  test('access and lifecycle lines are pino-shaped JSON objects, one a line', async () => {
    const s = await serveJson(['--actors', '2', '--log-format', 'json']);
    const t0 = Date.now();
    // The process that writes the lines: the front, which troupe serve may run in a child of its own.
    const front = await (await fetch(`${s.url}/process`)).json();
    assert.equal((await fetch(`${s.url}/hello?token=secret`)).status, 200);
    assert.equal((await fetch(`${s.url}/nowhere`)).status, 404);
    assert.equal((await fetch(`${s.url}/throw`, { method: 'POST' })).status, 500);
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    const all = lines(s.stdout);
    for (const l of all) {
      assert.equal(typeof l.level, 'number');
      assert.ok(l.time >= t0 - 60_000 && l.time <= Date.now(), `time ${l.time} is epoch ms`);
      assert.equal(l.pid, front.pid);
      assert.equal(l.hostname, hostname());
      assert.equal(typeof l.msg, 'string');
    }
    const access = all.filter((l) => l.msg === 'request completed' && l.path !== '/process');
    assert.deepEqual(
      access.map(({ method, path, status }) => ({ method, path, status })),
      [
        { method: 'GET', path: '/hello', status: 200 },
        { method: 'GET', path: '/nowhere', status: 404 },
        { method: 'POST', path: '/throw', status: 500 },
      ],
      'the query string (it may carry tokens) is not logged',
    );
    for (const l of access) {
      assert.equal(typeof l.ms, 'number');
      assert.ok(l.ms >= 0);
      assert.ok(l.actor === 0 || l.actor === 1, `actor ${l.actor}`);
    }
    assert.deepEqual(
      access.map((l) => l.level),
      [30, 30, 50],
    );
    const msgs = all.map((l) => l.msg);
    assert.ok(
      msgs.some((m) => /^serving .* \(2 actors, config version 1\)$/.test(m)),
      msgs.join('\n'),
    );
    assert.ok(msgs.includes('SIGTERM: draining 0 in-flight request(s), grace 10s'), msgs.join('\n'));
    assert.equal(msgs.at(-1), 'stopped');
    // The handler's error is reported as an error line too.
    assert.ok(
      all.some((l) => l.level === 50 && /POST \/throw → 500/.test(l.msg)),
      msgs.join('\n'),
    );
    assert.doesNotMatch(s.stderr, /troupe: /, 'nothing left in the text format');
  });

  test('a startup failure is an error line; bad --log-format and --metrics values are usage errors', async () => {
    const r = await runCli(['serve', fixture('http-bad-init.mjs'), '--port', '0', '--log-format', 'json']);
    assert.equal(r.code, 1);
    const errors = lines(r.stdout).filter((l) => l.level === 50);
    assert.ok(
      errors.some((l) => /database unreachable/.test(l.msg)),
      r.stdout,
    );
    const bad = await runCli(['serve', fixture('http-app.mjs'), '--log-format', 'xml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--log-format: 'xml' must be text or json/);
    const metrics = await runCli(['serve', fixture('http-app.mjs'), '--metrics', 'metrics']);
    assert.equal(metrics.code, 2);
    assert.match(metrics.stderr, /--metrics: 'metrics' must be a path or off/);
    const clash = await runCli(['serve', fixture('http-app.mjs'), '--metrics', '/x', '--health', '/x']);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /--metrics: the same path as --health/);
    const help = await runCli(['serve', '--help']);
    assert.match(help.stdout, /--metrics PATH\|off/);
    assert.match(help.stdout, /--log-format FMT/);
  });
});
