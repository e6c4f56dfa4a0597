import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClosedError, createDispatcher, InitError } from 'troupe';
import { fixture, threadCount, until, withDispatcher } from './helpers/util.mjs';

describe('lifecycle', () => {
  test('createDispatcher resolves only when every actor ran init and is ready', async () => {
    await withDispatcher(
      {
        app: fixture('basic-app.mjs'),
        actors: 3,
        config: { initDelay: 150 },
        // Every actor must take one of the concurrent requests below: no parking.
        park: false,
      },
      async (d) => {
        const snap = d.snapshot();
        assert.equal(snap.state, 'running');
        assert.deepEqual(
          snap.actors.map((a) => a.state),
          ['ready', 'ready', 'ready'],
        );
        // Every actor is warm on its first request: init ran there before any request reached it.
        const seen = await Promise.all([0, 1, 2, 3, 4, 5].map(() => d.request({ op: 'whoami' })));
        assert.ok(seen.every((s) => s.warm));
        assert.equal(new Set(seen.map((s) => s.threadId)).size, 3);
      },
    );
  });

  test('an actor goes init → ready → serving → streaming → ready (inspection and snapshot)', async () => {
    const seen = [];
    const d = await createDispatcher({
      app: fixture('probe-app.mjs'),
      actors: 1,
      inspect: (ev) => {
        if (ev.type === '@xstate.snapshot' && ev.source === 'actor' && seen.at(-1) !== ev.state)
          seen.push(ev.state);
      },
    });
    try {
      await until(() => seen.includes('ready'), 2000, 'the init → ready inspection event');
      assert.deepEqual(seen, ['init', 'ready']);
      const states = [d.snapshot().actors[0].state];
      const record = () => {
        const s = d.snapshot().actors[0].state;
        if (states.at(-1) !== s) states.push(s);
        return s;
      };
      const slow = d.request({ op: 'sleep', ms: 150 });
      await until(() => record() === 'serving', 2000, 'serving');
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const it = d.stream({ op: 'produce', probe, limit: 1000 });
      await it.next();
      await until(() => record() === 'streaming', 2000, 'streaming');
      await slow; // the stream is still open: the actor stays streaming
      assert.equal(record(), 'streaming');
      await it.return();
      await until(() => record() === 'ready', 2000, 'ready');
      assert.deepEqual(states, ['ready', 'serving', 'streaming', 'ready']);
      assert.deepEqual(seen, ['init', 'ready', 'serving', 'streaming', 'ready']);
      assert.equal(d.snapshot().actors[0].served, 2);
    } finally {
      await d.close();
    }
  });

  test('a failing init rejects with the actor and the cause, and leaves no thread', async () => {
    const before = threadCount();
    await assert.rejects(
      createDispatcher({ app: fixture('basic-app.mjs'), actors: 3, config: { failInit: 1 } }),
      (err) => {
        assert.ok(err instanceof InitError);
        assert.equal(err.code, 'ERR_TROUPE_INIT');
        assert.equal(err.actorId, 1);
        assert.match(err.message, /init refused for actor 1/);
        return true;
      },
    );
    // An ended worker's OS thread may outlive its exit event by a moment: wait for it, boundedly.
    await until(() => threadCount() <= before, 2_000, 'every thread ended');
  });

  test('an init that runs past initTimeout fails startup the same way', async () => {
    const before = threadCount();
    await assert.rejects(
      createDispatcher({
        app: fixture('basic-app.mjs'),
        actors: 2,
        initTimeout: 100,
        config: { initDelay: 5000 },
      }),
      (err) => err instanceof InitError && /initTimeout/.test(err.message),
    );
    // An ended worker's OS thread may outlive its exit event by a moment: wait for it, boundedly.
    await until(() => threadCount() <= before, 2_000, 'every thread ended');
  });

  test('close finishes requests in flight and open streams, then refuses new ones and ends every thread', async () => {
    const before = threadCount();
    const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 2 });
    const inFlight = d.request({ op: 'sleep', ms: 100 });
    const stream = d.stream({ op: 'count', n: 5, delay: 20 });
    const closed = d.close();
    await assert.rejects(d.request({ op: 'echo' }), ClosedError);
    const chunks = [];
    for await (const c of stream) chunks.push(c.i);
    assert.deepEqual(chunks, [0, 1, 2, 3, 4]);
    assert.deepEqual(await inFlight, { actorId: (await inFlight).actorId, configVersion: 1 });
    await closed;
    assert.equal(d.snapshot().state, 'closed');
    // An ended worker's OS thread may outlive its exit event by a moment: wait for it, boundedly.
    await until(() => threadCount() <= before, 2_000, 'every thread ended');
  });

  test('await using closes the dispatcher', async () => {
    const before = threadCount();
    {
      const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1 });
      await d[Symbol.asyncDispose]();
      await assert.rejects(d.request(1), (e) => e.code === 'ERR_TROUPE_CLOSED');
    }
    // An ended worker's OS thread may outlive its exit event by a moment: wait for it, boundedly.
    await until(() => threadCount() <= before, 2_000, 'every thread ended');
  });
});

describe('close with a grace', () => {
  test('what is still running when the grace runs out gets ClosedError, and every thread ends', async () => {
    const before = threadCount();
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 2, concurrency: 1 });
    const probe = new Int32Array(new SharedArrayBuffer(16));
    // Never ends on its own: waits for its signal (the cut-off aborts it).
    const stuck = d.request({ op: 'wait-abort', probe }, { key: 'a' }).catch((e) => e);
    const quick = d.request({ op: 'sleep', ms: 20 });
    const t0 = performance.now();
    await d.close({ grace: 200 });
    const took = performance.now() - t0;
    assert.ok(took >= 190 && took < 5_000, `close took ${took} ms`);
    assert.equal((await quick).actorId >= 0, true, 'what finished within the grace kept its result');
    const error = await stuck;
    assert.ok(error instanceof ClosedError && /grace ran out/.test(error.message), String(error));
    assert.equal(d.snapshot().state, 'closed');
    // An ended worker's OS thread may outlive its exit event by a moment: wait for it, boundedly.
    await until(() => threadCount() <= before, 2_000, 'every thread ended');
  });

  test('a bad grace is refused', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    await assert.rejects(d.close({ grace: -1 }), (e) => e.code === 'ERR_TROUPE_INVALID_ARGUMENT');
    await d.close();
  });
});
