// Clear answers to trouble: 413, 503 + Retry-After, 504, 500 without a stack, 502 before the head and
// an aborted connection after it (never a truncated body that looks complete).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fixture, runCli, serve, sleep } from './http-helpers.mjs';

const exec = promisify(execFile);
const hasCurl = await exec('curl', ['--version']).then(
  () => true,
  () => false,
);

/** Sends a body without Content-Length (Transfer-Encoding: chunked). */
function postChunked(url, size) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST' });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.write(Buffer.alloc(size / 2, 1));
    req.end(Buffer.alloc(size / 2, 2));
  });
}

describe('troupe serve: error statuses', () => {
  let srv;
  before(async () => {
    srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--max-body', '1kb', '--timeout', '400']);
  });
  after(() => srv?.stop());

  test('413 when Content-Length is over --max-body, before the body is read', async () => {
    const res = await fetch(`${srv.url}/echo`, { method: 'POST', body: Buffer.alloc(2048) });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /Payload Too Large/);
  });

  test('413 when a chunked body grows past --max-body', async () => {
    const r = await postChunked(`${srv.url}/upload`, 4096);
    assert.equal(r.status, 413);
  });

  test('a body under --max-body goes through', async () => {
    const r = await postChunked(`${srv.url}/echo`, 1000);
    assert.equal(r.status, 200);
    assert.equal(r.text.length, 1000);
  });

  test('413 with curl (Expect: 100-continue is answered with 413)', {
    skip: !hasCurl && 'no curl',
  }, async () => {
    const { stdout } = await exec('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'Expect: 100-continue',
      '--data-binary',
      'x'.repeat(5000),
      `${srv.url}/echo`,
    ]);
    assert.equal(stdout, '413');
  });

  test('504 when the request runs past --timeout; the handler’s signal aborts', async () => {
    const t0 = performance.now();
    const res = await fetch(`${srv.url}/slow?ms=5000&id=t1`);
    const ms = performance.now() - t0;
    assert.equal(res.status, 504);
    assert.ok(ms < 2000, `answered after ${ms.toFixed(0)} ms`);
    await srv.waitFor(/signal-aborted t1/, 'stdout');
  });

  test('500 when the handler throws, with no stack or message in the body; the cause goes to stderr', async () => {
    const res = await fetch(`${srv.url}/throw`);
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.equal(body, 'Internal Server Error\n');
    assert.doesNotMatch(body, /secret|at /);
    await srv.waitFor(/GET \/throw → 500: .*secret-internal-detail/);
    // The actor goes on serving.
    assert.equal((await fetch(`${srv.url}/hello`)).status, 200);
  });

  test('502 when the actor is lost before the response head', async () => {
    const res = await fetch(`${srv.url}/exit`);
    assert.equal(res.status, 502);
    await res.text();
  });

  test('the connection is aborted when the actor is lost mid-body (never a body that looks complete)', async () => {
    const res = await fetch(`${srv.url}/exit-mid`);
    assert.equal(res.status, 200);
    await assert.rejects(res.text(), /terminated|aborted|closed|socket/i);
  });

  test('curl reports the cut-off body as an error too', { skip: !hasCurl && 'no curl' }, async () => {
    const r = await exec('curl', ['-sS', '-o', '/dev/null', `${srv.url}/exit-mid`]).then(
      () => ({ code: 0 }),
      (e) => e,
    );
    assert.equal(r.code, 18, 'curl: (18) transfer closed with outstanding read data remaining');
  });

  test('after the crashes the lost actors were replaced and everything answers again', async () => {
    for (let i = 0; i < 50; i++) {
      const h = await (await fetch(`${srv.url}/_troupe/health`)).json();
      if (h.actors.every((a) => a.state === 'ready')) break;
      await sleep(100);
    }
    const results = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${srv.url}/hello`).then((r) => r.status)),
    );
    assert.deepEqual(new Set(results), new Set([200]));
  });
});

describe('troupe serve: overload', () => {
  let srv;
  before(async () => {
    srv = await serve(fixture('http-app.mjs'), ['--actors', '1', '--concurrency', '1', '--max-queue', '1']);
  });
  after(() => srv?.stop());

  test('503 with Retry-After when the queue is full; the others are served', async () => {
    const first = fetch(`${srv.url}/slow?ms=600`); // runs
    await sleep(100);
    const second = fetch(`${srv.url}/slow?ms=10`); // waits in the queue
    await sleep(100);
    const third = await fetch(`${srv.url}/hello`); // no room
    assert.equal(third.status, 503);
    assert.equal(third.headers.get('retry-after'), '1');
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
  });
});

describe('troupe serve: an app without fetch()', () => {
  test('fails at startup, before the port opens, naming the missing fetch()', async () => {
    const r = await runCli(['serve', fixture('http-handle-only.mjs'), '--actors', '1', '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /has no fetch\(\)/);
    assert.doesNotMatch(r.stderr, /serving/);
  });
});
