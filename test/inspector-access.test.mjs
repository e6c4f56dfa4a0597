import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { networkInterfaces } from 'node:os';
import { describe, test } from 'node:test';
import { createDispatcher } from 'troupe';
import { withDispatcher } from './helpers/util.mjs';

const app = new URL('./fixtures/inspector-app.mjs', import.meta.url);

/** This machine's addresses that other machines can reach (IPv4 and global IPv6). */
const outside = Object.values(networkInterfaces())
  .flat()
  .filter((a) => a && !a.internal && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
  .map((a) => a.address);

/** One HTTP request with full control of the Host header (fetch would set it). */
function get(host, port, path, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, method, headers, timeout: 3_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
        // An event stream never ends: its first event is enough.
        if (res.headers['content-type']?.startsWith('text/event-stream') && body.includes('\n\n', 15)) {
          res.destroy();
          resolve({ status: res.statusCode, headers: res.headers, body });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function withInspector(inspector, fn, config = { greeting: 'hi', password: 'hunter2' }) {
  return withDispatcher({ app, actors: 1, config, inspector }, (d) =>
    fn(d, Number(new URL(d.inspectorUrl).port)),
  );
}

describe('inspector access', () => {
  test('by default it listens on 127.0.0.1 only: not reachable on this machine’s other addresses', async (t) => {
    await withInspector({ port: 0 }, async (d, port) => {
      assert.match(d.inspectorUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal((await get('127.0.0.1', port, '/')).status, 200);
      if (outside.length === 0) t.skip('this machine has no non-loopback address to try');
      for (const address of outside) {
        await assert.rejects(get(address, port, '/'), { code: 'ECONNREFUSED' }, `refused on ${address}`);
      }
    });
  });

  test('a page from another site cannot read it by DNS rebinding: a foreign Host header is refused', async () => {
    await withInspector({ port: 0 }, async (_d, port) => {
      const foreign = await get('127.0.0.1', port, '/api/snapshot', { host: `attacker.example:${port}` });
      assert.equal(foreign.status, 403);
      assert.doesNotMatch(foreign.body, /actors/);
      assert.equal(
        (await get('127.0.0.1', port, '/api/snapshot', { host: `localhost:${port}` })).status,
        200,
      );
    });
  });

  test('a non-loopback host without a token is refused at startup, with what to do', async () => {
    await assert.rejects(
      createDispatcher({ app, actors: 1, inspector: { port: 0, host: '0.0.0.0' } }),
      (err) => err.code === 'ERR_TROUPE_INVALID_ARGUMENT' && /token/.test(err.message),
    );
  });

  test('with a token, every request needs it: query, cookie set from it, or bearer header', async () => {
    await withInspector({ port: 0, host: '0.0.0.0', token: 'tok-123' }, async (d, port) => {
      assert.match(d.inspectorUrl, /\?token=tok-123$/);
      assert.equal((await get('127.0.0.1', port, '/')).status, 403);
      assert.equal((await get('127.0.0.1', port, '/?token=tok-124')).status, 403);
      const page = await get('127.0.0.1', port, '/?token=tok-123');
      assert.equal(page.status, 200);
      const cookie = page.headers['set-cookie']?.[0]?.split(';')[0];
      assert.match(cookie, /^troupe-inspector-\d+=tok-123$/);
      assert.match(page.headers['set-cookie'][0], /HttpOnly/);
      assert.equal((await get('127.0.0.1', port, '/app.js', { cookie })).status, 200);
      assert.equal(
        (await get('127.0.0.1', port, '/api/snapshot', { authorization: 'Bearer tok-123' })).status,
        200,
      );
      assert.equal(
        (await get('127.0.0.1', port, '/api/snapshot', { authorization: 'Bearer nope' })).status,
        403,
      );
      // The token, not the Host header, is the gate here: the page is meant for other machines.
      for (const address of outside.filter((a) => a.includes('.'))) {
        assert.equal((await get(address, port, '/api/snapshot?token=tok-123')).status, 200);
        assert.equal((await get(address, port, '/api/snapshot')).status, 403);
      }
    });
  });

  test('read-only, no outside resources allowed, nothing cached', async () => {
    await withInspector({ port: 0 }, async (_d, port) => {
      assert.equal((await get('127.0.0.1', port, '/api/snapshot', {}, 'POST')).status, 405);
      assert.equal((await get('127.0.0.1', port, '/../package.json')).status, 404);
      const page = await get('127.0.0.1', port, '/');
      assert.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.doesNotMatch(page.body, /https?:\/\//, 'the page names no outside URL');
    });
  });

  test('config values and route names are hidden unless showPayloads', async () => {
    await withInspector({ port: 0 }, async (d, port) => {
      await d.request({ op: 'hi' }, { route: 'GET /reset/alice@example.com' });
      const snap = JSON.parse((await get('127.0.0.1', port, '/api/snapshot')).body);
      assert.deepEqual(snap.config, { greeting: '(hidden)', password: '(hidden)' });
      assert.deepEqual(
        snap.routes.map((r) => r.route),
        ['(hidden)'],
        'a route name can be a request path: hidden, its cost shown',
      );
      assert.ok(snap.routes[0].us > 0);
    });
    await withInspector({ port: 0, showPayloads: true }, async (d, port) => {
      await d.request({ op: 'hi' }, { route: 'report' });
      const snap = JSON.parse((await get('127.0.0.1', port, '/api/snapshot')).body);
      assert.deepEqual(snap.config, { greeting: 'hi', password: 'hunter2' });
      assert.deepEqual(
        snap.routes.map((r) => r.route),
        ['report'],
      );
    });
  });

  test('the recorded timeline is a bounded ring, replayable from its base snapshot', async () => {
    await withInspector({ port: 0, history: 10 }, async (d, port) => {
      for (let i = 0; i < 30; i++) await d.request({ op: 'hi' });
      await new Promise((r) => setTimeout(r, 150)); // one flush (50 ms) and then some
      const { base, frames } = JSON.parse((await get('127.0.0.1', port, '/api/history')).body);
      assert.equal(frames.length, 10);
      assert.equal(base.kind, 'snapshot');
      assert.ok(base.seq < frames[0].seq);
      assert.ok(
        frames.every((f, i) => i === 0 || f.seq > frames[i - 1].seq),
        'in order',
      );
      const done = frames.filter((f) => f.kind === 'event' && f.event.type === '@troupe.done');
      assert.ok(done.length > 0 && done.at(-1).event.requestId >= 29, 'the newest are kept');
      const stream = await get('127.0.0.1', port, '/api/events');
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      const hello = JSON.parse(/event: hello\ndata: (.*)\n/.exec(stream.body)[1]);
      assert.equal(hello.history, 10);
      assert.equal(hello.frames.length, 10);
      assert.equal(hello.snapshot.actors.length, 1);
    });
  });

  test('a burst larger than the history reaches viewers as its newest events plus a counted gap', async () => {
    await withInspector({ port: 0, history: 10 }, async (d, port) => {
      // The router's own startup transitions (starting → running) are flushed first.
      await new Promise((r) => setTimeout(r, 120));
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/api/events`, { signal: ac.signal });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes('event: hello')) text += (await reader.read()).value;
      // 100 requests at once: far more events than the history (10) within one 50 ms flush.
      let emitted = 0;
      const unsubscribe = d.subscribe(() => emitted++);
      await Promise.all(Array.from({ length: 100 }, () => d.request({ op: 'hi' })));
      await new Promise((r) => setTimeout(r, 200)); // the actors' last transitions (IDLE) come after
      unsubscribe();
      assert.ok(emitted >= 100, `a done event per request at least (${emitted})`);
      const batches = [];
      const accounted = () =>
        batches.flat().reduce((n, f) => n + (f.kind === 'gap' ? f.skipped : f.kind === 'event'), 0);
      const deadline = setTimeout(() => ac.abort(), 5_000);
      while (accounted() < emitted) {
        text += (await reader.read()).value;
        for (const m of text.matchAll(/event: frames\ndata: (.*)\n\n/g)) batches.push(JSON.parse(m[1]));
        text = text.slice(text.lastIndexOf('\n\n') + 2);
      }
      clearTimeout(deadline);
      ac.abort();
      const frames = batches.flat();
      const gaps = frames.filter((f) => f.kind === 'gap');
      const events = frames.filter((f) => f.kind === 'event');
      assert.ok(gaps.length >= 1, 'the dropped events are counted, not silently lost');
      assert.equal(
        gaps.reduce((n, g) => n + g.skipped, 0) + events.length,
        emitted,
        'each event sent or counted',
      );
      assert.ok(
        batches.every((b) => b.filter((f) => f.kind === 'event').length <= 10),
        'no batch beyond history',
      );
    });
  });

  test('closing the dispatcher closes the inspector', async () => {
    const port = await withInspector({ port: 0 }, async (_d, port) => port);
    await assert.rejects(get('127.0.0.1', port, '/'), { code: 'ECONNREFUSED' });
  });
});
