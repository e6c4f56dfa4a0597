// Signals: SIGHUP re-reads --config and rolls it out live (a bad file or a rejected change keeps the last
// good config), SIGTERM drains in-flight requests within --grace and exits 0.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixture, serve, sleep } from './http-helpers.mjs';

const config = async (url) => (await fetch(`${url}/config`)).json();

/** Requests in a loop until stopped; every answer must be a 200. */
function steadyLoad(url) {
  let running = true;
  const statuses = [];
  const loop = async () => {
    while (running)
      statuses.push(
        await fetch(`${url}/hello`).then(
          async (r) => {
            await r.text();
            return r.status;
          },
          (e) => e.message,
        ),
      );
  };
  const loops = [loop(), loop(), loop()];
  return async () => {
    running = false;
    await Promise.all(loops);
    return statuses;
  };
}

describe('troupe serve: SIGHUP reloads --config', () => {
  let srv;
  let dir;
  let file;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'troupe-http-'));
    file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ greeting: 'hello' }));
    srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--quiet', '--config', file]);
  });
  after(async () => {
    await srv?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a good file is rolled out to every actor, with no failed request meanwhile', async () => {
    const before = await config(srv.url);
    assert.equal(before.greeting, 'hello');
    const stop = steadyLoad(srv.url);
    await sleep(100);
    await writeFile(file, JSON.stringify({ greeting: 'bonjour' }));
    srv.proc.kill('SIGHUP');
    await srv.waitFor(/config version (\d+) rolled out to every actor \(changed: greeting\)/);
    await sleep(100);
    const statuses = await stop();
    assert.ok(statuses.length > 10, `only ${statuses.length} requests during the reload`);
    assert.deepEqual([...new Set(statuses)], [200]);
    // Every actor now runs the new version: ask until both have answered.
    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const c = await (await fetch(`${srv.url}/config`, { headers: { connection: 'close' } })).json();
      assert.equal(c.greeting, 'bonjour');
      assert.equal(c.version, before.version + 1);
      seen.add((await (await fetch(`${srv.url}/whoami`)).json()).actor);
    }
  });

  test('a file that is not JSON is rejected and logged; the last good config keeps serving', async () => {
    const live = await config(srv.url);
    await writeFile(file, '{ "greeting": ');
    srv.proc.kill('SIGHUP');
    await srv.waitFor(/SIGHUP: config file .* is not valid JSON.*still serving config version (\d+)/);
    const now = await config(srv.url);
    assert.equal(now.version, live.version);
    assert.equal(now.greeting, live.greeting);
  });

  test('a change the app rejects (its configure throws) is rolled back everywhere', async () => {
    const live = await config(srv.url);
    await writeFile(file, JSON.stringify({ greeting: 42 }));
    srv.proc.kill('SIGHUP');
    await srv.waitFor(/SIGHUP: config change rejected: .*greeting must be a string/);
    for (let i = 0; i < 6; i++) {
      const now = await config(srv.url);
      assert.equal(now.version, live.version);
      assert.equal(now.greeting, live.greeting);
    }
    assert.equal(srv.proc.exitCode, null, 'still running');
  });
});

describe('troupe serve: SIGTERM / SIGINT drain', () => {
  test('in-flight requests and streams finish, new connections are refused, exit 0', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--grace', '5']);
    const slow = fetch(`${srv.url}/slow?ms=800`).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
    const sse = fetch(`${srv.url}/sse?gap=600`).then(async (r) => r.text());
    await sleep(150);
    srv.proc.kill('SIGTERM');
    await srv.waitFor(/SIGTERM: draining 2 in-flight/);
    await assert.rejects(fetch(`${srv.url}/hello`), 'no new connection after SIGTERM');
    assert.deepEqual(await slow, { status: 200, text: 'slept 800\n' });
    assert.match(await sse, /data: first[\s\S]*data: second/);
    const { code } = await srv.exited;
    assert.equal(code, 0);
    assert.match(srv.stderr, /stopped\n/);
  });

  test('past --grace the rest is cut off, and the exit is still prompt and 0', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '1', '--grace', '0.3']);
    const hang = fetch(`${srv.url}/slow?ms=30000`).then(
      (r) => r.status,
      (e) => e.name,
    );
    await sleep(150);
    const t0 = performance.now();
    srv.proc.kill('SIGINT');
    const { code } = await srv.exited;
    const ms = performance.now() - t0;
    assert.equal(code, 0);
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms to stop`);
    assert.equal(await hang, 'TypeError', 'the client sees a failed fetch, not a success');
    assert.match(srv.stderr, /1 request\(s\) cut off/);
  });
});
