// Streaming through `troupe serve`: a 200 MB upload with flat memory, echo, SSE time-to-first-event,
// and a client that leaves (the actor's ctx.signal aborts and its stream is ended).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fixture, pushUpload, serve, sleep } from './http-helpers.mjs';

/** POSTs `total` bytes in 1 MB writes with backpressure (the body never exists whole on the client either). */
function upload(url, total) {
  return new Promise((resolve, reject) => {
    const block = Buffer.alloc(1024 * 1024, 7);
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += block.length;
        if (!req.write(block)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** Waits until the front has no exchange open and no actor has a request in flight. */
async function idle(url) {
  let h;
  for (let i = 0; i < 100; i++) {
    h = await (await fetch(`${url}/_troupe/health`)).json();
    if (h.inFlight === 0 && h.actors.every((a) => a.inFlight === 0)) return;
    await sleep(50);
  }
  assert.fail(`still busy: ${JSON.stringify(h)}`);
}

describe('troupe serve: streams', () => {
  let srv;
  before(async () => {
    srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--max-body', '1gb']);
  });
  after(() => srv?.stop());

  test('a 200 MB upload streams through with flat memory (chunked, backpressure)', async (t) => {
    const MB = 1024 * 1024;
    // A first, smaller upload lets the heaps and the allocator reach their working size: garbage
    // collection runs late on transferred buffers, which is a fixed cost, not one that grows with the body.
    const warm = await upload(`${srv.url}/upload`, 64 * MB);
    assert.equal(warm.status, 200);
    const r = await upload(`${srv.url}/upload`, 200 * MB);
    assert.equal(r.status, 200);
    const body = JSON.parse(r.text);
    assert.equal(body.bytes, 200 * MB);
    const growth = (body.rssMax - body.rssStart) / MB;
    t.diagnostic(`RSS growth during the 200 MB upload: ${growth.toFixed(1)} MB`);
    // Whole in memory would be ≥ 200 MB (≥ 400 with a copy per thread); the body window is ~1 MB a hop.
    assert.ok(growth < 64, `RSS grew ${growth.toFixed(1)} MB during a 200 MB upload`);
  });

  test('an app that reads slowly slows the upload at the source (no buffering in between)', async () => {
    const MB = 1024 * 1024;
    const written = await pushUpload(`${srv.url}/upload-slow`);
    // The app reads 64 KB every 20 ms (~3 MB/s): the client can only get the window and socket buffers
    // ahead of it, nowhere near what loopback would carry in a second (hundreds of MB).
    assert.ok(written < 24 * MB, `the client pushed ${(written / MB).toFixed(1)} MB in 1 s`);
    await idle(srv.url);
  });

  test('a body streams in and back out (echo), byte for byte', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const res = await fetch(`${srv.url}/echo`, { method: 'POST', body: payload });
    assert.equal(res.status, 200);
    const back = Buffer.from(await res.arrayBuffer());
    assert.ok(back.equals(payload));
  });

  test('SSE: the first event arrives as it is written, not when the stream ends', async () => {
    const t0 = performance.now();
    const res = await fetch(`${srv.url}/sse?gap=1000`);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      assert.equal(done, false);
      text += dec.decode(value);
    }
    const firstAt = performance.now() - t0;
    assert.match(text, /^data: first/);
    while (!(await reader.read()).done);
    const endAt = performance.now() - t0;
    assert.ok(firstAt < 300, `first event after ${firstAt.toFixed(0)} ms`);
    assert.ok(endAt >= 950, `stream ended after ${endAt.toFixed(0)} ms`);
  });

  test('client disconnect mid-stream: ctx.signal and request.signal abort, the app’s stream is cancelled', async () => {
    const ac = new AbortController();
    const res = await fetch(`${srv.url}/hang?id=s1`, { signal: ac.signal });
    const reader = res.body.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /started/);
    ac.abort();
    await srv.waitFor(/^signal-aborted s1/m, 'stdout', 3000);
    await srv.waitFor(/^request-signal-aborted s1/m, 'stdout', 3000);
    await srv.waitFor(/stream-cancelled s1/, 'stdout', 3000);
    await srv.waitFor(/GET \/hang 499 /, 'stdout', 3000);
    await idle(srv.url);
  });

  test('client disconnect before the response: ctx.signal aborts the waiting handler', async () => {
    const ac = new AbortController();
    const pending = fetch(`${srv.url}/slow?ms=10000&id=s2`, { signal: ac.signal }).catch((e) => e);
    setTimeout(() => ac.abort(), 200);
    assert.equal((await pending).name, 'AbortError');
    await srv.waitFor(/signal-aborted s2/, 'stdout', 3000);
    await idle(srv.url);
  });

  test('many clients leaving mid-stream leave nothing behind', async () => {
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const ac = new AbortController();
        const res = await fetch(`${srv.url}/hang?id=m${i}`, { signal: ac.signal });
        await res.body.getReader().read();
        ac.abort();
      }),
    );
    await idle(srv.url);
  });
});
