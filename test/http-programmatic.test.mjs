import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDispatcher, InvalidArgumentError, serve } from 'troupe';
import { withDispatcher } from './helpers/util.mjs';

const app = new URL('../examples/hello-app.mjs', import.meta.url);

test('serve(dispatcher) puts an HTTP front on a dispatcher, with affinity and health, and closes cleanly', async () => {
  const d = await createDispatcher({ app, actors: 2, entry: 'fetch' });
  const http = await serve(d, { port: 0, affinity: 'header:x-user' });
  try {
    assert.match(http.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${http.url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /from actor \d \(config version 1\)/);
    const actors = new Set();
    for (let i = 0; i < 6; i++) {
      actors.add((await (await fetch(`${http.url}/json`, { headers: { 'x-user': 'ada' } })).json()).actor);
    }
    assert.equal(actors.size, 1, 'one user, one actor');
    const health = await (await fetch(`${http.url}/_troupe/health`)).json();
    assert.equal(health.status, 'ready');
  } finally {
    assert.equal(await http.close(1000), 0);
    await d.close();
  }
  await assert.rejects(fetch(`${http.url}/`), 'the port is closed');
});

test('serve() refuses a bad affinity or body size with a typed error', async () => {
  await withDispatcher({ app, actors: 1, entry: 'fetch' }, async (d) => {
    await assert.rejects(serve(d, { port: 0, affinity: 'query:user' }), InvalidArgumentError);
    await assert.rejects(serve(d, { port: 0, maxBody: 'lots' }), InvalidArgumentError);
  });
});

test('serve() takes client timeouts in ms and refuses bad ones with a typed error', async () => {
  await withDispatcher({ app, actors: 1, entry: 'fetch' }, async (d) => {
    await assert.rejects(serve(d, { port: 0, headerTimeout: -1 }), InvalidArgumentError);
    await assert.rejects(serve(d, { port: 0, headerTimeout: 0 }), InvalidArgumentError);
    await assert.rejects(
      serve(d, { port: 0, headerTimeout: 20_000, requestTimeout: 10_000 }),
      InvalidArgumentError,
    );
    const http = await serve(d, {
      port: 0,
      headerTimeout: 2_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 1_000,
    });
    try {
      assert.equal(http.server.headersTimeout, 2_000);
      assert.equal(http.server.requestTimeout, 30_000);
      assert.equal(http.server.keepAliveTimeout, 1_000);
    } finally {
      await http.close();
    }
  });
});
