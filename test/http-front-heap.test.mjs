import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fixture, runCli, serve, sleep } from './http-helpers.mjs';

const FLAG = '--initial-old-space-size';
const NO_REDUCER = '--no-memory-reducer';
const APP = fixture('http-app.mjs');
const processOf = async (url) => (await fetch(`${url}/process`)).json();

/** Starts troupe serve with `options`, reads the serving process, stops it: what served, and the pid started. */
async function servedBy(options) {
  const s = await serve(APP, [], options);
  try {
    return { served: await processOf(s.url), started: s.proc.pid };
  } finally {
    await s.stop();
  }
}
const withFlag = (p) => p.execArgv.some((a) => a.startsWith(FLAG));

describe('troupe serve starts its front with a larger old generation and no memory reducer', () => {
  test('by default in a child process it stands in for: the flags are set, SIGTERM drains, exit 0', async () => {
    const s = await serve(APP);
    try {
      const p = await processOf(s.url);
      assert.ok(p.execArgv.includes(`${FLAG}=128`), `execArgv ${p.execArgv}`);
      assert.ok(p.execArgv.includes(NO_REDUCER), `execArgv ${p.execArgv}`);
      assert.notEqual(p.pid, s.proc.pid, 'the front runs in a child');
      assert.equal(p.ppid, s.proc.pid, 'of the process that was started');
    } finally {
      assert.deepEqual(await s.stop('SIGTERM'), { code: 0, signal: null });
    }
    assert.match(s.stderr, /SIGTERM: draining/);
  });

  test('one SIGINT to the process started reaches the front once: in-flight requests finish', async () => {
    const s = await serve(APP);
    try {
      const slow = fetch(`${s.url}/slow?ms=600`).then(async (r) => [r.status, await r.text()]);
      await sleep(150);
      s.proc.kill('SIGINT');
      assert.deepEqual(await slow, [200, 'slept 600\n']);
      assert.deepEqual(await s.exited, { code: 0, signal: null });
      assert.doesNotMatch(s.stderr, /again: cutting off/);
    } finally {
      await s.stop('SIGKILL');
    }
  });

  test('SIGKILL of the process started takes the front down with it', async () => {
    const s = await serve(APP);
    const { pid } = await processOf(s.url);
    s.proc.kill('SIGKILL');
    await s.exited;
    const deadline = Date.now() + 5_000;
    let alive = true;
    while (alive && Date.now() < deadline) {
      try {
        process.kill(pid, 0);
        await sleep(50);
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, `the front (pid ${pid}) outlived its parent`);
    await assert.rejects(fetch(`${s.url}/hello`));
  });

  test('TROUPE_FRONT_HEAP_MB sets the size; 0 runs in one process without the flags', async () => {
    const sized = await servedBy({ env: { ...process.env, TROUPE_FRONT_HEAP_MB: '64' } });
    assert.ok(sized.served.execArgv.includes(`${FLAG}=64`));
    assert.ok(sized.served.execArgv.includes(NO_REDUCER));
    const off = await servedBy({ env: { ...process.env, TROUPE_FRONT_HEAP_MB: '0' } });
    assert.equal(off.served.pid, off.started);
    assert.ok(!withFlag(off.served), `execArgv ${off.served.execArgv}`);
    assert.ok(!off.served.execArgv.includes(NO_REDUCER), `execArgv ${off.served.execArgv}`);
  });

  test("node's own --initial-old-space-size is kept, in one process", async () => {
    const { served, started } = await servedBy({ nodeArgs: [`${FLAG}=32`] });
    assert.equal(served.pid, started);
    assert.ok(served.execArgv.includes(`${FLAG}=32`));
    assert.ok(!served.execArgv.includes(NO_REDUCER), 'nothing is added to what node was given');
  });

  test('node started with --inspect (a debugging session) serves in that one process', async () => {
    const { served, started } = await servedBy({ nodeArgs: ['--inspect=127.0.0.1:0'] });
    assert.equal(served.pid, started);
    assert.ok(!withFlag(served), `execArgv ${served.execArgv}`);
  });

  test('a TROUPE_FRONT_HEAP_MB that is not a whole number: exit 2 with the reason', async () => {
    const r = await runCli(['serve', APP], 15_000, { ...process.env, TROUPE_FRONT_HEAP_MB: 'lots' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /TROUPE_FRONT_HEAP_MB must be a whole number of MB \(0 = off\); got 'lots'/);
  });
});
